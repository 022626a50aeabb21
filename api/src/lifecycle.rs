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
//! - `GET /v1/tickets/{id}/history`: every audit event, with its actor.

use axum::Json;
use axum::extract::State;
use axum::http::HeaderMap;
use serde::{Deserialize, Serialize};
use switchboard_core::events::TransitionDetails;
use switchboard_core::lifecycle::{self, Action, Actor};
use switchboard_core::{AccountId, EventId, Role, Status, Ticket, TicketId, TransitionError, VehicleId};
use switchboard_store::TransitionRequest;
use switchboard_web::{ApiError, Authenticated, JsonBody, Path};
use time::OffsetDateTime;

use crate::ApiState;
use crate::tickets::visible_ticket;

fn request_id(headers: &HeaderMap) -> Option<String> {
    headers.get("x-request-id").and_then(|value| value.to_str().ok()).map(str::to_owned)
}

fn request(ticket: TicketId, action: Action, actor: Actor, headers: &HeaderMap, details: TransitionDetails) -> TransitionRequest {
    TransitionRequest { ticket_id: ticket, action, actor, event_id: EventId::new(), request_id: request_id(headers), details }
}

#[derive(Debug, Deserialize)]
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
    let not_staff = || ApiError::invalid_body("assignee", "`assignee` must be an engineer's or technician's account id");
    let assignee: AccountId = input.assignee.trim().parse().map_err(|_| not_staff())?;
    let account = state.store.account(&scope, assignee).await?.ok_or_else(not_staff)?;
    if account.deleted_at.is_some() || !matches!(account.role, Role::Engineer | Role::Technician) {
        return Err(not_staff());
    }
    let vehicle = match input.vehicle.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(text) => {
            let unknown = || ApiError::invalid_body("vehicle", "`vehicle` must be an id of one of the company's vehicles");
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
    Ok(Json(ticket))
}

#[derive(Debug, Deserialize)]
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
    let target = Status::parse(input.status.trim()).ok_or_else(|| {
        let known: Vec<&str> = Status::ALL.iter().map(|status| status.as_str()).collect();
        ApiError::invalid_body("status", format!("unknown status `{}`; one of {}", input.status, known.join(", ")))
    })?;
    let from = ticket.status;
    if from == target {
        return Ok(Json(ticket));
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
        Action::Start | Action::Resolve if ticket.assignee != caller.account() => {
            return Err(ApiError::Forbidden { message: "only the ticket's assignee may do this".into() });
        }
        Action::Resolve => {
            return Err(ApiError::Conflict(
                "a ticket is resolved once the customer approved the assignee's report, and reports are not \
                 available yet"
                    .into(),
            ));
        }
        _ => {}
    }
    let request = request(ticket.id, edge.action, actor, &headers, TransitionDetails::None);
    Ok(Json(state.store.transition(&caller.scope(), request).await?.ticket))
}

#[derive(Debug, Serialize)]
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

#[derive(Debug, Serialize)]
pub(crate) struct HistoryActor {
    role: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    account: Option<AccountId>,
}

#[derive(Debug, Serialize)]
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
