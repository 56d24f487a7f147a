-- Each active session's next checkpoint: the worker charges sessions as they fall due, spread
-- over the interval by their start times, instead of all of them at one tick.
ALTER TABLE live_sessions ADD COLUMN due_at INTEGER NOT NULL DEFAULT 0;
CREATE INDEX live_sessions_due ON live_sessions (instance, due_at, id) WHERE status = 'active';
