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
//! a server in trouble. With a [`Tls`] identity it serves `https`.

use std::collections::HashSet;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

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
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;

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

/// A certificate chain and its private key, to serve `https`.
pub struct Tls(tokio_native_tls::TlsAcceptor);

impl Tls {
    /// From PEM: the certificate chain (leaf first) and a PKCS #8 key.
    pub fn from_pem(chain: &[u8], key: &[u8]) -> Result<Self, native_tls::Error> {
        let identity = native_tls::Identity::from_pkcs8(chain, key)?;
        Ok(Self(native_tls::TlsAcceptor::new(identity)?.into()))
    }
}

/// Serves on `listener` (over TLS with `tls`) until `shutdown` completes.
pub async fn serve(
    listener: TcpListener,
    tls: Option<Tls>,
    secret: SigningSecret,
    respond_with: StatusCode,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let state = TeamServer { secret: Arc::new(secret), respond_with, inbox: Arc::default() };
    let app = Router::new().route("/received", get(received)).fallback(receive).with_state(state);
    match tls {
        None => axum::serve(listener, app).with_graceful_shutdown(shutdown).await,
        Some(Tls(acceptor)) => {
            let listener = TlsListener::new(listener, acceptor)?;
            axum::serve(listener, app).with_graceful_shutdown(shutdown).await
        }
    }
}

/// How long a client has to finish its TLS handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Connections whose TLS handshake is done; the handshakes run in tasks of
/// their own, so a slow client delays no other.
struct TlsListener {
    address: SocketAddr,
    ready: mpsc::Receiver<(tokio_native_tls::TlsStream<TcpStream>, SocketAddr)>,
}

impl TlsListener {
    fn new(listener: TcpListener, acceptor: tokio_native_tls::TlsAcceptor) -> std::io::Result<Self> {
        let address = listener.local_addr()?;
        let (sender, ready) = mpsc::channel(64);
        let acceptor = Arc::new(acceptor);
        tokio::spawn(async move {
            loop {
                // Ends when the listener is dropped, releasing the port.
                let accepted = tokio::select! {
                    () = sender.closed() => return,
                    accepted = listener.accept() => accepted,
                };
                let (stream, peer) = match accepted {
                    Ok(accepted) => accepted,
                    Err(error) => {
                        tracing::warn!(%error, "cannot accept a connection");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        continue;
                    }
                };
                let (acceptor, handed) = (acceptor.clone(), sender.clone());
                tokio::spawn(async move {
                    match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
                        Ok(Ok(stream)) => {
                            let _closed = handed.send((stream, peer)).await;
                        }
                        Ok(Err(error)) => tracing::warn!(%peer, %error, "TLS handshake failed"),
                        Err(_) => tracing::warn!(%peer, "TLS handshake timed out"),
                    }
                });
            }
        });
        Ok(Self { address, ready })
    }
}

impl axum::serve::Listener for TlsListener {
    type Io = tokio_native_tls::TlsStream<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self.ready.recv().await {
            Some(connection) => connection,
            // The accepting task ended, which it does only once this
            // listener is gone: nothing more will come.
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        Ok(self.address)
    }
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
