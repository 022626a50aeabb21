//! Triage administration: trained models and the urgency policy.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Serialize;
use switchboard_core::policy::UrgencyPolicy;
use switchboard_core::settings::URGENCY_POLICY;
use switchboard_store::ModelInfo;
use switchboard_web::{ApiError, JsonBody, Path};

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

/// `GET /v1/triage/policy`: the urgency policy in force (the default, empty
/// policy until an admin sets one).
pub(crate) async fn get_policy(State(state): State<ApiState>) -> Result<Json<UrgencyPolicy>, ApiError> {
    let policy = match state.store.get_setting(URGENCY_POLICY).await? {
        Some(json) => UrgencyPolicy::from_json(&json).map_err(ApiError::internal)?,
        None => UrgencyPolicy::default(),
    };
    Ok(Json(policy))
}

/// `PUT /v1/triage/policy`: replaces the urgency policy; the triage stage
/// applies it within its reload interval.
pub(crate) async fn put_policy(
    State(state): State<ApiState>,
    JsonBody(policy): JsonBody<UrgencyPolicy>,
) -> Result<Json<UrgencyPolicy>, ApiError> {
    policy.validate().map_err(|error| ApiError::invalid_body("rules", error.to_string()))?;
    let json = serde_json::to_string(&policy).map_err(ApiError::internal)?;
    state.store.put_setting(URGENCY_POLICY, &json).await?;
    Ok(Json(policy))
}
