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

