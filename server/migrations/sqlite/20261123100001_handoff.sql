-- Staff of the 12345 centre: agents, knowledge editors, admins. Passwords only as argon2 hashes.
CREATE TABLE IF NOT EXISTS users (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    username      TEXT NOT NULL UNIQUE,
    display_name  TEXT NOT NULL,
    role          TEXT NOT NULL CHECK (role IN ('agent', 'editor', 'admin')),
    password_hash TEXT NOT NULL,
    active        INTEGER NOT NULL DEFAULT 1,
    created_at    TEXT NOT NULL
);

-- Console log-ins; the bearer token is stored only as its SHA-256.
CREATE TABLE IF NOT EXISTS staff_sessions (
    token_hash  TEXT PRIMARY KEY,
    user_id     INTEGER NOT NULL REFERENCES users(id),
    created_at  TEXT NOT NULL,
    expires_at  TEXT NOT NULL
);

-- Work for people: conversations handed off (handoff), follow-ups of bad ratings (follow_up:
-- 整改/回访) and citizens' suggestions (suggestion: 建言, routed to a department).
CREATE TABLE IF NOT EXISTS tickets (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    session_id      TEXT NOT NULL REFERENCES sessions(id),
    kind            TEXT NOT NULL CHECK (kind IN ('handoff', 'follow_up', 'suggestion')),
    parent_id       INTEGER REFERENCES tickets(id),
    status          TEXT NOT NULL CHECK (status IN ('pending', 'assigned', 'resolved')),
    reason          TEXT NOT NULL,
    appeal_type     TEXT,
    domain          TEXT,
    department      TEXT,
    item_code       TEXT,
    priority        INTEGER NOT NULL,
    summary         TEXT NOT NULL DEFAULT '{}',
    assignee_id     INTEGER REFERENCES users(id),
    resolution_note TEXT,
    reopened        INTEGER NOT NULL DEFAULT 0,
    created_at      TEXT NOT NULL,
    assigned_at     TEXT,
    resolved_at     TEXT,
    updated_at      TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS tickets_queue ON tickets(status, priority, id);
CREATE INDEX IF NOT EXISTS tickets_session ON tickets(session_id, id);

-- Every state change of a ticket, in order (who, when, what).
CREATE TABLE IF NOT EXISTS ticket_events (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    ticket_id  INTEGER NOT NULL REFERENCES tickets(id),
    actor      TEXT NOT NULL,
    action     TEXT NOT NULL,
    detail     TEXT NOT NULL DEFAULT '{}',
    created_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS ticket_events_ticket ON ticket_events(ticket_id, id);

-- 好差评: one rating per session (ticket_id NULL) and one per ticket.
CREATE TABLE IF NOT EXISTS ratings (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    session_id TEXT NOT NULL REFERENCES sessions(id),
    ticket_id  INTEGER REFERENCES tickets(id),
    level      INTEGER NOT NULL CHECK (level BETWEEN 1 AND 5),
    comment    TEXT,
    created_at TEXT NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS ratings_once ON ratings(session_id, COALESCE(ticket_id, 0));

-- Answers agents sent to the editors ("send to knowledge"): draft FAQ pairs to review.
CREATE TABLE IF NOT EXISTS knowledge_drafts (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    ticket_id  INTEGER REFERENCES tickets(id),
    item_code  TEXT,
    question   TEXT NOT NULL,
    answer     TEXT NOT NULL,
    author_id  INTEGER NOT NULL REFERENCES users(id),
    status     TEXT NOT NULL DEFAULT 'draft' CHECK (status IN ('draft', 'accepted', 'rejected')),
    created_at TEXT NOT NULL
);
