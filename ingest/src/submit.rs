use std::time::Instant;

use axum::Json;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use sha2::{Digest, Sha256};
use switchboard_bus::OutgoingMessage;
use switchboard_core::envelope::{TicketSubmitted, ingest_message_limit};
use switchboard_core::http::{from_json_value, is_json_media_type, parse_json_object};
use switchboard_core::ticket::{NewEquipment, NewRequester, NewTicket};
use switchboard_core::{Actor, Caller, Channel, CompanyId, Envelope, Scope, Ticket, TicketId};
use switchboard_store::{IdempotencyOutcome, IdempotencyRecord};
use switchboard_web::{ApiError, Authenticated, read_limited, require_media_type};
use time::OffsetDateTime;

use crate::attachments::{self, Upload};
use crate::{IngestState, REQUEST_ID_HEADER};

const IDEMPOTENCY_KEY_HEADER: &str = "idempotency-key";
const REPLAYED_HEADER: &str = "idempotent-replayed";

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct Accepted {
    id: TicketId,
    status_url: String,
}

pub(crate) async fn submit_ticket(
    State(state): State<IngestState>,
    Authenticated(caller): Authenticated,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let result = accept(&state, &caller, &headers, body).await;
    let outcome = match &result {
        Ok(_) => "accepted",
        Err(ApiError::Unavailable { .. }) => "unavailable",
        Err(_) => "rejected",
    };
    metrics::counter!("switchboard_ingest_requests_total", "outcome" => outcome).increment(1);
    result
}

async fn accept(state: &IngestState, caller: &Caller, headers: &HeaderMap, body: Body) -> Result<Response, ApiError> {
    require_media_type(headers, "application/json", is_json_media_type)?;
    let idempotency_key = idempotency_key(headers)?;
    let bytes = read_limited(body, headers, state.config.max_body_bytes).await?;
    let mut submission = parse(&bytes)?;
    let scope = caller.scope();
    // A customer files as themselves: the requester is their account.
    let customer = match caller.account().filter(|_| caller.is_customer()) {
        Some(id) => {
            let account = state.store.account(&scope, id).await?.ok_or(ApiError::Unauthenticated)?;
            submission.requester = Some(NewRequester { email: account.email, name: account.name });
            Some(id)
        }
        None => None,
    };
    // The canonical form of what was asked, for comparing retries: the same
    // fields in any order and spacing hash alike. Only retries need it.
    let request_hash =
        idempotency_key.as_ref().map(|_| Sha256::digest(serde_json::to_vec(&submission).unwrap_or_default()).to_vec());

    let named_company = submission.company.clone().filter(|company| !company.trim().is_empty());
    if let Scope::Company(own) = &scope {
        complete_equipment(state, own, &mut submission.equipment).await?;
    }
    let mut ticket = submission.validate(TicketId::new(), Channel::Api, OffsetDateTime::now_utc())?;
    ticket.company = company_of(&scope, &named_company, ticket.company)?;
    ticket.requester.account = customer;
    let ticket_company = ticket.company.clone();
    let (envelope, message) = ticket_message(state, ticket, request_id(headers), Some(caller.actor()))?;

    let Some(key) = idempotency_key else {
        produce(state, message).await?;
        return Ok(accepted(envelope.ticket_id, false));
    };

    let (ticket_id, replayed) =
        produce_once(state, &ticket_company, &key, request_hash.unwrap_or_default(), (envelope.ticket_id, message))
            .await?;
    Ok(accepted(ticket_id, replayed))
}

/// Produces `message` (a ticket's) once per `key` of `company`: a retry of
/// the same request (`request_hash`) gets the first one's ticket, sending
/// the first one's very message again if the first attempt may not have
/// reached the bus (the projector ignores a second copy); the same key with
/// another request is 422. `message` is the ticket's, with its id. Returns
/// the ticket's id and whether this was a retry.
pub(crate) async fn produce_once(
    state: &IngestState,
    company: &CompanyId,
    key: &str,
    request_hash: Vec<u8>,
    (ticket_id, message): (TicketId, OutgoingMessage),
) -> Result<(TicketId, bool), ApiError> {
    let record =
        IdempotencyRecord { request_hash, ticket_id: ticket_id.0, message: message.payload.clone(), accepted: false };
    let ttl_micros = i64::from(state.config.idempotency_ttl_hours) * 3_600_000_000;
    let claim = state.store.claim_idempotency_key(company, key, &record, ttl_micros).await.map_err(|error| {
        tracing::warn!(%error, "cannot record the idempotency key");
        unavailable(state)
    })?;
    let outcome = match claim {
        IdempotencyOutcome::Claimed => {
            produce(state, message).await?;
            (ticket_id, false)
        }
        IdempotencyOutcome::Existing(earlier) if earlier.request_hash != record.request_hash => {
            return Err(ApiError::Unprocessable {
                code: "idempotency_key_reused",
                message: "this `Idempotency-Key` was used with a different request body".into(),
            });
        }
        IdempotencyOutcome::Existing(earlier) if earlier.accepted => (earlier.ticket_id(), true),
        IdempotencyOutcome::Existing(earlier) => {
            let resend = OutgoingMessage { payload: earlier.message.clone(), ..message };
            produce(state, resend).await?;
            (earlier.ticket_id(), true)
        }
    };
    if let Err(error) = state.store.mark_idempotency_key_accepted(company, key).await {
        // The ticket is safe on the bus; at worst a retry produces it again.
        tracing::warn!(%error, "cannot mark the idempotency key accepted");
    }
    Ok(outcome)
}

/// Completes the equipment a submission names from the company's registry:
/// the model of a registered serial is the registry's, whatever model was
/// sent, so a ticket may name its unit by serial alone and a unit's tickets
/// all carry its model. An unregistered serial keeps the model sent, which
/// validation then requires (`equipment.model`).
pub(crate) async fn complete_equipment(
    state: &IngestState,
    company: &CompanyId,
    equipment: &mut Option<NewEquipment>,
) -> Result<(), switchboard_store::Error> {
    let Some(named) = equipment.as_mut() else {
        return Ok(());
    };
    let Some(serial) = named.serial.as_deref().map(str::trim).filter(|serial| !serial.is_empty()) else {
        return Ok(());
    };
    if let Some(registered) = state.store.equipment_by_serial(company, serial).await? {
        named.model = Some(registered.model);
    }
    Ok(())
}

/// The request's id, as the HTTP layer set it.
pub(crate) fn request_id(headers: &HeaderMap) -> Option<String> {
    headers.get(REQUEST_ID_HEADER).and_then(|value| value.to_str().ok()).map(str::to_owned)
}

/// The bus message of a validated ticket; 413 when it would not leave the
/// later stages room on the bus.
pub(crate) fn ticket_message(
    state: &IngestState,
    ticket: Ticket,
    request_id: Option<String>,
    filed_by: Option<Actor>,
) -> Result<(Envelope<TicketSubmitted>, OutgoingMessage), ApiError> {
    let envelope = Envelope::new(ticket.id, ticket.company.clone(), request_id, TicketSubmitted { ticket, filed_by });
    let message =
        OutgoingMessage::for_envelope(state.submitted_topic.to_string(), &envelope).map_err(ApiError::internal)?;
    let (bytes, limit) = (message.size_bytes(), ingest_message_limit(state.bus.max_message_bytes()));
    if bytes > limit {
        return Err(ApiError::TicketTooLarge { bytes, limit });
    }
    Ok((envelope, message))
}

/// Files a validated ticket that brings files (the form's photos, an
/// e-mail's attachments): stores the files, then produces the ticket, and
/// returns once it is durable. When the produce fails or times out the
/// files stay: the ticket may still arrive, and retention deletes them if
/// it never does.
pub(crate) async fn file_ticket(
    state: &IngestState,
    ticket: Ticket,
    uploads: &[Upload],
    request_id: Option<String>,
    filed_by: Option<Actor>,
) -> Result<TicketId, ApiError> {
    let (id, company, files) = (ticket.id, ticket.company.clone(), ticket.attachments.clone());
    let (_, message) = ticket_message(state, ticket, request_id, filed_by)?;
    attachments::store(state, &company, id, &files, uploads).await?;
    produce(state, message).await?;
    Ok(id)
}

/// The company a ticket is filed for: the caller's. A company's caller
/// files for itself, and naming another is refused; an installation-wide
/// caller (none reaches HTTP today) names it in the body.
fn company_of(scope: &Scope, named: &Option<String>, validated: CompanyId) -> Result<CompanyId, ApiError> {
    match scope {
        Scope::Installation => Ok(validated),
        Scope::Company(own) if named.is_none() || validated == *own => Ok(own.clone()),
        Scope::Company(_) => {
            Err(ApiError::invalid_body("company", "a ticket can only be filed for the caller's own company"))
        }
    }
}

fn accepted(id: TicketId, replayed: bool) -> Response {
    let status_url = format!("/v1/tickets/{id}");
    let location = HeaderValue::from_str(&status_url).unwrap_or_else(|_| HeaderValue::from_static("/v1/tickets"));
    let mut response = (StatusCode::ACCEPTED, Json(Accepted { id, status_url })).into_response();
    response.headers_mut().insert(header::LOCATION, location);
    if replayed {
        response.headers_mut().insert(REPLAYED_HEADER, HeaderValue::from_static("true"));
    }
    response
}

pub(crate) fn unavailable(state: &IngestState) -> ApiError {
    ApiError::Unavailable {
        message: "tickets cannot be accepted right now; retry later".into(),
        retry_after_seconds: Some(state.config.retry_after_seconds),
    }
}

/// Produces and waits until the bus says the message is durable.
pub(crate) async fn produce(state: &IngestState, message: OutgoingMessage) -> Result<(), ApiError> {
    let started = Instant::now();
    let result = tokio::time::timeout(state.produce_timeout, state.bus.produce(message)).await;
    metrics::histogram!("switchboard_ingest_produce_seconds").record(started.elapsed().as_secs_f64());
    match result {
        Ok(Ok(_delivery)) => Ok(()),
        Ok(Err(error)) => {
            tracing::warn!(%error, "the bus did not accept a ticket");
            Err(unavailable(state))
        }
        Err(_) => {
            tracing::warn!(
                timeout_ms = state.produce_timeout.as_millis() as u64,
                "the bus did not confirm a ticket in time"
            );
            Err(unavailable(state))
        }
    }
}

fn idempotency_key(headers: &HeaderMap) -> Result<Option<String>, ApiError> {
    let Some(value) = headers.get(IDEMPOTENCY_KEY_HEADER) else {
        return Ok(None);
    };
    let invalid = || ApiError::InvalidHeader {
        code: "invalid_idempotency_key",
        header: IDEMPOTENCY_KEY_HEADER,
        message: "`Idempotency-Key` must be 1 to 255 visible ASCII characters".into(),
    };
    let key = value.to_str().map_err(|_| invalid())?;
    let valid = (1..=255).contains(&key.len()) && key.bytes().all(|byte| byte.is_ascii_graphic());
    if valid { Ok(Some(key.to_owned())) } else { Err(invalid()) }
}

/// JSON syntax errors are 400; JSON that parses but has the wrong shape
/// (not an object, unknown field, wrong type) is 422 with the path of the
/// offending field.
fn parse(bytes: &[u8]) -> Result<NewTicket, ApiError> {
    let value = parse_json_object(bytes)?;
    // A ticket's parts are objects too (serde would fill them from arrays).
    for part in ["requester", "equipment"] {
        if value.get(part).is_some_and(|inner| !inner.is_object() && !inner.is_null()) {
            return Err(ApiError::invalid_body(part, "expected a JSON object"));
        }
    }
    Ok(from_json_value(value)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn syntax_errors_and_shape_errors_are_told_apart() {
        assert!(matches!(parse(b"{"), Err(ApiError::MalformedJson(_))));
        assert!(matches!(parse(b"{} x"), Err(ApiError::MalformedJson(_))));
        assert!(matches!(parse(b"\xff\xfe"), Err(ApiError::MalformedJson(_))));
        match parse(br#"{"title": 5}"#) {
            Err(ApiError::InvalidBody { field, message }) => {
                assert_eq!(field, "title");
                assert!(message.contains("invalid type"), "{message}");
            }
            other => panic!("{other:?}"),
        }
        match parse(br#"{"requester": {"emial": "a@b.co"}}"#) {
            Err(ApiError::InvalidBody { field, .. }) => assert_eq!(field, "requester.emial"),
            other => panic!("{other:?}"),
        }
        assert!(matches!(parse(b"[]"), Err(ApiError::InvalidBody { .. })));
        assert!(matches!(parse(br#"["title"]"#), Err(ApiError::InvalidBody { .. })));
        match parse(br#"{"title": "t", "requester": ["a@b.co"]}"#) {
            Err(ApiError::InvalidBody { field, .. }) => assert_eq!(field, "requester"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_company_caller_files_for_itself() {
        let acme = CompanyId::parse("acme").expect("valid");
        let default = CompanyId::parse("default").expect("valid");
        let scope = Scope::Company(acme.clone());
        assert_eq!(company_of(&scope, &None, default.clone()).ok(), Some(acme.clone()));
        assert_eq!(company_of(&scope, &Some("acme".into()), acme.clone()).ok(), Some(acme.clone()));
        let globex = CompanyId::parse("globex").expect("valid");
        assert!(company_of(&scope, &Some("globex".into()), globex.clone()).is_err());
        assert_eq!(company_of(&Scope::Installation, &Some("globex".into()), globex.clone()).ok(), Some(globex));
    }

    #[test]
    fn deep_nesting_is_an_error_not_a_crash() {
        let deep = format!("{{\"title\": {}{}}}", "[".repeat(100_000), "]".repeat(100_000));
        assert!(parse(deep.as_bytes()).is_err());
    }
}
