-- Item guides with every saved version (knowledge crate). Bodies are the guide JSON.
CREATE TABLE IF NOT EXISTS guide_versions (
    code        TEXT    NOT NULL,
    version     INTEGER NOT NULL,
    status      TEXT    NOT NULL CHECK (status IN ('draft', 'published')),
    name        TEXT    NOT NULL,
    body        TEXT    NOT NULL,
    author      TEXT    NOT NULL,
    created_at  TEXT    NOT NULL,
    PRIMARY KEY (code, version)
);

-- One row per item: which version is live (published) and the newest saved version.
CREATE TABLE IF NOT EXISTS guides (
    code            TEXT    PRIMARY KEY,
    name            TEXT    NOT NULL,
    source          TEXT    NOT NULL,
    live_version    INTEGER,
    latest_version  INTEGER NOT NULL,
    updated_at      TEXT    NOT NULL
);
