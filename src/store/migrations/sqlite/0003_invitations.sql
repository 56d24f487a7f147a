-- Invitations to the beta. At most one open invitation per (normalized) email.
CREATE TABLE invitations (
    id INTEGER PRIMARY KEY,
    email TEXT NOT NULL,
    initial_credits INTEGER NOT NULL CHECK (initial_credits >= 0),
    expires_at INTEGER,  -- NULL: never
    note TEXT NOT NULL DEFAULT '',
    inviter TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('open', 'consumed', 'revoked')),
    created_at INTEGER NOT NULL,
    consumed_at INTEGER,
    consumed_by INTEGER REFERENCES users (id),
    revoked_at INTEGER,
    last_sent_at INTEGER NOT NULL  -- the invitation mail was last queued then (resend limit)
);
CREATE UNIQUE INDEX invitations_one_open_per_email ON invitations (email) WHERE status = 'open';
CREATE INDEX invitations_by_status ON invitations (status, id);
