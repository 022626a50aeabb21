//! The company's webhook endpoints (admin): `GET|POST /v1/webhooks`,
//! `GET|PUT|DELETE /v1/webhooks/{id}`, `POST /v1/webhooks/{id}/rotate-secret`,
//! `GET /v1/webhooks/{id}/attempts`, `POST /v1/webhooks/{id}/replay`, the
//! event catalogue at `GET /v1/webhooks/event-types`; a ticket's
//! notifications for staff, `GET /v1/tickets/{id}/notifications`, and an
//! admin's `POST /v1/tickets/{id}/notifications` (to endpoints, or by mail
//! to an address).

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use switchboard_core::config::Secret;
use switchboard_core::filter::{Query, Subject};
use switchboard_core::ids::WebhookId;
use switchboard_core::mail::{self, Links, MailKind};
use switchboard_core::notifications::{EventType, Notification};
use switchboard_core::signing::SigningSecret;
use switchboard_core::text::forbidden_control;
use switchboard_core::{CompanyId, TicketId};
use switchboard_store::{
    DeliveryState, NewLiveEvent, NewMail, NewWebhookMessage, Replay, WebhookFields, WebhookRecord,
};
use switchboard_web::{ApiError, Authenticated, JsonBody, Path, Query as QueryString, parse_number};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::ApiState;
use crate::tickets::visible_ticket;

const DESCRIPTION_MAX_CHARS: usize = 500;
/// The most attempts one page of the log shows.
const MAX_ATTEMPTS_PAGE: u32 = 500;

/// A webhook endpoint. Its secret is shown on the one endpoint's views (its
/// owner verifies signatures with it), never in lists.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct WebhookView {
    id: WebhookId,
    company: CompanyId,
    url: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    description: Option<String>,
    /// The types sent; empty: every type.
    event_types: Vec<EventType>,
    #[serde(skip_serializing_if = "Option::is_none")]
    filter: Option<String>,
    enabled: bool,
    /// Why the notifier disabled it, if it did.
    #[serde(skip_serializing_if = "Option::is_none")]
    disabled_reason: Option<String>,
    /// Since when every attempt has failed.
    #[serde(skip_serializing_if = "Option::is_none", with = "time::serde::rfc3339::option")]
    failing_since: Option<OffsetDateTime>,
    /// `whsec_…`: what the receiver verifies signatures with.
    #[serde(skip_serializing_if = "Option::is_none")]
    secret: Option<String>,
    /// Until when the previous secret also signs (after a rotation).
    #[serde(skip_serializing_if = "Option::is_none", with = "time::serde::rfc3339::option")]
    previous_secret_until: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339")]
    created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    updated_at: OffsetDateTime,
}

impl WebhookView {
    fn of(endpoint: WebhookRecord, with_secret: bool) -> Self {
        let now = OffsetDateTime::now_utc();
        Self {
            id: endpoint.id,
            company: endpoint.company,
            url: endpoint.fields.url,
            description: endpoint.fields.description,
            event_types: endpoint.fields.event_types,
            filter: endpoint.fields.filter,
            enabled: endpoint.fields.enabled,
            disabled_reason: endpoint.disabled_reason,
            failing_since: endpoint.failing_since,
            secret: with_secret.then(|| endpoint.secret.expose().clone()),
            previous_secret_until: endpoint.previous_secret_until.filter(|until| *until > now),
            created_at: endpoint.created_at,
            updated_at: endpoint.updated_at,
        }
    }
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct WebhookList {
    items: Vec<WebhookView>,
}

/// A whole endpoint: what is left out takes its default (every event type,
/// no filter, enabled).
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct WebhookInput {
    /// `http` or `https`; not a private address unless the configuration
    /// allows those (`outbound.allow_private_destinations`).
    url: String,
    description: Option<String>,
    /// Catalogue names (`GET /v1/webhooks/event-types`); empty or left out:
    /// every type.
    #[serde(default)]
    event_types: Vec<String>,
    /// Only tickets this query of the filter language selects.
    filter: Option<String>,
    enabled: Option<bool>,
}

impl WebhookInput {
    async fn fields(self, allow_private: bool) -> Result<WebhookFields, ApiError> {
        let url = switchboard_outbound::check_destination(&self.url, allow_private)
            .await
            .map_err(|why| ApiError::invalid_body("url", format!("`url` {why}")))?
            .to_string();
        let description = match self.description.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(text) if text.chars().count() > DESCRIPTION_MAX_CHARS || forbidden_control(text).is_some() => {
                return Err(ApiError::invalid_body(
                    "description",
                    format!(
                        "`description` must be at most {DESCRIPTION_MAX_CHARS} characters, without control characters"
                    ),
                ));
            }
            Some(text) => Some(text.to_owned()),
        };
        let event_types = EventType::parse_list(&self.event_types)
            .map_err(|(index, message)| ApiError::invalid_body(format!("event_types[{index}]"), message))?;
        let filter = match self.filter.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(text) => {
                Query::parse(text).map_err(|error| ApiError::InvalidQuery { field: "filter".into(), error })?;
                Some(text.to_owned())
            }
        };
        Ok(WebhookFields { url, description, event_types, filter, enabled: self.enabled.unwrap_or(true) })
    }
}

fn webhook_id(text: &str) -> Result<WebhookId, ApiError> {
    text.parse().map_err(|_| ApiError::NotFound { what: "webhook" })
}

async fn endpoint(state: &ApiState, company: &CompanyId, id: &str) -> Result<WebhookRecord, ApiError> {
    state.store.webhook(company, webhook_id(id)?).await?.ok_or(ApiError::NotFound { what: "webhook" })
}

pub(crate) async fn list_webhooks(
    State(state): State<ApiState>,
    Authenticated(caller): Authenticated,
) -> Result<Json<WebhookList>, ApiError> {
    let endpoints = state.store.list_webhooks(&caller.company).await?;
    Ok(Json(WebhookList { items: endpoints.into_iter().map(|endpoint| WebhookView::of(endpoint, false)).collect() }))
}

pub(crate) async fn create_webhook(
    State(state): State<ApiState>,
    Authenticated(caller): Authenticated,
    JsonBody(input): JsonBody<WebhookInput>,
) -> Result<Response, ApiError> {
    let fields = input.fields(state.config.outbound.allow_private_destinations).await?;
    let secret = Secret::new(SigningSecret::generate().expose());
    let endpoint = state.store.create_webhook(&caller.company, &fields, secret).await?;
    Ok((StatusCode::CREATED, Json(WebhookView::of(endpoint, true))).into_response())
}

pub(crate) async fn get_webhook(
    State(state): State<ApiState>,
    Authenticated(caller): Authenticated,
    Path(id): Path<String>,
) -> Result<Json<WebhookView>, ApiError> {
    Ok(Json(WebhookView::of(endpoint(&state, &caller.company, &id).await?, true)))
}

pub(crate) async fn put_webhook(
    State(state): State<ApiState>,
    Authenticated(caller): Authenticated,
    Path(id): Path<String>,
    JsonBody(input): JsonBody<WebhookInput>,
) -> Result<Json<WebhookView>, ApiError> {
    let id = webhook_id(&id)?;
    let fields = input.fields(state.config.outbound.allow_private_destinations).await?;
    let endpoint = state.store.update_webhook(&caller.company, id, &fields).await?;
    Ok(Json(WebhookView::of(endpoint.ok_or(ApiError::NotFound { what: "webhook" })?, true)))
}

pub(crate) async fn delete_webhook(
    State(state): State<ApiState>,
    Authenticated(caller): Authenticated,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    if state.store.delete_webhook(&caller.company, webhook_id(&id)?).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::NotFound { what: "webhook" })
    }
}

/// `POST /v1/webhooks/{id}/rotate-secret`: a new secret; the old one also
/// signs for `notifier.rotation_overlap_ms` (24 h), so the receiver can
/// switch over without losing a message.
pub(crate) async fn rotate_secret(
    State(state): State<ApiState>,
    Authenticated(caller): Authenticated,
    Path(id): Path<String>,
) -> Result<Json<WebhookView>, ApiError> {
    let id = webhook_id(&id)?;
    let secret = Secret::new(SigningSecret::generate().expose());
    let overlap = i64::try_from(state.config.notifier.rotation_overlap_ms).unwrap_or(i64::MAX);
    let until = OffsetDateTime::now_utc() + time::Duration::milliseconds(overlap);
    let endpoint = state.store.rotate_webhook_secret(&caller.company, id, secret, until).await?;
    Ok(Json(WebhookView::of(endpoint.ok_or(ApiError::NotFound { what: "webhook" })?, true)))
}

/// One attempt of one message.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct AttemptView {
    webhook_id: String,
    attempt: u32,
    ticket_id: TicketId,
    #[serde(with = "time::serde::rfc3339")]
    attempted_at: OffsetDateTime,
    /// The answer's status; none when there was no answer.
    status: Option<u16>,
    duration_ms: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
    /// The start of the answer's body.
    #[serde(skip_serializing_if = "Option::is_none")]
    response_excerpt: Option<String>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct AttemptList {
    items: Vec<AttemptView>,
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub(crate) struct AttemptParameters {
    /// At most this many, newest first (1 to 500, default 100).
    limit: Option<String>,
}

/// `GET /v1/webhooks/{id}/attempts`: the endpoint's delivery log.
pub(crate) async fn list_attempts(
    State(state): State<ApiState>,
    Authenticated(caller): Authenticated,
    Path(id): Path<String>,
    QueryString(parameters): QueryString<AttemptParameters>,
) -> Result<Json<AttemptList>, ApiError> {
    let endpoint = endpoint(&state, &caller.company, &id).await?;
    let limit = parse_number("limit", parameters.limit.as_deref(), 1..=MAX_ATTEMPTS_PAGE)?.unwrap_or(100);
    let attempts = state.store.webhook_attempts(&caller.company, endpoint.id, limit).await?;
    let items = attempts
        .into_iter()
        .map(|attempt| AttemptView {
            webhook_id: switchboard_store::webhook_id(attempt.message_id),
            attempt: attempt.attempt,
            ticket_id: attempt.ticket_id,
            attempted_at: attempt.attempted_at,
            status: attempt.status,
            duration_ms: attempt.duration_ms,
            error: attempt.error,
            response_excerpt: attempt.response_excerpt,
        })
        .collect();
    Ok(Json(AttemptList { items }))
}

/// One event type of the catalogue.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct EventTypeView {
    name: EventType,
    /// The version of its `data`'s shape: the OpenAPI document's schema
    /// `<name>.v<version>` describes the body.
    version: u16,
    summary: &'static str,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct EventTypeList {
    items: Vec<EventTypeView>,
}

/// `GET /v1/webhooks/event-types`: the catalogue.
pub(crate) async fn event_types(Authenticated(_caller): Authenticated) -> Json<EventTypeList> {
    let items =
        EventType::ALL.into_iter().map(|name| EventTypeView { name, version: name.version(), summary: name.summary() });
    Json(EventTypeList { items: items.collect() })
}

/// One notification of a ticket to one endpoint.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct NotificationView {
    webhook_id: String,
    endpoint: WebhookId,
    event_type: EventType,
    state: DeliveryState,
    attempts: u32,
    #[serde(skip_serializing_if = "Option::is_none", with = "time::serde::rfc3339::option")]
    next_attempt_at: Option<OffsetDateTime>,
    last_status: Option<u16>,
    #[serde(skip_serializing_if = "Option::is_none")]
    last_error: Option<String>,
    #[serde(with = "time::serde::rfc3339")]
    occurred_at: OffsetDateTime,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct NotificationList {
    items: Vec<NotificationView>,
}

/// `GET /v1/tickets/{id}/notifications`: what the ticket's events sent to
/// webhook endpoints, in the order they happened.
pub(crate) async fn ticket_notifications(
    State(state): State<ApiState>,
    Authenticated(caller): Authenticated,
    Path(id): Path<String>,
) -> Result<Json<NotificationList>, ApiError> {
    let ticket = visible_ticket(&state, &caller, &id).await?;
    let messages = state.store.webhook_messages_of(&caller.scope(), ticket.id).await?;
    let items = messages
        .into_iter()
        .map(|message| NotificationView {
            webhook_id: switchboard_store::webhook_id(message.id),
            endpoint: message.endpoint,
            event_type: message.event_type,
            next_attempt_at: (message.state == DeliveryState::Pending).then_some(message.next_attempt_at),
            state: message.state,
            attempts: message.attempts,
            last_status: message.last_status,
            last_error: message.last_error,
            occurred_at: message.occurred_at,
        })
        .collect();
    Ok(Json(NotificationList { items }))
}

/// What to replay: one message, or everything that failed since a time.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ReplayInput {
    /// A message's `webhook-id` (`msg_…`), whatever its state.
    webhook_id: Option<String>,
    /// Every failed message stored at or after this time (RFC 3339).
    since: Option<String>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct Replayed {
    /// Messages put back on the schedule, due now.
    replayed: u64,
}

/// `POST /v1/webhooks/{id}/replay`: sends a message again, or everything
/// that failed since a time, each from the schedule's first step with its
/// `webhook-id` unchanged.
pub(crate) async fn replay(
    State(state): State<ApiState>,
    Authenticated(caller): Authenticated,
    Path(id): Path<String>,
    JsonBody(input): JsonBody<ReplayInput>,
) -> Result<(StatusCode, Json<Replayed>), ApiError> {
    let endpoint = endpoint(&state, &caller.company, &id).await?;
    let which = match (input.webhook_id.as_deref(), input.since.as_deref()) {
        (Some(webhook_id), None) => {
            Replay::Message(switchboard_store::parse_webhook_id(webhook_id).ok_or_else(|| {
                ApiError::invalid_body("webhook_id", "`webhook_id` must be a message's id, `msg_` and 32 hex digits")
            })?)
        }
        (None, Some(since)) => Replay::FailedSince(
            OffsetDateTime::parse(since.trim(), &Rfc3339)
                .map_err(|_| ApiError::invalid_body("since", "`since` must be an RFC 3339 time"))?,
        ),
        _ => return Err(ApiError::invalid_body("webhook_id", "give exactly one of `webhook_id` and `since`")),
    };
    let replayed =
        state.store.replay_webhook_messages(&caller.company, endpoint.id, which, OffsetDateTime::now_utc()).await?;
    if replayed == 0 && matches!(which, Replay::Message(_)) {
        // Unknown, or still pending: on its schedule already.
        return Err(ApiError::NotFound { what: "delivered or failed message" });
    }
    Ok((StatusCode::ACCEPTED, Json(Replayed { replayed })))
}

/// Where an admin sends a ticket by hand: exactly one of the three.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct NotifyInput {
    /// One endpoint (whatever its event types and filter).
    webhook: Option<String>,
    /// Every enabled endpoint whose filter selects the ticket.
    #[serde(default)]
    all_subscribers: bool,
    /// An e-mail address: the `ticket.shared` mail goes there.
    email: Option<String>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct Notified {
    /// The `webhook-id` of each message sent.
    webhook_ids: Vec<String>,
    /// The id of the mail queued (`GET /v1/tickets/{id}/mails`), for an
    /// address.
    #[serde(skip_serializing_if = "Option::is_none")]
    mail_id: Option<uuid::Uuid>,
}

/// `POST /v1/tickets/{id}/notifications`: sends the ticket as it is now
/// (`ticket.shared`) to one endpoint, to all its subscribers, or by mail to
/// an address.
pub(crate) async fn notify(
    State(state): State<ApiState>,
    Authenticated(caller): Authenticated,
    Path(id): Path<String>,
    JsonBody(input): JsonBody<NotifyInput>,
) -> Result<(StatusCode, Json<Notified>), ApiError> {
    let ticket = visible_ticket(&state, &caller, &id).await?;
    let notification = Notification::shared(&ticket, caller.actor());
    let body = notification.body();
    // Staff following the company live see it, whichever way it went.
    let live = [NewLiveEvent { notification: &notification, body: &body }];
    let endpoints = match (input.webhook.as_deref(), input.all_subscribers, input.email.as_deref()) {
        (None, false, Some(address)) => {
            let mail = share_by_mail(&state, &notification, address).await?;
            state.store.record_notifications(&live, &[], std::slice::from_ref(&mail)).await?;
            return Ok((StatusCode::ACCEPTED, Json(Notified { webhook_ids: Vec::new(), mail_id: Some(mail.id) })));
        }
        (Some(webhook), false, None) => {
            let unknown =
                || ApiError::invalid_body("webhook", "`webhook` must be an id of one of the company's endpoints");
            let id: WebhookId = webhook.trim().parse().map_err(|_| unknown())?;
            vec![state.store.webhook(&caller.company, id).await?.ok_or_else(unknown)?]
        }
        (None, true, None) => {
            let endpoints = state.store.list_webhooks(&caller.company).await?;
            let subject = Subject::new(&ticket);
            let selects = |endpoint: &WebhookRecord| match endpoint.fields.filter.as_deref() {
                None => true,
                Some(filter) => Query::parse(filter).is_ok_and(|query| query.matches(&subject)),
            };
            endpoints.into_iter().filter(|endpoint| endpoint.fields.enabled && selects(endpoint)).collect()
        }
        _ => {
            return Err(ApiError::invalid_body(
                "webhook",
                "give exactly one of `webhook`, `\"all_subscribers\": true` and `email`",
            ));
        }
    };
    let messages: Vec<NewWebhookMessage> =
        endpoints.iter().map(|endpoint| NewWebhookMessage::of(&notification, endpoint.id, body.clone())).collect();
    state.store.record_notifications(&live, &messages, &[]).await?;
    let webhook_ids = messages.iter().map(|message| switchboard_store::webhook_id(message.id)).collect();
    Ok((StatusCode::ACCEPTED, Json(Notified { webhook_ids, mail_id: None })))
}

/// The mail of `notification` (`ticket.shared`) to `address`, rendered
/// with the company's template if it has one that renders.
async fn share_by_mail(state: &ApiState, notification: &Notification, address: &str) -> Result<NewMail, ApiError> {
    let address = address.trim().to_lowercase();
    if let Err(reason) = switchboard_core::ticket::check_email(&address) {
        return Err(ApiError::invalid_body("email", format!("`email` is not an e-mail address: {reason}")));
    }
    let config = &state.config.mail;
    if config.smtp_url.is_none() {
        return Err(ApiError::Refused { code: "mail_off", message: "mail is off here (no mail.smtp_url)".into() });
    }
    let kind = MailKind::Shared;
    let company = &notification.company;
    let context = mail::ticket_context(notification, &Links::new(&config.public_url), None, &address);
    let own = state.store.mail_templates(company).await?.into_iter().find(|record| record.kind == kind);
    let (rendered, own_error) =
        mail::render_mail(kind, own.as_ref().map(|record| &record.template), &context).map_err(ApiError::internal)?;
    if let Some(error) = own_error {
        tracing::warn!(%company, %kind, %error, "a company's mail template failed; the built-in one is used");
    }
    Ok(NewMail::of(notification, kind, address, None, rendered))
}
