//! The travel-provider seam: what an estimate is, where it came from, and
//! how a provider fails.

use std::fmt;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::geo::Coordinates;

/// Which provider computed an estimate.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
#[schema(as = TravelSource)]
pub enum Source {
    /// Great-circle distance × road factor ÷ average speed.
    Offline,
    /// An OSRM server's `table` service.
    Osrm,
    /// Google Maps Distance Matrix.
    Google,
}

impl Source {
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Offline => "offline",
            Source::Osrm => "osrm",
            Source::Google => "google",
        }
    }
}

impl fmt::Display for Source {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(self.as_str())
    }
}

/// Travel from one origin to the site.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct TravelEstimate {
    /// Road distance in metres.
    pub distance_m: u32,
    /// Driving time in seconds.
    pub duration_s: u32,
    /// Who computed it.
    pub source: Source,
    /// Set when the configured provider could not answer and this is the
    /// offline estimate instead: why (e.g. "osrm timed out after 2000 ms").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fallback: Option<String>,
}

impl TravelEstimate {
    /// For people and reports: "12.3 km, 15 min (google)", or with the
    /// reason of a fallback, "… (offline: osrm timed out after 2000 ms)".
    pub fn summary(&self) -> String {
        let kilometres = f64::from(self.distance_m) / 1000.0;
        let minutes = (f64::from(self.duration_s) / 60.0).round();
        match &self.fallback {
            Some(reason) => format!("{kilometres:.1} km, {minutes} min ({}: {reason})", self.source),
            None => format!("{kilometres:.1} km, {minutes} min ({})", self.source),
        }
    }

    /// An estimate from `source` in the units providers answer in; negative
    /// and non-finite values become 0, values past `u32::MAX` saturate.
    pub(crate) fn measured(source: Source, distance_m: f64, duration_s: f64) -> Self {
        Self { distance_m: to_u32(distance_m), duration_s: to_u32(duration_s), source, fallback: None }
    }
}

fn to_u32(value: f64) -> u32 {
    if value.is_finite() && value > 0.0 {
        // `as` saturates at u32::MAX.
        value.round() as u32
    } else {
        0
    }
}

/// A provider's answer for one origin.
#[derive(Clone, Debug, PartialEq)]
pub enum Leg {
    Route(TravelEstimate),
    /// The provider answered but has no route from this origin (OSRM `null`,
    /// Google `ZERO_RESULTS`, `NOT_FOUND`…): why.
    NoRoute(String),
}

/// Why a provider gave no answer at all.
///
/// No variant carries a request URL: Google's carries the API key.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ProviderError {
    #[error("{provider} could not be reached: {message}")]
    Transport { provider: Source, message: String },
    #[error("{provider} timed out after {timeout_ms} ms")]
    TimedOut { provider: Source, timeout_ms: u64 },
    #[error("{provider} answered HTTP {status}")]
    HttpStatus { provider: Source, status: u16 },
    /// The provider answered with an error code of its own (Google's
    /// top-level `status`, OSRM's `code`).
    #[error("{provider} refused the request: {code}{}", message.as_deref().map(|text| format!(" ({text})")).unwrap_or_default())]
    Refused { provider: Source, code: String, message: Option<String> },
    #[error("{provider} sent an answer that could not be read: {message}")]
    Malformed { provider: Source, message: String },
}

impl ProviderError {
    pub fn provider(&self) -> Source {
        match self {
            ProviderError::Transport { provider, .. }
            | ProviderError::TimedOut { provider, .. }
            | ProviderError::HttpStatus { provider, .. }
            | ProviderError::Refused { provider, .. }
            | ProviderError::Malformed { provider, .. } => *provider,
        }
    }

    /// A short label for metrics.
    pub fn kind(&self) -> &'static str {
        match self {
            ProviderError::Transport { .. } => "transport",
            ProviderError::TimedOut { .. } => "timeout",
            ProviderError::HttpStatus { .. } => "http_status",
            ProviderError::Refused { .. } => "refused",
            ProviderError::Malformed { .. } => "malformed",
        }
    }

    /// From a reqwest error, without its URL (which may hold a key).
    pub(crate) fn from_reqwest(provider: Source, error: reqwest::Error, timeout_ms: u64) -> Self {
        if error.is_timeout() {
            return ProviderError::TimedOut { provider, timeout_ms };
        }
        let error = error.without_url();
        let mut message = error.to_string();
        let mut cause = std::error::Error::source(&error);
        while let Some(inner) = cause {
            message.push_str(": ");
            message.push_str(&inner.to_string());
            cause = inner.source();
        }
        ProviderError::Transport { provider, message }
    }
}

/// The most of an answer read: a full table of 99 origins with OSRM's hints
/// is well under 100 KiB.
pub const MAX_RESPONSE_BYTES: usize = 4 * 1024 * 1024;

/// Reads a response body, refusing one past [`MAX_RESPONSE_BYTES`] instead
/// of holding it all.
pub(crate) async fn read_bounded(
    provider: Source,
    mut response: reqwest::Response,
    timeout_ms: u64,
) -> Result<Vec<u8>, ProviderError> {
    let mut body = Vec::new();
    while let Some(chunk) =
        response.chunk().await.map_err(|error| ProviderError::from_reqwest(provider, error, timeout_ms))?
    {
        if body.len() + chunk.len() > MAX_RESPONSE_BYTES {
            return Err(ProviderError::Malformed {
                provider,
                message: format!("the answer is larger than {MAX_RESPONSE_BYTES} bytes"),
            });
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// Travel times and distances from many origins to one destination.
///
/// Object safe: the API holds an `Arc<dyn TravelProvider>`.
#[async_trait]
pub trait TravelProvider: Send + Sync {
    fn source(&self) -> Source;

    /// One [`Leg`] per origin, in the order of `origins`. An empty `origins`
    /// is an empty answer without a request. Batching (and splitting into
    /// requests the service accepts) is the provider's business.
    async fn estimate(&self, destination: Coordinates, origins: &[Coordinates]) -> Result<Vec<Leg>, ProviderError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn measured_values_are_rounded_and_clamped() {
        let estimate = TravelEstimate::measured(Source::Osrm, 1234.6, 59.4);
        assert_eq!((estimate.distance_m, estimate.duration_s), (1235, 59));
        let odd = TravelEstimate::measured(Source::Osrm, -3.0, f64::NAN);
        assert_eq!((odd.distance_m, odd.duration_s), (0, 0));
        assert_eq!(TravelEstimate::measured(Source::Osrm, 1e12, 1e12).distance_m, u32::MAX);
    }

    #[test]
    fn estimates_serialise_with_their_source_and_fallback_only_when_set() {
        let estimate = TravelEstimate::measured(Source::Google, 1000.0, 60.0);
        assert_eq!(
            serde_json::to_string(&estimate).expect("serialises"),
            r#"{"distance_m":1000,"duration_s":60,"source":"google"}"#
        );
        let fallback = TravelEstimate { fallback: Some("osrm timed out after 2000 ms".into()), ..estimate };
        let json = serde_json::to_value(&fallback).expect("serialises");
        assert_eq!(json["fallback"], "osrm timed out after 2000 ms");
    }

    #[test]
    fn summaries_name_the_source_and_any_fallback() {
        let estimate = TravelEstimate::measured(Source::Google, 12_345.0, 905.0);
        assert_eq!(estimate.summary(), "12.3 km, 15 min (google)");
        let fallback = TravelEstimate {
            source: Source::Offline,
            fallback: Some("osrm timed out after 2000 ms".into()),
            ..estimate
        };
        assert_eq!(fallback.summary(), "12.3 km, 15 min (offline: osrm timed out after 2000 ms)");
    }

    #[test]
    fn refused_reads_with_and_without_a_message() {
        let with = ProviderError::Refused {
            provider: Source::Google,
            code: "OVER_QUERY_LIMIT".into(),
            message: Some("You have exceeded your rate-limit for this API.".into()),
        };
        assert_eq!(
            with.to_string(),
            "google refused the request: OVER_QUERY_LIMIT (You have exceeded your rate-limit for this API.)"
        );
        let without = ProviderError::Refused { provider: Source::Osrm, code: "TooBig".into(), message: None };
        assert_eq!(without.to_string(), "osrm refused the request: TooBig");
    }
}
