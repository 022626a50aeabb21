//! FAQ articles: create, read, replace, delete, bulk import. Every change is
//! written to the store first, then announced on `kb.changes` so that every
//! knowledge-base index follows.

use axum::Json;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use switchboard_bus::OutgoingMessage;
use switchboard_core::Scope;
use switchboard_core::events::KbChange;
use switchboard_core::kb::{Faq, NewFaq, parse_faq_lines, valid_faq_id};
use switchboard_web::{ApiError, JsonBody, Path, Query, Tenant, parse_number, read_limited, require_media_type};
use time::OffsetDateTime;

use crate::ApiState;

/// Largest import file accepted in one request.
pub const IMPORT_LIMIT: usize = 32 * 1024 * 1024;
/// Most articles in one import (each becomes a row write and a change
/// message in one go): larger sets go in several requests.
pub const IMPORT_MAX_ARTICLES: usize = 10_000;
const DEFAULT_PAGE: u32 = 50;
const MAX_PAGE: u32 = 500;
/// A page stops before the article that would take it past this many bytes
/// of text (it always has at least one article); `next_cursor` continues.
pub const PAGE_MAX_BYTES: usize = 4 * 1024 * 1024;
/// Articles read from the store at a time while a page is filled, so a page
/// of large articles never holds more than a few beyond its byte budget.
const PAGE_FETCH: u32 = 20;

fn not_found() -> ApiError {
    ApiError::NotFound { what: "FAQ" }
}

fn checked_id(id: &str) -> Result<&str, ApiError> {
    if valid_faq_id(id) { Ok(id) } else { Err(not_found()) }
}

/// Announces changed articles; waits until the bus has them.
async fn announce(state: &ApiState, changes: Vec<KbChange>) -> Result<(), ApiError> {
    let topic = state.topics.kb_changes();
    let sends = changes.iter().map(|change| {
        let message = OutgoingMessage {
            topic: topic.clone(),
            key: Some(change.key().into_bytes()),
            payload: serde_json::to_vec(change).unwrap_or_default(),
            headers: Default::default(),
        };
        state.bus.produce(message)
    });
    for result in futures::future::join_all(sends).await {
        if let Err(error) = result {
            tracing::warn!(%error, "cannot announce an FAQ change");
            return Err(ApiError::unavailable(
                "the change is stored but the knowledge base could not be told; retry the request",
            ));
        }
    }
    Ok(())
}

pub(crate) async fn create_faq(
    State(state): State<ApiState>,
    Tenant(scope): Tenant,
    JsonBody(input): JsonBody<NewFaq>,
) -> Result<Response, ApiError> {
    let mut faq = input.validate(uuid_like_id, OffsetDateTime::now_utc())?;
    own_company(&scope, std::slice::from_mut(&mut faq))?;
    // (A shared article with this id is refused by the store, with its own
    // reason: PUT would not replace that one.)
    if state.store.get_faq(&scope, &faq.id).await?.is_some_and(|existing| existing.company == faq.company) {
        return Err(ApiError::Conflict(format!(
            "an FAQ with id `{}` exists; PUT /v1/faqs/{} replaces it",
            faq.id, faq.id
        )));
    }
    state.store.upsert_faqs(&scope, std::slice::from_ref(&faq)).await?;
    announce(&state, vec![KbChange::changed(&faq)]).await?;
    let stored = state.store.get_faq(&scope, &faq.id).await?.ok_or_else(not_found)?;
    let mut response = (StatusCode::CREATED, Json(stored)).into_response();
    if let Ok(location) = format!("/v1/faqs/{}", faq.id).parse() {
        response.headers_mut().insert(header::LOCATION, location);
    }
    Ok(response)
}

/// An article a company writes is its own: without a `company` it gets
/// the caller's, and naming another company is refused. (Shared articles,
/// with no company, come from `switchboard kb import`.)
fn own_company(scope: &Scope, faqs: &mut [Faq]) -> Result<(), ApiError> {
    let Some(own) = scope.company() else { return Ok(()) };
    for faq in faqs {
        match &faq.company {
            None => faq.company = Some(own.to_string()),
            Some(named) if named == own.as_str() => {}
            Some(_) => {
                return Err(ApiError::invalid_body(
                    "company",
                    "an article can only belong to the caller's own company",
                ));
            }
        }
    }
    Ok(())
}

fn uuid_like_id() -> String {
    switchboard_core::ids::EventId::new().to_string()
}

pub(crate) async fn put_faq(
    State(state): State<ApiState>,
    Tenant(scope): Tenant,
    Path(id): Path<String>,
    JsonBody(input): JsonBody<NewFaq>,
) -> Result<Response, ApiError> {
    if input.id.as_deref().is_some_and(|body_id| body_id.trim() != id) {
        return Err(ApiError::invalid_body("id", "`id` differs from the id in the path"));
    }
    let mut faq = NewFaq { id: Some(id), ..input }.validate(String::new, OffsetDateTime::now_utc())?;
    own_company(&scope, std::slice::from_mut(&mut faq))?;
    let created = state.store.upsert_faqs(&scope, std::slice::from_ref(&faq)).await?;
    announce(&state, vec![KbChange::changed(&faq)]).await?;
    let stored = state.store.get_faq(&scope, &faq.id).await?.ok_or_else(not_found)?;
    let status = if created.first() == Some(&true) { StatusCode::CREATED } else { StatusCode::OK };
    Ok((status, Json(stored)).into_response())
}

pub(crate) async fn get_faq(
    State(state): State<ApiState>,
    Tenant(scope): Tenant,
    Path(id): Path<String>,
) -> Result<Json<Faq>, ApiError> {
    let faq = state.store.get_faq(&scope, checked_id(&id)?).await?.ok_or_else(not_found)?;
    Ok(Json(faq))
}

pub(crate) async fn delete_faq(
    State(state): State<ApiState>,
    Tenant(scope): Tenant,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    if !state.store.delete_faq(&scope, checked_id(&id)?).await? {
        return Err(not_found());
    }
    announce(&state, vec![KbChange::FaqDeleted { id, company: scope.company().map(ToString::to_string) }]).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub(crate) struct ListParameters {
    /// The previous page's `next_cursor`.
    cursor: Option<String>,
    limit: Option<String>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct FaqList {
    items: Vec<Faq>,
    next_cursor: Option<String>,
}

pub(crate) async fn list_faqs(
    State(state): State<ApiState>,
    Tenant(scope): Tenant,
    Query(parameters): Query<ListParameters>,
) -> Result<Json<FaqList>, ApiError> {
    let limit = parse_number("limit", parameters.limit.as_deref(), 1..=MAX_PAGE)?.unwrap_or(DEFAULT_PAGE) as usize;
    let mut after = parameters.cursor.filter(|cursor| !cursor.is_empty());
    let (mut items, mut bytes, mut more) = (Vec::new(), 0_usize, false);
    'fill: loop {
        let chunk = state.store.list_faqs(&scope, after.as_deref(), PAGE_FETCH).await?;
        let exhausted = chunk.len() < PAGE_FETCH as usize;
        for faq in chunk {
            let size = faq.text_bytes();
            if items.len() == limit || (!items.is_empty() && bytes + size > PAGE_MAX_BYTES) {
                more = true;
                break 'fill;
            }
            bytes += size;
            after = Some(faq.id.clone());
            items.push(faq);
        }
        if exhausted {
            break;
        }
    }
    let next_cursor = if more { items.last().map(|faq| faq.id.clone()) } else { None };
    Ok(Json(FaqList { items, next_cursor }))
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct ImportSummary {
    imported: usize,
    created: usize,
    updated: usize,
}

/// `POST /v1/faqs/import` with a JSON Lines body, one article per line (as
/// `switchboard kb import` reads). All or nothing: a bad line rejects the
/// whole file, naming the line.
pub(crate) async fn import_faqs(
    State(state): State<ApiState>,
    Tenant(scope): Tenant,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<ImportSummary>, ApiError> {
    require_media_type(&headers, "application/x-ndjson", |content_type| {
        let essence = content_type.split(';').next().unwrap_or_default().trim().to_ascii_lowercase();
        matches!(essence.as_str(), "application/x-ndjson" | "application/jsonl" | "application/json-lines")
    })?;
    let bytes = read_limited(body, &headers, IMPORT_LIMIT).await?;
    let mut faqs = parse_import(&bytes)?;
    own_company(&scope, &mut faqs)?;
    if faqs.len() > IMPORT_MAX_ARTICLES {
        return Err(ApiError::Unprocessable {
            code: "too_many_articles",
            message: format!("{} articles in one import; at most {IMPORT_MAX_ARTICLES}: split the file", faqs.len()),
        });
    }
    let created = state.store.upsert_faqs(&scope, &faqs).await?;
    announce(&state, faqs.iter().map(KbChange::changed).collect()).await?;
    let created_count = created.iter().filter(|created| **created).count();
    Ok(Json(ImportSummary { imported: faqs.len(), created: created_count, updated: faqs.len() - created_count }))
}

/// Parses and validates an import file, naming the line (and the field
/// within it) at fault.
fn parse_import(bytes: &[u8]) -> Result<Vec<Faq>, ApiError> {
    parse_faq_lines(bytes, OffsetDateTime::now_utc())
        .map_err(|error| ApiError::invalid_body(format!("line {}", error.line), error.detail()))
}
