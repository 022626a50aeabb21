//! The ops routes and the layers every listener has, and [`serve`].

use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::{MatchedPath, State};
use axum::http::{HeaderName, HeaderValue, Method, Request, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use switchboard_bus::Bus;
use switchboard_store::Store;
use tokio::sync::Semaphore;
use tower::ServiceBuilder;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::TraceLayer;

use crate::error::ApiError;
use crate::serve::HttpLimits;

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

static PROMETHEUS: OnceLock<Option<PrometheusHandle>> = OnceLock::new();

/// The process-wide Prometheus recorder, installed on first use. `None` if
/// another recorder was installed first (then `/metrics` says so).
pub fn prometheus() -> Option<&'static PrometheusHandle> {
    PROMETHEUS
        .get_or_init(|| {
            let handle = PrometheusBuilder::new()
                .set_buckets_for_metric(
                    Matcher::Suffix("_seconds".into()),
                    &[0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0],
                )
                .ok()?
                .set_buckets_for_metric(
                    Matcher::Suffix("_messages".into()),
                    &[1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 512.0, 1024.0],
                )
                .ok()?
                .install_recorder()
                .ok()?;
            let upkeep = handle.clone();
            // Histograms need draining now and then, or they grow.
            std::thread::Builder::new()
                .name("metrics-upkeep".into())
                .spawn(move || {
                    loop {
                        std::thread::sleep(Duration::from_secs(5));
                        upkeep.run_upkeep();
                    }
                })
                .ok()?;
            Some(handle)
        })
        .as_ref()
}

async fn metrics_text() -> Response {
    match prometheus() {
        Some(handle) => {
            ([(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], handle.render()).into_response()
        }
        None => ApiError::unavailable("no metrics recorder installed").into_response(),
    }
}

fn plain_error(status: StatusCode, code: &str, message: &str) -> Response {
    (status, Json(switchboard_core::http::ErrorBody::new(code, message, None))).into_response()
}

/// Wraps `router` with the layers every listener has, and CORS for
/// `cors_origins` when there are any (off otherwise).
pub fn finish(router: Router, limits: HttpLimits, cors_origins: &[String]) -> Router {
    let router = finish_without_cors(router, limits);
    if cors_origins.is_empty() {
        return router;
    }
    let origins: Vec<HeaderValue> =
        cors_origins.iter().filter_map(|origin| HeaderValue::from_str(origin).ok()).collect();
    router.layer(
        CorsLayer::new()
            .allow_origin(AllowOrigin::list(origins))
            .allow_methods([Method::GET, Method::POST, Method::PUT, Method::PATCH, Method::DELETE])
            .allow_headers([
                header::AUTHORIZATION,
                header::CONTENT_TYPE,
                HeaderName::from_static("idempotency-key"),
                HeaderName::from_static("x-request-id"),
            ])
            .expose_headers([header::LOCATION, header::RETRY_AFTER, HeaderName::from_static("x-request-id")])
            .max_age(Duration::from_secs(600)),
    )
}

fn finish_without_cors(router: Router, limits: HttpLimits) -> Router {
    let (request_timeout, upload_timeout) = (limits.request_timeout, limits.upload_timeout);
    let in_flight = Arc::new(Semaphore::new(limits.max_in_flight.max(1)));
    router
        .fallback(|| async { plain_error(StatusCode::NOT_FOUND, "not_found", "no such route") })
        .method_not_allowed_fallback(|| async {
            plain_error(StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed", "method not allowed on this route")
        })
        .layer(middleware::from_fn(move |request: Request<Body>, next: Next| async move {
            let timeout = if is_upload(&request) { upload_timeout } else { request_timeout };
            match tokio::time::timeout(timeout, next.run(request)).await {
                Ok(response) => response,
                Err(_) => {
                    tracing::warn!(timeout_ms = timeout.as_millis() as u64, "request timed out");
                    ApiError::Timeout { seconds: timeout.as_secs().max(1) }.into_response()
                }
            }
        }))
        .layer(middleware::from_fn(move |request: Request<Body>, next: Next| {
            let in_flight = in_flight.clone();
            async move {
                // The ops routes stay answerable under load: a liveness
                // probe that fails then would restart a busy server.
                if is_ops_path(request.uri().path()) {
                    return next.run(request).await;
                }
                match in_flight.try_acquire_owned() {
                    Ok(_permit) => next.run(request).await,
                    Err(_) => ApiError::Overloaded.into_response(),
                }
            }
        }))
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
                    plain_error(StatusCode::INTERNAL_SERVER_ERROR, "internal", "internal error")
                })),
        )
        // Outermost: runs before the request id is set.
        .layer(middleware::from_fn(refuse_unsafe_request_ids))
}

/// Requests that upload files: a support form's POST, and mail in.
fn is_upload(request: &Request<Body>) -> bool {
    let path = request.uri().path();
    request.method() == axum::http::Method::POST
        && (path == "/v1/inbound/email" || (path.starts_with("/support/") && path[9..].find('/').is_none()))
}

fn is_ops_path(path: &str) -> bool {
    matches!(path, "/healthz" | "/readyz" | "/metrics")
}

/// Longest `x-request-id` taken from a client; it travels into envelopes and
/// message headers, so it must stay small.
pub const REQUEST_ID_MAX_CHARS: usize = 128;

/// A client's `x-request-id` is kept only when it is at most
/// [`REQUEST_ID_MAX_CHARS`] of `A-Z a-z 0-9 . _ : -`; otherwise it is dropped
/// and the server generates one (the response carries the one used).
async fn refuse_unsafe_request_ids(mut request: Request<Body>, next: Next) -> Response {
    let unsafe_id = request.headers().get_all("x-request-id").iter().count() > 1
        || request.headers().get("x-request-id").is_some_and(|value| !is_safe_request_id(value.as_bytes()));
    if unsafe_id {
        request.headers_mut().remove("x-request-id");
    }
    next.run(request).await
}

fn is_safe_request_id(id: &[u8]) -> bool {
    (1..=REQUEST_ID_MAX_CHARS).contains(&id.len())
        && id.iter().all(|byte| byte.is_ascii_alphanumeric() || matches!(byte, b'.' | b'_' | b':' | b'-'))
}

/// The method as a metrics label: the standard ones, `other` for the rest
/// (a label per invented method would grow without bound).
fn method_label(method: &axum::http::Method) -> &'static str {
    use axum::http::Method;
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        _ => "other",
    }
}

/// Counts requests by route template (never the raw path: ids would make
/// unbounded label values) and status.
async fn record_metrics(request: Request<Body>, next: Next) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |path| path.as_str().to_owned());
    let method = method_label(request.method());
    let started = Instant::now();
    let response = next.run(request).await;
    let status = response.status().as_u16().to_string();
    metrics::counter!("switchboard_http_requests_total", "method" => method, "route" => route.clone(), "status" => status)
        .increment(1);
    metrics::histogram!("switchboard_http_request_seconds", "route" => route).record(started.elapsed().as_secs_f64());
    response
}
