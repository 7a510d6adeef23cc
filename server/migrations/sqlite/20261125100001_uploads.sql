-- Uploaded materials (智能预审): the file itself lives content-addressed in the data dir
-- (uploads/<first two hex>/<sha256>); this row says whose it is and what was read from it.
CREATE TABLE IF NOT EXISTS uploads (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    session_id  TEXT NOT NULL REFERENCES sessions(id),
    sha256      TEXT NOT NULL,
    file_name   TEXT NOT NULL,
    kind        TEXT NOT NULL CHECK (kind IN ('pdf', 'jpeg', 'png')),
    size        INTEGER NOT NULL,
    declared    TEXT,
    document    TEXT NOT NULL,
    recognised  TEXT NOT NULL,
    created_at  TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS uploads_session ON uploads(session_id, id);

-- Pre-review reports, per session and target (item or bundle code).
CREATE TABLE IF NOT EXISTS prereviews (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    session_id  TEXT NOT NULL REFERENCES sessions(id),
    target_code TEXT NOT NULL,
    verdict     TEXT NOT NULL,
    report      TEXT NOT NULL,
    created_at  TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS prereviews_session ON prereviews(session_id, target_code, id);

-- The report a submitted application carried.
ALTER TABLE applications ADD COLUMN prereview TEXT;
