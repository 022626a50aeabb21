-- Triage models belong to a company, or (company NULL) to the installation,
-- whose active model serves every company without one of its own. One
-- active model per task and owner.
ALTER TABLE triage_models ADD COLUMN company TEXT REFERENCES companies (id);
DROP INDEX triage_models_one_active;
CREATE UNIQUE INDEX triage_models_one_active ON triage_models (COALESCE(company, ''), task) WHERE active = 1;
