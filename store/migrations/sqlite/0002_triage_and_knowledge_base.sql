-- What the pipeline stages found, kept on the ticket (JSON), plus the
-- columns that lists filter on. `*_source` says who set category and
-- urgency: 'model', 'policy', 'default' or 'staff'; staff values are never
-- overwritten by a stage.
ALTER TABLE tickets ADD COLUMN triage TEXT;
ALTER TABLE tickets ADD COLUMN needs_human_triage INTEGER NOT NULL DEFAULT 0;
ALTER TABLE tickets ADD COLUMN category_source TEXT;
ALTER TABLE tickets ADD COLUMN urgency_source TEXT;
ALTER TABLE tickets ADD COLUMN suggestions TEXT;
ALTER TABLE tickets ADD COLUMN answered_by_faq TEXT;
CREATE INDEX tickets_needs_human ON tickets (needs_human_triage, id);
CREATE INDEX tickets_category ON tickets (category, id);

CREATE TABLE faqs (
    id              TEXT    PRIMARY KEY NOT NULL,
    company         TEXT,
    question        TEXT    NOT NULL,
    answers         TEXT    NOT NULL,
    tags            TEXT    NOT NULL,
    equipment_model TEXT,
    language        TEXT    NOT NULL,
    published       INTEGER NOT NULL,
    phrasings       TEXT    NOT NULL,
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL
) WITHOUT ROWID;

-- Engineers' reports on resolved tickets: the knowledge base's past solutions.
CREATE TABLE ticket_reports (
    ticket_id          BLOB    PRIMARY KEY NOT NULL,
    company            TEXT    NOT NULL,
    title              TEXT    NOT NULL,
    malfunction        TEXT    NOT NULL,
    solution           TEXT    NOT NULL,
    parts              TEXT    NOT NULL,
    time_spent_minutes INTEGER,
    equipment_model    TEXT,
    created_at         INTEGER NOT NULL
) WITHOUT ROWID;

CREATE TABLE company_settings (
    company               TEXT    PRIMARY KEY NOT NULL,
    auto_answer_threshold REAL,
    updated_at            INTEGER NOT NULL
) WITHOUT ROWID;

-- Installation-wide settings as JSON values, e.g. the urgency policy.
CREATE TABLE settings (
    setting_key TEXT    PRIMARY KEY NOT NULL,
    value       TEXT    NOT NULL,
    updated_at  INTEGER NOT NULL
) WITHOUT ROWID;

-- Trained triage models; one active per task ('category', 'urgency').
-- A rowid table on purpose: SQLite 3.46 crashes updating a WITHOUT ROWID
-- table through a partial unique index like the one below.
CREATE TABLE triage_models (
    id         BLOB    PRIMARY KEY NOT NULL,
    task       TEXT    NOT NULL,
    version    TEXT    NOT NULL,
    artefact   BLOB    NOT NULL,
    metadata   TEXT    NOT NULL,
    active     INTEGER NOT NULL DEFAULT 0,
    created_at INTEGER NOT NULL
);
CREATE UNIQUE INDEX triage_models_one_active ON triage_models (task) WHERE active = 1;
