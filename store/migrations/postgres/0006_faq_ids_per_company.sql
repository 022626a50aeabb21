-- An FAQ id names an article within its owner: a company's own articles
-- and the shared ones (company NULL) each have their own ids, so two
-- companies may both have `reset-password`. The store keeps the ids of a
-- company's articles apart from the shared ones' (see `Store::upsert_faqs`),
-- so an id names one article in every company's view.
ALTER TABLE faqs DROP CONSTRAINT faqs_pkey;
CREATE UNIQUE INDEX faqs_owner_id ON faqs ((COALESCE(company, '')), id);
CREATE INDEX faqs_id ON faqs (id);
