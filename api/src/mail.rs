//! Mail: the company's templates (admin) at `GET /v1/mail-templates` and
//! `PUT|DELETE /v1/mail-templates/{kind}`, the signed-in account's mail
//! preferences at `GET|PUT /v1/accounts/me/notification-preferences`, and a
//! ticket's mails for staff at `GET /v1/tickets/{id}/mails`. (An admin's
//! mail of a ticket to an address is `POST /v1/tickets/{id}/notifications`
//! with `email`, in `webhooks`.)

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use switchboard_core::mail::{self, MailKind, MailPreferences, MailTemplate};
use switchboard_core::{AccountId, TicketId};
use switchboard_store::DeliveryState;
use switchboard_web::{ApiError, Authenticated, JsonBody, Path};
use time::OffsetDateTime;

use crate::ApiState;
use crate::tickets::visible_ticket;

/// The most characters of one part of a template.
const TEMPLATE_MAX_CHARS: usize = 100_000;

/// One kind of mail: the built-in template, and the company's own if it
/// set one (which is what is sent).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct MailTemplateView {
    kind: MailKind,
    /// Whether an account may turn this kind off.
    mutable: bool,
    /// Whether the company may set its own template (not for the password
    /// reset, whose link is a secret).
    customizable: bool,
    default: MailTemplate,
    #[serde(skip_serializing_if = "Option::is_none")]
    own: Option<MailTemplate>,
    #[serde(skip_serializing_if = "Option::is_none", with = "time::serde::rfc3339::option")]
    updated_at: Option<OffsetDateTime>,
    /// What a template of this kind can use, with sample values (what a
    /// template is checked against when set).
    #[schema(value_type = Object)]
    context: serde_json::Value,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct MailTemplateList {
    items: Vec<MailTemplateView>,
}

fn kind_of(text: &str) -> Result<MailKind, ApiError> {
    MailKind::parse(text).ok_or(ApiError::NotFound { what: "mail kind" })
}

async fn views(state: &ApiState, company: &switchboard_core::CompanyId) -> Result<Vec<MailTemplateView>, ApiError> {
    let mut own: BTreeMap<MailKind, _> =
        state.store.mail_templates(company).await?.into_iter().map(|record| (record.kind, record)).collect();
    Ok(MailKind::ALL
        .into_iter()
        .map(|kind| {
            let record = own.remove(&kind);
            MailTemplateView {
                kind,
                mutable: kind.mutable(),
                customizable: kind.customizable(),
                default: kind.default_template(),
                context: mail::sample_context(kind),
                updated_at: record.as_ref().map(|record| record.updated_at),
                own: record.map(|record| record.template),
            }
        })
        .collect())
}

/// `GET /v1/mail-templates`: every kind, its built-in template and the
/// company's own.
pub(crate) async fn list_templates(
    State(state): State<ApiState>,
    Authenticated(caller): Authenticated,
) -> Result<Json<MailTemplateList>, ApiError> {
    Ok(Json(MailTemplateList { items: views(&state, &caller.company).await? }))
}

/// A template: `minijinja` for the subject (one line), the plain text and
/// the HTML (auto-escaped).
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct MailTemplateInput {
    subject: String,
    text: String,
    html: String,
}

/// `PUT /v1/mail-templates/{kind}`: the company's own template, checked by
/// rendering it with a sample of what the kind's mails carry (422 naming
/// the part and line that failed).
pub(crate) async fn put_template(
    State(state): State<ApiState>,
    Authenticated(caller): Authenticated,
    Path(kind): Path<String>,
    JsonBody(input): JsonBody<MailTemplateInput>,
) -> Result<Json<MailTemplateView>, ApiError> {
    let kind = kind_of(&kind)?;
    if !kind.customizable() {
        return Err(ApiError::Unprocessable {
            code: "template_fixed",
            message: format!("the {kind} mail carries a secret link: it always uses the built-in template"),
        });
    }
    for (part, text) in [("subject", &input.subject), ("text", &input.text), ("html", &input.html)] {
        if text.chars().count() > TEMPLATE_MAX_CHARS {
            return Err(ApiError::invalid_body(
                part,
                format!("`{part}` must have at most {TEMPLATE_MAX_CHARS} characters"),
            ));
        }
    }
    let template = MailTemplate { subject: input.subject, text: input.text, html: input.html };
    template.check(kind).map_err(|error| {
        ApiError::invalid_body(error.part, format!("the template does not render: {}", error.message))
    })?;
    state.store.put_mail_template(&caller.company, kind, &template).await?;
    let view = views(&state, &caller.company).await?.into_iter().find(|view| view.kind == kind);
    view.map(Json).ok_or(ApiError::NotFound { what: "mail kind" })
}

/// `DELETE /v1/mail-templates/{kind}`: back to the built-in template.
pub(crate) async fn delete_template(
    State(state): State<ApiState>,
    Authenticated(caller): Authenticated,
    Path(kind): Path<String>,
) -> Result<StatusCode, ApiError> {
    if state.store.delete_mail_template(&caller.company, kind_of(&kind)?).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::NotFound { what: "company template of this kind" })
    }
}

/// Which mails the account gets, by kind (only the kinds it may turn off;
/// password resets always go out).
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct NotificationPreferences {
    email: BTreeMap<String, bool>,
}

fn caller_account(caller: &switchboard_core::Caller) -> Result<AccountId, ApiError> {
    caller.account().ok_or_else(|| ApiError::Forbidden { message: "an API key has no account".into() })
}

fn preferences_view(preferences: &MailPreferences) -> NotificationPreferences {
    let email = MailKind::ALL
        .into_iter()
        .filter(|kind| kind.mutable())
        .map(|kind| (kind.as_str().to_owned(), preferences.wants(kind)))
        .collect();
    NotificationPreferences { email }
}

/// `GET /v1/accounts/me/notification-preferences`.
pub(crate) async fn get_preferences(
    State(state): State<ApiState>,
    Authenticated(caller): Authenticated,
) -> Result<Json<NotificationPreferences>, ApiError> {
    let preferences = state.store.mail_preferences(caller_account(&caller)?).await?;
    Ok(Json(preferences_view(&preferences)))
}

/// `PUT /v1/accounts/me/notification-preferences`: the kinds named are set
/// on (`true`) or off; the others stay as they were.
pub(crate) async fn put_preferences(
    State(state): State<ApiState>,
    Authenticated(caller): Authenticated,
    JsonBody(input): JsonBody<NotificationPreferences>,
) -> Result<Json<NotificationPreferences>, ApiError> {
    let account = caller_account(&caller)?;
    let mut preferences = state.store.mail_preferences(account).await?;
    for (name, wanted) in &input.email {
        let field = format!("email.{name}");
        let kind = MailKind::parse(name).ok_or_else(|| {
            let known: Vec<&str> =
                MailKind::ALL.iter().filter(|kind| kind.mutable()).map(|kind| kind.as_str()).collect();
            ApiError::invalid_body(field.clone(), format!("unknown mail kind `{name}`; one of {}", known.join(", ")))
        })?;
        if !kind.mutable() {
            return Err(ApiError::invalid_body(field, format!("`{name}` mails are always sent")));
        }
        preferences.muted.retain(|muted| *muted != kind);
        if !wanted {
            preferences.muted.push(kind);
        }
    }
    preferences.muted.sort();
    state.store.set_mail_preferences(account, &preferences).await?;
    Ok(Json(preferences_view(&preferences)))
}

/// One mail of a ticket (never its body).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct MailView {
    id: uuid::Uuid,
    kind: MailKind,
    to: String,
    /// `delivered` once the SMTP server accepted it.
    state: DeliveryState,
    attempts: u32,
    #[serde(skip_serializing_if = "Option::is_none", with = "time::serde::rfc3339::option")]
    next_attempt_at: Option<OffsetDateTime>,
    /// The SMTP server's reply code to the last attempt.
    last_code: Option<u16>,
    #[serde(skip_serializing_if = "Option::is_none")]
    last_error: Option<String>,
    /// Its `Message-ID` header.
    message_id: String,
    #[serde(with = "time::serde::rfc3339")]
    occurred_at: OffsetDateTime,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct MailList {
    ticket_id: TicketId,
    items: Vec<MailView>,
}

/// `GET /v1/tickets/{id}/mails`: the mails the ticket's events sent, in the
/// order they happened, and how each stands.
pub(crate) async fn ticket_mails(
    State(state): State<ApiState>,
    Authenticated(caller): Authenticated,
    Path(id): Path<String>,
) -> Result<Json<MailList>, ApiError> {
    let ticket = visible_ticket(&state, &caller, &id).await?;
    let domain = state.config.mail.message_id_domain();
    let mails = state.store.mails_of(&caller.scope(), ticket.id).await?;
    let items = mails
        .into_iter()
        .map(|record| MailView {
            id: record.id,
            kind: record.kind,
            to: record.recipient,
            next_attempt_at: (record.state == DeliveryState::Pending).then_some(record.next_attempt_at),
            state: record.state,
            attempts: record.attempts,
            last_code: record.last_code,
            last_error: record.last_error,
            message_id: mail::message_id(record.id, record.ticket_id, domain),
            occurred_at: record.occurred_at,
        })
        .collect();
    Ok(Json(MailList { ticket_id: ticket.id, items }))
}
