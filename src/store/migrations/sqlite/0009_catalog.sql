-- The catalog (titles; list fields as JSON arrays) and watch history, one row per person and
-- title, accumulated.
CREATE TABLE titles (
    id INTEGER PRIMARY KEY,
    source_id TEXT UNIQUE,
    title TEXT NOT NULL CHECK (length(title) BETWEEN 1 AND 300),
    year INTEGER CHECK (year IS NULL OR year BETWEEN 1870 AND 2100),
    genres TEXT NOT NULL DEFAULT '[]',
    directors TEXT NOT NULL DEFAULT '[]',
    cast_members TEXT NOT NULL DEFAULT '[]',
    languages TEXT NOT NULL DEFAULT '[]',
    description TEXT NOT NULL DEFAULT '',
    rating_tenths INTEGER CHECK (rating_tenths IS NULL OR rating_tenths BETWEEN 0 AND 100),
    votes INTEGER NOT NULL DEFAULT 0 CHECK (votes >= 0),
    runtime_minutes INTEGER CHECK (runtime_minutes IS NULL OR runtime_minutes > 0),
    source TEXT NOT NULL DEFAULT '',
    creative_type TEXT NOT NULL DEFAULT '',
    updated_at INTEGER NOT NULL
);
CREATE INDEX titles_by_update ON titles (updated_at);

CREATE TABLE watch_history (
    user_id INTEGER NOT NULL REFERENCES users (id),
    title_id INTEGER NOT NULL REFERENCES titles (id),
    views INTEGER NOT NULL DEFAULT 0 CHECK (views >= 0),
    progress_percent INTEGER NOT NULL DEFAULT 0 CHECK (progress_percent BETWEEN 0 AND 100),
    rating_tenths INTEGER CHECK (rating_tenths IS NULL OR rating_tenths BETWEEN 0 AND 100),
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (user_id, title_id)
) WITHOUT ROWID;
