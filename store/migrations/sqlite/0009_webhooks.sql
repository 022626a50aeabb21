-- Webhook endpoints: where a company's notifications go. `event_types` is
-- a JSON array of catalogue names (empty: every type); `filter` a query
-- of the ticket filter language. While a secret is rotated, the previous
-- one signs too until `previous_secret_until` (microseconds).
-- `failing_since` starts a streak of failed attempts (a success ends it; a
-- failure a day after the last one, `last_failure_at`, starts a new one).
CREATE TABLE webhook_endpoints (
    id                     BLOB    PRIMARY KEY,
    company                TEXT    NOT NULL,
    url                    TEXT    NOT NULL,
    description            TEXT,
    event_types            TEXT    NOT NULL,
    filter                 TEXT,
    enabled                BOOLEAN NOT NULL,
    secret                 TEXT    NOT NULL,
    previous_secret        TEXT,
    previous_secret_until  INTEGER,
    disabled_reason        TEXT,
    failing_since          INTEGER,
    last_failure_at        INTEGER,
    created_at             INTEGER NOT NULL,
    updated_at             INTEGER NOT NULL
);
CREATE INDEX webhook_endpoints_company ON webhook_endpoints (company, id);

-- One notification for one endpoint: the durable retry schedule. `id` is
-- the `webhook-id` of every attempt, derived from the notification and the
-- endpoint, so a notification handled twice is stored once. One ticket's
-- messages to one endpoint go in `occurred_at` order: a message waits while
-- an earlier one of the same ticket is pending. `failed` means the schedule
-- ran out (kept, and replayable). `schedule_offset` is the attempts made
-- before the last replay: the schedule counts from there.
CREATE TABLE webhook_messages (
    id               BLOB    PRIMARY KEY,
    company          TEXT    NOT NULL,
    endpoint_id      BLOB    NOT NULL,
    event_type       TEXT    NOT NULL,
    ticket_id        BLOB    NOT NULL,
    payload          TEXT    NOT NULL,
    state            TEXT    NOT NULL,
    attempts         INTEGER NOT NULL,
    schedule_offset  INTEGER NOT NULL DEFAULT 0,
    next_attempt_at  INTEGER NOT NULL,
    last_status      INTEGER,
    last_error       TEXT,
    occurred_at      INTEGER NOT NULL,
    created_at       INTEGER NOT NULL,
    updated_at       INTEGER NOT NULL
);
CREATE INDEX webhook_messages_due ON webhook_messages (next_attempt_at) WHERE state = 'pending';
CREATE INDEX webhook_messages_order ON webhook_messages (endpoint_id, ticket_id, occurred_at) WHERE state = 'pending';
CREATE INDEX webhook_messages_ticket ON webhook_messages (ticket_id, created_at);
CREATE INDEX webhook_messages_endpoint ON webhook_messages (endpoint_id, created_at);

-- Every attempt of every message: the delivery log.
CREATE TABLE webhook_attempts (
    message_id        BLOB    NOT NULL,
    attempt           INTEGER NOT NULL,
    company           TEXT    NOT NULL,
    endpoint_id       BLOB    NOT NULL,
    ticket_id         BLOB    NOT NULL,
    attempted_at      INTEGER NOT NULL,
    status            INTEGER,
    duration_ms       INTEGER NOT NULL,
    error             TEXT,
    response_excerpt  TEXT,
    PRIMARY KEY (message_id, attempt)
);
CREATE INDEX webhook_attempts_endpoint ON webhook_attempts (endpoint_id, attempted_at);
