-- Sign-in: verified email and enrollment on users, single-use sign-in tokens (stored as SHA-256),
-- and web sessions (stored as SHA-256).
ALTER TABLE users ADD COLUMN email_verified INTEGER NOT NULL DEFAULT 0;
ALTER TABLE users ADD COLUMN enrolled_at INTEGER;
ALTER TABLE users ADD COLUMN invitation_id INTEGER REFERENCES invitations (id);

CREATE TABLE sign_in_tokens (
    id INTEGER PRIMARY KEY,
    token_hash TEXT NOT NULL UNIQUE,
    email TEXT NOT NULL,
    purpose TEXT NOT NULL CHECK (purpose IN ('magic_link', 'verify_email')),
    expires_at INTEGER NOT NULL,
    used_at INTEGER,
    created_at INTEGER NOT NULL
);
CREATE INDEX sign_in_tokens_by_email ON sign_in_tokens (email, created_at);

CREATE TABLE web_sessions (
    id INTEGER PRIMARY KEY,
    token_hash TEXT NOT NULL UNIQUE,
    user_id INTEGER NOT NULL REFERENCES users (id),
    csrf_token TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    last_seen_at INTEGER NOT NULL,
    revoked_at INTEGER
);
