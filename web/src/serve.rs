//! [`serve`]: the accept loop every listener runs, with the limits that keep
//! slow or numerous clients from pinning the server.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::http::Request;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use switchboard_core::config::HttpConfig;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tower::ServiceExt;

/// The limits of a listener (from `[http]` in the configuration).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HttpLimits {
    /// The longest one request may take; then 503 `timeout`.
    pub request_timeout: Duration,
    /// The same for requests that upload files (the support form's POST,
    /// mail in), which a slow connection takes minutes to send.
    pub upload_timeout: Duration,
    /// How long a client may take to send a request's headers, and how long
    /// an idle keep-alive connection stays open; then it is closed.
    pub header_read_timeout: Duration,
    /// Connections served at once; more wait in the listen backlog.
    pub max_connections: usize,
    /// Requests handled at once (ops routes aside); more are answered
    /// 503 `overloaded` with `Retry-After`.
    pub max_in_flight: usize,
    /// After shutdown starts, how long open connections may take to finish
    /// before they are dropped.
    pub drain_timeout: Duration,
}

impl From<&HttpConfig> for HttpLimits {
    fn from(config: &HttpConfig) -> Self {
        Self {
            request_timeout: config.request_timeout(),
            upload_timeout: config.upload_timeout(),
            header_read_timeout: config.header_read_timeout(),
            max_connections: config.max_connections,
            max_in_flight: config.max_in_flight,
            drain_timeout: config.drain_timeout(),
        }
    }
}

/// Serves `router` on `listener` until `shutdown` fires, then lets open
/// connections finish for at most `limits.drain_timeout`: a slow client
/// cannot hold shutdown forever.
///
/// At most `limits.max_connections` connections are served at once; the
/// next is accepted when one closes (until then it waits in the kernel's
/// backlog). A client that has not sent a whole request head within
/// `limits.header_read_timeout` (also between keep-alive requests) is
/// disconnected, so idle and slow connections free their slot.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    shutdown: CancellationToken,
    limits: HttpLimits,
) -> std::io::Result<()> {
    let slots = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let connections = TaskTracker::new();
    // Fired at the drain deadline: the connections still open are dropped.
    let abandon = CancellationToken::new();
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new()).header_read_timeout(limits.header_read_timeout);

    loop {
        let slot = tokio::select! {
            biased;
            () = shutdown.cancelled() => break,
            slot = slots.clone().acquire_owned() => slot.expect("the connection semaphore is never closed"),
        };
        let stream = tokio::select! {
            biased;
            () = shutdown.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    // Out of file descriptors and the like: wait rather
                    // than spin; a reset peer is simply gone.
                    if !matches!(error.kind(), std::io::ErrorKind::ConnectionAborted | std::io::ErrorKind::ConnectionReset) {
                        tracing::warn!(%error, "accepting a connection failed");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                    continue;
                }
            },
        };
        let (stream, peer) = stream;
        let _ = stream.set_nodelay(true);
        // The client's address, for per-address limits (sign-in).
        let service = router.clone().map_request(move |request: Request<Incoming>| {
            let mut request = request.map(Body::new);
            request.extensions_mut().insert(axum::extract::ConnectInfo(peer));
            request
        });
        let connection = http.serve_connection(TokioIo::new(stream), TowerToHyperService::new(service)).with_upgrades();
        let (shutdown, abandon) = (shutdown.clone(), abandon.clone());
        connections.spawn(async move {
            tokio::pin!(connection);
            tokio::select! {
                served = connection.as_mut() => log_connection_end(served),
                () = shutdown.cancelled() => {
                    // Finish the request in progress, then close.
                    connection.as_mut().graceful_shutdown();
                    tokio::select! {
                        served = connection.as_mut() => log_connection_end(served),
                        () = abandon.cancelled() => {}
                    }
                }
            }
            drop(slot);
        });
    }
    drop(listener);
    connections.close();
    if tokio::time::timeout(limits.drain_timeout, connections.wait()).await.is_err() {
        tracing::warn!(
            drain_ms = limits.drain_timeout.as_millis() as u64,
            open = connections.len(),
            "connections still open after the drain deadline; closing them"
        );
        abandon.cancel();
        connections.wait().await;
    }
    Ok(())
}

fn log_connection_end(served: Result<(), hyper::Error>) {
    if let Err(error) = served {
        if error.is_timeout() {
            tracing::debug!("closed a connection that sent no request head in time");
        } else {
            tracing::debug!(%error, "connection ended with an error");
        }
    }
}
