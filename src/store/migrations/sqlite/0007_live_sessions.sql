-- Live (metered) sessions: one row per WebSocket session, charged by the checkpoint worker.
CREATE TABLE live_sessions (
    id INTEGER PRIMARY KEY,
    user_id INTEGER NOT NULL REFERENCES users (id),
    hold_id INTEGER NOT NULL REFERENCES holds (id),
    feature TEXT NOT NULL,
    rate_per_minute INTEGER NOT NULL CHECK (rate_per_minute >= 0),
    instance TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('active', 'ended')),
    started_at INTEGER NOT NULL,
    last_seen_at INTEGER NOT NULL,
    charged INTEGER NOT NULL DEFAULT 0 CHECK (charged >= 0),
    ticks INTEGER NOT NULL DEFAULT 0,
    ended_at INTEGER,
    end_reason TEXT CHECK (end_reason IN ('user_stopped', 'quota_failed', 'error', 'admin_terminated',
                                          'fraud_blocked', 'connection_lost', 'server_shutdown')),
    active_ms INTEGER NOT NULL DEFAULT 0,
    CHECK ((status = 'active') = (end_reason IS NULL))
);
CREATE INDEX live_sessions_active ON live_sessions (instance, id) WHERE status = 'active';
CREATE INDEX live_sessions_by_user ON live_sessions (user_id, id);
