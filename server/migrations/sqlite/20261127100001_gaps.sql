-- Closing a service gap (评价—反馈—优化): which group, what was done, by whom.
CREATE TABLE IF NOT EXISTS gap_closures (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    gap_key    TEXT NOT NULL,
    note       TEXT NOT NULL,
    actor      TEXT NOT NULL,
    closed_at  TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS gap_closures_key ON gap_closures(gap_key, id);
