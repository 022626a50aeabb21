-- Tickets as the projector keeps them. Timestamps are microseconds since the
-- Unix epoch; ids are UUIDv7 stored as 16 bytes, so they sort by time.
CREATE TABLE tickets (
    id               BLOB    PRIMARY KEY NOT NULL,
    company          TEXT    NOT NULL,
    title            TEXT    NOT NULL,
    description      TEXT    NOT NULL,
    requester_email  TEXT    NOT NULL,
    requester_name   TEXT,
    channel          TEXT    NOT NULL,
    tags             TEXT    NOT NULL,
    equipment_model  TEXT,
    equipment_serial TEXT,
    created_at       INTEGER NOT NULL,
    updated_at       INTEGER NOT NULL,
    status           TEXT    NOT NULL,
    urgency          TEXT,
    category         TEXT,
    server_id        BLOB,
    team_id          BLOB,
    assignee_id      BLOB
) WITHOUT ROWID;
CREATE INDEX tickets_company ON tickets (company, id);
CREATE INDEX tickets_status ON tickets (status, id);
CREATE INDEX tickets_urgency ON tickets (urgency, id);
CREATE INDEX tickets_created ON tickets (created_at);

CREATE TABLE ticket_tags (
    tag       TEXT NOT NULL,
    ticket_id BLOB NOT NULL REFERENCES tickets (id) ON DELETE CASCADE,
    PRIMARY KEY (tag, ticket_id)
) WITHOUT ROWID;

-- Idempotency-Key bookkeeping of ingest: the first request with a key wins;
-- a retry with the same body gets the same ticket back.
CREATE TABLE idempotency_keys (
    idempotency_key TEXT    PRIMARY KEY NOT NULL,
    request_hash    BLOB    NOT NULL,
    ticket_id       BLOB    NOT NULL,
    message         BLOB    NOT NULL,
    accepted        INTEGER NOT NULL DEFAULT 0,
    created_at      INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX idempotency_keys_created ON idempotency_keys (created_at);

-- The embedded bus: one append-only log per topic with dense offsets, and
-- the next offset each consumer group will read.
CREATE TABLE bus_topics (
    name        TEXT    PRIMARY KEY NOT NULL,
    next_offset INTEGER NOT NULL DEFAULT 0
) WITHOUT ROWID;

CREATE TABLE bus_messages (
    topic        TEXT    NOT NULL,
    msg_offset   INTEGER NOT NULL,
    msg_key      BLOB,
    payload      BLOB    NOT NULL,
    headers      TEXT    NOT NULL,
    timestamp_ms INTEGER NOT NULL,
    PRIMARY KEY (topic, msg_offset)
) WITHOUT ROWID;

CREATE TABLE bus_group_offsets (
    group_id    TEXT    NOT NULL,
    topic       TEXT    NOT NULL,
    next_offset INTEGER NOT NULL,
    PRIMARY KEY (group_id, topic)
) WITHOUT ROWID;
