-- Fraud: signals the rules count (sign-ins by address and device, failures, sign-in link
-- requests, session starts refused at the cap), risk events for the admins' queue, and each
-- user's risk score. Analytics: the journal by time.
CREATE TABLE fraud_signals (
    id INTEGER PRIMARY KEY,
    kind TEXT NOT NULL CHECK (kind IN ('sign_in_ip', 'sign_in_device', 'failure_ip', 'link_request', 'cap_refused')),
    key TEXT NOT NULL,
    user_id INTEGER REFERENCES users (id),
    created_at INTEGER NOT NULL
);
CREATE INDEX fraud_signals_by_key ON fraud_signals (kind, key, created_at);

CREATE TABLE risk_events (
    id INTEGER PRIMARY KEY,
    user_id INTEGER REFERENCES users (id),
    rule TEXT NOT NULL,
    action TEXT NOT NULL CHECK (action IN ('flag', 'block_action', 'suspend_user')),
    score INTEGER NOT NULL CHECK (score >= 0),
    evidence TEXT NOT NULL,
    status TEXT NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'cleared', 'suspended')),
    created_at INTEGER NOT NULL,
    decided_by TEXT,
    decided_at INTEGER
);
CREATE INDEX risk_events_by_status ON risk_events (status, id);
CREATE INDEX risk_events_by_user ON risk_events (user_id, id);

ALTER TABLE users ADD COLUMN risk_score INTEGER NOT NULL DEFAULT 0;

-- Covers the usage analytics' one pass over a time range (no table lookups).
CREATE INDEX transfers_by_time ON transfers (created_at, kind, feature, amount, debit_account_id);
CREATE INDEX live_sessions_by_start ON live_sessions (started_at);
CREATE INDEX users_by_enrollment ON users (enrolled_at);
CREATE INDEX invitations_by_creation ON invitations (created_at);

-- Usage analytics by whole days: what each account paid out per day, kind and feature, kept by
-- the ledger's commits (with the transfers, in their transaction) and filled here from the
-- journal so far.
CREATE TABLE usage_daily (
    day_ms INTEGER NOT NULL,
    account_id INTEGER NOT NULL REFERENCES accounts (id),
    kind TEXT NOT NULL,
    feature TEXT NOT NULL,
    amount INTEGER NOT NULL,
    operations INTEGER NOT NULL,
    PRIMARY KEY (day_ms, account_id, kind, feature)
) WITHOUT ROWID;
INSERT INTO usage_daily (day_ms, account_id, kind, feature, amount, operations)
    SELECT created_at - created_at % 86400000, debit_account_id, kind, feature, SUM(amount), COUNT(*)
    FROM transfers GROUP BY 1, 2, 3, 4;
