//! Turns a city name or postcode into a point, offline: from `data/gazetteer.tsv` (built by
//! `scripts/build-gazetteer.py` from the real French vaccination-site list, plus a few German
//! and Italian cities). Used for "near Lyon" searches and to place a new practice's address
//! without calling a third-party geocoder.

use crate::search::fold;
use careslot_domain::geo::LatLon;
use std::sync::OnceLock;

struct Row {
    country: &'static str,
    postcode: &'static str,
    city: &'static str,
    city_key: String,
    pos: LatLon,
}

fn rows() -> &'static [Row] {
    static ROWS: OnceLock<Vec<Row>> = OnceLock::new();
    ROWS.get_or_init(|| {
        include_str!("../data/gazetteer.tsv")
            .lines()
            .filter(|l| !l.starts_with('#'))
            .filter_map(|l| {
                let mut f = l.split('\t');
                let (country, postcode, city) = (f.next()?, f.next()?, f.next()?);
                let lat = f.next()?.parse().ok()?;
                let lon = f.next()?.parse().ok()?;
                Some(Row {
                    country,
                    postcode,
                    city,
                    city_key: fold(city),
                    pos: LatLon::parse(lat, lon).ok()?,
                })
            })
            .collect()
    })
}

/// A place found: a display name and its (mean) position.
#[derive(Debug, Clone, PartialEq)]
pub struct Located {
    pub label: String,
    pub pos: LatLon,
}

fn mean<'a>(it: impl Iterator<Item = &'a Row>) -> Option<(LatLon, &'a Row)> {
    let (mut lat, mut lon, mut n, mut first) = (0.0, 0.0, 0.0, None);
    for r in it {
        lat += r.pos.lat;
        lon += r.pos.lon;
        n += 1.0;
        first.get_or_insert(r);
    }
    let first = first?;
    LatLon::parse(lat / n, lon / n).ok().map(|p| (p, first))
}

/// "Lyon", "lyon 3e"? no: a city name (diacritics and case ignored) or a postcode prefix
/// of at least two digits ("69", "69003").
pub fn locate(query: &str) -> Option<Located> {
    let q = query.trim();
    if q.len() >= 2 && q.len() <= 5 && q.bytes().all(|b| b.is_ascii_digit()) {
        let (pos, first) = mean(rows().iter().filter(|r| r.postcode.starts_with(q)))?;
        let label = if q.len() == 5 {
            format!("{} {}", q, first.city)
        } else {
            q.to_owned()
        };
        return Some(Located { label, pos });
    }
    let key = fold(q);
    if key.is_empty() {
        return None;
    }
    let (pos, first) = mean(rows().iter().filter(|r| r.city_key == key))?;
    Some(Located {
        label: first.city.to_owned(),
        pos,
    })
}

/// The position of an address's postcode and city in `country` (postcode and city first,
/// then the postcode alone, then the city alone).
pub fn position_of(country: &str, postcode: &str, city: &str) -> Option<LatLon> {
    let pc = postcode.trim();
    let key = fold(city.trim());
    let in_country = || rows().iter().filter(move |r| r.country == country);
    mean(in_country().filter(|r| r.postcode == pc && r.city_key == key))
        .or_else(|| mean(in_country().filter(|r| r.postcode == pc)))
        .or_else(|| mean(in_country().filter(|r| !key.is_empty() && r.city_key == key)))
        .map(|(p, _)| p)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cities_and_postcodes() {
        let lyon = locate("lyon").unwrap();
        assert!((lyon.pos.lat - 45.76).abs() < 0.1 && (lyon.pos.lon - 4.84).abs() < 0.1);
        let paris = locate("75004").unwrap();
        assert!((paris.pos.lat - 48.85).abs() < 0.05);
        assert!(locate("Berlin").is_some());
        assert!(locate("Atlantis").is_none());
        assert!(locate("7").is_none());
        let p = position_of("FR", "69003", "Lyon").unwrap();
        assert!((p.lat - 45.75).abs() < 0.1);
        assert!(position_of("DE", "99999", "Nowhere").is_none());
    }
}
