-- Mails the notifier owes people: a durable outbox worked like webhook
-- messages (claimed with a lease, retried on `mail.schedule_ms`). `id`
-- derives from the notification, the kind and the address, so an event
-- handled twice queues each mail once, and `Message-ID` derives from it.
-- One ticket's mails to one address go in `occurred_at` order: a mail
-- waits while an earlier one of the same ticket to the same address is
-- pending.
-- `account_id` is the recipient's account, when it has one (deleting the
-- account deletes its mails); `ticket_id` is NULL for a password reset.
-- The bodies are emptied once the mail is sent or failed (a reset link
-- must not outlive its use). `last_code` and `last_error` are the SMTP
-- server's answer to the last attempt (or why there was none).
CREATE TABLE mails (
    id               UUID    PRIMARY KEY,
    company          TEXT    NOT NULL,
    kind             TEXT    NOT NULL,
    ticket_id        UUID,
    account_id       UUID,
    recipient        TEXT    NOT NULL,
    subject          TEXT    NOT NULL,
    text_body        TEXT    NOT NULL,
    html_body        TEXT    NOT NULL,
    state            TEXT    NOT NULL,
    attempts         BIGINT  NOT NULL,
    next_attempt_at  BIGINT  NOT NULL,
    last_code        BIGINT ,
    last_error       TEXT,
    occurred_at      BIGINT  NOT NULL,
    created_at       BIGINT  NOT NULL,
    updated_at       BIGINT  NOT NULL
);
CREATE INDEX mails_due ON mails (next_attempt_at) WHERE state = 'pending';
CREATE INDEX mails_order ON mails (ticket_id, recipient, occurred_at) WHERE state = 'pending';
CREATE INDEX mails_ticket ON mails (ticket_id, occurred_at);
CREATE INDEX mails_account ON mails (account_id);

-- A company's own templates, one row per mail kind it changed.
CREATE TABLE mail_templates (
    company     TEXT    NOT NULL,
    kind        TEXT    NOT NULL,
    subject     TEXT    NOT NULL,
    text_body   TEXT    NOT NULL,
    html_body   TEXT    NOT NULL,
    updated_at  BIGINT  NOT NULL,
    PRIMARY KEY (company, kind)
);

-- The mail kinds an account turned off (a JSON array of names); no row:
-- every kind.
CREATE TABLE mail_preferences (
    account_id  UUID    PRIMARY KEY,
    muted       TEXT    NOT NULL,
    updated_at  BIGINT  NOT NULL
);
