//! Points on the Earth and the great-circle distance between them.

use serde::{Deserialize, Serialize};

/// The mean Earth radius (IUGG), in metres.
pub const EARTH_RADIUS_M: f64 = 6_371_008.8;

/// A WGS 84 position in decimal degrees.
///
/// Deserialisation does not check the ranges: call [`Coordinates::validate`]
/// (or build with [`Coordinates::new`]) on anything that came from outside.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[schema(as = GeoCoordinates)]
pub struct Coordinates {
    /// Latitude, -90 to 90.
    pub lat: f64,
    /// Longitude, -180 to 180.
    pub lon: f64,
}

/// Why a position is not one.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum CoordinatesError {
    #[error("{field} must be a finite number, got {value}")]
    NotFinite { field: &'static str, value: f64 },
    #[error("{field} must be between {min} and {max}, got {value}")]
    OutOfRange { field: &'static str, value: f64, min: f64, max: f64 },
}

impl Coordinates {
    /// A checked position.
    pub fn new(lat: f64, lon: f64) -> Result<Self, CoordinatesError> {
        let coordinates = Self { lat, lon };
        coordinates.validate()?;
        Ok(coordinates)
    }

    /// Finite, latitude in [-90, 90] and longitude in [-180, 180]; the error
    /// names the field.
    pub fn validate(&self) -> Result<(), CoordinatesError> {
        check("lat", self.lat, 90.0)?;
        check("lon", self.lon, 180.0)
    }

    /// The great-circle (haversine) distance to `other`, in metres.
    pub fn great_circle_m(&self, other: &Coordinates) -> f64 {
        let (lat1, lat2) = (self.lat.to_radians(), other.lat.to_radians());
        let delta_lat = (other.lat - self.lat).to_radians();
        let delta_lon = (other.lon - self.lon).to_radians();
        let half_chord = (delta_lat / 2.0).sin().powi(2) + lat1.cos() * lat2.cos() * (delta_lon / 2.0).sin().powi(2);
        // Rounding can push the argument a hair past 1 for antipodal points.
        2.0 * EARTH_RADIUS_M * half_chord.sqrt().min(1.0).asin()
    }
}

fn check(field: &'static str, value: f64, limit: f64) -> Result<(), CoordinatesError> {
    if !value.is_finite() {
        return Err(CoordinatesError::NotFinite { field, value });
    }
    if !(-limit..=limit).contains(&value) {
        return Err(CoordinatesError::OutOfRange { field, value, min: -limit, max: limit });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(lat: f64, lon: f64) -> Coordinates {
        Coordinates::new(lat, lon).expect("valid test coordinates")
    }

    #[test]
    fn known_city_distances() {
        // Reference great-circle distances on the 6,371.0088 km sphere.
        let paris = at(48.8566, 2.3522);
        let london = at(51.5074, -0.1278);
        let berlin = at(52.5200, 13.4050);
        let new_york = at(40.7128, -74.0060);
        let cases = [
            ("paris-london", paris, london, 343_556.0),
            ("paris-berlin", paris, berlin, 877_464.0),
            ("london-new york", london, new_york, 5_570_230.0),
        ];
        for (name, from, to, expected_m) in cases {
            let distance = from.great_circle_m(&to);
            assert!((distance - expected_m).abs() < 5.0, "{name}: {distance} m, expected about {expected_m} m");
            assert_eq!(distance, to.great_circle_m(&from), "{name} is symmetric");
        }
    }

    #[test]
    fn same_point_is_zero_and_antipodes_are_half_the_circumference() {
        let point = at(10.0, 20.0);
        assert_eq!(point.great_circle_m(&point), 0.0);
        let antipode = at(-10.0, -160.0);
        let half = std::f64::consts::PI * EARTH_RADIUS_M;
        assert!((point.great_circle_m(&antipode) - half).abs() < 1.0);
    }

    #[test]
    fn validation_names_the_field() {
        assert_eq!(
            Coordinates::new(91.0, 0.0),
            Err(CoordinatesError::OutOfRange { field: "lat", value: 91.0, min: -90.0, max: 90.0 })
        );
        assert_eq!(
            Coordinates::new(0.0, -180.5).map_err(|error| error.to_string()),
            Err("lon must be between -180 and 180, got -180.5".to_owned())
        );
        let not_finite = Coordinates::new(0.0, f64::NAN).expect_err("NaN is refused");
        assert!(matches!(not_finite, CoordinatesError::NotFinite { field: "lon", .. }));
        assert!(matches!(Coordinates::new(f64::INFINITY, 0.0), Err(CoordinatesError::NotFinite { field: "lat", .. })));
        assert!(Coordinates::new(-90.0, 180.0).is_ok(), "the bounds themselves are valid");
    }

    #[test]
    fn serde_uses_lat_and_lon() {
        let json = serde_json::to_string(&at(1.5, -2.25)).expect("serialises");
        assert_eq!(json, r#"{"lat":1.5,"lon":-2.25}"#);
        let back: Coordinates = serde_json::from_str(&json).expect("deserialises");
        assert_eq!(back, at(1.5, -2.25));
    }
}
