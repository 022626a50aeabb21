//! The company's teams (admin): `GET|POST /v1/teams`,
//! `GET|PUT|DELETE /v1/teams/{id}`.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use switchboard_core::ids::{ServerId, TeamId};
use switchboard_core::{AccountId, CompanyId, text::forbidden_control};
use switchboard_store::{TeamFields, TeamRecord};
use switchboard_web::{ApiError, Authenticated, JsonBody, Path};
use time::OffsetDateTime;

use crate::ApiState;

const NAME_MAX_CHARS: usize = 200;
const CATEGORY_MAX_CHARS: usize = 100;
const LIST_MAX: usize = 200;

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct TeamView {
    id: TeamId,
    company: CompanyId,
    name: String,
    categories: Vec<String>,
    members: Vec<AccountId>,
    servers: Vec<ServerId>,
    #[serde(with = "time::serde::rfc3339")]
    created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    updated_at: OffsetDateTime,
}

impl From<TeamRecord> for TeamView {
    fn from(team: TeamRecord) -> Self {
        Self {
            id: team.id,
            company: team.company,
            name: team.fields.name,
            categories: team.fields.categories,
            members: team.fields.members,
            servers: team.fields.servers,
            created_at: team.created_at,
            updated_at: team.updated_at,
        }
    }
}

/// A whole team: lists left out are empty.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct TeamInput {
    name: String,
    /// Ticket categories the team handles.
    categories: Option<Vec<String>>,
    /// Accounts of the company's staff.
    members: Option<Vec<AccountId>>,
    /// Servers of the company (not its central one) the team works on.
    servers: Option<Vec<ServerId>>,
}

fn bounded<T: PartialEq>(field: &'static str, items: Vec<T>) -> Result<Vec<T>, ApiError> {
    if items.len() > LIST_MAX {
        return Err(ApiError::invalid_body(field, format!("`{field}` holds at most {LIST_MAX} entries")));
    }
    let mut unique: Vec<T> = Vec::with_capacity(items.len());
    for item in items {
        if !unique.contains(&item) {
            unique.push(item);
        }
    }
    Ok(unique)
}

impl TeamInput {
    /// Checks the team against the company: its members are the company's
    /// staff, its servers the company's and not central.
    async fn fields(self, state: &ApiState, company: &CompanyId) -> Result<TeamFields, ApiError> {
        let name = self.name.trim().to_owned();
        if name.is_empty() || name.chars().count() > NAME_MAX_CHARS || forbidden_control(&name).is_some() {
            let message = format!("`name` must be 1 to {NAME_MAX_CHARS} characters, without control characters");
            return Err(ApiError::invalid_body("name", message));
        }
        let categories = bounded("categories", self.categories.unwrap_or_default())?;
        for (index, category) in categories.iter().enumerate() {
            if category.trim() != category
                || category.is_empty()
                || category.chars().count() > CATEGORY_MAX_CHARS
                || forbidden_control(category).is_some()
            {
                let message =
                    format!("a category is 1 to {CATEGORY_MAX_CHARS} characters, without spaces at either end");
                return Err(ApiError::invalid_body(format!("categories[{index}]"), message));
            }
        }
        let members = bounded("members", self.members.unwrap_or_default())?;
        let scope = switchboard_core::Scope::Company(company.clone());
        for (index, member) in members.iter().enumerate() {
            let account = state.store.account(&scope, *member).await?;
            let staff = account.is_some_and(|account| {
                !matches!(account.role, switchboard_core::Role::Customer) && account.deleted_at.is_none()
            });
            if !staff {
                return Err(ApiError::invalid_body(
                    format!("members[{index}]"),
                    "a member is an account of the company's staff (admin, engineer or technician)",
                ));
            }
        }
        let servers = bounded("servers", self.servers.unwrap_or_default())?;
        for (index, server) in servers.iter().enumerate() {
            match state.store.server(company, *server).await? {
                Some(record) if !record.fields.central => {}
                Some(_) => {
                    return Err(ApiError::invalid_body(
                        format!("servers[{index}]"),
                        "this is the central server, which hosts no team",
                    ));
                }
                None => {
                    return Err(ApiError::invalid_body(
                        format!("servers[{index}]"),
                        "no server of the company has this id",
                    ));
                }
            }
        }
        Ok(TeamFields { name, categories, members, servers })
    }
}

fn team_id(text: &str) -> Result<TeamId, ApiError> {
    text.parse().map_err(|_| ApiError::NotFound { what: "team" })
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct TeamList {
    items: Vec<TeamView>,
}

pub(crate) async fn list_teams(
    State(state): State<ApiState>,
    Authenticated(caller): Authenticated,
) -> Result<Json<TeamList>, ApiError> {
    let teams = state.store.list_teams(&caller.company).await?;
    Ok(Json(TeamList { items: teams.into_iter().map(TeamView::from).collect() }))
}

pub(crate) async fn create_team(
    State(state): State<ApiState>,
    Authenticated(caller): Authenticated,
    JsonBody(input): JsonBody<TeamInput>,
) -> Result<Response, ApiError> {
    let fields = input.fields(&state, &caller.company).await?;
    let team = state.store.create_team(&caller.company, &fields).await?;
    Ok((StatusCode::CREATED, Json(TeamView::from(team))).into_response())
}

pub(crate) async fn get_team(
    State(state): State<ApiState>,
    Authenticated(caller): Authenticated,
    Path(id): Path<String>,
) -> Result<Json<TeamView>, ApiError> {
    let team = state.store.team(&caller.company, team_id(&id)?).await?;
    Ok(Json(team.ok_or(ApiError::NotFound { what: "team" })?.into()))
}

pub(crate) async fn put_team(
    State(state): State<ApiState>,
    Authenticated(caller): Authenticated,
    Path(id): Path<String>,
    JsonBody(input): JsonBody<TeamInput>,
) -> Result<Json<TeamView>, ApiError> {
    let id = team_id(&id)?;
    if state.store.team(&caller.company, id).await?.is_none() {
        return Err(ApiError::NotFound { what: "team" });
    }
    let fields = input.fields(&state, &caller.company).await?;
    let team = state.store.update_team(&caller.company, id, &fields).await?;
    Ok(Json(team.ok_or(ApiError::NotFound { what: "team" })?.into()))
}

pub(crate) async fn delete_team(
    State(state): State<ApiState>,
    Authenticated(caller): Authenticated,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    if state.store.delete_team(&caller.company, team_id(&id)?).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::NotFound { what: "team" })
    }
}
