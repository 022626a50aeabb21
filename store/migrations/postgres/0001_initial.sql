-- Tickets as the projector keeps them. Timestamps are microseconds since the
-- Unix epoch (the same representation as on SQLite); ids are UUIDv7.
CREATE TABLE tickets (
    id               UUID    PRIMARY KEY,
    company          TEXT    NOT NULL,
    title            TEXT    NOT NULL,
    description      TEXT    NOT NULL,
    requester_email  TEXT    NOT NULL,
    requester_name   TEXT,
    channel          TEXT    NOT NULL,
    tags             TEXT    NOT NULL,
    equipment_model  TEXT,
    equipment_serial TEXT,
    created_at       BIGINT  NOT NULL,
    updated_at       BIGINT  NOT NULL,
    status           TEXT    NOT NULL,
    urgency          TEXT,
    category         TEXT,
    server_id        UUID,
    team_id          UUID,
    assignee_id      UUID
);
CREATE INDEX tickets_company ON tickets (company, id);
CREATE INDEX tickets_status ON tickets (status, id);
CREATE INDEX tickets_urgency ON tickets (urgency, id);
CREATE INDEX tickets_created ON tickets (created_at);

CREATE TABLE ticket_tags (
    tag       TEXT NOT NULL,
    ticket_id UUID NOT NULL REFERENCES tickets (id) ON DELETE CASCADE,
    PRIMARY KEY (tag, ticket_id)
);

CREATE TABLE idempotency_keys (
    idempotency_key TEXT    PRIMARY KEY,
    request_hash    BYTEA   NOT NULL,
    ticket_id       UUID    NOT NULL,
    message         BYTEA   NOT NULL,
    accepted        BOOLEAN NOT NULL DEFAULT FALSE,
    created_at      BIGINT  NOT NULL
);
CREATE INDEX idempotency_keys_created ON idempotency_keys (created_at);

CREATE TABLE bus_topics (
    name        TEXT   PRIMARY KEY,
    next_offset BIGINT NOT NULL DEFAULT 0
);

CREATE TABLE bus_messages (
    topic        TEXT   NOT NULL,
    msg_offset   BIGINT NOT NULL,
    msg_key      BYTEA,
    payload      BYTEA  NOT NULL,
    headers      TEXT   NOT NULL,
    timestamp_ms BIGINT NOT NULL,
    PRIMARY KEY (topic, msg_offset)
);

CREATE TABLE bus_group_offsets (
    group_id    TEXT   NOT NULL,
    topic       TEXT   NOT NULL,
    next_offset BIGINT NOT NULL,
    PRIMARY KEY (group_id, topic)
);
