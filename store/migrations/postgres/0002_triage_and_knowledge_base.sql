-- What the pipeline stages found, kept on the ticket (JSON), plus the
-- columns that lists filter on. `*_source` says who set category and
-- urgency: 'model', 'policy', 'default' or 'staff'; staff values are never
-- overwritten by a stage.
ALTER TABLE tickets ADD COLUMN triage TEXT;
ALTER TABLE tickets ADD COLUMN needs_human_triage BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE tickets ADD COLUMN category_source TEXT;
ALTER TABLE tickets ADD COLUMN urgency_source TEXT;
ALTER TABLE tickets ADD COLUMN suggestions TEXT;
ALTER TABLE tickets ADD COLUMN answered_by_faq TEXT;
CREATE INDEX tickets_needs_human ON tickets (needs_human_triage, id);
CREATE INDEX tickets_category ON tickets (category, id);

CREATE TABLE faqs (
    id              TEXT    PRIMARY KEY,
    company         TEXT,
    question        TEXT    NOT NULL,
    answers         TEXT    NOT NULL,
    tags            TEXT    NOT NULL,
    equipment_model TEXT,
    language        TEXT    NOT NULL,
    published       BOOLEAN NOT NULL,
    phrasings       TEXT    NOT NULL,
    created_at      BIGINT  NOT NULL,
    updated_at      BIGINT  NOT NULL
);

CREATE TABLE ticket_reports (
    ticket_id          UUID    PRIMARY KEY,
    company            TEXT    NOT NULL,
    title              TEXT    NOT NULL,
    malfunction        TEXT    NOT NULL,
    solution           TEXT    NOT NULL,
    parts              TEXT    NOT NULL,
    time_spent_minutes INTEGER,
    equipment_model    TEXT,
    created_at         BIGINT  NOT NULL
);

CREATE TABLE company_settings (
    company               TEXT             PRIMARY KEY,
    auto_answer_threshold DOUBLE PRECISION,
    updated_at            BIGINT           NOT NULL
);

CREATE TABLE settings (
    setting_key TEXT   PRIMARY KEY,
    value       TEXT   NOT NULL,
    updated_at  BIGINT NOT NULL
);

CREATE TABLE triage_models (
    id         UUID    PRIMARY KEY,
    task       TEXT    NOT NULL,
    version    TEXT    NOT NULL,
    artefact   BYTEA   NOT NULL,
    metadata   TEXT    NOT NULL,
    active     BOOLEAN NOT NULL DEFAULT FALSE,
    created_at BIGINT  NOT NULL
);
CREATE UNIQUE INDEX triage_models_one_active ON triage_models (task) WHERE active;
