//! A grid of geographic cells (about 10 km) with the rows in each, overall and per specialty,
//! so that a search within a radius looks at the rows of the few cells the circle touches
//! instead of measuring its distance to every row that matches the rest of the query.
//! Each cell keeps its rows' points as unit vectors next to the rows, so that telling which
//! rows are within the radius is a dot product over contiguous memory rather than a
//! haversine (four trigonometric calls) behind a row index: a circle around Paris holds tens
//! of thousands of rows.

use careslot_domain::geo::LatLon;
use std::collections::HashMap;

/// Cell height and width in degrees: about 10 km north–south, 10 km east–west at 45°N.
const CELL_LAT_DEG: f64 = 0.045;
const CELL_LON_DEG: f64 = 0.065;
/// As [`LatLon::distance_km`] measures.
const EARTH_RADIUS_KM: f64 = 6371.0088;
/// Key of the lists that hold every specialty.
const ALL: u16 = u16::MAX;

/// The rows of one cell (sorted) and their points on the unit sphere, in the same order.
#[derive(Default)]
struct List {
    rows: Vec<u32>,
    points: Vec<[f64; 3]>,
}

impl List {
    fn push(&mut self, row: u32, point: [f64; 3]) {
        self.rows.push(row);
        self.points.push(point);
    }
}

/// A radius around a point, decided on the unit sphere: the haversine distance is within
/// the radius exactly when the chord between the unit vectors is within 2 sin(r / 2R), so
/// the squared chord decides every point but those whose chord is within rounding of the
/// limit, for which `exact` (the haversine itself) decides. The answer is exactly
/// `distance_km <= radius`, without trigonometry for almost every point.
pub(super) struct Circle {
    centre: [f64; 3],
    limit: f64,
    band: f64,
}

impl Circle {
    pub fn new(center: LatLon, radius_km: f64) -> Self {
        let half = (radius_km / (2.0 * EARTH_RADIUS_KM)).min(std::f64::consts::FRAC_PI_2);
        let limit = 4.0 * half.sin() * half.sin();
        Self {
            centre: center.unit(),
            limit,
            // Far wider than the rounding of either computation (about 1e-15 of the values).
            band: 1e-12 + limit * 1e-9,
        }
    }

    pub fn contains(&self, p: [f64; 3], exact: impl FnOnce() -> bool) -> bool {
        let chord2 = careslot_domain::geo::chord2(self.centre, p);
        chord2 < self.limit - self.band || (chord2 <= self.limit + self.band && exact())
    }
}

/// A cell list a circle touches (see [`Cells::touched_lists`]).
pub(super) struct Touched<'a> {
    pub key: super::timeline::ListKey,
    pub rows: &'a [u32],
    points: &'a [[f64; 3]],
    /// The whole cell lies within the radius.
    pub inside: bool,
    /// No point of the cell is nearer to the centre than this (km): see [`nearest_km`].
    pub near_km: f64,
}

/// A lower bound of the distance (km) from `center` to any point of the cell of row `y`
/// and column `x`. By the haversine, sin²(d/2) = sin²(Δφ/2) + cos φ₁ cos φ₂ sin²(Δλ/2):
/// each term is at least its value at the cell's nearest latitude, nearest longitude and
/// lowest cosine taken apart.
fn nearest_km(center: LatLon, y: i32, x: i32) -> f64 {
    let (lat0, lat1) = (y as f64 * CELL_LAT_DEG, (y + 1) as f64 * CELL_LAT_DEG);
    let (lon0, lon1) = (x as f64 * CELL_LON_DEG, (x + 1) as f64 * CELL_LON_DEG);
    let gap = |v: f64, lo: f64, hi: f64| (lo - v).max(v - hi).max(0.0).to_radians();
    let (dp, dl) = (gap(center.lat, lat0, lat1), gap(center.lon, lon0, lon1));
    let cos_far = lat0
        .to_radians()
        .cos()
        .min(lat1.to_radians().cos())
        .max(0.0);
    let a = (dp / 2.0).sin().powi(2)
        + center.lat.to_radians().cos().max(0.0) * cos_far * (dl / 2.0).sin().powi(2);
    // Below by far more than rounding.
    (2.0 * EARTH_RADIUS_KM * a.min(1.0).sqrt().asin() - 1e-6).max(0.0)
}

#[derive(Default)]
pub(super) struct Cells {
    /// (specialty slot or [`ALL`], cell row, cell column) → its rows.
    lists: HashMap<(u16, i32, i32), List>,
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
                    let point = pos.unit();
                    out.lists.entry((ALL, y, x)).or_default().push(row, point);
                    let slot = u16::try_from(specialty).unwrap_or(ALL - 1);
                    out.lists.entry((slot, y, x)).or_default().push(row, point);
                }
                None => out.stray.push(row),
            }
        }
        out
    }

    /// The cells (rows and columns, inclusive) that the circle around `center` of
    /// `radius_km` touches; `None` when the circle is too large or reaches a pole or the
    /// antimeridian (then every row may be in).
    fn touched(center: LatLon, radius_km: f64) -> Option<((i32, i32), (i32, i32))> {
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
        Some(((y0, y1), (x0, x1)))
    }

    /// Rows (sorted) of the cells the circle around `center` of `radius_km` touches, of one
    /// specialty slot or all: a superset of the rows within the radius. `None` when the
    /// circle is too large or reaches a pole or the antimeridian (then every row may be in).
    #[cfg(test)]
    pub fn around(
        &self,
        specialty: Option<usize>,
        center: LatLon,
        radius_km: f64,
    ) -> Option<Vec<u32>> {
        let ((y0, y1), (x0, x1)) = Self::touched(center, radius_km)?;
        let key = specialty.map_or(ALL, |s| u16::try_from(s).unwrap_or(ALL - 1));
        let mut rows: Vec<u32> = self.stray.clone();
        for y in y0..=y1 {
            for x in x0..=x1 {
                if let Some(list) = self.lists.get(&(key, y, x)) {
                    rows.extend_from_slice(&list.rows);
                }
            }
        }
        rows.sort_unstable();
        Some(rows)
    }

    /// The lists of the cells the circle around `center` of `radius_km` touches, of one
    /// specialty slot or all, each with its key and whether the whole cell lies within the
    /// radius; `None` as [`Cells::around`].
    pub fn touched_lists(
        &self,
        specialty: Option<usize>,
        center: LatLon,
        radius_km: f64,
    ) -> Option<Vec<Touched<'_>>> {
        let ((y0, y1), (x0, x1)) = Self::touched(center, radius_km)?;
        let key = specialty.map_or(ALL, |s| u16::try_from(s).unwrap_or(ALL - 1));
        let mut out = Vec::new();
        for y in y0..=y1 {
            for x in x0..=x1 {
                let Some(list) = self.lists.get(&(key, y, x)) else {
                    continue;
                };
                // The farthest point of a latitude–longitude rectangle this small from any
                // point is one of its corners (along a parallel the distance grows with the
                // longitude difference, along a meridian it has one minimum); the margin is
                // far above rounding.
                let corners = [
                    (y as f64 * CELL_LAT_DEG, x as f64 * CELL_LON_DEG),
                    (y as f64 * CELL_LAT_DEG, (x + 1) as f64 * CELL_LON_DEG),
                    ((y + 1) as f64 * CELL_LAT_DEG, x as f64 * CELL_LON_DEG),
                    ((y + 1) as f64 * CELL_LAT_DEG, (x + 1) as f64 * CELL_LON_DEG),
                ];
                let inside = corners
                    .iter()
                    .all(|&(lat, lon)| center.distance_km(LatLon { lat, lon }) <= radius_km - 1e-3);
                out.push(Touched {
                    key: (key, y, x),
                    rows: &list.rows,
                    points: &list.points,
                    inside,
                    near_km: nearest_km(center, y, x),
                });
            }
        }
        Some(out)
    }

    /// Rows whose coordinates are not a point on the globe (in no cell).
    pub fn stray(&self) -> &[u32] {
        &self.stray
    }

    /// How many rows of `lists` (from [`Cells::touched_lists`]) are within `radius_km` of
    /// `center`, as [`Cells::within`] decides, with how many rows were measured: the rows
    /// of cells wholly inside are counted, not measured. Stray rows are not counted.
    pub fn count_within(
        lists: &[Touched<'_>],
        center: LatLon,
        radius_km: f64,
        exact: impl Fn(u32) -> bool,
    ) -> (usize, usize) {
        let circle = Circle::new(center, radius_km);
        let (mut count, mut looked) = (0usize, 0usize);
        for list in lists {
            if list.inside {
                count += list.rows.len();
                continue;
            }
            looked += list.rows.len();
            for (&row, p) in list.rows.iter().zip(list.points) {
                if circle.contains(*p, || exact(row)) {
                    count += 1;
                }
            }
        }
        (count, looked)
    }

    /// Exactly the rows within `radius_km` of `center` (as [`LatLon::distance_km`] measures,
    /// which `exact` does for a row), of one specialty slot or all, in no particular order;
    /// with how many rows were looked at. `None` as [`Cells::around`].
    /// The radius is decided as [`Circle`] does.
    pub fn within(
        &self,
        specialty: Option<usize>,
        center: LatLon,
        radius_km: f64,
        exact: impl Fn(u32) -> bool,
    ) -> Option<(Vec<u32>, usize)> {
        let ((y0, y1), (x0, x1)) = Self::touched(center, radius_km)?;
        let key = specialty.map_or(ALL, |s| u16::try_from(s).unwrap_or(ALL - 1));
        let circle = Circle::new(center, radius_km);
        let mut rows: Vec<u32> = self.stray.iter().copied().filter(|&r| exact(r)).collect();
        let mut looked = self.stray.len();
        for y in y0..=y1 {
            for x in x0..=x1 {
                let Some(list) = self.lists.get(&(key, y, x)) else {
                    continue;
                };
                looked += list.rows.len();
                for (&row, p) in list.rows.iter().zip(&list.points) {
                    if circle.contains(*p, || exact(row)) {
                        rows.push(row);
                    }
                }
            }
        }
        Some((rows, looked))
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

    /// No point of a cell is nearer than its `nearest_km`, and the bound is tight enough
    /// to matter: centres around France, far north and south, inside and outside the cells
    /// near them; points all over each cell, its corners included.
    #[test]
    fn no_point_of_a_cell_is_nearer_than_its_bound() {
        let mut state = 11u64;
        let mut tight = 0usize;
        for i in 0..4_000 {
            let center = match i % 3 {
                0 => LatLon {
                    lat: 42.0 + next(&mut state) * 9.0,
                    lon: -5.0 + next(&mut state) * 13.0,
                },
                1 => LatLon {
                    lat: 60.0 + next(&mut state) * 25.0,
                    lon: -170.0 + next(&mut state) * 340.0,
                },
                _ => LatLon {
                    lat: -60.0 + next(&mut state) * 40.0,
                    lon: -170.0 + next(&mut state) * 340.0,
                },
            };
            let (cy, cx) = cell(center).expect("on the globe");
            let (y, x) = (
                cy + (next(&mut state) * 9.0) as i32 - 4,
                cx + (next(&mut state) * 9.0) as i32 - 4,
            );
            let bound = nearest_km(center, y, x);
            assert!(bound >= 0.0);
            if (y, x) == (cy, cx) {
                assert_eq!(bound, 0.0, "the centre's own cell");
            }
            let mut nearest = f64::INFINITY;
            for j in 0..=40 {
                for k in 0..=40 {
                    let p = LatLon {
                        lat: (y as f64 + j as f64 / 40.0) * CELL_LAT_DEG,
                        lon: (x as f64 + k as f64 / 40.0) * CELL_LON_DEG,
                    };
                    nearest = nearest.min(center.distance_km(p));
                }
            }
            assert!(
                bound <= nearest,
                "{center:?} cell ({y}, {x}): bound {bound} km, a point at {nearest} km"
            );
            if nearest - bound < 0.5 {
                tight += 1;
            }
        }
        assert!(tight > 3_500, "only {tight} bounds within 0.5 km");
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

    /// `within` gives exactly the rows whose haversine distance is within the radius, against
    /// brute force: random circles, and circles whose radius is some row's distance exactly
    /// (that row on the boundary, in) or the next float below it (out).
    #[test]
    fn within_is_exactly_the_haversine_radius() {
        let mut state = 11u64;
        let mut points = Vec::new();
        for i in 0..20_000 {
            let (lat, lon) = if i % 3 == 0 {
                (
                    -60.0 + next(&mut state) * 120.0,
                    -170.0 + next(&mut state) * 340.0,
                )
            } else {
                (48.5 + next(&mut state) * 0.8, 1.9 + next(&mut state) * 1.0)
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
        // Two rows on the same spot (a shared practice).
        points.push((points[1].0, 1));
        let cells = Cells::build(points.iter().copied());
        let mut boundary = 0;
        for q in 0..900 {
            let center = points[(next(&mut state) * 20_000.0) as usize].0;
            let center = LatLon {
                lat: center.lat + (next(&mut state) - 0.5) * 0.1,
                lon: center.lon + (next(&mut state) - 0.5) * 0.1,
            };
            let specialty = (q % 2 == 0).then_some(q % 5);
            let mut radius = [0.0, 0.3, 3.0, 20.0, 80.0][q % 5];
            if q % 3 == 1 {
                // The distance of some row to the centre, exactly; or just below it.
                let other = points[(next(&mut state) * 20_000.0) as usize].0;
                radius = center.distance_km(other).min(150.0);
                if q % 2 == 1 {
                    radius = f64::from_bits(radius.to_bits() - 1);
                }
                boundary += 1;
            }
            let exact = |r: u32| center.distance_km(points[r as usize].0) <= radius;
            let Some((mut got, looked)) = cells.within(specialty, center, radius, exact) else {
                continue;
            };
            got.sort_unstable();
            let expected: Vec<u32> = (0..points.len() as u32)
                .filter(|&r| {
                    let (p, s) = points[r as usize];
                    specialty.is_none_or(|x| x == s) && center.distance_km(p) <= radius
                })
                .collect();
            assert_eq!(got, expected, "{radius} km around {center:?}");
            assert!(looked >= got.len());
        }
        assert!(boundary > 250, "{boundary}");
    }
}
