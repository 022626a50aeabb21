//! Request bodies with JSON errors for every way they can be wrong.

use axum::body::{Body, Bytes};
use axum::extract::{FromRequest, Request};
use axum::http::header;
use serde::de::DeserializeOwned;
use switchboard_core::http::{is_json_media_type, parse_json_body};

use crate::error::ApiError;

/// Largest JSON body the API reads.
pub const JSON_BODY_LIMIT: usize = 2 * 1024 * 1024;

/// A JSON object body parsed into `T`: 415 without a JSON content type, 413
/// past [`JSON_BODY_LIMIT`], 400 for malformed JSON, 422 naming the field
/// for JSON of the wrong shape.
#[derive(Debug)]
pub struct JsonBody<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, _state: &S) -> Result<Self, Self::Rejection> {
        let content_type = request.headers().get(header::CONTENT_TYPE).and_then(|value| value.to_str().ok());
        if !content_type.is_some_and(is_json_media_type) {
            return Err(ApiError::UnsupportedMediaType { expected: "application/json" });
        }
        let bytes = read_limited(request.into_body(), JSON_BODY_LIMIT).await?;
        Ok(JsonBody(parse_json_body(&bytes)?))
    }
}

/// The whole body, or 413 once it passes `limit` bytes.
pub async fn read_limited(body: Body, limit: usize) -> Result<Bytes, ApiError> {
    axum::body::to_bytes(body, limit).await.map_err(|error| {
        if error.into_inner().is::<http_body_util::LengthLimitError>() {
            ApiError::TooLarge { limit }
        } else {
            ApiError::MalformedJson("the request body could not be read".into())
        }
    })
}
