//! Triage administration: trained models and the urgency policy.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Serialize;
use switchboard_core::policy::UrgencyPolicy;
use switchboard_core::settings::{URGENCY_POLICY, company_urgency_policy};
use switchboard_store::ModelInfo;
use switchboard_web::{ApiError, Authenticated, JsonBody, Path};

use crate::ApiState;

#[derive(Debug, Serialize)]
pub(crate) struct ModelList {
    items: Vec<ModelInfo>,
}

/// `GET /v1/triage/models`: every model in the store, newest first.
pub(crate) async fn list_models(State(state): State<ApiState>) -> Result<Json<ModelList>, ApiError> {
    Ok(Json(ModelList { items: state.store.list_triage_models().await? }))
}

/// `POST /v1/triage/models/{id}/activate`: the triage stage switches to this
/// model within its reload interval, without a restart.
pub(crate) async fn activate_model(
    State(state): State<ApiState>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let id: uuid::Uuid = id.parse().map_err(|_| ApiError::NotFound { what: "model" })?;
    if state.store.activate_triage_model(id).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::NotFound { what: "model" })
    }
}

/// `GET /v1/triage/policy`: the urgency policy in force for the caller's
/// company: its own, else the installation's (empty until one is set).
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
        None => UrgencyPolicy::default(),
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
