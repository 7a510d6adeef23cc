-- Curated answers: an editor-approved answer for a question pattern, given before retrieval.
CREATE TABLE IF NOT EXISTS curated_answers (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    question    TEXT NOT NULL,
    answer      TEXT NOT NULL,
    item_code   TEXT,
    source      TEXT NOT NULL,
    author      TEXT NOT NULL,
    active      INTEGER NOT NULL DEFAULT 1,
    created_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL
);
