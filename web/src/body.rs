//! Request bodies and path parameters with JSON errors for every way they
//! can be wrong.

use axum::body::{Body, Bytes};
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, header};
use serde::de::DeserializeOwned;
use switchboard_core::http::{is_json_media_type, parse_json_body};

use crate::error::ApiError;

/// Largest JSON body [`JsonBody`] reads.
pub const JSON_BODY_LIMIT: usize = 2 * 1024 * 1024;

/// A JSON object body parsed into `T`: 415 without a JSON content type, 413
/// past [`JSON_BODY_LIMIT`], 400 for malformed JSON, 422 naming the field
/// for JSON of the wrong shape (request types refuse unknown fields).
#[derive(Debug)]
pub struct JsonBody<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, _state: &S) -> Result<Self, Self::Rejection> {
        require_media_type(request.headers(), "application/json", is_json_media_type)?;
        let (parts, body) = request.into_parts();
        let bytes = read_limited(body, &parts.headers, JSON_BODY_LIMIT).await?;
        Ok(JsonBody(parse_json_body(&bytes)?))
    }
}

/// 415 unless the `Content-Type`'s media type passes `accepts`.
pub fn require_media_type(
    headers: &HeaderMap,
    expected: &'static str,
    accepts: impl Fn(&str) -> bool,
) -> Result<(), ApiError> {
    let content_type = headers.get(header::CONTENT_TYPE).and_then(|value| value.to_str().ok());
    if content_type.is_some_and(accepts) { Ok(()) } else { Err(ApiError::UnsupportedMediaType { expected }) }
}

/// A body declared too large but at most this many times the limit is read
/// and discarded before the 413, so the client, still sending, sees the
/// answer instead of a reset connection. Anything larger is cut off at once.
const DRAIN_FACTOR: u64 = 4;

/// The whole body, refusing more than `limit` bytes (413) as soon as the
/// declared length or the bytes received pass it; 400 when the connection
/// fails while reading.
pub async fn read_limited(body: Body, headers: &HeaderMap, limit: usize) -> Result<Bytes, ApiError> {
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.parse::<u64>().ok());
    if let Some(length) = declared.filter(|length| *length > limit as u64) {
        if length <= (limit as u64).saturating_mul(DRAIN_FACTOR) {
            discard(body).await;
        }
        return Err(ApiError::TooLarge { limit });
    }
    axum::body::to_bytes(body, limit).await.map_err(|error| {
        if error.into_inner().is::<http_body_util::LengthLimitError>() {
            ApiError::TooLarge { limit }
        } else {
            ApiError::UnreadableBody
        }
    })
}

/// Reads a body to its end, keeping nothing.
async fn discard(mut body: Body) {
    use http_body_util::BodyExt;
    while let Some(Ok(_frame)) = body.frame().await {}
}

/// Path parameters, with a JSON 400 (`invalid_parameter`, field `path`)
/// for a segment that does not decode, instead of axum's plain-text answer.
#[derive(Debug)]
pub struct Path<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned + Send> FromRequestParts<S> for Path<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match axum::extract::Path::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Path(value)) => Ok(Path(value)),
            Err(rejection) => Err(ApiError::invalid_parameter("path", rejection.body_text())),
        }
    }
}
