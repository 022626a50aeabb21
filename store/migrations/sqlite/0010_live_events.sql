-- The live-update feed: every notification of the event catalogue, in the
-- order the notifier recorded it. `seq` is what a client resumes from (SSE's
-- `Last-Event-ID`); AUTOINCREMENT never hands out a number twice, even after
-- retention deleted every row. `customer` is the account that filed the
-- ticket (who may see it besides staff); `staff_only` marks what customers
-- never see (internal notes, routing, label corrections).
CREATE TABLE live_events (
    seq          INTEGER PRIMARY KEY AUTOINCREMENT,
    id           BLOB    NOT NULL UNIQUE,
    company      TEXT    NOT NULL,
    ticket_id    BLOB    NOT NULL,
    customer     BLOB,
    staff_only   BOOLEAN NOT NULL,
    event_type   TEXT    NOT NULL,
    payload      TEXT    NOT NULL,
    created_at   INTEGER NOT NULL
);
CREATE INDEX live_events_company ON live_events (company, seq);
CREATE INDEX live_events_customer ON live_events (company, customer, seq) WHERE NOT staff_only;
CREATE INDEX live_events_created ON live_events (created_at);
