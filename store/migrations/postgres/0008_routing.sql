-- Routing rulesets: every change an admin makes is a new, immutable version
-- of the company's ruleset; one version per company is active (the router
-- stage applies it, and every routing decision records its version).
-- `rules` is the ruleset as JSON (`core::routing::Ruleset`, conditions as
-- filter-language text).
CREATE TABLE routing_rulesets (
    company     TEXT    NOT NULL,
    version     BIGINT NOT NULL,
    rules       TEXT    NOT NULL,
    active      BOOLEAN NOT NULL,
    created_by  UUID,
    created_at  BIGINT NOT NULL,
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
    created_at      BIGINT NOT NULL,
    updated_at      BIGINT NOT NULL
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
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL
);
CREATE UNIQUE INDEX teams_company_name ON teams (company, name);

-- A server's circuit: after consecutive failed deliveries it is skipped
-- until `circuit_open_until` (microseconds).
ALTER TABLE servers ADD COLUMN consecutive_failures BIGINT NOT NULL DEFAULT 0;
ALTER TABLE servers ADD COLUMN circuit_open_until BIGINT;

-- The router's decision for each ticket, once: the ruleset version it
-- applied, the routing with the decision's trace (JSON,
-- `core::events::Routing`), the team, and the server the ticket is delivered
-- to now (a fallback moves it; none for review, or when no server was
-- available).
CREATE TABLE ticket_routings (
    ticket_id        UUID    PRIMARY KEY,
    company          TEXT    NOT NULL,
    ruleset_version  BIGINT,
    routing          TEXT    NOT NULL,
    team_id          UUID,
    server_id        UUID,
    routed_at        BIGINT NOT NULL
);

-- Deliveries of tickets to team servers: the durable retry schedule. `id`
-- is the `webhook-id`, the same on every attempt; the state is `pending`
-- until the server acknowledges (`delivered`) or the router gives up on it
-- (`failed`, then it falls back to the next server with a new delivery).
CREATE TABLE deliveries (
    id               UUID    PRIMARY KEY,
    company          TEXT    NOT NULL,
    ticket_id        UUID    NOT NULL,
    server_id        UUID    NOT NULL,
    reason           TEXT    NOT NULL,
    payload          TEXT    NOT NULL,
    state            TEXT    NOT NULL,
    attempts         BIGINT NOT NULL,
    next_attempt_at  BIGINT NOT NULL,
    last_status      BIGINT,
    last_error       TEXT,
    created_at       BIGINT NOT NULL,
    updated_at       BIGINT NOT NULL
);
CREATE INDEX deliveries_due ON deliveries (next_attempt_at) WHERE state = 'pending';
CREATE INDEX deliveries_ticket ON deliveries (ticket_id, created_at);
CREATE INDEX deliveries_server_pending ON deliveries (server_id) WHERE state = 'pending';
