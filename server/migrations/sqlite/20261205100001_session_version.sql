-- Dialogue state carries a version: a turn saves its state only over the version it read, so
-- two turns of one session (two tabs, two replicas) cannot silently overwrite each other.
ALTER TABLE sessions ADD COLUMN version INTEGER NOT NULL DEFAULT 0;
-- When a signed-in citizen last used the session (RFC 3339), kept beside the state so every
-- replica measures the sign-in's idle time alike.
ALTER TABLE sessions ADD COLUMN seen_at TEXT;
