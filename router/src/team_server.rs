//! The reference team server (`switchboard team-server`): what a team's
//! own system must do with deliveries, in the fewest lines that do it right.
//!
//! * `POST` to any path: a delivery. It is verified (the Standard Webhooks
//!   signature over id, timestamp and body; a timestamp within five minutes,
//!   which refuses replays of old messages): 401 if not. A `webhook-id` seen
//!   before is acknowledged again (200) but not recorded twice.
//! * `GET /received`: what was received, in order, once per `webhook-id`.
//!
//! `respond_with` makes it answer every delivery with another status (after
//! verifying it and without recording it), to show how Switchboard handles
//! a server in trouble.

use std::collections::HashSet;
use std::future::Future;
use std::sync::{Arc, Mutex};

use axum::Json;
use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::HeaderMap;
pub use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::Serialize;
use serde_json::Value;
use switchboard_core::signing::{SigningError, SigningSecret};
use time::OffsetDateTime;
use tokio::net::TcpListener;

/// One delivery as received.
#[derive(Clone, Debug, Serialize)]
pub struct Received {
    pub webhook_id: String,
    #[serde(with = "time::serde::rfc3339")]
    pub received_at: OffsetDateTime,
    pub body: Value,
}

#[derive(Default)]
struct Inbox {
    seen: HashSet<String>,
    received: Vec<Received>,
}

#[derive(Clone)]
struct TeamServer {
    secret: Arc<SigningSecret>,
    respond_with: StatusCode,
    inbox: Arc<Mutex<Inbox>>,
}

/// Serves on `listener` until `shutdown` completes.
pub async fn serve(
    listener: TcpListener,
    secret: SigningSecret,
    respond_with: StatusCode,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let state = TeamServer { secret: Arc::new(secret), respond_with, inbox: Arc::default() };
    let app = Router::new().route("/received", get(received)).fallback(receive).with_state(state);
    axum::serve(listener, app).with_graceful_shutdown(shutdown).await
}

fn refuse(status: StatusCode, message: String) -> Response {
    (status, Json(serde_json::json!({"error": message}))).into_response()
}

async fn receive(
    State(server): State<TeamServer>,
    method: axum::http::Method,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if method != axum::http::Method::POST {
        return refuse(StatusCode::METHOD_NOT_ALLOWED, "deliveries are POSTed".into());
    }
    let header = |name: &str| headers.get(name).and_then(|value| value.to_str().ok());
    let (Some(id), Some(timestamp), Some(signature)) =
        (header("webhook-id"), header("webhook-timestamp"), header("webhook-signature"))
    else {
        return refuse(StatusCode::BAD_REQUEST, SigningError::MissingHeader.to_string());
    };
    let now = OffsetDateTime::now_utc().unix_timestamp();
    if let Err(error) = server.secret.verify(id, timestamp, signature, &body, now) {
        tracing::warn!(webhook_id = id, %error, "refused a delivery");
        return refuse(StatusCode::UNAUTHORIZED, error.to_string());
    }
    if server.respond_with != StatusCode::OK {
        return refuse(server.respond_with, "this team server is set to refuse deliveries".into());
    }
    let Ok(body) = serde_json::from_slice::<Value>(&body) else {
        return refuse(StatusCode::BAD_REQUEST, "the body is not JSON".into());
    };
    let mut inbox = server.inbox.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    let duplicate = !inbox.seen.insert(id.to_owned());
    if !duplicate {
        tracing::info!(webhook_id = id, "received a delivery");
        inbox.received.push(Received { webhook_id: id.to_owned(), received_at: OffsetDateTime::now_utc(), body });
    }
    Json(serde_json::json!({"received": true, "duplicate": duplicate})).into_response()
}

async fn received(State(server): State<TeamServer>) -> Json<Vec<Received>> {
    let inbox = server.inbox.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    Json(inbox.received.clone())
}
