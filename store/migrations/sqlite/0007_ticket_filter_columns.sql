-- Columns the ticket filter language (`core::filter`) compiles to, derived
-- from the ticket by the same Rust functions its in-memory evaluation uses,
-- so that SQL and memory select the same tickets:
--   search_text       the normalised title and description, padded with
--                     spaces (`core::filter::searchable_text`);
--   requester_domain  the requester's domain in lower case, NULL without one;
--   *_confidence      the triage models' confidences, NULL before triage.
-- Rows written before this migration are filled in by `Store::migrate`,
-- which looks them up by the partial index below.
ALTER TABLE tickets ADD COLUMN search_text TEXT;
ALTER TABLE tickets ADD COLUMN requester_domain TEXT;
ALTER TABLE tickets ADD COLUMN category_confidence REAL;
ALTER TABLE tickets ADD COLUMN urgency_confidence REAL;
CREATE INDEX tickets_unsearchable ON tickets (id) WHERE search_text IS NULL;
CREATE INDEX tickets_requester_domain ON tickets (requester_domain, id);
