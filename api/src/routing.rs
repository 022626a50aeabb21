//! Routing rules (admin): versions of the company's ruleset and a dry-run.
//!
//! * `GET /v1/routing/rulesets`: every version, newest first;
//! * `PUT /v1/routing/rulesets`: a new version, active at once;
//! * `GET /v1/routing/rulesets/{version}`: one version (`active` names the
//!   active one);
//! * `POST /v1/routing/rulesets/{version}/activate`: roll back (or forward);
//! * `POST /v1/routing/dry-run`: the decision and trace a draft (or the
//!   active ruleset) gives one ticket, changing nothing.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use switchboard_core::routing::{Decision, Ruleset, RulesetError, RulesetInput, decide};
use switchboard_core::{Caller, Channel, CompanyId, NewTicket, Ticket, TicketId, Urgency};
use switchboard_store::RulesetRecord;
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
    let ruleset = input.validate().map_err(refused)?;
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
    let (ruleset, ruleset_version) = match input.ruleset {
        Some(draft) => (draft.validate().map_err(|error| within("ruleset", refused(error)))?, None),
        None => match state.store.active_ruleset(&caller.company).await? {
            Some(record) => (record.ruleset, Some(record.version)),
            None => (Ruleset::default(), None),
        },
    };
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
