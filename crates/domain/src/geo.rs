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
        let (p1, p2) = (self.lat.to_radians(), other.lat.to_radians());
        let dp = p2 - p1;
        let dl = (other.lon - self.lon).to_radians();
        let a = (dp / 2.0).sin().powi(2) + p1.cos() * p2.cos() * (dl / 2.0).sin().powi(2);
        2.0 * EARTH_RADIUS_KM * a.sqrt().asin()
    }

    /// The point on the unit sphere. Two such points' squared chord ([`chord2`]) orders
    /// pairs as their great-circle distance does, with no trigonometry per pair: a loop
    /// over many places computes it once per place, not once per comparison.
    pub fn unit(self) -> [f64; 3] {
        let (p, l) = (self.lat.to_radians(), self.lon.to_radians());
        [p.cos() * l.cos(), p.cos() * l.sin(), p.sin()]
    }
}

const EARTH_RADIUS_KM: f64 = 6371.0088;

/// The squared chord between two points of the unit sphere (see [`LatLon::unit`]).
pub fn chord2(a: [f64; 3], b: [f64; 3]) -> f64 {
    let (x, y, z) = (a[0] - b[0], a[1] - b[1], a[2] - b[2]);
    x * x + y * y + z * z
}

/// The great-circle distance in kilometres of a squared chord: the haversine's `a` is a
/// quarter of it, so this is [`LatLon::distance_km`] up to rounding.
pub fn km_of_chord2(c2: f64) -> f64 {
    2.0 * EARTH_RADIUS_KM * (c2.max(0.0).sqrt() / 2.0).min(1.0).asin()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_chord_gives_the_haversine_distance() {
        let places = [
            (48.8566, 2.3522),
            (45.7640, 4.8357),
            (43.2965, 5.3698),
            (-33.8688, 151.2093),
            (51.5074, -0.1278),
            (48.8567, 2.3523),
            (0.0, 179.9),
            (0.0, -179.9),
        ];
        for a in places {
            for b in places {
                let (a, b) = (
                    LatLon::parse(a.0, a.1).unwrap(),
                    LatLon::parse(b.0, b.1).unwrap(),
                );
                let exact = a.distance_km(b);
                let chord = km_of_chord2(chord2(a.unit(), b.unit()));
                assert!(
                    (exact - chord).abs() < 1e-6,
                    "{a:?} {b:?}: {exact} vs {chord}"
                );
            }
        }
    }

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
