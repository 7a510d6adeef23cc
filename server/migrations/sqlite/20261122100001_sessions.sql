-- Citizen conversations. Tokens are stored only as SHA-256 hashes.
CREATE TABLE IF NOT EXISTS sessions (
    id          TEXT PRIMARY KEY,
    token_hash  TEXT NOT NULL UNIQUE,
    channel     TEXT NOT NULL,
    state       TEXT NOT NULL DEFAULT '{}',
    created_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL
);

-- Every message of every session, in order (id is monotonic).
CREATE TABLE IF NOT EXISTS messages (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    session_id  TEXT NOT NULL REFERENCES sessions(id),
    role        TEXT NOT NULL CHECK (role IN ('user', 'assistant', 'agent', 'system')),
    text        TEXT NOT NULL,
    kind        TEXT,
    status      TEXT NOT NULL DEFAULT 'complete' CHECK (status IN ('complete', 'interrupted')),
    client_id   TEXT,
    reply_to    INTEGER REFERENCES messages(id),
    meta        TEXT NOT NULL DEFAULT '{}',
    created_at  TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS messages_session ON messages(session_id, id);
CREATE UNIQUE INDEX IF NOT EXISTS messages_client_id ON messages(session_id, client_id) WHERE client_id IS NOT NULL;
