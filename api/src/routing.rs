//! Routing rules (admin): versions of the company's ruleset and a dry-run.
//!
//! * `GET /v1/routing/rulesets`: every version, newest first;
//! * `PUT /v1/routing/rulesets`: a new version, active at once;
//! * `GET /v1/routing/rulesets/{version}`: one version (`active` names the
//!   active one);
//! * `POST /v1/routing/rulesets/{version}/activate`: roll back (or forward);
//! * `POST /v1/routing/dry-run`: the decision and trace a draft (or the
//!   active ruleset) gives one ticket, changing nothing;
//! * `POST /v1/routing/backtest`: how a draft's decisions differ from what
//!   happened, over the company's latest tickets (a filter narrows them).

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use switchboard_core::routing::{
    Decision, Destination, RuleAction, Ruleset, RulesetError, RulesetInput, decide, delivery_body,
};
use switchboard_core::{Caller, Channel, CompanyId, NewTicket, Ticket, TicketId, Urgency};
use switchboard_store::{MAX_PAGE_SIZE, NewDelivery, RulesetRecord, ServerRecord, TeamRecord, TicketFilter};
use switchboard_web::{ApiError, Authenticated, JsonBody, Path};
use time::OffsetDateTime;

use crate::ApiState;

/// One version of the company's ruleset.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct RulesetView {
    company: CompanyId,
    version: u32,
    active: bool,
    #[serde(with = "time::serde::rfc3339")]
    created_at: OffsetDateTime,
    /// The admin who saved it.
    created_by: Option<switchboard_core::AccountId>,
    rules: Vec<switchboard_core::routing::Rule>,
}

impl From<RulesetRecord> for RulesetView {
    fn from(record: RulesetRecord) -> Self {
        Self {
            company: record.company,
            version: record.version,
            active: record.active,
            created_at: record.created_at,
            created_by: record.created_by,
            rules: record.ruleset.rules,
        }
    }
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct RulesetList {
    items: Vec<RulesetView>,
}

fn refused(error: RulesetError) -> ApiError {
    match error {
        RulesetError::Invalid(error) => ApiError::Validation(error),
        RulesetError::Query { field, error } => ApiError::InvalidQuery { field, error },
    }
}

/// Validates a ruleset and checks that the teams, servers and accounts its
/// actions name are the company's (staff, for accounts).
async fn checked_ruleset(state: &ApiState, company: &CompanyId, input: RulesetInput) -> Result<Ruleset, ApiError> {
    let ruleset = input.validate().map_err(refused)?;
    let teams = state.store.list_teams(company).await?;
    let servers = state.store.list_servers(company).await?;
    let scope = switchboard_core::Scope::Company(company.clone());
    for (rule_index, rule) in ruleset.rules.iter().enumerate() {
        for (action_index, action) in rule.then.iter().enumerate() {
            let path = |field: &str| format!("rules[{rule_index}].then[{action_index}].{field}");
            let unknown = |field: &str, what: &str| {
                ApiError::Validation(switchboard_core::ticket::ValidationError::new(
                    "invalid_field",
                    path(field),
                    format!("no {what} of the company has this id"),
                ))
            };
            match action {
                RuleAction::RouteToTeam { team } if !teams.iter().any(|known| known.id == *team) => {
                    return Err(unknown("team", "team"));
                }
                RuleAction::RouteToServer { server } if !servers.iter().any(|known| known.id == *server) => {
                    return Err(unknown("server", "server"));
                }
                RuleAction::Assign { account } => {
                    let staff = state.store.account(&scope, *account).await?.is_some_and(|record| {
                        record.role != switchboard_core::Role::Customer && record.deleted_at.is_none()
                    });
                    if !staff {
                        return Err(unknown("account", "staff account"));
                    }
                }
                _ => {}
            }
        }
    }
    Ok(ruleset)
}

/// The rules a dry-run or backtest tries: the draft sent (checked, its
/// faults under `ruleset.`), else the active version (none before the
/// company's first: the defaults alone decide), with its version number.
async fn ruleset_to_try(
    state: &ApiState,
    company: &CompanyId,
    draft: Option<RulesetInput>,
) -> Result<(Ruleset, Option<u32>), ApiError> {
    Ok(match draft {
        Some(draft) => (checked_ruleset(state, company, draft).await.map_err(|error| within("ruleset", error))?, None),
        None => match state.store.active_ruleset(company).await? {
            Some(record) => (record.ruleset, Some(record.version)),
            None => (Ruleset::default(), None),
        },
    })
}

/// Prefixes the path of a draft's fault with where the draft was sent.
fn within(prefix: &str, error: ApiError) -> ApiError {
    match error {
        ApiError::Validation(mut error) => {
            error.field = format!("{prefix}.{}", error.field);
            ApiError::Validation(error)
        }
        ApiError::InvalidQuery { field, error } => ApiError::InvalidQuery { field: format!("{prefix}.{field}"), error },
        other => other,
    }
}

pub(crate) async fn list_rulesets(
    State(state): State<ApiState>,
    Authenticated(caller): Authenticated,
) -> Result<Json<RulesetList>, ApiError> {
    let records = state.store.rulesets(&caller.company).await?;
    Ok(Json(RulesetList { items: records.into_iter().map(RulesetView::from).collect() }))
}

pub(crate) async fn put_ruleset(
    State(state): State<ApiState>,
    Authenticated(caller): Authenticated,
    JsonBody(input): JsonBody<RulesetInput>,
) -> Result<Response, ApiError> {
    let ruleset = checked_ruleset(&state, &caller.company, input).await?;
    let record = state.store.create_ruleset(&caller.company, &ruleset, caller.account()).await?;
    Ok((StatusCode::CREATED, Json(RulesetView::from(record))).into_response())
}

/// The version a path names: a number, or `active`.
async fn stored_version(state: &ApiState, caller: &Caller, version: &str) -> Result<RulesetRecord, ApiError> {
    let not_found = || ApiError::NotFound { what: "ruleset version" };
    let record = if version == "active" {
        state.store.active_ruleset(&caller.company).await?
    } else {
        let number: u32 = version.parse().map_err(|_| not_found())?;
        state.store.ruleset(&caller.company, number).await?
    };
    record.ok_or_else(not_found)
}

pub(crate) async fn get_ruleset(
    State(state): State<ApiState>,
    Authenticated(caller): Authenticated,
    Path(version): Path<String>,
) -> Result<Json<RulesetView>, ApiError> {
    Ok(Json(stored_version(&state, &caller, &version).await?.into()))
}

pub(crate) async fn activate_ruleset(
    State(state): State<ApiState>,
    Authenticated(caller): Authenticated,
    Path(version): Path<String>,
) -> Result<Json<RulesetView>, ApiError> {
    let record = stored_version(&state, &caller, &version).await?;
    if !state.store.activate_ruleset(&caller.company, record.version).await? {
        return Err(ApiError::NotFound { what: "ruleset version" });
    }
    Ok(Json(RulesetView { active: true, ..record.into() }))
}

/// A dry-run: a ticket (a stored one by id, or one written out) and the
/// rules to try (a draft, or the active version when left out).
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct DryRunInput {
    /// A draft ruleset; the active version when absent.
    ruleset: Option<RulesetInput>,
    /// One of the company's tickets.
    ticket_id: Option<String>,
    /// A ticket written out, as `POST /v1/tickets` takes it.
    ticket: Option<NewTicket>,
    /// For a written-out ticket: the category triage would have given it.
    category: Option<String>,
    /// For a written-out ticket: its urgency.
    urgency: Option<Urgency>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct DryRunView {
    /// The version tried; `null` for a draft, or when the company has no
    /// ruleset yet (the defaults alone decide).
    ruleset_version: Option<u32>,
    /// The stored ticket tried; `null` for a written-out one.
    ticket_id: Option<TicketId>,
    decision: Decision,
}

pub(crate) async fn dry_run(
    State(state): State<ApiState>,
    Authenticated(caller): Authenticated,
    JsonBody(input): JsonBody<DryRunInput>,
) -> Result<Json<DryRunView>, ApiError> {
    let (ruleset, ruleset_version) = ruleset_to_try(&state, &caller.company, input.ruleset).await?;
    let (ticket, stored): (Ticket, bool) = match (input.ticket_id, input.ticket) {
        (Some(id), None) => {
            if input.category.is_some() || input.urgency.is_some() {
                return Err(ApiError::invalid_body(
                    "category",
                    "`category` and `urgency` go with a written-out `ticket`; a stored ticket has its own",
                ));
            }
            (crate::tickets::visible_ticket(&state, &caller, &id).await?, true)
        }
        (None, Some(new_ticket)) => {
            let mut ticket = new_ticket
                .validate(TicketId::new(), Channel::Api, OffsetDateTime::now_utc())
                .map_err(|error| within("ticket", ApiError::Validation(error)))?;
            // A dry-run ticket belongs to the caller's company, whatever it says.
            ticket.company = caller.company.clone();
            ticket.category = input.category;
            ticket.urgency = input.urgency;
            (ticket, false)
        }
        _ => return Err(ApiError::invalid_body("ticket", "send exactly one of `ticket_id` and `ticket`")),
    };
    let teams = state.store.team_categories(&caller.company).await?;
    let decision = decide(&ruleset, &teams, &ticket);
    Ok(Json(DryRunView { ruleset_version, ticket_id: stored.then_some(ticket.id), decision }))
}

/// The most tickets one backtest replays.
const BACKTEST_MAX_TICKETS: u32 = 10_000;
const BACKTEST_DEFAULT_TICKETS: u32 = 1_000;
/// Changed tickets listed one by one in a backtest's answer.
const BACKTEST_LISTED_CHANGES: usize = 100;

/// A backtest: a draft ruleset replayed over the company's latest tickets.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct BacktestInput {
    /// The draft; the active version when absent.
    ruleset: Option<RulesetInput>,
    /// Which tickets, in the filter language; all when absent.
    filter: Option<String>,
    /// How many of the latest matching tickets (default 1,000, at most 10,000).
    limit: Option<u32>,
}

/// How many tickets went to one destination before, and would under the draft.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct DestinationCount {
    /// `team <name>`, `server <name>`, `central`, `review`, or `not routed`.
    destination: String,
    before: u32,
    after: u32,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct ChangedTicket {
    ticket_id: TicketId,
    title: String,
    before: String,
    after: String,
    /// Why the draft decides as it does.
    reason: String,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct BacktestView {
    /// The version replayed; `null` for a draft.
    ruleset_version: Option<u32>,
    tickets: u32,
    changed: u32,
    counts: Vec<DestinationCount>,
    /// The first changed tickets, newest first.
    changed_tickets: Vec<ChangedTicket>,
    elapsed_ms: u64,
}

/// A destination in words, naming teams and servers.
fn describe(destination: Option<Destination>, teams: &[TeamRecord], servers: &[ServerRecord]) -> String {
    match destination {
        None => "not routed".into(),
        Some(Destination::Team { team }) => match teams.iter().find(|record| record.id == team) {
            Some(record) => format!("team {}", record.fields.name),
            None => format!("team {team}"),
        },
        Some(Destination::Server { server }) => match servers.iter().find(|record| record.id == server) {
            Some(record) => format!("server {}", record.fields.name),
            None => format!("server {server}"),
        },
        Some(Destination::Central) => "central".into(),
        Some(Destination::Review) => "review".into(),
    }
}

pub(crate) async fn backtest(
    State(state): State<ApiState>,
    Authenticated(caller): Authenticated,
    JsonBody(input): JsonBody<BacktestInput>,
) -> Result<Json<BacktestView>, ApiError> {
    let started = std::time::Instant::now();
    let (ruleset, ruleset_version) = ruleset_to_try(&state, &caller.company, input.ruleset).await?;
    let query = switchboard_core::filter::Query::parse(input.filter.as_deref().unwrap_or_default())
        .map_err(|error| ApiError::InvalidQuery { field: "filter".into(), error })?;
    let limit = input.limit.unwrap_or(BACKTEST_DEFAULT_TICKETS);
    if !(1..=BACKTEST_MAX_TICKETS).contains(&limit) {
        return Err(ApiError::invalid_body("limit", format!("`limit` must be 1 to {BACKTEST_MAX_TICKETS}")));
    }
    let scope = caller.scope();
    let filter = TicketFilter { query, ..TicketFilter::default() };
    let mut tickets: Vec<Ticket> = Vec::new();
    let mut cursor: Option<String> = None;
    while (tickets.len() as u32) < limit {
        let page_size = (limit - tickets.len() as u32).min(MAX_PAGE_SIZE);
        let page = state.store.list_tickets(&scope, &filter, page_size, cursor.as_deref()).await?;
        tickets.extend(page.items);
        match page.next_cursor {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    let ids: Vec<TicketId> = tickets.iter().map(|ticket| ticket.id).collect();
    let recorded = state.store.routings_of(&scope, &ids).await?;
    let teams = state.store.list_teams(&caller.company).await?;
    let servers = state.store.list_servers(&caller.company).await?;
    let categories: Vec<_> = teams.iter().map(TeamRecord::categories).collect();

    let mut counts: Vec<DestinationCount> = Vec::new();
    let mut count = |destination: String, before: bool| {
        let entry = match counts.iter_mut().position(|count| count.destination == destination) {
            Some(index) => &mut counts[index],
            None => {
                counts.push(DestinationCount { destination, before: 0, after: 0 });
                counts.last_mut().expect("just pushed")
            }
        };
        if before { entry.before += 1 } else { entry.after += 1 }
    };
    let (mut changed, mut changed_tickets) = (0u32, Vec::new());
    for ticket in &tickets {
        let decision = decide(&ruleset, &categories, ticket);
        let before_destination = recorded.get(&ticket.id).map(|record| record.routing.decision.destination);
        let before = describe(before_destination, &teams, &servers);
        let after = describe(Some(decision.destination), &teams, &servers);
        count(before.clone(), true);
        count(after.clone(), false);
        if before_destination != Some(decision.destination) {
            changed += 1;
            if changed_tickets.len() < BACKTEST_LISTED_CHANGES {
                changed_tickets.push(ChangedTicket {
                    ticket_id: ticket.id,
                    title: ticket.title.clone(),
                    before,
                    after,
                    reason: decision.reason,
                });
            }
        }
    }
    counts.sort_by(|one, other| one.destination.cmp(&other.destination));
    Ok(Json(BacktestView {
        ruleset_version,
        tickets: tickets.len() as u32,
        changed,
        counts,
        changed_tickets,
        elapsed_ms: started.elapsed().as_millis() as u64,
    }))
}

/// The most tickets one distribution request takes.
const DISTRIBUTE_MAX_TICKETS: usize = 100;

/// `POST /v1/tickets/distribute`: tickets re-delivered to one server.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct DistributeInput {
    ticket_ids: Vec<String>,
    server_id: String,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct DistributedTicket {
    ticket_id: TicketId,
    /// The new delivery's `webhook-id`; its progress is in the ticket's
    /// delivery log.
    webhook_id: String,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct Distribution {
    items: Vec<DistributedTicket>,
}

/// `POST /v1/tickets/{ids}/distribute/{server_id}`, with one ticket id or
/// several separated by commas.
pub(crate) async fn distribute_listed(
    State(state): State<ApiState>,
    Authenticated(caller): Authenticated,
    Path((ids, server)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let ids: Vec<String> = ids.split(',').map(|id| id.trim().to_owned()).collect();
    distribute(&state, &caller, &ids, &server).await
}

pub(crate) async fn distribute_body(
    State(state): State<ApiState>,
    Authenticated(caller): Authenticated,
    JsonBody(input): JsonBody<DistributeInput>,
) -> Result<Response, ApiError> {
    distribute(&state, &caller, &input.ticket_ids, &input.server_id).await
}

/// Schedules a delivery of each ticket to the server, all or none: every
/// ticket must be the company's and the server enabled. The delivery's
/// reason names the admin, and the ticket is that server's from then on.
async fn distribute(state: &ApiState, caller: &Caller, ids: &[String], server: &str) -> Result<Response, ApiError> {
    if ids.is_empty() || ids.len() > DISTRIBUTE_MAX_TICKETS {
        return Err(ApiError::invalid_body("ticket_ids", format!("send 1 to {DISTRIBUTE_MAX_TICKETS} ticket ids")));
    }
    let server = crate::servers::server_id(server)?;
    let server = state.store.server(&caller.company, server).await?.ok_or(ApiError::NotFound { what: "server" })?;
    if !server.fields.enabled {
        return Err(ApiError::Refused {
            code: "server_disabled",
            message: format!("server `{}` is disabled; enable it first", server.fields.name),
        });
    }
    let mut tickets = Vec::with_capacity(ids.len());
    for id in ids {
        let ticket = crate::tickets::visible_ticket(state, caller, id).await?;
        if !tickets.iter().any(|known: &Ticket| known.id == ticket.id) {
            tickets.push(ticket);
        }
    }
    let who = match caller.account() {
        Some(account) => format!("distributed by admin {account}"),
        None => "distributed by an admin".to_owned(),
    };
    let mut deliveries = Vec::with_capacity(tickets.len());
    for ticket in &tickets {
        let payload = delivery_body(ticket, ticket.team, &who).map_err(ApiError::internal)?;
        deliveries.push((
            ticket.id,
            NewDelivery { id: uuid::Uuid::now_v7(), server: server.id, reason: who.clone(), payload },
        ));
    }
    state.store.add_deliveries(&caller.company, &deliveries).await?;
    let items = deliveries
        .iter()
        .map(|(ticket_id, delivery)| {
            tracing::info!(%ticket_id, server = %server.id, reason = %who, "ticket distributed by hand");
            DistributedTicket { ticket_id: *ticket_id, webhook_id: switchboard_store::webhook_id(delivery.id) }
        })
        .collect();
    Ok((StatusCode::ACCEPTED, Json(Distribution { items })).into_response())
}
