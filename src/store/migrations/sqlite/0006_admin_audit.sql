-- Every admin action: who, what, on what, and the state before and after (JSON).
CREATE TABLE admin_audit (
    id INTEGER PRIMARY KEY,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    target TEXT NOT NULL,
    before TEXT NOT NULL DEFAULT '{}',
    after TEXT NOT NULL DEFAULT '{}',
    created_at INTEGER NOT NULL
);
CREATE INDEX admin_audit_by_target ON admin_audit (target, id);
