//! The configured provider with the offline estimate behind it: every
//! origin gets an estimate, and one that is not the configured provider's
//! says why.

use std::sync::Arc;
use std::time::Duration;

use tracing::{info, warn};

use switchboard_core::Error;

use crate::config::{ProviderKind, TravelConfig, http_url};
use crate::geo::Coordinates;
use crate::google::Google;
use crate::offline::Offline;
use crate::osrm::Osrm;
use crate::provider::{Leg, ProviderError, Source, TravelEstimate, TravelProvider};

/// What the API holds: cheap to clone, shared between requests.
#[derive(Clone)]
pub struct TravelEstimator {
    /// `None`: offline only.
    provider: Option<Arc<dyn TravelProvider>>,
    offline: Offline,
    timeout: Duration,
}

impl std::fmt::Debug for TravelEstimator {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("TravelEstimator")
            .field("provider", &self.source())
            .field("offline", &self.offline)
            .field("timeout", &self.timeout)
            .finish()
    }
}

impl TravelEstimator {
    /// Validates `config` and builds its provider.
    pub fn from_config(config: &TravelConfig) -> Result<Self, Error> {
        config.validate()?;
        let offline = Offline::from_config(config);
        let timeout = config.timeout();
        let client_error = |error: ProviderError| Error::Config(format!("dispatch: building the HTTP client: {error}"));
        let provider: Arc<dyn TravelProvider> = match config.provider {
            ProviderKind::Offline => return Ok(Self::offline_only(offline)),
            ProviderKind::Osrm => {
                let url = config.osrm.url.as_deref().unwrap_or_default();
                let url = http_url("dispatch.travel.osrm.url", url)?;
                Arc::new(Osrm::new(url, config.osrm.profile.clone(), timeout).map_err(client_error)?)
            }
            ProviderKind::Google => {
                let url = http_url("dispatch.travel.google.base_url", &config.google.base_url)?;
                let key = config.google.api_key.clone().unwrap_or_default();
                Arc::new(Google::new(url, key, timeout).map_err(client_error)?)
            }
        };
        Ok(Self::new(provider, offline, timeout))
    }

    /// `provider` under `timeout`, `offline` for whatever it cannot answer.
    pub fn new(provider: Arc<dyn TravelProvider>, offline: Offline, timeout: Duration) -> Self {
        Self { provider: Some(provider), offline, timeout }
    }

    pub fn offline_only(offline: Offline) -> Self {
        Self { provider: None, offline, timeout: Duration::ZERO }
    }

    /// The configured provider.
    pub fn source(&self) -> Source {
        self.provider.as_ref().map_or(Source::Offline, |provider| provider.source())
    }

    /// One estimate per origin, in order; never fails. Coordinates must be
    /// valid ([`Coordinates::validate`]).
    ///
    /// When the configured provider fails or takes longer than the timeout,
    /// every estimate is offline with the reason in `fallback`; an origin it
    /// has no route for gets the offline estimate with that reason.
    #[tracing::instrument(skip_all, fields(provider = %self.source(), origins = origins.len()))]
    pub async fn estimate(&self, destination: Coordinates, origins: &[Coordinates]) -> Vec<TravelEstimate> {
        debug_assert!(destination.validate().is_ok() && origins.iter().all(|origin| origin.validate().is_ok()));
        let Some(provider) = &self.provider else {
            return self.offline.estimate_all(&destination, origins);
        };
        if origins.is_empty() {
            return Vec::new();
        }
        let source = provider.source();
        let timeout_ms = u64::try_from(self.timeout.as_millis()).unwrap_or(u64::MAX);
        let answer = match tokio::time::timeout(self.timeout, provider.estimate(destination, origins)).await {
            Ok(answer) => answer,
            Err(_elapsed) => Err(ProviderError::TimedOut { provider: source, timeout_ms }),
        };
        let answer = answer.and_then(|legs| {
            if legs.len() == origins.len() {
                return Ok(legs);
            }
            let message = format!("{} answers for {} origins", legs.len(), origins.len());
            Err(ProviderError::Malformed { provider: source, message })
        });
        let legs = match answer {
            Ok(legs) => legs,
            Err(error) => return self.offline_for_all(&error, destination, origins),
        };
        let mut no_route = 0_u64;
        let estimates = legs
            .into_iter()
            .zip(origins)
            .map(|(leg, origin)| match leg {
                Leg::Route(estimate) => estimate,
                Leg::NoRoute(reason) => {
                    no_route += 1;
                    TravelEstimate { fallback: Some(reason), ..self.offline.estimate_one(origin, &destination) }
                }
            })
            .collect();
        if no_route > 0 {
            metrics::counter!("switchboard_dispatch_travel_fallbacks_total", "provider" => source.as_str(), "reason" => "no_route")
                .increment(no_route);
            info!(no_route, "travel provider has no route for some origins, offline estimates used for them");
        }
        estimates
    }

    /// Every origin unanswered for one reason: logged and counted once.
    fn offline_for_all(
        &self,
        error: &ProviderError,
        destination: Coordinates,
        origins: &[Coordinates],
    ) -> Vec<TravelEstimate> {
        metrics::counter!(
            "switchboard_dispatch_travel_fallbacks_total",
            "provider" => error.provider().as_str(),
            "reason" => error.kind()
        )
        .increment(1);
        warn!(%error, "travel provider failed, offline estimates used");
        let reason = error.to_string();
        self.offline
            .estimate_all(&destination, origins)
            .into_iter()
            .map(|estimate| TravelEstimate { fallback: Some(reason.clone()), ..estimate })
            .collect()
    }
}
