//! The dispatch assistant: travel estimates from people and vehicles to an
//! equipment's site (offline, OSRM or Google Maps, always with the offline
//! estimate behind them) and the ranking of who and what to send.
//!
//! The API builds one [`TravelEstimator`] from [`TravelConfig`] and, per
//! ticket, calls [`dispatch_options`]. See `dispatch/README.md`.

pub mod config;
pub mod estimator;
pub mod geo;
pub mod google;
pub mod offline;
pub mod osrm;
pub mod provider;
pub mod rank;

pub use config::{DispatchConfig, GoogleConfig, OsrmConfig, ProviderKind, Secret, TravelConfig};
pub use estimator::TravelEstimator;
pub use geo::{Coordinates, CoordinatesError};
pub use google::Google;
pub use offline::Offline;
pub use osrm::Osrm;
pub use provider::{Leg, ProviderError, Source, TravelEstimate, TravelProvider};
pub use rank::{
    DispatchOptions, Job, Origin, Person, PersonOption, Role, SkillMatch, Vehicle, VehicleOption, dispatch_options,
    rank_people, rank_vehicles,
};
