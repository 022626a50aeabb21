-- Routing rulesets: every change an admin makes is a new, immutable version
-- of the company's ruleset; one version per company is active (the router
-- stage applies it, and every routing decision records its version).
-- `rules` is the ruleset as JSON (`core::routing::Ruleset`, conditions as
-- filter-language text).
CREATE TABLE routing_rulesets (
    company     TEXT    NOT NULL,
    version     BIGINT  NOT NULL,
    rules       TEXT    NOT NULL,
    active      BOOLEAN NOT NULL,
    created_by  UUID,
    created_at  BIGINT  NOT NULL,
    PRIMARY KEY (company, version)
);
CREATE UNIQUE INDEX routing_rulesets_one_active ON routing_rulesets (company) WHERE active;
