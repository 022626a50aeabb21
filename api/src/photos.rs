//! Photos of equipment and vehicles, in the attachment store:
//!
//! - `GET /v1/equipment/{id}/photos`, `GET /v1/vehicles/{id}/photos`: the
//!   list;
//! - `POST` to the same path: one photo, the image itself as the body
//!   (`Content-Type: image/…` or `application/octet-stream`; the type is
//!   read from the bytes, anything but a picture is 422), its name in
//!   `?filename=`;
//! - `GET|DELETE …/photos/{photo_id}`: one photo's bytes (served inline,
//!   as ticket attachments are), or forgetting it.
//!
//! Equipment photos are read by whoever may read the equipment (a customer:
//! their own) and changed by staff; vehicles' by admins.

use axum::Json;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use serde::{Deserialize, Serialize};
use switchboard_core::files::{Accept, Upload, describe};
use switchboard_core::{Attachment, AttachmentId, Caller};
use switchboard_store::PhotoSubject;
use switchboard_web::{ApiError, Authenticated, Path, Query, read_limited};

use crate::ApiState;
use crate::attachments::serve_file;

/// The most photos one piece of equipment or one vehicle keeps.
pub(crate) const MAX_PHOTOS: usize = 20;

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct PhotoList {
    items: Vec<Attachment>,
}

#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub(crate) struct UploadParameters {
    /// The photo's file name (`photo` when none is given).
    filename: Option<String>,
}

/// The equipment `id` names, if the caller may see it.
async fn equipment(state: &ApiState, caller: &Caller, id: &str) -> Result<PhotoSubject, ApiError> {
    let not_found = || ApiError::NotFound { what: "equipment" };
    let id = id.parse().map_err(|_| not_found())?;
    let unit = state.store.equipment(&caller.company, id).await?;
    unit.filter(|unit| crate::equipment::visible(caller, unit)).ok_or_else(not_found)?;
    Ok(PhotoSubject::Equipment(id))
}

/// The company's vehicle `id` names.
async fn vehicle(state: &ApiState, caller: &Caller, id: &str) -> Result<PhotoSubject, ApiError> {
    let not_found = || ApiError::NotFound { what: "vehicle" };
    let id = id.parse().map_err(|_| not_found())?;
    state.store.vehicle(&caller.company, id).await?.ok_or_else(not_found)?;
    Ok(PhotoSubject::Vehicle(id))
}

async fn list(state: &ApiState, caller: &Caller, subject: PhotoSubject) -> Result<Json<PhotoList>, ApiError> {
    Ok(Json(PhotoList { items: state.store.photos(&caller.company, subject).await? }))
}

/// Checks the body is one picture within the attachment limits, stores its
/// bytes, then records it (deleting the bytes again if that fails).
async fn add(
    state: &ApiState,
    caller: &Caller,
    subject: PhotoSubject,
    headers: &HeaderMap,
    parameters: UploadParameters,
    body: Body,
) -> Result<Response, ApiError> {
    let limits = &state.config.attachments;
    let limit = usize::try_from(limits.max_file_bytes).unwrap_or(usize::MAX);
    let content: Bytes = read_limited(body, headers, limit).await?;
    let upload = Upload { filename: parameters.filename.unwrap_or_default(), content };
    let photo = describe(&upload, "photo", Accept::Photos, limits)?;
    state.files.put(&caller.company, subject, photo.id, upload.content).await.map_err(unavailable)?;
    if let Err(error) = state.store.add_photo(&caller.company, subject, &photo, MAX_PHOTOS).await {
        if let Err(cleanup) = state.files.delete(&caller.company, subject, photo.id).await {
            tracing::warn!(error = %cleanup, "cannot delete the bytes of a photo that was not recorded");
        }
        return Err(error.into());
    }
    Ok((StatusCode::CREATED, Json(photo)).into_response())
}

fn unavailable(error: switchboard_store::Error) -> ApiError {
    tracing::warn!(error = %switchboard_core::error::describe_chain(&error), "cannot store a photo");
    ApiError::unavailable("photos cannot be stored right now; retry later")
}

fn photo_id(text: &str) -> Result<AttachmentId, ApiError> {
    text.parse().map_err(|_| ApiError::NotFound { what: "photo" })
}

async fn get(state: &ApiState, caller: &Caller, subject: PhotoSubject, id: &str) -> Result<Response, ApiError> {
    let not_found = || ApiError::NotFound { what: "photo" };
    let photo = state.store.photo(&caller.company, subject, photo_id(id)?).await?.ok_or_else(not_found)?;
    let Some(content) = state.files.get(&caller.company, subject, photo.id).await? else {
        tracing::error!(photo_id = %photo.id, "a recorded photo's file is missing");
        return Err(not_found());
    };
    Ok(serve_file(&photo, content))
}

async fn delete(state: &ApiState, caller: &Caller, subject: PhotoSubject, id: &str) -> Result<StatusCode, ApiError> {
    let id = photo_id(id)?;
    if !state.store.delete_photo(&caller.company, subject, id).await? {
        return Err(ApiError::NotFound { what: "photo" });
    }
    forget_bytes(state, caller, subject, &[id]).await;
    Ok(StatusCode::NO_CONTENT)
}

/// Deletes the bytes of photos whose rows are gone; a failure leaves a file
/// nothing names, which is logged.
pub(crate) async fn forget_bytes(state: &ApiState, caller: &Caller, subject: PhotoSubject, ids: &[AttachmentId]) {
    for id in ids {
        if let Err(error) = state.files.delete(&caller.company, subject, *id).await {
            tracing::warn!(photo_id = %id, error = %switchboard_core::error::describe_chain(&error), "cannot delete a photo's file");
        }
    }
}

/// The subject a route names: `photos::list::<{ VEHICLE }>` serves
/// `/v1/vehicles/{id}/photos`, `photos::list::<{ EQUIPMENT }>` the
/// equipment's.
pub(crate) const EQUIPMENT: bool = false;
pub(crate) const VEHICLE: bool = true;

async fn subject<const IS_VEHICLE: bool>(
    state: &ApiState,
    caller: &Caller,
    id: &str,
) -> Result<PhotoSubject, ApiError> {
    if IS_VEHICLE { vehicle(state, caller, id).await } else { equipment(state, caller, id).await }
}

pub(crate) async fn list_photos<const IS_VEHICLE: bool>(
    State(state): State<ApiState>,
    Authenticated(caller): Authenticated,
    Path(id): Path<String>,
) -> Result<Json<PhotoList>, ApiError> {
    let subject = subject::<IS_VEHICLE>(&state, &caller, &id).await?;
    list(&state, &caller, subject).await
}

pub(crate) async fn add_photo<const IS_VEHICLE: bool>(
    State(state): State<ApiState>,
    Authenticated(caller): Authenticated,
    headers: HeaderMap,
    Path(id): Path<String>,
    Query(parameters): Query<UploadParameters>,
    body: Body,
) -> Result<Response, ApiError> {
    let subject = subject::<IS_VEHICLE>(&state, &caller, &id).await?;
    add(&state, &caller, subject, &headers, parameters, body).await
}

pub(crate) async fn get_photo<const IS_VEHICLE: bool>(
    State(state): State<ApiState>,
    Authenticated(caller): Authenticated,
    Path((id, photo)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let subject = subject::<IS_VEHICLE>(&state, &caller, &id).await?;
    get(&state, &caller, subject, &photo).await
}

pub(crate) async fn delete_photo<const IS_VEHICLE: bool>(
    State(state): State<ApiState>,
    Authenticated(caller): Authenticated,
    Path((id, photo)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    let subject = subject::<IS_VEHICLE>(&state, &caller, &id).await?;
    delete(&state, &caller, subject, &photo).await
}
