//! The estimate that needs nothing: great-circle distance × a road factor,
//! driven at an average speed.

use async_trait::async_trait;

use crate::geo::Coordinates;
use crate::provider::{Leg, ProviderError, Source, TravelEstimate, TravelProvider};

/// Offline estimates. Always answers; the fallback of every other provider.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Offline {
    /// Road distance ÷ great-circle distance (1.3 by default: roads wind).
    pub road_factor: f64,
    /// The average driving speed, km/h (50 by default).
    pub average_speed_kmh: f64,
}

impl Default for Offline {
    fn default() -> Self {
        Self { road_factor: 1.3, average_speed_kmh: 50.0 }
    }
}

impl Offline {
    /// The offline settings of `config`.
    pub fn from_config(config: &crate::TravelConfig) -> Self {
        Self { road_factor: config.road_factor, average_speed_kmh: config.average_speed_kmh }
    }

    /// The estimate from `origin` to `destination`. Expects the parameters
    /// [`crate::TravelConfig::validate`] accepts (positive and finite).
    pub fn estimate_one(&self, origin: &Coordinates, destination: &Coordinates) -> TravelEstimate {
        let distance_m = origin.great_circle_m(destination) * self.road_factor;
        let metres_per_second = self.average_speed_kmh * 1000.0 / 3600.0;
        TravelEstimate::measured(Source::Offline, distance_m, distance_m / metres_per_second)
    }

    /// One estimate per origin, in order.
    pub fn estimate_all(&self, destination: &Coordinates, origins: &[Coordinates]) -> Vec<TravelEstimate> {
        origins.iter().map(|origin| self.estimate_one(origin, destination)).collect()
    }
}

#[async_trait]
impl TravelProvider for Offline {
    fn source(&self) -> Source {
        Source::Offline
    }

    async fn estimate(&self, destination: Coordinates, origins: &[Coordinates]) -> Result<Vec<Leg>, ProviderError> {
        Ok(self.estimate_all(&destination, origins).into_iter().map(Leg::Route).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paris_to_london_with_the_defaults() {
        let paris = Coordinates::new(48.8566, 2.3522).expect("valid");
        let london = Coordinates::new(51.5074, -0.1278).expect("valid");
        let estimate = Offline::default().estimate_one(&paris, &london);
        // 343,556.5 m great circle × 1.3 = 446,623.5 m; at 50 km/h 32,156.9 s.
        assert_eq!(estimate.distance_m, 446_623);
        assert_eq!(estimate.duration_s, 32_157);
        assert_eq!(estimate.source, Source::Offline);
        assert_eq!(estimate.fallback, None);
    }

    #[test]
    fn factor_and_speed_are_applied() {
        let origin = Coordinates::new(0.0, 0.0).expect("valid");
        // One degree of longitude on the equator: 111,195.08 m.
        let destination = Coordinates::new(0.0, 1.0).expect("valid");
        let straight = Offline { road_factor: 1.0, average_speed_kmh: 100.0 }.estimate_one(&origin, &destination);
        assert_eq!(straight.distance_m, 111_195);
        assert_eq!(straight.duration_s, 4_003);
        let winding = Offline { road_factor: 2.0, average_speed_kmh: 100.0 }.estimate_one(&origin, &destination);
        assert_eq!(winding.distance_m, 222_390);
        assert_eq!(winding.duration_s, 8_006);
    }
}
