//! OSRM's `table` service: many origins to the site in one request.
//!
//! `GET {base}/table/v1/{profile}/{lon,lat;…;lon,lat}?sources=0;…;n-1&destinations=n&annotations=duration,distance`
//! answers `{"code": "Ok", "durations": [[s]…], "distances": [[m]…]}` with
//! `null` where no route exists, or `{"code": "<error>", "message": "…"}`.

use std::time::Duration;

use async_trait::async_trait;
use serde::Deserialize;
use url::Url;

use crate::geo::Coordinates;
use crate::provider::{Leg, ProviderError, Source, TravelEstimate, TravelProvider, read_bounded};

/// `osrm-routed`'s default `--max-table-size` is 100 coordinates: 99
/// origins and the site.
pub const MAX_ORIGINS_PER_REQUEST: usize = 99;

/// A client of one OSRM server.
#[derive(Clone, Debug)]
pub struct Osrm {
    client: reqwest::Client,
    base_url: Url,
    profile: String,
    timeout_ms: u64,
}

impl Osrm {
    /// `base_url` is the server's root (`http://osrm:5000`); `profile` is the
    /// path segment the server was started for (`driving`). `timeout` bounds
    /// each request.
    pub fn new(base_url: Url, profile: impl Into<String>, timeout: Duration) -> Result<Self, ProviderError> {
        let client = reqwest::Client::builder().timeout(timeout).build().map_err(|error| {
            ProviderError::from_reqwest(Source::Osrm, error, timeout.as_millis().try_into().unwrap_or(u64::MAX))
        })?;
        Ok(Self {
            client,
            base_url,
            profile: profile.into(),
            timeout_ms: timeout.as_millis().try_into().unwrap_or(u64::MAX),
        })
    }

    fn table_url(&self, destination: &Coordinates, origins: &[Coordinates]) -> String {
        let coordinates: Vec<String> = origins
            .iter()
            .chain(std::iter::once(destination))
            .map(|point| format!("{:.6},{:.6}", point.lon, point.lat))
            .collect();
        let sources: Vec<String> = (0..origins.len()).map(|index| index.to_string()).collect();
        // Built by hand: OSRM's `;` separators must not be percent-encoded.
        format!(
            "{}/table/v1/{}/{}?sources={}&destinations={}&annotations=duration,distance",
            self.base_url.as_str().trim_end_matches('/'),
            self.profile,
            coordinates.join(";"),
            sources.join(";"),
            origins.len(),
        )
    }

    async fn request(&self, destination: &Coordinates, origins: &[Coordinates]) -> Result<Vec<Leg>, ProviderError> {
        let response = self
            .client
            .get(self.table_url(destination, origins))
            .send()
            .await
            .map_err(|error| ProviderError::from_reqwest(Source::Osrm, error, self.timeout_ms))?;
        let status = response.status();
        let body = read_bounded(Source::Osrm, response, self.timeout_ms).await?;
        parse_table(status.as_u16(), &body, origins.len())
    }
}

#[async_trait]
impl TravelProvider for Osrm {
    fn source(&self) -> Source {
        Source::Osrm
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
struct TableResponse {
    code: String,
    message: Option<String>,
    durations: Option<Vec<Vec<Option<f64>>>>,
    distances: Option<Vec<Vec<Option<f64>>>>,
}

/// Reads a `table` answer for `origin_count` sources and one destination.
///
/// OSRM answers its own errors (`InvalidQuery`, `TooBig`, `NoSegment`…) as
/// JSON with a 4xx status, so the body is read before the status.
pub fn parse_table(http_status: u16, body: &[u8], origin_count: usize) -> Result<Vec<Leg>, ProviderError> {
    let malformed = |message: String| ProviderError::Malformed { provider: Source::Osrm, message };
    let response: TableResponse = match serde_json::from_slice(body) {
        Ok(response) => response,
        Err(_) if !(200..300).contains(&http_status) => {
            return Err(ProviderError::HttpStatus { provider: Source::Osrm, status: http_status });
        }
        Err(error) => return Err(malformed(error.to_string())),
    };
    if response.code != "Ok" {
        return Err(ProviderError::Refused { provider: Source::Osrm, code: response.code, message: response.message });
    }
    if !(200..300).contains(&http_status) {
        return Err(ProviderError::HttpStatus { provider: Source::Osrm, status: http_status });
    }
    let durations = response.durations.ok_or_else(|| malformed("no durations".into()))?;
    let distances = response.distances.ok_or_else(|| malformed("no distances (annotations ignored?)".into()))?;
    if durations.len() != origin_count || distances.len() != origin_count {
        return Err(malformed(format!(
            "{} duration rows and {} distance rows for {origin_count} origins",
            durations.len(),
            distances.len()
        )));
    }
    durations
        .iter()
        .zip(&distances)
        .map(|(duration_row, distance_row)| match (duration_row.as_slice(), distance_row.as_slice()) {
            ([Some(duration_s)], [Some(distance_m)]) => {
                Ok(Leg::Route(TravelEstimate::measured(Source::Osrm, *distance_m, *duration_s)))
            }
            ([None], _) | (_, [None]) => Ok(Leg::NoRoute("osrm found no route".into())),
            _ => Err(malformed("a row does not have exactly one destination".into())),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> Vec<u8> {
        let path = format!("{}/tests/fixtures/osrm/{name}", env!("CARGO_MANIFEST_DIR"));
        std::fs::read(&path).unwrap_or_else(|error| panic!("reading {path}: {error}"))
    }

    fn route(distance_m: u32, duration_s: u32) -> Leg {
        Leg::Route(TravelEstimate { distance_m, duration_s, source: Source::Osrm, fallback: None })
    }

    #[test]
    fn ok_answer_gives_one_leg_per_origin_in_order() {
        let legs = parse_table(200, &fixture("ok.json"), 3).expect("parses");
        assert_eq!(legs, vec![route(5_840, 612), route(15_320, 1_264), route(27_911, 2_041)]);
    }

    #[test]
    fn null_cells_are_no_route() {
        let legs = parse_table(200, &fixture("unreachable.json"), 2).expect("parses");
        assert_eq!(legs, vec![route(5_840, 612), Leg::NoRoute("osrm found no route".into())]);
    }

    #[test]
    fn error_codes_are_refusals_with_their_message() {
        let error = parse_table(400, &fixture("invalid_query.json"), 3).expect_err("refused");
        assert_eq!(
            error,
            ProviderError::Refused {
                provider: Source::Osrm,
                code: "InvalidQuery".into(),
                message: Some("Query string malformed close to position 28".into()),
            }
        );
        let too_big = parse_table(400, &fixture("too_big.json"), 3).expect_err("refused");
        assert!(matches!(too_big, ProviderError::Refused { ref code, .. } if code == "TooBig"), "{too_big:?}");
    }

    #[test]
    fn unreadable_answers_are_malformed_or_the_status() {
        let truncated = parse_table(200, &fixture("truncated.json"), 3).expect_err("truncated");
        assert!(matches!(truncated, ProviderError::Malformed { provider: Source::Osrm, .. }), "{truncated:?}");
        let wrong_rows = parse_table(200, &fixture("ok.json"), 2).expect_err("three rows for two origins");
        assert_eq!(
            wrong_rows,
            ProviderError::Malformed {
                provider: Source::Osrm,
                message: "3 duration rows and 3 distance rows for 2 origins".into()
            }
        );
        let gateway = parse_table(502, b"<html>Bad Gateway</html>", 3).expect_err("HTML error page");
        assert_eq!(gateway, ProviderError::HttpStatus { provider: Source::Osrm, status: 502 });
    }

    #[test]
    fn url_lists_origins_then_the_site_as_lon_lat() {
        let osrm = Osrm::new(Url::parse("http://osrm:5000/").expect("url"), "driving", Duration::from_secs(1))
            .expect("client");
        let site = Coordinates::new(52.52, 13.405).expect("valid");
        let origins = [Coordinates::new(52.5, 13.3).expect("valid"), Coordinates::new(52.4, 13.1).expect("valid")];
        assert_eq!(
            osrm.table_url(&site, &origins),
            "http://osrm:5000/table/v1/driving/13.300000,52.500000;13.100000,52.400000;13.405000,52.520000\
             ?sources=0;1&destinations=2&annotations=duration,distance"
        );
    }
}
