-- Companies (tenants), the people in them, how they sign in, and the keys
-- integrations call with. Secrets (session tokens, API keys, one-time
-- tokens) are stored only as SHA-256 hashes; passwords as argon2id PHC
-- strings. Usernames and e-mail addresses are kept lower-cased and are
-- unique across the installation (sign-in names no company). A deleted
-- account keeps its row (tickets point at it) with its personal data
-- removed (NULLs do not collide in a unique index).
CREATE TABLE companies (
    id                TEXT    PRIMARY KEY NOT NULL,
    name              TEXT    NOT NULL,
    allow_self_signup INTEGER NOT NULL DEFAULT 0,
    created_at        INTEGER NOT NULL
) WITHOUT ROWID;

CREATE TABLE accounts (
    id            BLOB    PRIMARY KEY NOT NULL,
    company       TEXT    NOT NULL REFERENCES companies (id),
    role          TEXT    NOT NULL,
    kind          TEXT    NOT NULL,
    name          TEXT,
    username      TEXT    UNIQUE,
    email         TEXT    UNIQUE,
    password_hash TEXT,
    created_at    INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL,
    deleted_at    INTEGER
) WITHOUT ROWID;
CREATE INDEX accounts_company ON accounts (company, id);

CREATE TABLE sessions (
    token_hash BLOB    PRIMARY KEY NOT NULL,
    account_id BLOB    NOT NULL REFERENCES accounts (id),
    company    TEXT    NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX sessions_account ON sessions (account_id);
CREATE INDEX sessions_expires ON sessions (expires_at);

CREATE TABLE api_keys (
    id           BLOB    PRIMARY KEY NOT NULL,
    company      TEXT    NOT NULL REFERENCES companies (id),
    name         TEXT    NOT NULL,
    scopes       TEXT    NOT NULL,
    key_hash     BLOB    NOT NULL UNIQUE,
    key_prefix   TEXT    NOT NULL,
    created_by   BLOB,
    created_at   INTEGER NOT NULL,
    last_used_at INTEGER,
    revoked_at   INTEGER
) WITHOUT ROWID;
CREATE INDEX api_keys_company ON api_keys (company, id);

-- Single-use tokens: 'set_password' (an account an admin created) and
-- 'reset_password' (a forgotten password).
CREATE TABLE account_tokens (
    token_hash BLOB    PRIMARY KEY NOT NULL,
    account_id BLOB    NOT NULL REFERENCES accounts (id),
    purpose    TEXT    NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    used_at    INTEGER
) WITHOUT ROWID;
CREATE INDEX account_tokens_account ON account_tokens (account_id);

-- The account that filed a ticket (a customer's session), for "customers
-- see their own tickets".
ALTER TABLE tickets ADD COLUMN requester_account BLOB;
CREATE INDEX tickets_requester_account ON tickets (requester_account, id);

-- Idempotency keys become per company: two companies may use the same key.
-- Claims are kept for a day; the old ones (no company) are dropped.
DROP TABLE idempotency_keys;
CREATE TABLE idempotency_keys (
    company         TEXT    NOT NULL,
    idempotency_key TEXT    NOT NULL,
    request_hash    BLOB    NOT NULL,
    ticket_id       BLOB    NOT NULL,
    message         BLOB    NOT NULL,
    accepted        INTEGER NOT NULL DEFAULT 0,
    created_at      INTEGER NOT NULL,
    PRIMARY KEY (company, idempotency_key)
) WITHOUT ROWID;
CREATE INDEX idempotency_keys_created ON idempotency_keys (created_at);

-- The company's vehicles, and the one a ticket's assignee takes.
CREATE TABLE vehicles (
    id         BLOB    PRIMARY KEY NOT NULL,
    company    TEXT    NOT NULL REFERENCES companies (id),
    name       TEXT    NOT NULL,
    plate      TEXT,
    kind       TEXT,
    available  INTEGER NOT NULL DEFAULT 1,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX vehicles_company ON vehicles (company, id);
ALTER TABLE tickets ADD COLUMN vehicle_id BLOB;
CREATE INDEX tickets_assignee ON tickets (assignee_id, id);

-- The assignee's report goes draft → submitted → approved (or rejected, back
-- to the assignee) → resolved; only resolved reports are past solutions.
-- Rows written before (always of resolved tickets) are resolved.
ALTER TABLE ticket_reports ADD COLUMN travel_minutes INTEGER;
ALTER TABLE ticket_reports ADD COLUMN equipment_serial TEXT;
ALTER TABLE ticket_reports ADD COLUMN notes TEXT;
ALTER TABLE ticket_reports ADD COLUMN state TEXT NOT NULL DEFAULT 'resolved';
ALTER TABLE ticket_reports ADD COLUMN author_id BLOB;
ALTER TABLE ticket_reports ADD COLUMN rejection_reason TEXT;
ALTER TABLE ticket_reports ADD COLUMN updated_at INTEGER;

-- The conversation on a ticket: public replies and internal notes.
CREATE TABLE ticket_messages (
    id          BLOB    PRIMARY KEY NOT NULL,
    ticket_id   BLOB    NOT NULL REFERENCES tickets (id) ON DELETE CASCADE,
    company     TEXT    NOT NULL,
    author_id   BLOB,
    author_role TEXT    NOT NULL,
    internal    INTEGER NOT NULL,
    body        TEXT    NOT NULL,
    created_at  INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX ticket_messages_ticket ON ticket_messages (ticket_id, id);
