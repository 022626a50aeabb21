-- An FAQ id names an article within its owner: a company's own articles
-- and the shared ones (company NULL) each have their own ids, so two
-- companies may both have `reset-password`. The store keeps the ids of a
-- company's articles apart from the shared ones' (see `Store::upsert_faqs`),
-- so an id names one article in every company's view.
-- SQLite cannot change a primary key in place: the table is rebuilt, as a
-- rowid table keyed by a unique index (see 0002 on partial indexes and
-- WITHOUT ROWID tables).
CREATE TABLE faqs_by_owner (
    id              TEXT    NOT NULL,
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
);
INSERT INTO faqs_by_owner (id, company, question, answers, tags, equipment_model, language, published, phrasings,
                           created_at, updated_at)
    SELECT id, company, question, answers, tags, equipment_model, language, published, phrasings, created_at, updated_at
    FROM faqs;
DROP TABLE faqs;
ALTER TABLE faqs_by_owner RENAME TO faqs;
CREATE UNIQUE INDEX faqs_owner_id ON faqs (COALESCE(company, ''), id);
CREATE INDEX faqs_id ON faqs (id);
