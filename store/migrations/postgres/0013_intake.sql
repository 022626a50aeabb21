-- Intake channels: files that come with tickets, the public web form, and
-- e-mail in.

-- Files of a ticket (web-form photos, e-mail attachments, an e-mail's
-- original). The bytes live in the attachment store under
-- `{company}/{ticket id}/{attachment id}`; this is what the API lists and
-- serves. `message_id` is set for a file that came with a reply.
CREATE TABLE ticket_attachments (
    id           UUID    PRIMARY KEY,
    ticket_id    UUID    NOT NULL REFERENCES tickets (id) ON DELETE CASCADE,
    company      TEXT    NOT NULL,
    message_id   UUID,
    filename     TEXT    NOT NULL,
    content_type TEXT    NOT NULL,
    size_bytes   BIGINT  NOT NULL,
    sha256       TEXT    NOT NULL,
    created_at   BIGINT  NOT NULL
);
CREATE INDEX ticket_attachments_ticket ON ticket_attachments (ticket_id, id);

-- Files stored for a submission whose ticket the projector has not yet seen.
-- The projector deletes a file's row when it records the file; retention
-- deletes the files of rows older than `attachments.orphan_grace_hours`
-- (their ticket never came) and the rows.
CREATE TABLE pending_attachments (
    id         UUID    PRIMARY KEY,
    ticket_id  UUID    NOT NULL,
    company    TEXT    NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX pending_attachments_created ON pending_attachments (created_at);

-- Whether the company's public form (`/support/{company}`) takes tickets,
-- whether a customer's e-mail reply reopens a resolved ticket, and whether
-- automatic mail (out-of-office, bounces) answering a ticket is kept on it
-- as an internal note.
ALTER TABLE companies ADD COLUMN web_form_enabled BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE companies ADD COLUMN reopen_on_reply BOOLEAN NOT NULL DEFAULT TRUE;
ALTER TABLE companies ADD COLUMN keep_automatic_mail BOOLEAN NOT NULL DEFAULT FALSE;

-- The addresses a company receives support mail at (support@acme.example):
-- the recipient of an inbound mail names its company.
CREATE TABLE inbound_addresses (
    address    TEXT    PRIMARY KEY NOT NULL,
    company    TEXT    NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX inbound_addresses_company ON inbound_addresses (company);

-- Mail received for tickets, by Message-ID: a mail seen twice (a retrying
-- MTA, a poller that died before marking it seen) is taken once, and a
-- reply naming one of these ids in In-Reply-To/References belongs to its
-- ticket when its sender is a participant.
CREATE TABLE inbound_mails (
    company     TEXT    NOT NULL,
    message_id  TEXT    NOT NULL,
    ticket_id   UUID    NOT NULL,
    sender      TEXT    NOT NULL,
    received_at BIGINT NOT NULL,
    PRIMARY KEY (company, message_id)
);
CREATE INDEX inbound_mails_ticket ON inbound_mails (ticket_id, sender);
