//! `[dispatch]` configuration: which travel provider, and its settings.
//!
//! ```toml
//! [dispatch.travel]
//! provider = "osrm"          # "offline" (default) | "osrm" | "google"
//! road_factor = 1.3
//! average_speed_kmh = 50
//! timeout_ms = 2000
//! osrm.url = "http://osrm:5000"
//! # google.api_key = "…"     # or SWITCHBOARD_DISPATCH__TRAVEL__GOOGLE__API_KEY
//! ```

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use url::Url;

/// A value that never appears in logs or `Debug` output.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Secret<T>(T);

impl<T> Secret<T> {
    pub fn new(value: T) -> Self {
        Self(value)
    }

    /// The value itself; call only where it is used, never to log it.
    pub fn expose(&self) -> &T {
        &self.0
    }
}

impl<T> fmt::Debug for Secret<T> {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("[redacted]")
    }
}

/// A configuration the dispatch assistant cannot work with; the message
/// names the key.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("invalid configuration: {0}")]
pub struct ConfigError(pub String);

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DispatchConfig {
    pub travel: TravelConfig,
}

impl DispatchConfig {
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.travel.validate()
    }
}

/// Which service estimates travel.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProviderKind {
    /// Great-circle distance × `road_factor` ÷ `average_speed_kmh`: needs nothing.
    #[default]
    Offline,
    Osrm,
    Google,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TravelConfig {
    pub provider: ProviderKind,
    /// Road distance ÷ great-circle distance, for offline estimates (and so
    /// for every fallback).
    pub road_factor: f64,
    /// Average driving speed for offline estimates, km/h.
    pub average_speed_kmh: f64,
    /// The longest the configured provider may take for one ticket's
    /// options before its answer is replaced by offline estimates.
    pub timeout_ms: u64,
    pub osrm: OsrmConfig,
    pub google: GoogleConfig,
}

impl Default for TravelConfig {
    fn default() -> Self {
        Self {
            provider: ProviderKind::Offline,
            road_factor: 1.3,
            average_speed_kmh: 50.0,
            timeout_ms: 2_000,
            osrm: OsrmConfig::default(),
            google: GoogleConfig::default(),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OsrmConfig {
    /// The server's root, e.g. `http://osrm:5000`. Required for `provider = "osrm"`.
    pub url: Option<String>,
    /// The profile path segment (`driving`); `osrm-routed` serves whichever
    /// profile its data was extracted with under any name.
    pub profile: String,
}

impl Default for OsrmConfig {
    fn default() -> Self {
        Self { url: None, profile: "driving".into() }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct GoogleConfig {
    /// A Distance Matrix API key. Required for `provider = "google"`.
    pub api_key: Option<Secret<String>>,
    /// The API's origin; tests point it at a local server.
    pub base_url: String,
}

impl Default for GoogleConfig {
    fn default() -> Self {
        Self { api_key: None, base_url: crate::google::DEFAULT_BASE_URL.into() }
    }
}

impl TravelConfig {
    /// Checks what serde cannot: ranges, and that the chosen provider has
    /// what it needs.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let fail = |message: String| Err(ConfigError(message));
        // Past 10 the "road" is a detour of a different order; past 300 km/h
        // no service vehicle drives.
        if !(self.road_factor.is_finite() && self.road_factor > 0.0 && self.road_factor <= 10.0) {
            return fail(format!(
                "dispatch.travel.road_factor must be above 0 and at most 10, got {}",
                self.road_factor
            ));
        }
        if !(self.average_speed_kmh.is_finite() && self.average_speed_kmh > 0.0 && self.average_speed_kmh <= 300.0) {
            return fail(format!(
                "dispatch.travel.average_speed_kmh must be above 0 and at most 300, got {}",
                self.average_speed_kmh
            ));
        }
        if !(1..=60_000).contains(&self.timeout_ms) {
            return fail(format!("dispatch.travel.timeout_ms must be 1 to 60000, got {}", self.timeout_ms));
        }
        match self.provider {
            ProviderKind::Offline => {}
            ProviderKind::Osrm => {
                let Some(url) = self.osrm.url.as_deref() else {
                    return fail(
                        "dispatch.travel.osrm.url must be set when dispatch.travel.provider is \"osrm\"".into(),
                    );
                };
                http_url("dispatch.travel.osrm.url", url)?;
                let profile = &self.osrm.profile;
                if profile.is_empty() || !profile.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') {
                    return fail(format!(
                        "dispatch.travel.osrm.profile must be letters, digits, '-' or '_', got {profile:?}"
                    ));
                }
            }
            ProviderKind::Google => {
                let has_key = self.google.api_key.as_ref().is_some_and(|key| !key.expose().trim().is_empty());
                if !has_key {
                    return fail(
                        "dispatch.travel.google.api_key must be set when dispatch.travel.provider is \"google\"".into(),
                    );
                }
                http_url("dispatch.travel.google.base_url", &self.google.base_url)?;
            }
        }
        Ok(())
    }

    pub fn timeout(&self) -> Duration {
        Duration::from_millis(self.timeout_ms)
    }

    pub fn offline(&self) -> crate::Offline {
        crate::Offline { road_factor: self.road_factor, average_speed_kmh: self.average_speed_kmh }
    }
}

/// Parses an `http`/`https` URL; the message names the key (never a
/// query string, which could hold a credential).
pub(crate) fn http_url(key: &str, value: &str) -> Result<Url, ConfigError> {
    let url = Url::parse(value).map_err(|error| ConfigError(format!("{key} is not a URL: {error}")))?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return Err(ConfigError(format!("{key} must be an http or https URL with a host")));
    }
    Ok(url)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(change: impl FnOnce(&mut TravelConfig)) -> String {
        let mut config = TravelConfig::default();
        change(&mut config);
        config.validate().expect_err("refused").to_string()
    }

    #[test]
    fn defaults_are_offline_and_valid() {
        let config = TravelConfig::default();
        assert_eq!(config.provider, ProviderKind::Offline);
        assert_eq!((config.road_factor, config.average_speed_kmh, config.timeout_ms), (1.3, 50.0, 2_000));
        assert_eq!(config.validate(), Ok(()));
    }

    #[test]
    fn each_mistake_is_named() {
        assert_eq!(
            refused(|config| config.provider = ProviderKind::Osrm),
            "invalid configuration: dispatch.travel.osrm.url must be set when dispatch.travel.provider is \"osrm\""
        );
        assert_eq!(
            refused(|config| config.provider = ProviderKind::Google),
            "invalid configuration: dispatch.travel.google.api_key must be set when dispatch.travel.provider is \
             \"google\""
        );
        assert!(
            refused(|config| {
                config.provider = ProviderKind::Google;
                config.google.api_key = Some(Secret::new("  ".into()));
            })
            .contains("google.api_key must be set")
        );
        assert!(refused(|config| config.road_factor = 0.0).contains("road_factor must be above 0"));
        assert!(refused(|config| config.road_factor = -1.0).contains("road_factor must be above 0"));
        assert!(refused(|config| config.road_factor = f64::NAN).contains("road_factor"));
        assert!(refused(|config| config.average_speed_kmh = 0.0).contains("average_speed_kmh must be above 0"));
        assert!(refused(|config| config.timeout_ms = 0).contains("timeout_ms must be 1 to 60000"));
        assert!(
            refused(|config| {
                config.provider = ProviderKind::Osrm;
                config.osrm.url = Some("osrm:5000".into());
            })
            .contains("dispatch.travel.osrm.url must be an http or https URL")
        );
        assert!(
            refused(|config| {
                config.provider = ProviderKind::Osrm;
                config.osrm.url = Some("http://osrm:5000".into());
                config.osrm.profile = "../x".into();
            })
            .contains("osrm.profile")
        );
    }

    #[test]
    fn reads_from_toml_shaped_json_and_hides_the_key() {
        let config: DispatchConfig = serde_json::from_value(serde_json::json!({
            "travel": {
                "provider": "google",
                "timeout_ms": 500,
                "google": { "api_key": "AIza-secret", "base_url": "http://127.0.0.1:9" }
            }
        }))
        .expect("deserialises");
        assert_eq!(config.travel.provider, ProviderKind::Google);
        assert_eq!(config.travel.road_factor, 1.3, "unset keys keep their defaults");
        assert_eq!(config.validate(), Ok(()));
        assert!(!format!("{config:?}").contains("AIza-secret"));
        let unknown = serde_json::from_value::<DispatchConfig>(serde_json::json!({ "travel": { "speed": 3 } }));
        assert!(unknown.is_err(), "unknown keys are refused");
    }
}
