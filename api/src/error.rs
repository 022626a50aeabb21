use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use switchboard_core::http::{BodyError, ErrorBody};
use switchboard_core::ticket::ValidationError;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{what} not found")]
    NotFound { what: &'static str },
    #[error("{message}")]
    InvalidParameter { field: String, message: String },
    #[error("the request body is not valid JSON: {0}")]
    MalformedJson(String),
    #[error("{message}")]
    InvalidBody { field: String, message: String },
    #[error(transparent)]
    Validation(#[from] ValidationError),
    #[error("the request body is larger than {limit} bytes")]
    TooLarge { limit: usize },
    #[error("expected `Content-Type: {expected}`")]
    UnsupportedMediaType { expected: &'static str },
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    Unavailable(String),
    #[error("the store is unavailable; retry later")]
    StoreUnavailable(#[source] switchboard_store::Error),
    #[error("internal error")]
    Internal(#[source] Box<dyn std::error::Error + Send + Sync>),
}

impl From<switchboard_store::Error> for ApiError {
    fn from(error: switchboard_store::Error) -> Self {
        match error {
            switchboard_store::Error::InvalidCursor => {
                ApiError::InvalidParameter { field: "cursor".into(), message: "invalid pagination cursor".into() }
            }
            error if error.is_transient() => ApiError::StoreUnavailable(error),
            error => ApiError::Internal(Box::new(error)),
        }
    }
}

impl From<BodyError> for ApiError {
    fn from(error: BodyError) -> Self {
        match error {
            BodyError::Malformed(message) => ApiError::MalformedJson(message),
            BodyError::Invalid { field, message } => ApiError::InvalidBody { field, message },
        }
    }
}

impl ApiError {
    fn parts(&self) -> (StatusCode, &str, Option<String>) {
        match self {
            ApiError::NotFound { .. } => (StatusCode::NOT_FOUND, "not_found", None),
            ApiError::InvalidParameter { field, .. } => {
                (StatusCode::BAD_REQUEST, "invalid_parameter", Some(field.clone()))
            }
            ApiError::MalformedJson(_) => (StatusCode::BAD_REQUEST, "malformed_json", None),
            ApiError::InvalidBody { field, .. } => {
                (StatusCode::UNPROCESSABLE_ENTITY, "invalid_field", Some(field.clone()).filter(|f| !f.is_empty()))
            }
            ApiError::Validation(error) => (StatusCode::UNPROCESSABLE_ENTITY, error.code, Some(error.field.clone())),
            ApiError::TooLarge { .. } => (StatusCode::PAYLOAD_TOO_LARGE, "body_too_large", None),
            ApiError::UnsupportedMediaType { .. } => {
                (StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type", None)
            }
            ApiError::Conflict(_) => (StatusCode::CONFLICT, "conflict", None),
            ApiError::Unavailable(_) | ApiError::StoreUnavailable(_) => {
                (StatusCode::SERVICE_UNAVAILABLE, "unavailable", None)
            }
            ApiError::Internal(_) => (StatusCode::INTERNAL_SERVER_ERROR, "internal", None),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, code, field) = self.parts();
        if status.is_server_error() {
            // The cause chain goes to the log, never to the client.
            let mut causes = Vec::new();
            let mut cause: Option<&dyn std::error::Error> = Some(&self);
            while let Some(error) = cause {
                causes.push(error.to_string());
                cause = error.source();
            }
            tracing::error!(error = %causes.join(": "), "request failed");
        }
        let message = match &self {
            ApiError::Validation(error) => error.message.clone(),
            other => other.to_string(),
        };
        (status, Json(ErrorBody::new(code, message, field))).into_response()
    }
}
