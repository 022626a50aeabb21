//! Travel providers against a real HTTP server on 127.0.0.1 serving the
//! recorded OSRM and Google answers in `tests/fixtures/`, slow answers and
//! errors, through the same `TravelEstimator` the API uses.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{OriginalUri, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use switchboard_dispatch::{
    Coordinates, DispatchConfig, Google, Job, Leg, Offline, Origin, Person, ProviderKind, Role, Secret, Source,
    TravelConfig, TravelEstimate, TravelEstimator, TravelProvider, dispatch_options,
};

const KEY: &str = "AIzaTEST-never-shown-0123456789";

/// What the fake provider does with every request.
#[derive(Clone)]
enum Reply {
    Fixture(StatusCode, &'static str),
    Sleep(Duration),
    /// A Google answer with one OK element per origin, its distance the
    /// origin's latitude past 52° in micro-degrees.
    GoogleEcho,
    /// A valid OSRM answer padded past the size the providers read.
    Oversized,
}

#[derive(Clone)]
struct Server {
    reply: Reply,
    requests: Arc<Mutex<Vec<String>>>,
}

async fn answer(State(server): State<Server>, OriginalUri(uri): OriginalUri) -> impl IntoResponse {
    server.requests.lock().expect("not poisoned").push(uri.to_string());
    match server.reply {
        Reply::Fixture(status, name) => {
            let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
            let body = std::fs::read(&path).unwrap_or_else(|error| panic!("reading {path}: {error}"));
            (status, [("content-type", "application/json")], body)
        }
        Reply::GoogleEcho => {
            let origins = url::form_urlencoded::parse(uri.query().unwrap_or_default().as_bytes())
                .find(|(name, _)| name == "origins")
                .map(|(_, value)| value.into_owned())
                .unwrap_or_default();
            let rows: Vec<serde_json::Value> = origins
                .split('|')
                .map(|origin| {
                    let lat: f64 = origin.split(',').next().and_then(|lat| lat.parse().ok()).unwrap_or(0.0);
                    let distance = ((lat - 52.0) * 1e6).round();
                    serde_json::json!({"elements": [{
                        "status": "OK",
                        "distance": {"text": "", "value": distance},
                        "duration": {"text": "1 min", "value": 60}
                    }]})
                })
                .collect();
            let body =
                serde_json::json!({"status": "OK", "rows": rows, "origin_addresses": [], "destination_addresses": []});
            (StatusCode::OK, [("content-type", "application/json")], body.to_string().into_bytes())
        }
        Reply::Oversized => {
            let path = format!("{}/tests/fixtures/osrm/ok.json", env!("CARGO_MANIFEST_DIR"));
            let mut body = vec![b' '; switchboard_dispatch::provider::MAX_RESPONSE_BYTES];
            body.extend(std::fs::read(&path).unwrap_or_else(|error| panic!("reading {path}: {error}")));
            (StatusCode::OK, [("content-type", "application/json")], body)
        }
        Reply::Sleep(duration) => {
            tokio::time::sleep(duration).await;
            (StatusCode::OK, [("content-type", "application/json")], b"{}".to_vec())
        }
    }
}

struct Spawned {
    url: String,
    requests: Arc<Mutex<Vec<String>>>,
}

impl Spawned {
    fn requests(&self) -> Vec<String> {
        self.requests.lock().expect("not poisoned").clone()
    }
}

async fn spawn(reply: Reply) -> Spawned {
    let requests = Arc::new(Mutex::new(Vec::new()));
    let app = Router::new().fallback(answer).with_state(Server { reply, requests: requests.clone() });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("binds");
    let address: SocketAddr = listener.local_addr().expect("has an address");
    tokio::spawn(async move { axum::serve(listener, app).await });
    Spawned { url: format!("http://{address}"), requests }
}

fn osrm_config(url: &str, timeout_ms: u64) -> TravelConfig {
    let mut config = TravelConfig { provider: ProviderKind::Osrm, timeout_ms, ..TravelConfig::default() };
    config.osrm.url = Some(url.to_owned());
    config
}

fn google_config(url: &str, timeout_ms: u64) -> TravelConfig {
    let mut config = TravelConfig { provider: ProviderKind::Google, timeout_ms, ..TravelConfig::default() };
    config.google.api_key = Some(Secret::new(KEY.to_owned()));
    config.google.base_url = url.to_owned();
    config
}

/// Alexanderplatz, Berlin.
fn site() -> Coordinates {
    Coordinates::new(52.52, 13.405).expect("valid")
}

/// About 2.8 km north, 13.9 km west and 24.5 km south of the site.
fn three_origins() -> [Coordinates; 3] {
    [
        Coordinates::new(52.545, 13.405).expect("valid"),
        Coordinates::new(52.52, 13.2).expect("valid"),
        Coordinates::new(52.3, 13.405).expect("valid"),
    ]
}

fn offline(distance_m: u32, duration_s: u32, reason: &str) -> TravelEstimate {
    TravelEstimate { distance_m, duration_s, source: Source::Offline, fallback: Some(reason.to_owned()) }
}

/// The offline estimates of `three_origins` at the defaults (×1.3, 50 km/h).
const OFFLINE_THREE: [(u32, u32); 3] = [(3_614, 260), (18_032, 1_298), (31_802, 2_290)];

#[tokio::test]
async fn offline_ranks_three_technicians_by_expected_distance() {
    let estimator = TravelEstimator::from_config(&TravelConfig::default()).expect("defaults are valid");
    let [north, west, south] = three_origins();
    let technician = |id: &str, home: Coordinates| Person {
        id: id.into(),
        name: id.into(),
        role: Role::Technician,
        skills: vec!["X300".into()],
        open_assignments: 0,
        current_site: None,
        home_base: Some(home),
        available: true,
    };
    let job = Job { site: site(), equipment_model: Some("X300".into()), equipment_category: None };
    let people = vec![technician("south", south), technician("north", north), technician("west", west)];
    let options = dispatch_options(&estimator, &job, people, vec![]).await.expect("valid site");

    let ranked: Vec<(&str, Option<Origin>, Option<TravelEstimate>)> =
        options.people.iter().map(|option| (option.id.as_str(), option.origin, option.travel.clone())).collect();
    let expected = |id, (distance_m, duration_s): (u32, u32)| {
        let estimate = TravelEstimate { distance_m, duration_s, source: Source::Offline, fallback: None };
        (id, Some(Origin::HomeBase), Some(estimate))
    };
    assert_eq!(
        ranked,
        vec![
            expected("north", OFFLINE_THREE[0]),
            expected("west", OFFLINE_THREE[1]),
            expected("south", OFFLINE_THREE[2])
        ]
    );
    assert_eq!(options.provider, Source::Offline);
}

#[tokio::test]
async fn osrm_answers_are_used_with_their_source() {
    let server = spawn(Reply::Fixture(StatusCode::OK, "osrm/ok.json")).await;
    let estimator = TravelEstimator::from_config(&osrm_config(&server.url, 2_000)).expect("valid");
    assert_eq!(estimator.source(), Source::Osrm);

    let estimates = estimator.estimate(site(), &three_origins()).await;

    let osrm = |distance_m, duration_s| TravelEstimate { distance_m, duration_s, source: Source::Osrm, fallback: None };
    assert_eq!(estimates, vec![osrm(5_840, 612), osrm(15_320, 1_264), osrm(27_911, 2_041)]);
    assert_eq!(
        server.requests(),
        ["/table/v1/driving/13.405000,52.545000;13.200000,52.520000;13.405000,52.300000;13.405000,52.520000\
          ?sources=0;1;2&destinations=3&annotations=duration,distance"]
    );
}

#[tokio::test]
async fn osrm_null_cells_fall_back_for_that_origin_only() {
    let server = spawn(Reply::Fixture(StatusCode::OK, "osrm/unreachable.json")).await;
    let estimator = TravelEstimator::from_config(&osrm_config(&server.url, 2_000)).expect("valid");
    let [north, west, _] = three_origins();

    let estimates = estimator.estimate(site(), &[north, west]).await;

    let (distance_m, duration_s) = OFFLINE_THREE[1];
    assert_eq!(
        estimates,
        vec![
            TravelEstimate { distance_m: 5_840, duration_s: 612, source: Source::Osrm, fallback: None },
            offline(distance_m, duration_s, "osrm found no route"),
        ]
    );
}

#[tokio::test]
async fn a_provider_slower_than_the_timeout_falls_back_and_says_so() {
    let server = spawn(Reply::Sleep(Duration::from_secs(30))).await;
    let estimator = TravelEstimator::from_config(&osrm_config(&server.url, 300)).expect("valid");
    let started = Instant::now();

    let estimates = estimator.estimate(site(), &three_origins()).await;

    assert!(started.elapsed() < Duration::from_secs(10), "waited {:?}", started.elapsed());
    let expected: Vec<TravelEstimate> = OFFLINE_THREE
        .iter()
        .map(|&(distance_m, duration_s)| offline(distance_m, duration_s, "osrm timed out after 300 ms"))
        .collect();
    assert_eq!(estimates, expected);
    assert_eq!(server.requests().len(), 1, "the request reached the server");
}

#[tokio::test]
async fn a_server_error_falls_back_and_says_so() {
    let server = spawn(Reply::Fixture(StatusCode::INTERNAL_SERVER_ERROR, "google/malformed.json")).await;
    let estimator = TravelEstimator::from_config(&osrm_config(&server.url, 2_000)).expect("valid");

    let estimates = estimator.estimate(site(), &three_origins()[..1]).await;

    let (distance_m, duration_s) = OFFLINE_THREE[0];
    assert_eq!(estimates, vec![offline(distance_m, duration_s, "osrm answered HTTP 500")]);
}

#[tokio::test]
async fn an_oversized_answer_is_refused_and_falls_back() {
    let server = spawn(Reply::Oversized).await;
    let estimator = TravelEstimator::from_config(&osrm_config(&server.url, 5_000)).expect("valid");

    let estimates = estimator.estimate(site(), &three_origins()[..1]).await;

    let (distance_m, duration_s) = OFFLINE_THREE[0];
    let reason = "osrm sent an answer that could not be read: the answer is larger than 4194304 bytes";
    assert_eq!(estimates, vec![offline(distance_m, duration_s, reason)]);
}

#[tokio::test]
async fn an_osrm_error_code_falls_back_with_its_message() {
    let server = spawn(Reply::Fixture(StatusCode::BAD_REQUEST, "osrm/too_big.json")).await;
    let estimator = TravelEstimator::from_config(&osrm_config(&server.url, 2_000)).expect("valid");

    let estimates = estimator.estimate(site(), &three_origins()[..1]).await;

    assert_eq!(estimates[0].fallback.as_deref(), Some("osrm refused the request: TooBig (Too many table coordinates)"));
    assert_eq!(estimates[0].source, Source::Offline);
}

#[tokio::test]
async fn google_answers_are_used_with_their_source_and_the_key_is_sent() {
    let server = spawn(Reply::Fixture(StatusCode::OK, "google/ok.json")).await;
    let estimator = TravelEstimator::from_config(&google_config(&server.url, 2_000)).expect("valid");
    assert_eq!(estimator.source(), Source::Google);

    let estimates = estimator.estimate(site(), &three_origins()).await;

    let google =
        |distance_m, duration_s| TravelEstimate { distance_m, duration_s, source: Source::Google, fallback: None };
    assert_eq!(estimates, vec![google(6_102, 731), google(14_874, 1_322), google(29_350, 2_208)]);
    assert_eq!(
        server.requests(),
        [format!(
            "/maps/api/distancematrix/json?origins=52.545000%2C13.405000%7C52.520000%2C13.200000%7C52.300000%2C13.405000\
             &destinations=52.520000%2C13.405000&units=metric&key={KEY}"
        )]
    );
}

#[tokio::test]
async fn google_element_statuses_fall_back_for_those_origins() {
    let server = spawn(Reply::Fixture(StatusCode::OK, "google/not_found_mixed.json")).await;
    let estimator = TravelEstimator::from_config(&google_config(&server.url, 2_000)).expect("valid");

    let estimates = estimator.estimate(site(), &three_origins()).await;

    let ((west_m, west_s), (south_m, south_s)) = (OFFLINE_THREE[1], OFFLINE_THREE[2]);
    assert_eq!(
        estimates,
        vec![
            TravelEstimate { distance_m: 6_102, duration_s: 731, source: Source::Google, fallback: None },
            offline(west_m, west_s, "google: NOT_FOUND"),
            offline(south_m, south_s, "google: MAX_ROUTE_LENGTH_EXCEEDED"),
        ]
    );
}

#[tokio::test]
async fn google_over_query_limit_falls_back_and_says_so() {
    let server = spawn(Reply::Fixture(StatusCode::OK, "google/over_query_limit.json")).await;
    let estimator = TravelEstimator::from_config(&google_config(&server.url, 2_000)).expect("valid");

    let estimates = estimator.estimate(site(), &three_origins()).await;

    let reason = "google refused the request: OVER_QUERY_LIMIT (You have exceeded your rate-limit for this API.)";
    let expected: Vec<TravelEstimate> =
        OFFLINE_THREE.iter().map(|&(distance_m, duration_s)| offline(distance_m, duration_s, reason)).collect();
    assert_eq!(estimates, expected);
}

#[tokio::test]
async fn google_splits_more_than_25_origins_into_requests_and_keeps_their_order() {
    let server = spawn(Reply::GoogleEcho).await;
    let google = Google::new(url(&server.url), Secret::new(KEY.into()), Duration::from_secs(2)).expect("client");
    // Origin i lies i metres' worth of micro-degrees north; the echo server
    // answers each with distance i.
    let origins: Vec<Coordinates> =
        (1..=28).map(|index| Coordinates::new(52.0 + f64::from(index) * 1e-6, 13.0).expect("valid")).collect();

    let legs = google.estimate(site(), &origins).await.expect("answers");

    let expected: Vec<Leg> = (1..=28)
        .map(|index| {
            Leg::Route(TravelEstimate { distance_m: index, duration_s: 60, source: Source::Google, fallback: None })
        })
        .collect();
    assert_eq!(legs, expected);
    let origins_per_request: Vec<usize> =
        server.requests().iter().map(|request| request.matches("%7C").count() + 1).collect();
    assert_eq!(origins_per_request, [25, 3]);
}

#[tokio::test]
async fn the_google_key_never_appears_in_errors() {
    let closed_port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("binds");
        listener.local_addr().expect("has an address")
    };
    let slow = spawn(Reply::Sleep(Duration::from_secs(30))).await;
    let failing = spawn(Reply::Fixture(StatusCode::INTERNAL_SERVER_ERROR, "google/ok.json")).await;
    let denied = spawn(Reply::Fixture(StatusCode::OK, "google/request_denied.json")).await;
    let truncated = spawn(Reply::Fixture(StatusCode::OK, "google/truncated.json")).await;
    let bases = [format!("http://{closed_port}"), slow.url.clone(), failing.url, denied.url, truncated.url];

    let mut kinds = Vec::new();
    for base in &bases {
        let google = Google::new(url(base), Secret::new(KEY.into()), Duration::from_millis(300)).expect("client");
        assert!(!format!("{google:?}").contains(KEY));
        let error = google.estimate(site(), &three_origins()).await.expect_err("fails");
        for shown in [error.to_string(), format!("{error:?}")] {
            assert!(!shown.contains(KEY), "the key leaked: {shown}");
            assert!(!shown.contains("AIza"), "part of the key leaked: {shown}");
        }
        kinds.push(error.kind());

        let estimator = TravelEstimator::from_config(&google_config(base, 300)).expect("valid");
        let estimates = estimator.estimate(site(), &three_origins()).await;
        let reason = estimates[0].fallback.clone().expect("fell back");
        assert!(!reason.contains(KEY), "the key leaked into the fallback reason: {reason}");
        assert!(!format!("{estimator:?}").contains(KEY));
    }
    assert_eq!(kinds, ["transport", "timeout", "http_status", "refused", "malformed"]);

    let config: DispatchConfig =
        serde_json::from_value(serde_json::json!({"travel": {"provider": "google", "google": {"api_key": KEY}}}))
            .expect("deserialises");
    assert!(!format!("{config:?}").contains(KEY));
}

#[test]
fn the_offline_default_needs_nothing() {
    let estimator = TravelEstimator::from_config(&TravelConfig::default()).expect("valid");
    assert_eq!(estimator.source(), Source::Offline);
    assert_eq!(Offline::from_config(&TravelConfig::default()), Offline::default());
}

fn url(base: &str) -> url::Url {
    url::Url::parse(base).expect("a URL")
}
