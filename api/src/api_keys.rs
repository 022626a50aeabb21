//! API keys for integrations (admin): `POST /v1/api-keys` (the key is in
//! that answer and nowhere else, ever), `GET /v1/api-keys`,
//! `DELETE /v1/api-keys/{id}`.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use switchboard_core::auth::KeyScope;
use switchboard_core::{AccountId, ApiKeyId};
use switchboard_store::ApiKeyRecord;
use switchboard_web::auth::issue_api_key;
use switchboard_web::{ApiError, Authenticated, JsonBody, Path};
use time::OffsetDateTime;

use crate::ApiState;

const NAME_MAX_CHARS: usize = 200;

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct ApiKeyView {
    id: ApiKeyId,
    name: String,
    scopes: Vec<KeyScope>,
    prefix: String,
    created_by: Option<AccountId>,
    #[serde(with = "time::serde::rfc3339")]
    created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339::option")]
    last_used_at: Option<OffsetDateTime>,
}

impl From<ApiKeyRecord> for ApiKeyView {
    fn from(key: ApiKeyRecord) -> Self {
        Self {
            id: key.id,
            name: key.name,
            scopes: key.scopes,
            prefix: key.prefix,
            created_by: key.created_by,
            created_at: key.created_at,
            last_used_at: key.last_used_at,
        }
    }
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct NewKeyInput {
    name: String,
    scopes: Vec<String>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct CreatedKey {
    #[serde(flatten)]
    key: ApiKeyView,
    /// The secret: send it as `Authorization: Bearer <key>`. Shown once.
    secret: String,
}

pub(crate) async fn create_key(
    State(state): State<ApiState>,
    Authenticated(caller): Authenticated,
    JsonBody(input): JsonBody<NewKeyInput>,
) -> Result<Response, ApiError> {
    let name = input.name.trim();
    if name.is_empty() || name.chars().count() > NAME_MAX_CHARS || name.chars().any(char::is_control) {
        return Err(ApiError::invalid_body("name", format!("`name` must be 1 to {NAME_MAX_CHARS} characters")));
    }
    if input.scopes.is_empty() {
        return Err(ApiError::invalid_body("scopes", "give at least one scope"));
    }
    let scopes = KeyScope::parse_list(&input.scopes)
        .map_err(|(index, message)| ApiError::invalid_body(format!("scopes[{index}]"), message))?;
    let (record, secret) = issue_api_key(&state.store, &caller.company, name, &scopes, caller.account()).await?;
    Ok((StatusCode::CREATED, Json(CreatedKey { key: record.into(), secret })).into_response())
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct KeyList {
    items: Vec<ApiKeyView>,
}

pub(crate) async fn list_keys(
    State(state): State<ApiState>,
    Authenticated(caller): Authenticated,
) -> Result<Json<KeyList>, ApiError> {
    let keys = state.store.list_api_keys(&caller.company).await?;
    Ok(Json(KeyList { items: keys.into_iter().map(ApiKeyView::from).collect() }))
}

pub(crate) async fn delete_key(
    State(state): State<ApiState>,
    Authenticated(caller): Authenticated,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let not_found = || ApiError::NotFound { what: "API key" };
    let id: ApiKeyId = id.parse().map_err(|_| not_found())?;
    if !state.store.revoke_api_key(&caller.company, id).await? {
        return Err(not_found());
    }
    state.auth.forget_key(id);
    Ok(StatusCode::NO_CONTENT)
}
