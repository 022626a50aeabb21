use axum::Json;
use axum::extract::State;
use serde::{Deserialize, Serialize};
use switchboard_core::{AccountId, Caller, Channel, CompanyId, Status, Ticket, TicketId, Urgency};
use switchboard_store::TicketFilter;
use switchboard_store::tickets::MAX_PAGE_SIZE;
use switchboard_web::{ApiError, Authenticated, JsonBody, Path, Query, parse_bool, parse_number};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use utoipa::openapi::schema::{AnyOfBuilder, ArrayBuilder, Schema};
use utoipa::openapi::{Ref, RefOr};
use utoipa::{PartialSchema as _, ToSchema as _};

use crate::ApiState;

const DEFAULT_PAGE_SIZE: u32 = 50;

/// A ticket and, for staff, where the router sent it and why.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct TicketDetail {
    #[serde(flatten)]
    ticket: Ticket,
    /// The routing decision with its trace and ruleset version; absent
    /// until routed, and for customers.
    #[serde(skip_serializing_if = "Option::is_none")]
    routing: Option<switchboard_core::events::Routing>,
}

pub(crate) async fn get_ticket(
    State(state): State<ApiState>,
    Authenticated(caller): Authenticated,
    Path(id): Path<String>,
) -> Result<Json<TicketDetail>, ApiError> {
    let id = parse_ticket_id(&id)?;
    let (mut ticket, routing) = state
        .store
        .ticket_with_routing(&caller.scope(), id)
        .await?
        .filter(|(ticket, _)| may_see(&caller, ticket))
        .ok_or(ApiError::NotFound { what: "ticket" })?;
    ticket.attachments = state.store.attachments(&caller.scope(), ticket.id).await?;
    let routing = if caller.is_customer() { None } else { routing.map(|record| record.routing) };
    Ok(Json(TicketDetail { ticket: seen_by(&caller, ticket), routing }))
}

/// `ticket` as `caller` may see it: a customer sees it through
/// [`Ticket::for_customer`]. Every route that answers with a ticket passes
/// it through here.
pub(crate) fn seen_by(caller: &Caller, ticket: Ticket) -> Ticket {
    if caller.is_customer() { ticket.for_customer() } else { ticket }
}

/// One attempt series of a ticket's delivery to a team server.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct DeliveryView {
    /// The `webhook-id` every attempt carries.
    webhook_id: String,
    server: switchboard_core::ids::ServerId,
    reason: String,
    state: switchboard_store::DeliveryState,
    attempts: u32,
    /// The next attempt, while pending.
    #[serde(with = "time::serde::rfc3339::option")]
    next_attempt_at: Option<OffsetDateTime>,
    last_status: Option<u16>,
    last_error: Option<String>,
    #[serde(with = "time::serde::rfc3339")]
    created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    updated_at: OffsetDateTime,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct DeliveryList {
    items: Vec<DeliveryView>,
}

/// `GET /v1/tickets/{id}/deliveries`: the ticket's delivery log, oldest first.
pub(crate) async fn list_deliveries(
    State(state): State<ApiState>,
    Authenticated(caller): Authenticated,
    Path(id): Path<String>,
) -> Result<Json<DeliveryList>, ApiError> {
    let ticket = visible_ticket(&state, &caller, &id).await?;
    let deliveries = state.store.deliveries_of(&caller.scope(), ticket.id).await?;
    let items = deliveries
        .into_iter()
        .map(|delivery| DeliveryView {
            webhook_id: switchboard_store::webhook_id(delivery.id),
            server: delivery.server,
            reason: delivery.reason,
            next_attempt_at: (delivery.state == switchboard_store::DeliveryState::Pending)
                .then_some(delivery.next_attempt_at),
            state: delivery.state,
            attempts: delivery.attempts,
            last_status: delivery.last_status,
            last_error: delivery.last_error,
            created_at: delivery.created_at,
            updated_at: delivery.updated_at,
        })
        .collect();
    Ok(Json(DeliveryList { items }))
}

/// The ticket `id` names, if the caller may see it: their company's, and
/// for a customer only the ones they filed. Anything else (a malformed id
/// too) is "not found".
pub(crate) async fn visible_ticket(state: &ApiState, caller: &Caller, id: &str) -> Result<Ticket, ApiError> {
    let id = parse_ticket_id(id)?;
    let ticket = state.store.get_ticket(&caller.scope(), id).await?;
    ticket.filter(|ticket| may_see(caller, ticket)).ok_or(ApiError::NotFound { what: "ticket" })
}

/// A malformed ticket id names no ticket: "not found", like a missing one.
fn parse_ticket_id(id: &str) -> Result<TicketId, ApiError> {
    id.parse().map_err(|_| ApiError::NotFound { what: "ticket" })
}

/// Whether `caller` may see `ticket` of their company: a customer only the
/// ones they filed.
fn may_see(caller: &Caller, ticket: &Ticket) -> bool {
    !caller.is_customer() || ticket.requester.account == caller.account()
}

#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub(crate) struct ListParameters {
    status: Option<String>,
    urgency: Option<String>,
    tag: Option<String>,
    company: Option<String>,
    created_after: Option<String>,
    created_before: Option<String>,
    limit: Option<String>,
    cursor: Option<String>,
    category: Option<String>,
    needs_triage: Option<String>,
    /// `needs_review` is the human triage queue's other name.
    needs_review: Option<String>,
    /// An account id, or `me`.
    assignee: Option<String>,
    channel: Option<String>,
    /// `id`: only the ids.
    fields: Option<String>,
    /// A query in the ticket filter language, e.g.
    /// `urgency>=high -tag:vip "paper jam"`; 422 `invalid_query` with the
    /// error's `position` when it does not parse.
    q: Option<String>,
}

#[derive(Debug, Serialize)]
#[serde(untagged)]
pub(crate) enum TicketItems {
    Tickets(Vec<Ticket>),
    Ids(Vec<TicketId>),
}

/// Tickets, or only their ids (`fields=id`). `anyOf`, not the `oneOf` a
/// derived schema would say: an empty page is both.
impl utoipa::PartialSchema for TicketItems {
    fn schema() -> RefOr<Schema> {
        let array_of = |name: &str| ArrayBuilder::new().items(Ref::from_schema_name(name)).build();
        AnyOfBuilder::new().item(array_of(&Ticket::name())).item(array_of(&TicketId::name())).into()
    }
}

impl utoipa::ToSchema for TicketItems {
    fn schemas(schemas: &mut Vec<(String, RefOr<Schema>)>) {
        schemas.push((Ticket::name().into_owned(), Ticket::schema()));
        Ticket::schemas(schemas);
        schemas.push((TicketId::name().into_owned(), TicketId::schema()));
    }
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct TicketList {
    items: TicketItems,
    next_cursor: Option<String>,
}

pub(crate) async fn list_tickets(
    State(state): State<ApiState>,
    Authenticated(caller): Authenticated,
    Query(parameters): Query<ListParameters>,
) -> Result<Json<TicketList>, ApiError> {
    let scope = caller.scope();
    // `company` narrows what the caller may see; it never widens it.
    let company = non_empty(parameters.company)
        .map(|company| {
            CompanyId::parse(&company).map_err(|error| ApiError::invalid_parameter("company", error.message))
        })
        .transpose()?;
    let scope = scope.narrowed_to(company);
    let needs_human_triage = match (
        parse_bool("needs_triage", parameters.needs_triage.as_deref())?,
        parse_bool("needs_review", parameters.needs_review.as_deref())?,
    ) {
        (Some(one), Some(other)) if one != other => {
            return Err(ApiError::invalid_parameter("needs_review", "`needs_review` and `needs_triage` disagree"));
        }
        (one, other) => one.or(other),
    };
    let assignee = match non_empty(parameters.assignee).as_deref() {
        None => None,
        Some("me") => Some(caller.account().ok_or_else(|| {
            ApiError::invalid_parameter("assignee", "`assignee=me` needs a person's session, not an API key")
        })?),
        Some(text) => Some(
            text.parse::<AccountId>()
                .map_err(|_| ApiError::invalid_parameter("assignee", "`assignee` is an account id or `me`"))?,
        ),
    };
    let ids_only = match non_empty(parameters.fields).as_deref() {
        None => false,
        Some("id") => true,
        Some(other) => {
            return Err(ApiError::invalid_parameter(
                "fields",
                format!("unknown `fields={other}`; only `id` is offered"),
            ));
        }
    };
    let statuses = match non_empty(parameters.status) {
        None => Vec::new(),
        Some(text) => text.split(',').map(|status| parse_status(status.trim())).collect::<Result<Vec<_>, _>>()?,
    };
    let channel = match non_empty(parameters.channel) {
        None => None,
        Some(text) => Some(Channel::parse(&text).ok_or_else(|| {
            ApiError::invalid_parameter("channel", format!("unknown channel `{text}`; one of api, web_form, email"))
        })?),
    };
    let query = switchboard_core::filter::Query::parse(parameters.q.as_deref().unwrap_or_default())
        .map_err(|error| ApiError::InvalidQuery { field: "q".into(), error })?;
    let filter = TicketFilter {
        query,
        statuses,
        channel,
        assignee,
        urgency: parameters.urgency.as_deref().map(parse_urgency).transpose()?,
        tag: text_filter("tag", parameters.tag)?,
        created_after: parameters.created_after.as_deref().map(|t| parse_time("created_after", t)).transpose()?,
        created_before: parameters.created_before.as_deref().map(|t| parse_time("created_before", t)).transpose()?,
        category: text_filter("category", parameters.category)?,
        needs_human_triage,
        requester_account: if caller.is_customer() { caller.account() } else { None },
    };
    let limit = parse_number("limit", parameters.limit.as_deref(), 1..=MAX_PAGE_SIZE)?.unwrap_or(DEFAULT_PAGE_SIZE);
    let cursor = non_empty(parameters.cursor);
    let page = state.store.list_tickets(&scope, &filter, limit, cursor.as_deref()).await?;
    let items = if ids_only {
        TicketItems::Ids(page.items.iter().map(|ticket| ticket.id).collect())
    } else {
        TicketItems::Tickets(page.items.into_iter().map(|ticket| seen_by(&caller, ticket)).collect())
    };
    Ok(Json(TicketList { items, next_cursor: page.next_cursor }))
}

fn non_empty(value: Option<String>) -> Option<String> {
    value.filter(|text| !text.is_empty())
}

/// A text filter: absent when empty; 400 when it holds a control character.
fn text_filter(field: &str, value: Option<String>) -> Result<Option<String>, ApiError> {
    match non_empty(value) {
        Some(text) if switchboard_core::text::forbidden_control(&text).is_some() => {
            Err(ApiError::invalid_parameter(field, format!("`{field}` contains a control character")))
        }
        other => Ok(other),
    }
}

fn parse_status(text: &str) -> Result<Status, ApiError> {
    Status::parse(text).ok_or_else(|| {
        let known: Vec<&str> = Status::ALL.iter().map(|status| status.as_str()).collect();
        ApiError::invalid_parameter("status", format!("unknown status `{text}`; one of {}", known.join(", ")))
    })
}

fn parse_urgency(text: &str) -> Result<Urgency, ApiError> {
    Urgency::parse(text).ok_or_else(|| {
        let known: Vec<&str> = Urgency::ALL.iter().map(|urgency| urgency.as_str()).collect();
        ApiError::invalid_parameter("urgency", format!("unknown urgency `{text}`; one of {}", known.join(", ")))
    })
}

fn parse_time(field: &str, text: &str) -> Result<OffsetDateTime, ApiError> {
    OffsetDateTime::parse(text, &Rfc3339).map_err(|_| {
        ApiError::invalid_parameter(field, format!("`{field}` must be an RFC 3339 time such as 2026-01-31T09:00:00Z"))
    })
}

/// What staff may correct on a ticket today.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct LabelsInput {
    category: Option<String>,
    urgency: Option<String>,
}

/// `PATCH /v1/tickets/{id}`: staff set or correct the category and urgency.
/// These labels are kept whatever the pipeline says later, and retraining
/// (`switchboard triage train --from-store`) learns from them.
pub(crate) async fn patch_ticket(
    State(state): State<ApiState>,
    Authenticated(caller): Authenticated,
    headers: axum::http::HeaderMap,
    Path(id): Path<String>,
    JsonBody(input): JsonBody<LabelsInput>,
) -> Result<Json<Ticket>, ApiError> {
    let scope = caller.scope();
    let id: TicketId = id.parse().map_err(|_| ApiError::NotFound { what: "ticket" })?;
    let category = match input.category.as_deref().map(str::trim) {
        Some("") => {
            return Err(ApiError::invalid_body("category", "`category` must not be empty"));
        }
        Some(category) if switchboard_core::text::forbidden_control(category).is_some() => {
            return Err(ApiError::invalid_body("category", "`category` contains a control character"));
        }
        Some(category) if category.chars().count() > 200 => {
            return Err(ApiError::invalid_body("category", "`category` is too long"));
        }
        other => other,
    };
    let urgency = match input.urgency.as_deref() {
        None => None,
        Some(text) => Some(Urgency::parse(text).ok_or_else(|| {
            ApiError::invalid_body("urgency", format!("unknown urgency `{text}`; one of low, normal, high, critical"))
        })?),
    };
    if category.is_none() && urgency.is_none() {
        return Err(ApiError::invalid_body("", "give `category`, `urgency` or both"));
    }
    let change = switchboard_store::Change {
        ticket_id: id,
        actor: caller.actor(),
        request_id: headers.get("x-request-id").and_then(|value| value.to_str().ok()),
    };
    if !state.store.set_staff_labels(&scope, change, category, urgency).await? {
        return Err(ApiError::NotFound { what: "ticket" });
    }
    let ticket = state.store.get_ticket(&scope, id).await?.ok_or(ApiError::NotFound { what: "ticket" })?;
    Ok(Json(seen_by(&caller, ticket)))
}
