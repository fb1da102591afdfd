//! A grid of geographic cells (about 10 km) with the rows in each, overall and per specialty,
//! so that a search within a radius looks at the rows of the few cells the circle touches
//! instead of measuring its distance to every row that matches the rest of the query.
//! The cells a circle touches hold a superset of the rows within its radius: the caller
//! still measures each one.

use careslot_domain::geo::LatLon;
use std::collections::HashMap;

/// Cell height and width in degrees: about 10 km north–south, 10 km east–west at 45°N.
const CELL_LAT_DEG: f64 = 0.09;
const CELL_LON_DEG: f64 = 0.13;
/// As [`LatLon::distance_km`] measures.
const EARTH_RADIUS_KM: f64 = 6371.0088;
/// Key of the lists that hold every specialty.
const ALL: u16 = u16::MAX;

#[derive(Default)]
pub(super) struct Cells {
    /// (specialty slot or [`ALL`], cell row, cell column) → rows, sorted.
    lists: HashMap<(u16, i32, i32), Vec<u32>>,
    /// Rows whose coordinates are not a point on the globe (out of range, not finite):
    /// never placed in a cell, always handed out (the distance then decides).
    stray: Vec<u32>,
}

fn cell(p: LatLon) -> Option<(i32, i32)> {
    let on_globe =
        p.lat.is_finite() && p.lon.is_finite() && p.lat.abs() <= 90.0 && p.lon.abs() <= 180.0;
    on_globe.then(|| {
        (
            (p.lat / CELL_LAT_DEG).floor() as i32,
            (p.lon / CELL_LON_DEG).floor() as i32,
        )
    })
}

impl Cells {
    /// `rows` gives each row's position and specialty slot, in row order.
    pub fn build(rows: impl Iterator<Item = (LatLon, usize)>) -> Self {
        let mut out = Self::default();
        for (row, (pos, specialty)) in rows.enumerate() {
            let row = row as u32;
            match cell(pos) {
                Some((y, x)) => {
                    out.lists.entry((ALL, y, x)).or_default().push(row);
                    let slot = u16::try_from(specialty).unwrap_or(ALL - 1);
                    out.lists.entry((slot, y, x)).or_default().push(row);
                }
                None => out.stray.push(row),
            }
        }
        out
    }

    /// Rows (sorted) of the cells the circle around `center` of `radius_km` touches, of one
    /// specialty slot or all: a superset of the rows within the radius. `None` when the
    /// circle is too large or reaches a pole or the antimeridian (then every row may be in).
    pub fn around(
        &self,
        specialty: Option<usize>,
        center: LatLon,
        radius_km: f64,
    ) -> Option<Vec<u32>> {
        cell(center)?;
        if !radius_km.is_finite() || radius_km < 0.0 {
            return None;
        }
        // Angular radius with a margin over rounding; the bounding box of a circle on the
        // sphere: latitudes within it, and longitudes within asin(sin δ / cos φ) of the
        // centre (the circle's tangent meridians).
        let delta = radius_km * 1.001 / EARTH_RADIUS_KM + 1e-9;
        let lat = center.lat.to_radians();
        let (lat_lo, lat_hi) = ((lat - delta).to_degrees(), (lat + delta).to_degrees());
        if lat_lo <= -90.0 || lat_hi >= 90.0 {
            return None;
        }
        let s = delta.sin() / lat.cos();
        if !(0.0..1.0).contains(&s) {
            return None;
        }
        let dlon = s.asin().to_degrees();
        let (lon_lo, lon_hi) = (center.lon - dlon, center.lon + dlon);
        if lon_lo <= -180.0 || lon_hi >= 180.0 {
            return None;
        }
        let (y0, y1) = (
            (lat_lo / CELL_LAT_DEG).floor() as i32,
            (lat_hi / CELL_LAT_DEG).floor() as i32,
        );
        let (x0, x1) = (
            (lon_lo / CELL_LON_DEG).floor() as i32,
            (lon_hi / CELL_LON_DEG).floor() as i32,
        );
        // Too many cells to visit: the caller's scan costs less.
        if (i64::from(y1 - y0) + 1) * (i64::from(x1 - x0) + 1) > 4096 {
            return None;
        }
        let key = specialty.map_or(ALL, |s| u16::try_from(s).unwrap_or(ALL - 1));
        let mut rows: Vec<u32> = self.stray.clone();
        for y in y0..=y1 {
            for x in x0..=x1 {
                if let Some(list) = self.lists.get(&(key, y, x)) {
                    rows.extend_from_slice(list);
                }
            }
        }
        rows.sort_unstable();
        Some(rows)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A small deterministic generator (no dependency for a test's points).
    fn next(state: &mut u64) -> f64 {
        *state = state
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (*state >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Every row within the radius is among the cells' rows, against a brute-force
    /// distance over all rows: around France, at high latitudes, near the antimeridian and
    /// with radii from 0 to 300 km; stray coordinates are always handed out.
    #[test]
    fn cells_hold_every_row_within_the_radius() {
        let mut state = 7u64;
        let mut points = Vec::new();
        for i in 0..20_000 {
            let (lat, lon) = match i % 4 {
                0 | 1 => (
                    42.0 + next(&mut state) * 9.0,
                    -5.0 + next(&mut state) * 13.0,
                ),
                2 => (
                    70.0 + next(&mut state) * 19.9,
                    -180.0 + next(&mut state) * 360.0,
                ),
                _ => (
                    -60.0 + next(&mut state) * 120.0,
                    175.0 + next(&mut state) * 5.0,
                ),
            };
            points.push((LatLon { lat, lon }, i % 5));
        }
        points.push((
            LatLon {
                lat: f64::NAN,
                lon: 2.0,
            },
            0,
        ));
        points.push((
            LatLon {
                lat: 48.0,
                lon: 200.0,
            },
            0,
        ));
        let cells = Cells::build(points.iter().copied());
        let mut answered = 0;
        for q in 0..600 {
            let center = points[(next(&mut state) * 20_000.0) as usize].0;
            let center = LatLon {
                lat: center.lat + (next(&mut state) - 0.5) * 0.3,
                lon: center.lon + (next(&mut state) - 0.5) * 0.3,
            };
            let radius = [0.0, 0.5, 5.0, 20.0, 80.0, 300.0][q % 6];
            let specialty = (q % 3 != 0).then_some(q % 5);
            let Some(rows) = cells.around(specialty, center, radius) else {
                continue;
            };
            answered += 1;
            assert!(rows.is_sorted());
            for (row, (p, s)) in points.iter().enumerate() {
                let wanted = specialty.is_none_or(|x| x == *s);
                let inside = center.distance_km(*p) <= radius;
                let stray = cell(*p).is_none();
                if wanted && inside || stray {
                    assert!(
                        rows.binary_search(&(row as u32)).is_ok(),
                        "row {row} at {p:?} within {radius} km of {center:?}"
                    );
                }
            }
        }
        assert!(answered > 400, "{answered}");
    }
}
