//! The company's team servers (admin): `GET|POST /v1/servers`,
//! `GET|PUT|DELETE /v1/servers/{id}`.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use switchboard_core::config::Secret;
use switchboard_core::ids::ServerId;
use switchboard_core::signing::SigningSecret;
use switchboard_core::{CompanyId, text::forbidden_control};
use switchboard_store::{ServerFields, ServerRecord};
use switchboard_web::{ApiError, Authenticated, JsonBody, Path};
use time::OffsetDateTime;

use crate::ApiState;

const NAME_MAX_CHARS: usize = 200;
const REGION_MAX_CHARS: usize = 64;

/// A team server. The signing secret is shown on the one server's views
/// (its admin configures the server with it), not in lists.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct ServerView {
    id: ServerId,
    company: CompanyId,
    name: String,
    region: Option<String>,
    base_url: String,
    enabled: bool,
    central: bool,
    /// `whsec_…`: what the server verifies deliveries with.
    #[serde(skip_serializing_if = "Option::is_none")]
    signing_secret: Option<String>,
    #[serde(with = "time::serde::rfc3339")]
    created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    updated_at: OffsetDateTime,
}

impl ServerView {
    fn of(server: ServerRecord, with_secret: bool) -> Self {
        Self {
            id: server.id,
            company: server.company,
            signing_secret: with_secret.then(|| server.fields.signing_secret.expose().clone()),
            name: server.fields.name,
            region: server.fields.region,
            base_url: server.fields.base_url,
            enabled: server.fields.enabled,
            central: server.fields.central,
            created_at: server.created_at,
            updated_at: server.updated_at,
        }
    }
}

/// A whole server: what is left out takes its default (enabled, not
/// central, a new secret on creation and the current one on a change).
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ServerInput {
    name: String,
    region: Option<String>,
    base_url: String,
    /// `whsec_` and the base64 of 24 to 64 bytes.
    signing_secret: Option<String>,
    enabled: Option<bool>,
    central: Option<bool>,
}

fn text(field: &'static str, value: &str, max_chars: usize) -> Result<String, ApiError> {
    let value = value.trim();
    if value.is_empty() || value.chars().count() > max_chars || forbidden_control(value).is_some() {
        return Err(ApiError::invalid_body(
            field,
            format!("`{field}` must be 1 to {max_chars} characters, without control characters"),
        ));
    }
    Ok(value.to_owned())
}

/// An `http` or `https` URL that deliveries may go to (see
/// `switchboard_outbound::check_destination`).
async fn base_url(value: &str, allow_private: bool) -> Result<String, ApiError> {
    switchboard_outbound::check_destination(value, allow_private)
        .await
        .map(|url| url.to_string())
        .map_err(|why| ApiError::invalid_body("base_url", format!("`base_url` {why}")))
}

impl ServerInput {
    async fn fields(
        self,
        current_secret: Option<Secret<String>>,
        allow_private: bool,
    ) -> Result<ServerFields, ApiError> {
        let signing_secret = match self.signing_secret {
            Some(secret) => {
                SigningSecret::parse(&secret)
                    .map_err(|error| ApiError::invalid_body("signing_secret", error.to_string()))?;
                Secret::new(secret)
            }
            None => current_secret.unwrap_or_else(|| Secret::new(SigningSecret::generate().expose())),
        };
        let region = match self.region.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(region) => Some(text("region", region, REGION_MAX_CHARS)?),
        };
        Ok(ServerFields {
            name: text("name", &self.name, NAME_MAX_CHARS)?,
            region,
            base_url: base_url(&self.base_url, allow_private).await?,
            signing_secret,
            enabled: self.enabled.unwrap_or(true),
            central: self.central.unwrap_or(false),
        })
    }
}

pub(crate) fn server_id(text: &str) -> Result<ServerId, ApiError> {
    text.parse().map_err(|_| ApiError::NotFound { what: "server" })
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct ServerList {
    items: Vec<ServerView>,
}

pub(crate) async fn list_servers(
    State(state): State<ApiState>,
    Authenticated(caller): Authenticated,
) -> Result<Json<ServerList>, ApiError> {
    let servers = state.store.list_servers(&caller.company).await?;
    Ok(Json(ServerList { items: servers.into_iter().map(|server| ServerView::of(server, false)).collect() }))
}

pub(crate) async fn create_server(
    State(state): State<ApiState>,
    Authenticated(caller): Authenticated,
    JsonBody(input): JsonBody<ServerInput>,
) -> Result<Response, ApiError> {
    let server = state
        .store
        .create_server(&caller.company, &input.fields(None, state.config.outbound.allow_private_destinations).await?)
        .await?;
    Ok((StatusCode::CREATED, Json(ServerView::of(server, true))).into_response())
}

pub(crate) async fn get_server(
    State(state): State<ApiState>,
    Authenticated(caller): Authenticated,
    Path(id): Path<String>,
) -> Result<Json<ServerView>, ApiError> {
    let server = state.store.server(&caller.company, server_id(&id)?).await?;
    Ok(Json(ServerView::of(server.ok_or(ApiError::NotFound { what: "server" })?, true)))
}

pub(crate) async fn put_server(
    State(state): State<ApiState>,
    Authenticated(caller): Authenticated,
    Path(id): Path<String>,
    JsonBody(input): JsonBody<ServerInput>,
) -> Result<Json<ServerView>, ApiError> {
    let id = server_id(&id)?;
    let current = state.store.server(&caller.company, id).await?.ok_or(ApiError::NotFound { what: "server" })?;
    let fields =
        input.fields(Some(current.fields.signing_secret), state.config.outbound.allow_private_destinations).await?;
    if fields.central {
        let teams = state.store.list_teams(&caller.company).await?;
        if let Some(team) = teams.iter().find(|team| team.fields.servers.contains(&id)) {
            return Err(ApiError::Refused {
                code: "central_hosts_team",
                message: format!(
                    "team `{}` is hosted on this server; a central server hosts no team",
                    team.fields.name
                ),
            });
        }
    }
    let server = state.store.update_server(&caller.company, id, &fields).await?;
    Ok(Json(ServerView::of(server.ok_or(ApiError::NotFound { what: "server" })?, true)))
}

pub(crate) async fn delete_server(
    State(state): State<ApiState>,
    Authenticated(caller): Authenticated,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    if state.store.delete_server(&caller.company, server_id(&id)?).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::NotFound { what: "server" })
    }
}
