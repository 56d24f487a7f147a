-- Users, wallets and system accounts, the journal, lots, holds, idempotency records, API tokens.
-- Times are milliseconds since the Unix epoch (UTC). Credits are integers.
CREATE TABLE users (
    id INTEGER PRIMARY KEY,
    email TEXT NOT NULL UNIQUE,
    display_name TEXT NOT NULL DEFAULT '',
    role TEXT NOT NULL DEFAULT 'user' CHECK (role IN ('user', 'admin')),
    status TEXT NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'suspended')),
    created_at INTEGER NOT NULL
);

CREATE TABLE accounts (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    user_id INTEGER UNIQUE REFERENCES users (id),
    credits_posted INTEGER NOT NULL DEFAULT 0 CHECK (credits_posted >= 0),
    debits_posted INTEGER NOT NULL DEFAULT 0 CHECK (debits_posted >= 0),
    credits_pending INTEGER NOT NULL DEFAULT 0 CHECK (credits_pending >= 0),
    debits_pending INTEGER NOT NULL DEFAULT 0 CHECK (debits_pending >= 0),
    created_at INTEGER NOT NULL,
    -- A wallet never has negative available credits.
    CHECK (user_id IS NULL OR credits_posted - debits_posted - debits_pending >= 0)
);

CREATE TABLE holds (
    id INTEGER PRIMARY KEY,
    account_id INTEGER NOT NULL REFERENCES accounts (id),
    feature TEXT NOT NULL,
    amount INTEGER NOT NULL CHECK (amount > 0),
    captured INTEGER NOT NULL DEFAULT 0 CHECK (captured >= 0),
    released INTEGER NOT NULL DEFAULT 0 CHECK (released >= 0),
    status TEXT NOT NULL CHECK (status IN ('open', 'captured', 'released', 'expired')),
    expires_at INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    CHECK (captured + released <= amount),
    CHECK (status = 'open' OR captured + released = amount)
);
CREATE INDEX holds_open_by_expiry ON holds (expires_at) WHERE status = 'open';
CREATE INDEX holds_open_by_account ON holds (account_id) WHERE status = 'open';

CREATE TABLE lots (
    id INTEGER PRIMARY KEY,
    account_id INTEGER NOT NULL REFERENCES accounts (id),
    amount INTEGER NOT NULL CHECK (amount > 0),
    remaining INTEGER NOT NULL CHECK (remaining >= 0 AND remaining <= amount),
    expires_at INTEGER,  -- NULL: never
    created_at INTEGER NOT NULL
);
CREATE INDEX lots_live_by_account ON lots (account_id) WHERE remaining > 0;
CREATE INDEX lots_live_by_expiry ON lots (expires_at) WHERE remaining > 0 AND expires_at IS NOT NULL;

CREATE TABLE transfers (
    id INTEGER PRIMARY KEY,
    debit_account_id INTEGER NOT NULL REFERENCES accounts (id),
    credit_account_id INTEGER NOT NULL REFERENCES accounts (id),
    amount INTEGER NOT NULL CHECK (amount > 0),
    kind TEXT NOT NULL
        CHECK (kind IN ('grant', 'usage', 'hold', 'capture', 'release', 'expire', 'adjust')),
    hold_id INTEGER REFERENCES holds (id),
    lot_id INTEGER REFERENCES lots (id),
    feature TEXT NOT NULL DEFAULT '',
    reference TEXT NOT NULL DEFAULT '',
    actor TEXT NOT NULL,
    reason TEXT NOT NULL DEFAULT '',
    idempotency_key TEXT NOT NULL DEFAULT '',
    created_at INTEGER NOT NULL,
    CHECK (debit_account_id <> credit_account_id)
);
-- Only what the journal listing needs: every index costs each insert (the audit scans instead).
CREATE INDEX transfers_by_debit ON transfers (debit_account_id, id);
CREATE INDEX transfers_by_credit ON transfers (credit_account_id, id);

-- Transfers are immutable: the journal only grows.
CREATE TRIGGER transfers_no_update BEFORE UPDATE ON transfers
BEGIN
    SELECT RAISE(ABORT, 'transfers are immutable');
END;
CREATE TRIGGER transfers_no_delete BEFORE DELETE ON transfers
BEGIN
    SELECT RAISE(ABORT, 'transfers are immutable');
END;

-- A rowid table: records are appended in time order by the one writer, so the purge of old
-- records walks the oldest ids, and only the narrow (scope, key) index takes random inserts.
CREATE TABLE idempotency_keys (
    id INTEGER PRIMARY KEY,
    scope TEXT NOT NULL,
    key TEXT NOT NULL,
    request_hash TEXT NOT NULL,
    rejection INTEGER NOT NULL,
    response TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    UNIQUE (scope, key)
);

CREATE TABLE api_tokens (
    id INTEGER PRIMARY KEY,
    token_hash TEXT NOT NULL UNIQUE,  -- SHA-256 of the token; the token itself is never stored
    scope TEXT NOT NULL CHECK (scope IN ('service', 'admin')),
    name TEXT NOT NULL DEFAULT '',
    created_at INTEGER NOT NULL,
    revoked_at INTEGER
);
