//! Coordinates and great-circle distance.

use crate::DomainError;

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LatLon {
    pub lat: f64,
    pub lon: f64,
}

impl LatLon {
    pub fn parse(lat: f64, lon: f64) -> Result<Self, DomainError> {
        if !lat.is_finite() || !(-90.0..=90.0).contains(&lat) {
            return Err(DomainError::new("lat", "must be between -90 and 90"));
        }
        if !lon.is_finite() || !(-180.0..=180.0).contains(&lon) {
            return Err(DomainError::new("lon", "must be between -180 and 180"));
        }
        Ok(Self { lat, lon })
    }

    /// Haversine distance in kilometres.
    pub fn distance_km(self, other: LatLon) -> f64 {
        const EARTH_RADIUS_KM: f64 = 6371.0088;
        let (p1, p2) = (self.lat.to_radians(), other.lat.to_radians());
        let dp = p2 - p1;
        let dl = (other.lon - self.lon).to_radians();
        let a = (dp / 2.0).sin().powi(2) + p1.cos() * p2.cos() * (dl / 2.0).sin().powi(2);
        2.0 * EARTH_RADIUS_KM * a.sqrt().asin()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paris_to_lyon_is_about_392_km() {
        let paris = LatLon::parse(48.8566, 2.3522).unwrap();
        let lyon = LatLon::parse(45.764, 4.8357).unwrap();
        let d = paris.distance_km(lyon);
        assert!((d - 392.0).abs() < 3.0, "{d}");
    }

    #[test]
    fn rejects_out_of_range() {
        assert_eq!(LatLon::parse(91.0, 0.0).unwrap_err().field, "lat");
        assert_eq!(LatLon::parse(0.0, f64::NAN).unwrap_err().field, "lon");
    }
}
