//! The company's vehicles (admin): `GET|POST /v1/vehicles`,
//! `GET|PUT|DELETE /v1/vehicles/{id}` (photos: [`crate::photos`]).

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use switchboard_core::{CompanyId, VehicleId};
use switchboard_store::{PhotoSubject, VehicleFields, VehicleRecord};
use switchboard_web::{ApiError, Authenticated, JsonBody, Path};
use time::OffsetDateTime;

use crate::ApiState;
use crate::equipment::Place;

const TEXT_MAX_CHARS: usize = 200;

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct VehicleView {
    id: VehicleId,
    company: CompanyId,
    name: String,
    plate: Option<String>,
    kind: Option<String>,
    available: bool,
    /// Where it starts its day.
    home_base: Option<Place>,
    #[serde(with = "time::serde::rfc3339")]
    created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    updated_at: OffsetDateTime,
}

impl From<VehicleRecord> for VehicleView {
    fn from(vehicle: VehicleRecord) -> Self {
        Self {
            id: vehicle.id,
            company: vehicle.company,
            name: vehicle.name,
            plate: vehicle.plate,
            kind: vehicle.kind,
            available: vehicle.available,
            home_base: Place::view(vehicle.home_base_address, vehicle.home_base),
            created_at: vehicle.created_at,
            updated_at: vehicle.updated_at,
        }
    }
}

/// A whole vehicle: what is left out takes its default (no plate, kind or
/// home base; available).
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct VehicleInput {
    name: String,
    plate: Option<String>,
    kind: Option<String>,
    available: Option<bool>,
    #[serde(default)]
    home_base: Option<Place>,
}

fn optional_text(field: &'static str, value: Option<String>) -> Result<Option<String>, ApiError> {
    match value.as_deref().map(str::trim) {
        None | Some("") => Ok(None),
        Some(text) if text.chars().count() > TEXT_MAX_CHARS || text.chars().any(char::is_control) => {
            Err(ApiError::invalid_body(
                field,
                format!("`{field}` must be at most {TEXT_MAX_CHARS} characters, without control characters"),
            ))
        }
        Some(text) => Ok(Some(text.to_owned())),
    }
}

impl VehicleInput {
    fn fields(self) -> Result<VehicleFields, ApiError> {
        let name = optional_text("name", Some(self.name))?
            .ok_or_else(|| ApiError::invalid_body("name", "`name` must not be empty"))?;
        let (home_base_address, home_base) = Place::fields(self.home_base, "home_base")?;
        Ok(VehicleFields {
            home_base_address,
            home_base,
            name,
            plate: optional_text("plate", self.plate)?,
            kind: optional_text("kind", self.kind)?,
            available: self.available.unwrap_or(true),
        })
    }
}

fn vehicle_id(text: &str) -> Result<VehicleId, ApiError> {
    text.parse().map_err(|_| ApiError::NotFound { what: "vehicle" })
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct VehicleList {
    items: Vec<VehicleView>,
}

pub(crate) async fn list_vehicles(
    State(state): State<ApiState>,
    Authenticated(caller): Authenticated,
) -> Result<Json<VehicleList>, ApiError> {
    let vehicles = state.store.list_vehicles(&caller.company).await?;
    Ok(Json(VehicleList { items: vehicles.into_iter().map(VehicleView::from).collect() }))
}

pub(crate) async fn create_vehicle(
    State(state): State<ApiState>,
    Authenticated(caller): Authenticated,
    JsonBody(input): JsonBody<VehicleInput>,
) -> Result<Response, ApiError> {
    let vehicle = state.store.create_vehicle(&caller.company, &input.fields()?).await?;
    Ok((StatusCode::CREATED, Json(VehicleView::from(vehicle))).into_response())
}

pub(crate) async fn get_vehicle(
    State(state): State<ApiState>,
    Authenticated(caller): Authenticated,
    Path(id): Path<String>,
) -> Result<Json<VehicleView>, ApiError> {
    let vehicle = state.store.vehicle(&caller.company, vehicle_id(&id)?).await?;
    Ok(Json(vehicle.ok_or(ApiError::NotFound { what: "vehicle" })?.into()))
}

pub(crate) async fn put_vehicle(
    State(state): State<ApiState>,
    Authenticated(caller): Authenticated,
    Path(id): Path<String>,
    JsonBody(input): JsonBody<VehicleInput>,
) -> Result<Json<VehicleView>, ApiError> {
    let id = vehicle_id(&id)?;
    let vehicle = state.store.update_vehicle(&caller.company, id, &input.fields()?).await?;
    Ok(Json(vehicle.ok_or(ApiError::NotFound { what: "vehicle" })?.into()))
}

pub(crate) async fn delete_vehicle(
    State(state): State<ApiState>,
    Authenticated(caller): Authenticated,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let id = vehicle_id(&id)?;
    let subject = PhotoSubject::Vehicle(id);
    let photos = state.store.photos(&caller.company, subject).await?;
    if !state.store.delete_vehicle(&caller.company, id).await? {
        return Err(ApiError::NotFound { what: "vehicle" });
    }
    let ids: Vec<_> = photos.iter().map(|photo| photo.id).collect();
    crate::photos::forget_bytes(&state, &caller, subject, &ids).await;
    Ok(StatusCode::NO_CONTENT)
}
