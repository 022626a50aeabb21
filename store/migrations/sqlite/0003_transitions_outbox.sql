-- Every lifecycle transition, written by `Store::transition` in the same
-- transaction as the status change: the ticket's audit trail, and the
-- outbox from which the relay publishes each event to `tickets.events`
-- (`relayed_at` set once the bus has it). `event_id` makes a repeated
-- request (a stage handling a message twice) find its first outcome.
CREATE TABLE ticket_events (
    seq           INTEGER PRIMARY KEY,
    event_id      BLOB    NOT NULL UNIQUE,
    ticket_id     BLOB    NOT NULL,
    company       TEXT    NOT NULL,
    action        TEXT    NOT NULL,
    from_status   TEXT    NOT NULL,
    to_status     TEXT    NOT NULL,
    actor_role    TEXT    NOT NULL,
    actor_id      BLOB,
    request_id    TEXT,
    envelope      BLOB    NOT NULL,
    created_at    INTEGER NOT NULL,
    relayed_at    INTEGER,
    claimed_until INTEGER
);
CREATE INDEX ticket_events_ticket ON ticket_events (ticket_id, seq);
CREATE INDEX ticket_events_pending ON ticket_events (seq) WHERE relayed_at IS NULL;
