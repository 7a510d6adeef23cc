-- 一件事 bundles with every saved version, as for guides. Bodies are the bundle JSON.
CREATE TABLE IF NOT EXISTS bundle_versions (
    code        TEXT    NOT NULL,
    version     INTEGER NOT NULL,
    status      TEXT    NOT NULL CHECK (status IN ('draft', 'published')),
    name        TEXT    NOT NULL,
    body        TEXT    NOT NULL,
    author      TEXT    NOT NULL,
    created_at  TEXT    NOT NULL,
    PRIMARY KEY (code, version)
);

CREATE TABLE IF NOT EXISTS bundles (
    code            TEXT    PRIMARY KEY,
    name            TEXT    NOT NULL,
    source          TEXT    NOT NULL,
    live_version    INTEGER,
    latest_version  INTEGER NOT NULL,
    updated_at      TEXT    NOT NULL
);
