-- 免申即享 / 主动服务: what the service offered each signed-in citizen and what they did with it
-- (one row per citizen and item or bundle), the yes/no answers they gave to settle unknown
-- conditions, and whether they want offers at all.
CREATE TABLE IF NOT EXISTS offers (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    citizen_id   INTEGER NOT NULL REFERENCES citizens(id),
    target_code  TEXT NOT NULL,
    target_name  TEXT NOT NULL,
    rule_version INTEGER NOT NULL,
    kind         TEXT NOT NULL CHECK (kind IN ('auto', 'consent', 'possible')),
    status       TEXT NOT NULL CHECK (status IN ('open', 'accepted', 'declined', 'granted')),
    tracking_no  TEXT,
    created_at   TEXT NOT NULL,
    updated_at   TEXT NOT NULL,
    UNIQUE (citizen_id, target_code)
);
CREATE INDEX IF NOT EXISTS offers_target ON offers(target_code, status);

CREATE TABLE IF NOT EXISTS citizen_answers (
    citizen_id  INTEGER NOT NULL REFERENCES citizens(id),
    key         TEXT NOT NULL,
    answer      TEXT NOT NULL CHECK (answer IN ('是', '否')),
    answered_at TEXT NOT NULL,
    PRIMARY KEY (citizen_id, key)
);

ALTER TABLE citizens ADD COLUMN offers_enabled INTEGER NOT NULL DEFAULT 1;
