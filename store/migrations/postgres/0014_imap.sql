-- Where the IMAP poller is in each mailbox it reads: the mailbox's
-- UIDVALIDITY when it was last read and the highest UID taken and marked on
-- the server. Keyed by `company/host/username/mailbox`. A different
-- UIDVALIDITY means the server renumbered the mailbox: reading starts over
-- at UID 1 (mail taken before is a duplicate by its Message-ID).
CREATE TABLE imap_mailboxes (
    mailbox_key  TEXT   PRIMARY KEY NOT NULL,
    uid_validity BIGINT NOT NULL,
    last_uid     BIGINT NOT NULL,
    updated_at   BIGINT NOT NULL
);
