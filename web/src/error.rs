use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use switchboard_core::http::{BodyError, ErrorBody};
use switchboard_core::lifecycle::{TRANSITIONS, actions_from};
use switchboard_core::ticket::ValidationError;
use switchboard_core::{Status, TransitionError};

/// Why a request failed. Every HTTP surface returns this; each variant maps
/// to one status and one stable `code`.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// 404 `not_found`.
    #[error("{what} not found")]
    NotFound { what: &'static str },
    /// 400 `invalid_parameter`: a query-string or path parameter.
    #[error("{message}")]
    InvalidParameter { field: String, message: String },
    /// 400 `invalid_header`, or another code for a header with rules of
    /// its own (`invalid_idempotency_key`).
    #[error("{message}")]
    InvalidHeader { code: &'static str, header: &'static str, message: String },
    /// 400 `malformed_json`: the body is not JSON.
    #[error("the request body is not valid JSON: {0}")]
    MalformedJson(String),
    /// 400 `unreadable_body`: the connection failed while the body was read.
    #[error("cannot read the request body")]
    UnreadableBody,
    /// 422 `invalid_field`: JSON of the wrong shape; `field` is its path.
    #[error("{message}")]
    InvalidBody { field: String, message: String },
    /// 422 with the validation's own code.
    #[error(transparent)]
    Validation(#[from] ValidationError),
    /// 422 with a code of the route's (`idempotency_key_reused`).
    #[error("{message}")]
    Unprocessable { code: &'static str, message: String },
    /// 422 `invalid_query`: a filter-language query (`field` names where it
    /// was sent: `q`, `rules[2].when`) with the position of the error.
    #[error("{}", .error.message)]
    InvalidQuery { field: String, error: switchboard_core::filter::QueryError },
    /// 413 `body_too_large`.
    #[error("the request body is larger than {limit} bytes")]
    TooLarge { limit: usize },
    /// 413 `ticket_too_large`: the ticket's message would leave the stages
    /// too little of the bus's message limit.
    #[error(
        "the ticket takes {bytes} bytes as a message; at most {limit} are accepted, so that what the stages add still fits the bus (bus.max_message_bytes)"
    )]
    TicketTooLarge { bytes: usize, limit: usize },
    /// 415 `unsupported_media_type`.
    #[error("expected `Content-Type: {expected}`")]
    UnsupportedMediaType { expected: &'static str },
    /// 409 `conflict`.
    #[error("{0}")]
    Conflict(String),
    /// 409 with a code of its own (`report_not_approved`, `not_closed`, …).
    #[error("{message}")]
    Refused { code: &'static str, message: String },
    /// 409 `already_exists`: another account has this username or e-mail.
    #[error("another account has this {field}")]
    Taken { field: &'static str },
    /// 401 `unauthenticated`, with `WWW-Authenticate: Bearer`: no valid
    /// session token or API key (missing, malformed, unknown, expired or
    /// revoked: the answer does not say which).
    #[error("sign in: send `Authorization: Bearer <session token or API key>`; the one sent (if any) is not valid")]
    Unauthenticated,
    /// 401 `invalid_credentials`: sign-in with a wrong login or password.
    #[error("the login or the password is wrong")]
    InvalidCredentials,
    /// 403 `forbidden`: signed in, but not allowed.
    #[error("{message}")]
    Forbidden { message: String },
    /// 429 `rate_limited` with `Retry-After`.
    #[error("too many attempts; retry in {retry_after_seconds} s")]
    RateLimited { retry_after_seconds: u64 },
    /// 409 `invalid_transition` / `transition_conflict`, 403 `forbidden`.
    #[error("{}", describe_transition(.0))]
    Transition(TransitionError),
    /// 409 `invalid_transition`: no action leads from `from` to `to`.
    #[error("a ticket that is {from} cannot become {to}; {}", allowed_from(*from))]
    NoTransition { from: Status, to: Status },
    /// 503 `unavailable`, with `Retry-After` when given.
    #[error("{message}")]
    Unavailable { message: String, retry_after_seconds: Option<u32> },
    /// 503 `overloaded` with `Retry-After: 1`: more requests in flight than
    /// the server takes at once.
    #[error("the server is handling as many requests as it takes at once; retry shortly")]
    Overloaded,
    /// 503 `timeout`: the request took longer than the server allows.
    #[error("the request took longer than {seconds} s; retry later")]
    Timeout { seconds: u64 },
    /// 503 `unavailable`: a transient store failure.
    #[error("the store is unavailable; retry later")]
    StoreUnavailable(#[source] switchboard_store::Error),
    /// 500 `internal`; the cause goes to the log, never to the client.
    #[error("internal error")]
    Internal(#[source] Box<dyn std::error::Error + Send + Sync>),
}

impl ApiError {
    pub fn unavailable(message: impl Into<String>) -> Self {
        ApiError::Unavailable { message: message.into(), retry_after_seconds: None }
    }

    pub fn invalid_parameter(field: impl Into<String>, message: impl Into<String>) -> Self {
        ApiError::InvalidParameter { field: field.into(), message: message.into() }
    }

    pub fn invalid_body(field: impl Into<String>, message: impl Into<String>) -> Self {
        ApiError::InvalidBody { field: field.into(), message: message.into() }
    }

    pub fn internal(error: impl std::error::Error + Send + Sync + 'static) -> Self {
        ApiError::Internal(Box::new(error))
    }

    /// The status and the stable code.
    pub fn status_and_code(&self) -> (StatusCode, &'static str) {
        match self {
            ApiError::NotFound { .. } => (StatusCode::NOT_FOUND, "not_found"),
            ApiError::InvalidParameter { .. } => (StatusCode::BAD_REQUEST, "invalid_parameter"),
            ApiError::InvalidHeader { code, .. } => (StatusCode::BAD_REQUEST, code),
            ApiError::MalformedJson(_) => (StatusCode::BAD_REQUEST, "malformed_json"),
            ApiError::UnreadableBody => (StatusCode::BAD_REQUEST, "unreadable_body"),
            ApiError::InvalidBody { .. } => (StatusCode::UNPROCESSABLE_ENTITY, "invalid_field"),
            ApiError::Validation(error) => (StatusCode::UNPROCESSABLE_ENTITY, error.code),
            ApiError::Unprocessable { code, .. } => (StatusCode::UNPROCESSABLE_ENTITY, code),
            ApiError::InvalidQuery { .. } => (StatusCode::UNPROCESSABLE_ENTITY, "invalid_query"),
            ApiError::TooLarge { .. } => (StatusCode::PAYLOAD_TOO_LARGE, "body_too_large"),
            ApiError::TicketTooLarge { .. } => (StatusCode::PAYLOAD_TOO_LARGE, "ticket_too_large"),
            ApiError::UnsupportedMediaType { .. } => (StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type"),
            ApiError::Conflict(_) => (StatusCode::CONFLICT, "conflict"),
            ApiError::Refused { code, .. } => (StatusCode::CONFLICT, code),
            ApiError::Taken { .. } => (StatusCode::CONFLICT, "already_exists"),
            ApiError::Unauthenticated => (StatusCode::UNAUTHORIZED, "unauthenticated"),
            ApiError::InvalidCredentials => (StatusCode::UNAUTHORIZED, "invalid_credentials"),
            ApiError::Forbidden { .. } => (StatusCode::FORBIDDEN, "forbidden"),
            ApiError::RateLimited { .. } => (StatusCode::TOO_MANY_REQUESTS, "rate_limited"),
            ApiError::Transition(TransitionError::InvalidTransition { .. }) | ApiError::NoTransition { .. } => {
                (StatusCode::CONFLICT, "invalid_transition")
            }
            ApiError::Transition(TransitionError::Conflict { .. }) => (StatusCode::CONFLICT, "transition_conflict"),
            ApiError::Transition(TransitionError::Forbidden { .. }) => (StatusCode::FORBIDDEN, "forbidden"),
            ApiError::Unavailable { .. } | ApiError::StoreUnavailable(_) => {
                (StatusCode::SERVICE_UNAVAILABLE, "unavailable")
            }
            ApiError::Overloaded => (StatusCode::SERVICE_UNAVAILABLE, "overloaded"),
            ApiError::Timeout { .. } => (StatusCode::SERVICE_UNAVAILABLE, "timeout"),
            ApiError::Internal(_) => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
        }
    }

    fn field(&self) -> Option<String> {
        match self {
            ApiError::InvalidParameter { field, .. }
            | ApiError::InvalidBody { field, .. }
            | ApiError::InvalidQuery { field, .. } => Some(field.clone()).filter(|field| !field.is_empty()),
            ApiError::InvalidHeader { header, .. } => Some((*header).to_owned()),
            ApiError::Taken { field } => Some((*field).to_owned()),
            ApiError::Validation(error) => Some(error.field.clone()),
            _ => None,
        }
    }

    fn retry_after(&self) -> Option<u32> {
        match self {
            ApiError::Unavailable { retry_after_seconds, .. } => *retry_after_seconds,
            ApiError::RateLimited { retry_after_seconds } => {
                Some(u32::try_from(*retry_after_seconds).unwrap_or(u32::MAX))
            }
            ApiError::Timeout { .. } | ApiError::Overloaded | ApiError::StoreUnavailable(_) => Some(1),
            _ => None,
        }
    }
}

/// What can be done to a ticket that is `from`: "from new it can be: open
/// (→ opened), dismiss (→ closed)".
fn allowed_from(from: Status) -> String {
    let moves: Vec<String> = actions_from(from)
        .filter_map(|action| TRANSITIONS.iter().find(|edge| edge.from == from && edge.action == action))
        .map(|edge| format!("{} (→ {})", edge.action.as_str(), edge.to))
        .collect();
    if moves.is_empty() {
        format!("nothing moves a ticket that is {from}")
    } else {
        format!("from {from} it can be: {}", moves.join(", "))
    }
}

fn describe_transition(error: &TransitionError) -> String {
    match error {
        TransitionError::InvalidTransition { from, action } => {
            format!("a ticket that is {from} cannot be {}; {}", action.as_str(), allowed_from(*from))
        }
        other => other.to_string(),
    }
}

impl From<switchboard_store::Error> for ApiError {
    fn from(error: switchboard_store::Error) -> Self {
        match error {
            switchboard_store::Error::InvalidCursor => {
                ApiError::invalid_parameter("cursor", "invalid pagination cursor")
            }
            switchboard_store::Error::TicketNotFound => ApiError::NotFound { what: "ticket" },
            switchboard_store::Error::Transition(refusal) => ApiError::Transition(refusal),
            // Another company's row is as good as absent: saying it exists
            // would leak it.
            switchboard_store::Error::OutOfScope => ApiError::NotFound { what: "resource" },
            switchboard_store::Error::Taken(field) => ApiError::Taken { field },
            switchboard_store::Error::Refused { code, message } => ApiError::Refused { code, message },
            switchboard_store::Error::InUse(what) => {
                ApiError::Conflict(format!("the {what} is in use by a ticket that is not resolved or closed"))
            }
            error if error.is_transient() => ApiError::StoreUnavailable(error),
            error => ApiError::Internal(Box::new(error)),
        }
    }
}

/// A refused file is the sender's to fix: 413 past a size limit, 422
/// `invalid_attachment` otherwise.
impl From<switchboard_core::files::Refused> for ApiError {
    fn from(refused: switchboard_core::files::Refused) -> Self {
        match refused {
            switchboard_core::files::Refused::FileTooLarge { limit, .. }
            | switchboard_core::files::Refused::TooLargeInAll { limit } => {
                ApiError::TooLarge { limit: usize::try_from(limit).unwrap_or(usize::MAX) }
            }
            other => ApiError::Unprocessable { code: "invalid_attachment", message: other.to_string() },
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

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, code) = self.status_and_code();
        if status.is_server_error() && !matches!(self, ApiError::Timeout { .. }) {
            // The cause chain goes to the log, never to the client.
            tracing::error!(error = %switchboard_core::error::describe_chain(&self), "request failed");
        }
        let message = match &self {
            ApiError::Validation(error) => error.message.clone(),
            other => other.to_string(),
        };
        let retry_after = self.retry_after();
        let mut body = ErrorBody::new(code, message, self.field());
        if let ApiError::InvalidQuery { error, .. } = &self {
            body.error.position = Some(error.position);
            body.error.expected = Some(error.expected.clone());
        }
        let mut response = (status, Json(body)).into_response();
        if let Some(seconds) = retry_after {
            response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        if matches!(self, ApiError::Unauthenticated) {
            response.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response
    }
}
