-- OpenID Connect: identities link a provider's (issuer, subject) to a user; a sign-in in flight
-- is remembered by its state (stored as SHA-256) until the provider sends the browser back.
-- A verification token may carry the identity waiting for its address to be proven, or the user
-- whose new address it proves.
CREATE TABLE identities (
    id INTEGER PRIMARY KEY,
    issuer TEXT NOT NULL,
    subject TEXT NOT NULL,
    user_id INTEGER NOT NULL REFERENCES users (id),
    email TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    UNIQUE (issuer, subject)
);
CREATE INDEX identities_by_user ON identities (user_id);

CREATE TABLE oidc_logins (
    state_hash TEXT PRIMARY KEY,
    browser_hash TEXT NOT NULL,
    provider TEXT NOT NULL,
    nonce TEXT NOT NULL,
    code_verifier TEXT NOT NULL,
    return_to TEXT NOT NULL,
    expires_at INTEGER NOT NULL,
    created_at INTEGER NOT NULL
);
CREATE INDEX oidc_logins_by_expiry ON oidc_logins (expires_at);

ALTER TABLE sign_in_tokens ADD COLUMN user_id INTEGER REFERENCES users (id);
ALTER TABLE sign_in_tokens ADD COLUMN issuer TEXT;
ALTER TABLE sign_in_tokens ADD COLUMN subject TEXT;
