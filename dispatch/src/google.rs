//! Google Maps Distance Matrix: many origins to the site in one request.
//!
//! `GET {base}/maps/api/distancematrix/json?origins=lat,lng|…&destinations=lat,lng&units=metric&key=KEY`
//! answers a top-level `status` and one row per origin whose one element
//! has its own `status` and, when `OK`, `distance.value` (m) and
//! `duration.value` (s).
//!
//! The key travels in the URL, so no error here ever carries the URL.

use std::time::Duration;

use async_trait::async_trait;
use serde::Deserialize;
use url::Url;

use crate::config::Secret;
use crate::geo::Coordinates;
use crate::provider::{Leg, ProviderError, Source, TravelEstimate, TravelProvider, read_bounded};

/// The Distance Matrix API takes at most 25 origins per request.
pub const MAX_ORIGINS_PER_REQUEST: usize = 25;

/// Where the API lives unless `google.base_url` says otherwise.
pub const DEFAULT_BASE_URL: &str = "https://maps.googleapis.com";

/// A Distance Matrix client.
#[derive(Clone)]
pub struct Google {
    client: reqwest::Client,
    base_url: Url,
    api_key: Secret<String>,
    timeout_ms: u64,
}

impl std::fmt::Debug for Google {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("Google")
            .field("base_url", &self.base_url.as_str())
            .field("api_key", &self.api_key)
            .field("timeout_ms", &self.timeout_ms)
            .finish()
    }
}

impl Google {
    /// `base_url` is the API's origin ([`DEFAULT_BASE_URL`], or a test
    /// server); `timeout` bounds each request.
    pub fn new(base_url: Url, api_key: Secret<String>, timeout: Duration) -> Result<Self, ProviderError> {
        let timeout_ms = timeout.as_millis().try_into().unwrap_or(u64::MAX);
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .build()
            .map_err(|error| ProviderError::from_reqwest(Source::Google, error, timeout_ms))?;
        Ok(Self { client, base_url, api_key, timeout_ms })
    }

    fn matrix_url(&self, destination: &Coordinates, origins: &[Coordinates]) -> Url {
        let lat_lng = |point: &Coordinates| format!("{:.6},{:.6}", point.lat, point.lon);
        let origins: Vec<String> = origins.iter().map(lat_lng).collect();
        let mut url = self.base_url.clone();
        url.set_path(&format!("{}/maps/api/distancematrix/json", self.base_url.path().trim_end_matches('/')));
        url.query_pairs_mut()
            .clear()
            .append_pair("origins", &origins.join("|"))
            .append_pair("destinations", &lat_lng(destination))
            .append_pair("units", "metric")
            .append_pair("key", self.api_key.expose());
        url
    }

    async fn request(&self, destination: &Coordinates, origins: &[Coordinates]) -> Result<Vec<Leg>, ProviderError> {
        let response = self
            .client
            .get(self.matrix_url(destination, origins))
            .send()
            .await
            .map_err(|error| ProviderError::from_reqwest(Source::Google, error, self.timeout_ms))?;
        let status = response.status();
        if !status.is_success() {
            return Err(ProviderError::HttpStatus { provider: Source::Google, status: status.as_u16() });
        }
        let body = read_bounded(Source::Google, response, self.timeout_ms).await?;
        parse_matrix(&body, origins.len())
    }
}

#[async_trait]
impl TravelProvider for Google {
    fn source(&self) -> Source {
        Source::Google
    }

    #[tracing::instrument(skip_all, fields(origins = origins.len()))]
    async fn estimate(&self, destination: Coordinates, origins: &[Coordinates]) -> Result<Vec<Leg>, ProviderError> {
        let mut legs = Vec::with_capacity(origins.len());
        for chunk in origins.chunks(MAX_ORIGINS_PER_REQUEST) {
            legs.extend(self.request(&destination, chunk).await?);
        }
        Ok(legs)
    }
}

#[derive(Deserialize)]
struct MatrixResponse {
    status: String,
    error_message: Option<String>,
    #[serde(default)]
    rows: Vec<Row>,
}

#[derive(Deserialize)]
struct Row {
    elements: Vec<Element>,
}

#[derive(Deserialize)]
struct Element {
    status: String,
    distance: Option<Value>,
    duration: Option<Value>,
}

#[derive(Deserialize)]
struct Value {
    value: f64,
}

/// Reads a Distance Matrix answer for `origin_count` origins and one
/// destination.
///
/// A top-level status other than `OK` (`INVALID_REQUEST`,
/// `MAX_ELEMENTS_EXCEEDED`, `MAX_DIMENSIONS_EXCEEDED`, `OVER_DAILY_LIMIT`,
/// `OVER_QUERY_LIMIT`, `REQUEST_DENIED`, `UNKNOWN_ERROR`) is a refusal with
/// Google's `error_message`; an element's status other than `OK`
/// (`NOT_FOUND`, `ZERO_RESULTS`, `MAX_ROUTE_LENGTH_EXCEEDED`) is no route
/// for that origin.
pub fn parse_matrix(body: &[u8], origin_count: usize) -> Result<Vec<Leg>, ProviderError> {
    let malformed = |message: String| ProviderError::Malformed { provider: Source::Google, message };
    let response: MatrixResponse = serde_json::from_slice(body).map_err(|error| malformed(error.to_string()))?;
    if response.status != "OK" {
        return Err(ProviderError::Refused {
            provider: Source::Google,
            code: response.status,
            message: response.error_message,
        });
    }
    if response.rows.len() != origin_count {
        return Err(malformed(format!("{} rows for {origin_count} origins", response.rows.len())));
    }
    response
        .rows
        .into_iter()
        .map(|row| {
            let [element] = <[Element; 1]>::try_from(row.elements)
                .map_err(|elements| malformed(format!("a row has {} elements, expected 1", elements.len())))?;
            if element.status != "OK" {
                return Ok(Leg::NoRoute(format!("google: {}", element.status)));
            }
            match (element.distance, element.duration) {
                (Some(distance), Some(duration)) => {
                    Ok(Leg::Route(TravelEstimate::measured(Source::Google, distance.value, duration.value)))
                }
                _ => Err(malformed("an OK element without distance or duration".into())),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> Vec<u8> {
        let path = format!("{}/tests/fixtures/google/{name}", env!("CARGO_MANIFEST_DIR"));
        std::fs::read(&path).unwrap_or_else(|error| panic!("reading {path}: {error}"))
    }

    fn route(distance_m: u32, duration_s: u32) -> Leg {
        Leg::Route(TravelEstimate { distance_m, duration_s, source: Source::Google, fallback: None })
    }

    #[test]
    fn ok_answer_gives_one_leg_per_origin_in_order() {
        let legs = parse_matrix(&fixture("ok.json"), 3).expect("parses");
        assert_eq!(legs, vec![route(6_102, 731), route(14_874, 1_322), route(29_350, 2_208)]);
    }

    #[test]
    fn element_statuses_are_no_route_for_that_origin_only() {
        let legs = parse_matrix(&fixture("not_found_mixed.json"), 3).expect("parses");
        assert_eq!(
            legs,
            vec![
                route(6_102, 731),
                Leg::NoRoute("google: NOT_FOUND".into()),
                Leg::NoRoute("google: MAX_ROUTE_LENGTH_EXCEEDED".into()),
            ]
        );
        let zero = parse_matrix(&fixture("zero_results.json"), 1).expect("parses");
        assert_eq!(zero, vec![Leg::NoRoute("google: ZERO_RESULTS".into())]);
    }

    #[test]
    fn top_level_statuses_are_refusals_with_googles_message() {
        let over = parse_matrix(&fixture("over_query_limit.json"), 3).expect_err("refused");
        assert_eq!(
            over,
            ProviderError::Refused {
                provider: Source::Google,
                code: "OVER_QUERY_LIMIT".into(),
                message: Some("You have exceeded your rate-limit for this API.".into()),
            }
        );
        let denied = parse_matrix(&fixture("request_denied.json"), 3).expect_err("refused");
        assert_eq!(denied.to_string(), "google refused the request: REQUEST_DENIED (The provided API key is invalid.)");
        let invalid = parse_matrix(&fixture("invalid_request.json"), 3).expect_err("refused");
        assert_eq!(
            invalid,
            ProviderError::Refused { provider: Source::Google, code: "INVALID_REQUEST".into(), message: None }
        );
    }

    #[test]
    fn malformed_answers_are_errors_not_panics() {
        for name in ["malformed.json", "truncated.json"] {
            let error = parse_matrix(&fixture(name), 3).expect_err(name);
            assert!(matches!(error, ProviderError::Malformed { provider: Source::Google, .. }), "{name}: {error:?}");
        }
        let too_few_rows = parse_matrix(&fixture("ok.json"), 4).expect_err("three rows for four origins");
        assert_eq!(
            too_few_rows,
            ProviderError::Malformed { provider: Source::Google, message: "3 rows for 4 origins".into() }
        );
        for body in [&b""[..], b"null", b"[]", b"{\"status\":\"OK\",\"rows\":[{\"elements\":[]}]}"] {
            assert!(parse_matrix(body, 1).is_err(), "{}", String::from_utf8_lossy(body));
        }
    }

    #[test]
    fn url_carries_lat_lng_pipes_and_the_key() {
        let google = Google::new(
            Url::parse("http://127.0.0.1:9/").expect("url"),
            Secret::new("test-key".into()),
            Duration::from_secs(1),
        )
        .expect("client");
        let site = Coordinates::new(52.52, 13.405).expect("valid");
        let origins = [Coordinates::new(52.5, 13.3).expect("valid"), Coordinates::new(52.4, 13.1).expect("valid")];
        let url = google.matrix_url(&site, &origins);
        assert_eq!(url.path(), "/maps/api/distancematrix/json");
        let pairs: Vec<(String, String)> = url.query_pairs().into_owned().collect();
        assert_eq!(
            pairs,
            [
                ("origins", "52.500000,13.300000|52.400000,13.100000"),
                ("destinations", "52.520000,13.405000"),
                ("units", "metric"),
                ("key", "test-key"),
            ]
            .map(|(name, value)| (name.to_owned(), value.to_owned()))
        );
        assert!(!format!("{google:?}").contains("test-key"), "Debug hides the key");
    }
}
