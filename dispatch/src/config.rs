//! `[dispatch]` configuration lives in `switchboard_core::config` with the
//! rest of the configuration; this module re-exports it.
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

pub use switchboard_core::config::{
    DispatchConfig, GoogleConfig, OsrmConfig, ProviderKind, Secret, TravelConfig, http_url,
};
