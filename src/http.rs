//! What every Switchboard HTTP listener shares: `/healthz`, `/readyz`,
//! `/metrics`, request ids, request logs and metrics, JSON errors for
//! unknown routes and panics.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::{MatchedPath, State};
use axum::http::{Request, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use switchboard_bus::Bus;
use switchboard_core::http::ErrorBody;
use switchboard_store::Store;
use tower::ServiceBuilder;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::TraceLayer;

use crate::telemetry;

const READY_TIMEOUT: Duration = Duration::from_secs(3);

#[derive(Clone)]
struct OpsState {
    bus: Arc<dyn Bus>,
    store: Store,
}

/// `/healthz`, `/readyz` and `/metrics`.
pub fn ops_router(bus: Arc<dyn Bus>, store: Store) -> Router {
    Router::new()
        .route("/healthz", get(|| async { Json(serde_json::json!({ "status": "ok" })) }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics_text))
        .with_state(OpsState { bus, store })
}

/// Ready only when both the bus and the store answer.
async fn readyz(State(state): State<OpsState>) -> Response {
    let (bus, store) = tokio::join!(
        tokio::time::timeout(READY_TIMEOUT, state.bus.check()),
        tokio::time::timeout(READY_TIMEOUT, state.store.ping()),
    );
    let describe = |result: Result<Result<(), String>, tokio::time::error::Elapsed>| match result {
        Ok(Ok(())) => "ok".to_owned(),
        Ok(Err(error)) => error,
        Err(_) => "no answer in time".to_owned(),
    };
    let bus = describe(bus.map(|result| result.map_err(|error| error.to_string())));
    let store = describe(store.map(|result| result.map_err(|error| error.to_string())));
    let ready = bus == "ok" && store == "ok";
    let status = if ready { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    let body = serde_json::json!({
        "status": if ready { "ready" } else { "not_ready" },
        "checks": { "bus": bus, "store": store },
    });
    (status, Json(body)).into_response()
}

async fn metrics_text() -> Response {
    match telemetry::prometheus() {
        Some(handle) => {
            ([(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], handle.render()).into_response()
        }
        None => error_response(StatusCode::SERVICE_UNAVAILABLE, "metrics_unavailable", "no metrics recorder installed"),
    }
}

pub fn error_response(status: StatusCode, code: &str, message: &str) -> Response {
    (status, Json(ErrorBody::new(code, message, None))).into_response()
}

/// Wraps `router` with the layers every listener has.
pub fn finish(router: Router) -> Router {
    router
        .fallback(|| async { error_response(StatusCode::NOT_FOUND, "not_found", "no such route") })
        .method_not_allowed_fallback(|| async {
            error_response(StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed", "method not allowed on this route")
        })
        .layer(middleware::from_fn(record_metrics))
        .layer(
            ServiceBuilder::new()
                .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid))
                .layer(TraceLayer::new_for_http().make_span_with(|request: &Request<Body>| {
                    let request_id =
                        request.headers().get("x-request-id").and_then(|value| value.to_str().ok()).unwrap_or("");
                    tracing::info_span!("http", method = %request.method(), path = %request.uri().path(), request_id)
                }))
                .layer(PropagateRequestIdLayer::x_request_id())
                .layer(CatchPanicLayer::custom(|_panic: Box<dyn std::any::Any + Send>| {
                    tracing::error!("a request handler panicked");
                    error_response(StatusCode::INTERNAL_SERVER_ERROR, "internal", "internal error")
                })),
        )
}

/// Counts requests by route template (never the raw path: ids would make
/// unbounded label values) and status.
async fn record_metrics(request: Request<Body>, next: Next) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |path| path.as_str().to_owned());
    let method = request.method().to_string();
    let started = Instant::now();
    let response = next.run(request).await;
    let status = response.status().as_u16().to_string();
    metrics::counter!("switchboard_http_requests_total", "method" => method, "route" => route.clone(), "status" => status)
        .increment(1);
    metrics::histogram!("switchboard_http_request_seconds", "route" => route).record(started.elapsed().as_secs_f64());
    response
}
