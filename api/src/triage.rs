//! Triage administration: trained models and the urgency policy.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Serialize;
use switchboard_core::Scope;
use switchboard_core::policy::UrgencyPolicy;
use switchboard_core::settings::{URGENCY_POLICY, company_urgency_policy};
use switchboard_store::ModelInfo;
use switchboard_web::{ApiError, Authenticated, JsonBody, Path, Tenant};

use crate::ApiState;

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct ModelList {
    items: Vec<ListedModel>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct ListedModel {
    #[serde(flatten)]
    model: ModelInfo,
    /// Whether this model triages the caller's company's tickets: the
    /// company's own active model, else the installation's.
    in_use: bool,
}

/// `GET /v1/triage/models`: the company's own models and the
/// installation's, newest first.
pub(crate) async fn list_models(
    State(state): State<ApiState>,
    Tenant(scope): Tenant,
) -> Result<Json<ModelList>, ApiError> {
    let models = state.store.list_triage_models(&scope).await?;
    let own_active =
        |task: &str| models.iter().any(|model| model.active && model.company.is_some() && model.task == task);
    let in_use = |model: &ModelInfo| {
        model.active
            && match (&model.company, scope.company()) {
                (Some(_), _) => true,
                (None, Some(_)) => !own_active(&model.task),
                (None, None) => true,
            }
    };
    let items = models.iter().map(|model| ListedModel { in_use: in_use(model), model: model.clone() }).collect();
    Ok(Json(ModelList { items }))
}

fn model_id(id: &str) -> Result<uuid::Uuid, ApiError> {
    id.parse().map_err(|_| ApiError::NotFound { what: "model" })
}

/// `POST /v1/triage/models/{id}/activate`: the company's tickets are
/// triaged with this model (one of its own) from the stage's next reload
/// on, without a restart.
pub(crate) async fn activate_model(
    State(state): State<ApiState>,
    Tenant(scope): Tenant,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    set_active(&state, &scope, &id, true).await
}

/// `POST /v1/triage/models/{id}/deactivate`: the company stops using its
/// own model for that task and falls back to the installation's.
pub(crate) async fn deactivate_model(
    State(state): State<ApiState>,
    Tenant(scope): Tenant,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    set_active(&state, &scope, &id, false).await
}

async fn set_active(state: &ApiState, scope: &Scope, id: &str, active: bool) -> Result<StatusCode, ApiError> {
    let id = model_id(id)?;
    if state.store.set_triage_model_active(scope, id, active).await? {
        return Ok(StatusCode::NO_CONTENT);
    }
    // The installation's models are listed (they serve the company where it
    // has none of its own) but only the operator switches them.
    let shared = state.store.list_triage_models(scope).await?.into_iter().any(|model| model.id == id);
    if shared {
        return Err(ApiError::Forbidden {
            message: "this is the installation's model, which serves every company without an active model of its \
                      own; deactivate your company's model to use it"
                .into(),
        });
    }
    Err(ApiError::NotFound { what: "model" })
}

/// `GET /v1/triage/policy`: the urgency policy in force for the caller's
/// company: its own, else the installation's (the shipped default until an
/// operator stores one).
pub(crate) async fn get_policy(
    State(state): State<ApiState>,
    Authenticated(caller): Authenticated,
) -> Result<Json<UrgencyPolicy>, ApiError> {
    let own = state.store.get_setting(&company_urgency_policy(&caller.company)).await?;
    let stored = match own {
        Some(json) => Some(json),
        None => state.store.get_setting(URGENCY_POLICY).await?,
    };
    let policy = match stored {
        Some(json) => UrgencyPolicy::from_json(&json).map_err(ApiError::internal)?,
        None => UrgencyPolicy::shipped(),
    };
    Ok(Json(policy))
}

/// `PUT /v1/triage/policy`: replaces the caller's company's urgency
/// policy; the triage stage applies it to the company's tickets within its
/// reload interval. Other companies' tickets are not affected.
pub(crate) async fn put_policy(
    State(state): State<ApiState>,
    Authenticated(caller): Authenticated,
    JsonBody(policy): JsonBody<UrgencyPolicy>,
) -> Result<Json<UrgencyPolicy>, ApiError> {
    policy.validate().map_err(|error| ApiError::invalid_body("rules", error.to_string()))?;
    let json = serde_json::to_string(&policy).map_err(ApiError::internal)?;
    state.store.put_setting(&company_urgency_policy(&caller.company), &json).await?;
    Ok(Json(policy))
}
