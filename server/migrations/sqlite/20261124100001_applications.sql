-- Citizens and enterprise clerks who sign in (统一身份认证, embedded): their profile (一人一档 /
-- 一企一档) pre-fills forms. Passwords only as argon2 hashes.
CREATE TABLE IF NOT EXISTS citizens (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    username      TEXT NOT NULL UNIQUE,
    display_name  TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    profile       TEXT NOT NULL DEFAULT '{}',
    created_at    TEXT NOT NULL,
    updated_at    TEXT NOT NULL
);

-- Issued e-licences (电子证照), the embedded default of the e-licence interface. `related`
-- holds the ID numbers a licence names besides its holder (a child's birth certificate names
-- the parents), as a JSON array.
CREATE TABLE IF NOT EXISTS elicences (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    licence_type  TEXT NOT NULL,
    number        TEXT NOT NULL,
    holder_name   TEXT NOT NULL,
    holder_id     TEXT NOT NULL,
    related       TEXT NOT NULL DEFAULT '[]',
    fields        TEXT NOT NULL DEFAULT '{}',
    issuer        TEXT NOT NULL,
    issued_on     TEXT,
    valid_until   TEXT,
    UNIQUE (licence_type, number)
);
CREATE INDEX IF NOT EXISTS elicences_holder ON elicences(holder_id);

-- Submitted applications (one item or one 一件事 bundle) with their tracking numbers.
CREATE TABLE IF NOT EXISTS applications (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    tracking_no     TEXT NOT NULL UNIQUE,
    session_id      TEXT NOT NULL REFERENCES sessions(id),
    citizen_id      INTEGER REFERENCES citizens(id),
    target_kind     TEXT NOT NULL CHECK (target_kind IN ('item', 'bundle')),
    target_code     TEXT NOT NULL,
    target_name     TEXT NOT NULL,
    form_values     TEXT NOT NULL,
    value_sources   TEXT NOT NULL DEFAULT '{}',
    materials       TEXT NOT NULL DEFAULT '[]',
    promised_days   INTEGER,
    status          TEXT NOT NULL CHECK (status IN ('submitted', 'accepted', 'in_review', 'done', 'returned')),
    returned_reason TEXT,
    submitted_at    TEXT NOT NULL,
    accepted_at     TEXT,
    updated_at      TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS applications_session ON applications(session_id, id);

CREATE TABLE IF NOT EXISTS application_events (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    application_id INTEGER NOT NULL REFERENCES applications(id),
    status         TEXT NOT NULL,
    actor          TEXT NOT NULL,
    note           TEXT,
    created_at     TEXT NOT NULL
);
