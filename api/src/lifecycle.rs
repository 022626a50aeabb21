//! The ticket lifecycle as actions, over the transition table in
//! `core::lifecycle` (the one source of truth of who may move a ticket
//! where):
//!
//! - `PUT /v1/tickets/{id}/assignment` {assignee, vehicle?} (admin): a new
//!   ticket is assigned and opened in one transition; an opened or
//!   in-progress one gets another assignee or vehicle;
//! - `PUT /v1/tickets/{id}/status` {status}: the one action that leads
//!   there from the ticket's status, if the caller's role may take it (and,
//!   for `start` and `resolve`, the caller is the assignee);
//! - `PUT /v1/tickets/{id}/report` (the assignee; `submit: true` asks the
//!   customer's approval), `GET /v1/tickets/{id}/report`;
//! - `POST /v1/tickets/{id}/report/approval` {password, approve, reason?}:
//!   the customer decides, proving it is them with their password;
//! - `POST|GET /v1/tickets/{id}/messages`: replies and internal notes;
//! - `DELETE /v1/tickets/{id}` (admin, closed tickets only: a tombstone
//!   stays in the history);
//! - `GET /v1/tickets/{id}/history`: every audit event, with its actor.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use serde::{Deserialize, Serialize};
use switchboard_core::events::{Report, TicketMessage, TransitionDetails};
use switchboard_core::lifecycle::{self, Action, Actor};
use switchboard_core::{AccountId, Caller, EventId, Role, Status, Ticket, TicketId, TransitionError, VehicleId};
use switchboard_store::{Change, ReportRecord, TransitionRequest};
use switchboard_web::{ApiError, Authenticated, JsonBody, Path};
use time::OffsetDateTime;

use crate::ApiState;
use crate::tickets::{seen_by, visible_ticket};

fn request_id(headers: &HeaderMap) -> Option<String> {
    headers.get("x-request-id").and_then(|value| value.to_str().ok()).map(str::to_owned)
}

fn request(
    ticket: TicketId,
    action: Action,
    actor: Actor,
    headers: &HeaderMap,
    details: TransitionDetails,
) -> TransitionRequest {
    TransitionRequest {
        ticket_id: ticket,
        action,
        actor,
        event_id: EventId::new(),
        request_id: request_id(headers),
        details,
    }
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct AssignmentInput {
    /// An engineer's or technician's account id.
    assignee: String,
    /// A vehicle id of the company, available now.
    vehicle: Option<String>,
}

pub(crate) async fn put_assignment(
    State(state): State<ApiState>,
    Authenticated(caller): Authenticated,
    headers: HeaderMap,
    Path(id): Path<String>,
    JsonBody(input): JsonBody<AssignmentInput>,
) -> Result<Json<Ticket>, ApiError> {
    let ticket = visible_ticket(&state, &caller, &id).await?;
    let scope = caller.scope();
    let not_staff =
        || ApiError::invalid_body("assignee", "`assignee` must be an engineer's or technician's account id");
    let assignee: AccountId = input.assignee.trim().parse().map_err(|_| not_staff())?;
    let account = state.store.account(&scope, assignee).await?.ok_or_else(not_staff)?;
    if account.deleted_at.is_some() || !matches!(account.role, Role::Engineer | Role::Technician) {
        return Err(not_staff());
    }
    let vehicle = match input.vehicle.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(text) => {
            let unknown =
                || ApiError::invalid_body("vehicle", "`vehicle` must be an id of one of the company's vehicles");
            let id: VehicleId = text.parse().map_err(|_| unknown())?;
            let vehicle = state.store.vehicle(&caller.company, id).await?.ok_or_else(unknown)?;
            if !vehicle.available {
                return Err(ApiError::invalid_body("vehicle", format!("vehicle `{}` is not available", vehicle.name)));
            }
            Some(id)
        }
    };
    let details = TransitionDetails::Assignment { assignee, vehicle };
    let request = request(ticket.id, Action::Open, caller.actor(), &headers, details);
    let ticket = if ticket.status == Status::New {
        state.store.transition(&scope, request).await?.ticket
    } else {
        state.store.reassign(&scope, &request, assignee, vehicle).await?
    };
    crate::dispatch::record_assignment_travel(&state, &ticket, assignee, vehicle).await;
    Ok(Json(seen_by(&caller, ticket)))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct StatusInput {
    status: String,
}

/// `PUT /v1/tickets/{id}/status`: takes the one action that leads from the
/// ticket's status to the one asked for. Asking for the status it has
/// changes nothing.
pub(crate) async fn put_status(
    State(state): State<ApiState>,
    Authenticated(caller): Authenticated,
    headers: HeaderMap,
    Path(id): Path<String>,
    JsonBody(input): JsonBody<StatusInput>,
) -> Result<Json<Ticket>, ApiError> {
    let ticket = visible_ticket(&state, &caller, &id).await?;
    if caller.account().is_none() {
        // An integration sees nothing of a ticket it does not work on.
        works_on(&caller, &ticket)?;
    }
    let target = Status::parse(input.status.trim()).ok_or_else(|| {
        let known: Vec<&str> = Status::ALL.iter().map(|status| status.as_str()).collect();
        ApiError::invalid_body("status", format!("unknown status `{}`; one of {}", input.status, known.join(", ")))
    })?;
    let from = ticket.status;
    if from == target {
        return Ok(Json(seen_by(&caller, ticket)));
    }
    let actor = caller.actor();
    let edges: Vec<_> = lifecycle::TRANSITIONS
        .iter()
        .filter(|edge| edge.from == from && edge.to == target && edge.action != Action::AnswerFromFaq)
        .collect();
    let Some(edge) = edges.iter().find(|edge| edge.roles.contains(&actor.role)).or(edges.first()) else {
        return Err(ApiError::NoTransition { from, to: target });
    };
    if !edge.roles.contains(&actor.role) {
        return Err(ApiError::Transition(TransitionError::Forbidden { from, action: edge.action, role: actor.role }));
    }
    match edge.action {
        Action::Open => {
            return Err(ApiError::Conflict(format!(
                "a new ticket is opened by assigning it: PUT /v1/tickets/{}/assignment",
                ticket.id
            )));
        }
        Action::Start | Action::Resolve => works_on(&caller, &ticket)?,
        // The store refuses `resolve` without an approved report.
        _ => {}
    }
    let request = request(ticket.id, edge.action, actor, &headers, TransitionDetails::None);
    let ticket = state.store.transition(&caller.scope(), request).await?.ticket;
    Ok(Json(seen_by(&caller, ticket)))
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct HistoryEntry {
    event_id: EventId,
    action: String,
    from: String,
    to: String,
    actor: HistoryActor,
    request_id: Option<String>,
    #[serde(with = "time::serde::rfc3339")]
    at: OffsetDateTime,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct HistoryActor {
    role: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    account: Option<AccountId>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct History {
    items: Vec<HistoryEntry>,
}

/// `GET /v1/tickets/{id}/history`: the ticket's audit trail, oldest first.
pub(crate) async fn history(
    State(state): State<ApiState>,
    Authenticated(caller): Authenticated,
    Path(id): Path<String>,
) -> Result<Json<History>, ApiError> {
    let ticket = visible_ticket(&state, &caller, &id).await?;
    let events = state.store.ticket_events(&caller.scope(), ticket.id).await?;
    let items = events
        .into_iter()
        .map(|event| HistoryEntry {
            event_id: event.event_id,
            action: event.action,
            from: event.from,
            to: event.to,
            actor: HistoryActor { role: event.actor_role, account: event.actor_account },
            request_id: event.request_id,
            at: OffsetDateTime::from_unix_timestamp_nanos(i128::from(event.created_at_micros) * 1000)
                .unwrap_or(OffsetDateTime::UNIX_EPOCH),
        })
        .collect();
    Ok(Json(History { items }))
}

/// Whether the caller works on `ticket`: a person who is its assignee, or
/// an integration (a team server's key) when the ticket was delivered to
/// one of the company's servers.
fn works_on(caller: &Caller, ticket: &Ticket) -> Result<(), ApiError> {
    let works = match caller.account() {
        Some(account) => ticket.assignee == Some(account),
        None => ticket.server.is_some(),
    };
    if works {
        return Ok(());
    }
    Err(ApiError::Forbidden {
        message: match caller.account() {
            Some(_) => "only the ticket's assignee may do this".into(),
            None => "an integration acts only on tickets delivered to a team server".into(),
        },
    })
}

fn change<'a>(ticket: &Ticket, caller: &Caller, headers: &'a HeaderMap) -> Change<'a> {
    Change {
        ticket_id: ticket.id,
        actor: caller.actor(),
        request_id: headers.get("x-request-id").and_then(|value| value.to_str().ok()),
    }
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct ReportView {
    #[serde(flatten)]
    report: Report,
    state: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    rejection_reason: Option<String>,
}

impl From<ReportRecord> for ReportView {
    fn from(record: ReportRecord) -> Self {
        Self { report: record.report, state: record.state.as_str(), rejection_reason: record.rejection_reason }
    }
}

/// A whole report (what is left out is empty), and whether to submit it.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ReportInput {
    malfunction: String,
    solution: String,
    #[serde(default)]
    parts: Vec<String>,
    time_spent_minutes: Option<u32>,
    travel_minutes: Option<u32>,
    /// Road distance travelled, in metres. When neither this nor
    /// `travel_minutes` is given, both are the estimate taken when the
    /// ticket was assigned (if there was one), and `travel_source` says
    /// who estimated them.
    travel_distance_m: Option<u32>,
    equipment_model: Option<String>,
    equipment_serial: Option<String>,
    notes: Option<String>,
    /// Ask the customer's approval now (otherwise a draft).
    #[serde(default)]
    submit: bool,
}

impl ReportInput {
    fn report(self) -> (Report, bool) {
        let report = Report {
            malfunction: self.malfunction,
            solution: self.solution,
            parts: self.parts,
            time_spent_minutes: self.time_spent_minutes,
            travel_minutes: self.travel_minutes,
            travel_distance_m: self.travel_distance_m,
            travel_source: None,
            equipment_model: self.equipment_model,
            equipment_serial: self.equipment_serial,
            notes: self.notes,
        };
        (report, self.submit)
    }
}

pub(crate) async fn get_report(
    State(state): State<ApiState>,
    Authenticated(caller): Authenticated,
    Path(id): Path<String>,
) -> Result<Json<ReportView>, ApiError> {
    let ticket = visible_ticket(&state, &caller, &id).await?;
    let report = state.store.report(&caller.scope(), ticket.id).await?.ok_or(ApiError::NotFound { what: "report" })?;
    Ok(Json(report.into()))
}

/// `PUT /v1/tickets/{id}/report`: the assignee writes the report of an
/// in-progress ticket (again after a rejection); `submit: true` asks the
/// customer's approval.
pub(crate) async fn put_report(
    State(state): State<ApiState>,
    Authenticated(caller): Authenticated,
    headers: HeaderMap,
    Path(id): Path<String>,
    JsonBody(input): JsonBody<ReportInput>,
) -> Result<Json<ReportView>, ApiError> {
    let ticket = visible_ticket(&state, &caller, &id).await?;
    works_on(&caller, &ticket)?;
    let (report, submit) = input.report();
    report.validate()?;
    let saved = state.store.save_report(&caller.scope(), change(&ticket, &caller, &headers), &report, submit).await?;
    Ok(Json(saved.into()))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ApprovalInput {
    /// The customer's own password: the approval is signed with it.
    password: String,
    /// `false` rejects the report (with a `reason`).
    #[serde(default = "default_true")]
    approve: bool,
    reason: Option<String>,
}

fn default_true() -> bool {
    true
}

/// `POST /v1/tickets/{id}/report/approval`: the customer who filed the
/// ticket approves the submitted report by giving their password, or
/// rejects it with a reason (back to the assignee).
pub(crate) async fn approve_report(
    State(state): State<ApiState>,
    Authenticated(caller): Authenticated,
    headers: HeaderMap,
    Path(id): Path<String>,
    JsonBody(input): JsonBody<ApprovalInput>,
) -> Result<Json<ReportView>, ApiError> {
    let ticket = visible_ticket(&state, &caller, &id).await?;
    let account = caller.account().filter(|account| ticket.requester.account == Some(*account)).ok_or_else(|| {
        ApiError::Forbidden { message: "only the customer who filed the ticket approves its report".into() }
    })?;
    let reason = match (input.approve, input.reason.as_deref().map(str::trim)) {
        (false, None | Some("")) => return Err(ApiError::invalid_body("reason", "say why the report is rejected")),
        (_, Some(reason)) if reason.chars().count() > Report::TEXT_MAX_CHARS => {
            return Err(ApiError::invalid_body("reason", "`reason` is too long"));
        }
        (_, Some(reason)) => {
            switchboard_core::ticket::check_characters("reason", reason)?;
            Some(reason.to_owned())
        }
        (true, None) => None,
    };
    // The same limits as signing in: a stolen session cannot guess the
    // password here either.
    let login = account.to_string();
    state.auth.limiter.account_allowed(&login)?;
    let hash = state.store.password_hash(account).await?;
    if !state.auth.passwords.verify(hash, &input.password).await? {
        state.auth.limiter.failed(&login);
        return Err(ApiError::InvalidCredentials);
    }
    let decided = state
        .store
        .decide_report(
            &caller.scope(),
            change(&ticket, &caller, &headers),
            input.approve,
            reason.as_deref().filter(|_| !input.approve),
        )
        .await?;
    Ok(Json(decided.into()))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct MessageInput {
    body: String,
    /// Staff only: a note customers never see.
    #[serde(default)]
    internal: bool,
}

/// The longest message, in characters.
const MESSAGE_MAX_CHARS: usize = 20_000;

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct MessageList {
    items: Vec<TicketMessage>,
}

pub(crate) async fn post_message(
    State(state): State<ApiState>,
    Authenticated(caller): Authenticated,
    headers: HeaderMap,
    Path(id): Path<String>,
    JsonBody(input): JsonBody<MessageInput>,
) -> Result<(StatusCode, Json<TicketMessage>), ApiError> {
    let ticket = visible_ticket(&state, &caller, &id).await?;
    if input.internal && caller.is_customer() {
        return Err(ApiError::Forbidden { message: "internal notes are for staff".into() });
    }
    if caller.account().is_none() {
        works_on(&caller, &ticket)?;
    }
    let body = input.body.trim();
    if body.is_empty() || body.chars().count() > MESSAGE_MAX_CHARS {
        return Err(ApiError::invalid_body("body", format!("`body` must be 1 to {MESSAGE_MAX_CHARS} characters")));
    }
    switchboard_core::ticket::check_characters("body", body)?;
    let message =
        state.store.add_message(&caller.scope(), change(&ticket, &caller, &headers), input.internal, body).await?;
    Ok((StatusCode::CREATED, Json(message)))
}

/// The conversation, oldest first; customers never see internal notes.
pub(crate) async fn list_messages(
    State(state): State<ApiState>,
    Authenticated(caller): Authenticated,
    Path(id): Path<String>,
) -> Result<Json<MessageList>, ApiError> {
    let ticket = visible_ticket(&state, &caller, &id).await?;
    let items = state.store.messages(&caller.scope(), ticket.id, !caller.is_customer()).await?;
    Ok(Json(MessageList { items }))
}

/// `DELETE /v1/tickets/{id}`: an admin deletes a closed ticket; its
/// history keeps a tombstone.
pub(crate) async fn delete_ticket(
    State(state): State<ApiState>,
    Authenticated(caller): Authenticated,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let ticket = visible_ticket(&state, &caller, &id).await?;
    let files = state.store.attachments(&caller.scope(), ticket.id).await?;
    state.store.delete_ticket(&caller.scope(), change(&ticket, &caller, &headers)).await?;
    // The ticket is gone; its files go after it (one left behind is only
    // storage: nothing names it any more).
    for file in files {
        if let Err(error) = state.files.delete(&ticket.company, ticket.id, file.id).await {
            tracing::warn!(%error, ticket_id = %ticket.id, "cannot delete a deleted ticket's file");
        }
    }
    Ok(StatusCode::NO_CONTENT)
}
