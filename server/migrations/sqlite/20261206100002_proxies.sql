-- 亲友代办: a citizen authorises a relative to apply on their behalf for listed items or bundles
-- until a time (RFC 3339), revocable. Applications a proxy submitted name them.
CREATE TABLE IF NOT EXISTS proxy_grants (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    principal_id INTEGER NOT NULL REFERENCES citizens(id),
    proxy_id     INTEGER NOT NULL REFERENCES citizens(id),
    scope        TEXT NOT NULL,
    expires_at   TEXT NOT NULL,
    created_at   TEXT NOT NULL,
    revoked_at   TEXT,
    CHECK (principal_id <> proxy_id)
);
CREATE INDEX IF NOT EXISTS proxy_grants_principal ON proxy_grants(principal_id);
CREATE INDEX IF NOT EXISTS proxy_grants_proxy ON proxy_grants(proxy_id);

ALTER TABLE applications ADD COLUMN proxy_id INTEGER REFERENCES citizens(id);
