use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use switchboard_core::http::{BodyError, ErrorBody};
use switchboard_core::ticket::ValidationError;

/// Why a submission was not accepted. Every variant maps to one status code
/// and a JSON error body.
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    #[error("the request body is not valid JSON: {0}")]
    MalformedJson(String),
    #[error("{message}")]
    InvalidField { field: String, message: String },
    #[error(transparent)]
    Validation(#[from] ValidationError),
    #[error("the request body is larger than {limit} bytes")]
    TooLarge { limit: usize },
    #[error("expected `Content-Type: application/json`, got {0}")]
    UnsupportedMediaType(String),
    #[error("cannot read the request body")]
    UnreadableBody,
    #[error("`Idempotency-Key` must be 1 to 255 visible ASCII characters")]
    InvalidIdempotencyKey,
    #[error("this `Idempotency-Key` was used with a different request body")]
    IdempotencyKeyReused,
    #[error("tickets cannot be accepted right now; retry later")]
    Unavailable { retry_after_seconds: u32 },
}

impl From<BodyError> for IngestError {
    fn from(error: BodyError) -> Self {
        match error {
            BodyError::Malformed(message) => IngestError::MalformedJson(message),
            BodyError::Invalid { field, message } => IngestError::InvalidField { field, message },
        }
    }
}

impl IngestError {
    fn status(&self) -> StatusCode {
        match self {
            IngestError::MalformedJson(_) | IngestError::UnreadableBody | IngestError::InvalidIdempotencyKey => {
                StatusCode::BAD_REQUEST
            }
            IngestError::InvalidField { .. } | IngestError::Validation(_) | IngestError::IdempotencyKeyReused => {
                StatusCode::UNPROCESSABLE_ENTITY
            }
            IngestError::TooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            IngestError::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            IngestError::Unavailable { .. } => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    fn code(&self) -> &str {
        match self {
            IngestError::MalformedJson(_) => "malformed_json",
            IngestError::InvalidField { .. } => "invalid_field",
            IngestError::Validation(error) => error.code,
            IngestError::TooLarge { .. } => "body_too_large",
            IngestError::UnsupportedMediaType(_) => "unsupported_media_type",
            IngestError::UnreadableBody => "unreadable_body",
            IngestError::InvalidIdempotencyKey => "invalid_idempotency_key",
            IngestError::IdempotencyKeyReused => "idempotency_key_reused",
            IngestError::Unavailable { .. } => "unavailable",
        }
    }

    fn field(&self) -> Option<String> {
        match self {
            IngestError::InvalidField { field, .. } => Some(field.clone()),
            IngestError::Validation(error) => Some(error.field.clone()),
            _ => None,
        }
    }
}

impl IntoResponse for IngestError {
    fn into_response(self) -> Response {
        let status = self.status();
        let message = match &self {
            IngestError::Validation(error) => error.message.clone(),
            other => other.to_string(),
        };
        let body = ErrorBody::new(self.code(), message, self.field());
        let mut response = (status, Json(body)).into_response();
        if let IngestError::Unavailable { retry_after_seconds } = self {
            response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(retry_after_seconds));
        }
        response
    }
}
