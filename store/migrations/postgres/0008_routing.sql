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

-- Team servers: where the router delivers tickets. One server per company
-- may be its central one, which takes what no rule and no team claims.
CREATE TABLE servers (
    id              UUID    PRIMARY KEY,
    company         TEXT    NOT NULL,
    name            TEXT    NOT NULL,
    region          TEXT,
    base_url        TEXT    NOT NULL,
    signing_secret  TEXT    NOT NULL,
    enabled         BOOLEAN NOT NULL,
    central         BOOLEAN NOT NULL,
    created_at      BIGINT  NOT NULL,
    updated_at      BIGINT  NOT NULL
);
CREATE INDEX servers_company ON servers (company, id);
CREATE UNIQUE INDEX servers_one_central ON servers (company) WHERE central;

-- Teams: the categories they handle, their members (accounts) and the
-- servers that host them, as JSON arrays (a company has few teams, and the
-- router reads them all at once).
CREATE TABLE teams (
    id          UUID    PRIMARY KEY,
    company     TEXT    NOT NULL,
    name        TEXT    NOT NULL,
    categories  TEXT    NOT NULL,
    members     TEXT    NOT NULL,
    servers     TEXT    NOT NULL,
    created_at  BIGINT  NOT NULL,
    updated_at  BIGINT  NOT NULL
);
CREATE UNIQUE INDEX teams_company_name ON teams (company, name);
