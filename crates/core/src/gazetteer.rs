//! Turns any form of place into postcodes and a point, offline: every French commune (and the
//! districts of Paris, Lyon and Marseille) and the German and Italian towns, from
//! `data/gazetteer.tsv.gz` (built by `scripts/build-gazetteer.py`, sources and licences in
//! `data/README.md`). Used by search ("Lyon", "Paris 11e", "75011", "Marseile") and to place
//! a new practice's address without calling a third-party geocoder.

use crate::search::text::{allowed_edits, distance, fold, words};
use careslot_domain::geo::LatLon;
use std::collections::{BTreeMap, HashMap};
use std::io::Read;
use std::sync::OnceLock;

/// One row of the gazetteer: a commune, a municipal district, or a German/Italian town.
#[derive(Debug)]
pub struct Row {
    pub country: &'static str,
    pub name: &'static str,
    /// The number of a municipal district ("Paris 11e" is Paris, 11), else 0.
    pub district: u8,
    pub postcodes: Vec<&'static str>,
    pub pos: LatLon,
    pub population: u32,
}

impl Row {
    /// "Paris 11e", "Lyon 1er", "Bourg-en-Bresse".
    pub fn label(&self) -> String {
        match self.district {
            0 => self.name.to_owned(),
            1 => format!("{} 1er", self.name),
            n => format!("{} {n}e", self.name),
        }
    }
}

pub struct Gazetteer {
    rows: Vec<Row>,
    /// Folded words of a commune's name, joined by one space → rows (homonyms share a key).
    by_key: HashMap<String, Vec<u32>>,
    /// Distinct keys, for typo-tolerant look-ups, with their letters.
    keys: Vec<(String, Vec<char>)>,
    districts: HashMap<(String, u8), u32>,
    /// Keys of rows that are the same town under several names ("munich", "munchen").
    aliases: HashMap<String, Vec<String>>,
    by_postcode: BTreeMap<&'static str, Vec<u32>>,
    /// Most words in a key, the longest phrase worth trying.
    longest: usize,
}

/// A place understood: where it is and how a practice's address is matched against it.
#[derive(Debug, Clone, PartialEq)]
pub struct PlaceHit {
    /// As shown back to the visitor: "Paris 11e", "Lyon", "75011 Paris 11e".
    pub label: String,
    pub pos: Option<LatLon>,
    /// A practice is in the place when its postcode is one of these…
    pub postcodes: Vec<String>,
    /// …or starts with this (a department "69", an incomplete postcode)…
    pub postcode_prefix: Option<String>,
    /// …or its town's key (see [`town_key`]) is this one ("paris")…
    pub town: Option<String>,
    /// …or one of the other names of the same town ("roma" for "rome").
    pub aliases: Vec<String>,
    /// Edits forgiven to find it (0: typed as listed).
    pub edits: usize,
}

/// The key of a town name as typed on a practice's address: folded words, without a trailing
/// district or CEDEX ("Lyon 3e Arrondissement" and "LYON CEDEX 03" are "lyon").
pub fn town_key(city: &str) -> String {
    let mut w = words(city);
    while let Some(last) = w.last() {
        let noise = ["arrondissement", "arr", "cedex", "e", "er", "eme", "bezirk"];
        if noise.contains(&last.as_str()) || ordinal(last).is_some() {
            w.pop();
        } else {
            break;
        }
    }
    w.join(" ")
}

/// "11", "11e", "11eme", "1er", "3ieme" → the number (1 to 20).
fn ordinal(w: &str) -> Option<u8> {
    let digits = w.len() - w.trim_start_matches(|c: char| c.is_ascii_digit()).len();
    if digits == 0 || digits > 2 {
        return None;
    }
    let suffix = &w[digits..];
    if !["", "e", "eme", "er", "re", "ieme", "ere", "o"].contains(&suffix) {
        return None;
    }
    w[..digits]
        .parse::<u8>()
        .ok()
        .filter(|n| (1..=20).contains(n))
}

pub fn get() -> &'static Gazetteer {
    static G: OnceLock<Gazetteer> = OnceLock::new();
    G.get_or_init(Gazetteer::load)
}

impl Gazetteer {
    fn load() -> Self {
        // Read once for the life of the process; the rows borrow from it.
        let mut text = String::new();
        let packed: &[u8] = include_bytes!("../data/gazetteer.tsv.gz");
        if flate2::read::GzDecoder::new(packed)
            .read_to_string(&mut text)
            .is_err()
        {
            text.clear();
        }
        let text: &'static str = Box::leak(text.into_boxed_str());
        let rows: Vec<Row> = text
            .lines()
            .filter(|l| !l.starts_with('#'))
            .filter_map(|l| {
                let mut f = l.split('\t');
                let country = f.next()?;
                let name = f.next()?;
                let district = f.next()?;
                let postcodes = f.next()?.split_whitespace().collect();
                let lat = f.next()?.parse().ok()?;
                let lon = f.next()?.parse().ok()?;
                let population = f.next()?.parse().unwrap_or(0);
                Some(Row {
                    country,
                    name,
                    district: district.parse().unwrap_or(0),
                    postcodes,
                    pos: LatLon::parse(lat, lon).ok()?,
                    population,
                })
            })
            .collect();
        let mut by_key: HashMap<String, Vec<u32>> = HashMap::new();
        let mut districts = HashMap::new();
        let mut by_postcode: BTreeMap<&'static str, Vec<u32>> = BTreeMap::new();
        for (i, r) in rows.iter().enumerate() {
            let key = words(r.name).join(" ");
            for pc in &r.postcodes {
                by_postcode.entry(pc).or_default().push(i as u32);
            }
            if r.district > 0 {
                districts.insert((key, r.district), i as u32);
            } else {
                by_key.entry(key).or_default().push(i as u32);
            }
        }
        // The most populous homonym first: "Valence" is the Drôme's before any other.
        for list in by_key.values_mut() {
            list.sort_by_key(|&i| std::cmp::Reverse(rows[i as usize].population));
        }
        // Rows of one town under several names share country, position and population.
        let mut same: HashMap<(&str, u64, u64, u32), Vec<String>> = HashMap::new();
        for r in rows
            .iter()
            .filter(|r| r.district == 0 && r.postcodes.is_empty())
        {
            let id = (
                r.country,
                r.pos.lat.to_bits(),
                r.pos.lon.to_bits(),
                r.population,
            );
            same.entry(id).or_default().push(words(r.name).join(" "));
        }
        let mut aliases: HashMap<String, Vec<String>> = HashMap::new();
        for group in same.into_values().filter(|g| g.len() > 1) {
            for k in &group {
                let others = group.iter().filter(|o| *o != k).cloned();
                aliases.entry(k.clone()).or_default().extend(others);
            }
        }
        let mut keys: Vec<(String, Vec<char>)> = by_key
            .keys()
            .map(|k| (k.clone(), k.chars().collect()))
            .collect();
        keys.sort();
        let longest = keys
            .iter()
            .map(|(k, _)| k.split(' ').count())
            .max()
            .unwrap_or(1);
        Self {
            rows,
            by_key,
            keys,
            districts,
            aliases,
            by_postcode,
            longest,
        }
    }

    pub fn len(&self) -> usize {
        self.rows.len()
    }

    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    fn row(&self, i: u32) -> &Row {
        &self.rows[i as usize]
    }

    fn commune_hit(&self, key: &str, edits: usize) -> Option<PlaceHit> {
        let first = self.row(*self.by_key.get(key)?.first()?);
        // A big city's postcodes are its own (Paris, Lyon, Marseille): they find practices
        // whose town is written "Paris 11e" or left out.
        let has_districts = self.districts.contains_key(&(key.to_owned(), 1));
        Some(PlaceHit {
            label: first.label(),
            pos: Some(first.pos),
            postcodes: if has_districts {
                first.postcodes.iter().map(|p| p.to_string()).collect()
            } else {
                Vec::new()
            },
            postcode_prefix: None,
            town: Some(key.to_owned()),
            aliases: self.aliases.get(key).cloned().unwrap_or_default(),
            edits,
        })
    }

    fn postcode_hit(&self, code: &str) -> PlaceHit {
        let rows: Vec<&Row> = self
            .by_postcode
            .range(code..)
            .take_while(|(k, _)| k.starts_with(code))
            .flat_map(|(_, v)| v.iter().map(|&i| self.row(i)))
            .collect();
        let pos = mean(rows.iter().map(|r| r.pos));
        if code.len() == 5 {
            // A district names the postcode better than its city ("75011 Paris 11e").
            let label = rows
                .iter()
                .find(|r| r.district > 0)
                .or(rows.first())
                .map_or(code.to_owned(), |r| format!("{code} {}", r.label()));
            PlaceHit {
                label,
                pos,
                postcodes: vec![code.to_owned()],
                postcode_prefix: None,
                town: None,
                aliases: Vec::new(),
                edits: 0,
            }
        } else {
            PlaceHit {
                label: code.to_owned(),
                pos,
                postcodes: Vec::new(),
                postcode_prefix: Some(code.to_owned()),
                town: None,
                aliases: Vec::new(),
                edits: 0,
            }
        }
    }

    /// The place that `words` (folded) start with, exactly as listed: a postcode or its first
    /// digits, a district ("paris 11e", "lyon 3", "marseille 8eme arrondissement"), a
    /// commune or town (the longest name that fits: "saint etienne du rouvray" before "saint
    /// etienne"). Returns it with the number of words it took.
    pub fn phrase(&self, words: &[String]) -> Option<(usize, PlaceHit)> {
        let first = words.first()?;
        if (2..=5).contains(&first.len()) && first.bytes().all(|b| b.is_ascii_digit()) {
            return Some((1, self.postcode_hit(first)));
        }
        for n in (1..=self.longest.min(words.len())).rev() {
            let key = words[..n].join(" ");
            // One- and two-letter communes ("Y", "Eu") are too often something else.
            if key.len() < 3 || !self.by_key.contains_key(&key) {
                continue;
            }
            if let Some((extra, district)) = self.district_after(&key, &words[n..]) {
                let r = self.row(district);
                return Some((
                    n + extra,
                    PlaceHit {
                        label: r.label(),
                        pos: Some(r.pos),
                        postcodes: r.postcodes.iter().map(|p| p.to_string()).collect(),
                        postcode_prefix: None,
                        town: None,
                        aliases: Vec::new(),
                        edits: 0,
                    },
                ));
            }
            return self.commune_hit(&key, 0).map(|h| (n, h));
        }
        None
    }

    /// "11e", "11 eme", "11e arrondissement" after a city with districts.
    fn district_after(&self, key: &str, rest: &[String]) -> Option<(usize, u32)> {
        let mut taken = 0;
        let mut number = None;
        if let Some(w) = rest.first() {
            number = ordinal(w);
            taken = 1;
            if number.is_some() {
                if let Some(next) = rest.get(1) {
                    if ["e", "er", "eme", "arrondissement", "arr", "bezirk"]
                        .contains(&next.as_str())
                    {
                        taken = 2;
                        if let Some(third) = rest.get(2) {
                            if next != "arrondissement" && third == "arrondissement" {
                                taken = 3;
                            }
                        }
                    }
                }
            }
        }
        let i = *self.districts.get(&(key.to_owned(), number?))?;
        Some((taken, i))
    }

    /// The commune or town closest to `text` (folded, words joined by one space) within the
    /// typos its length allows; the most populous among the closest.
    pub fn fuzzy(&self, text: &str) -> Option<PlaceHit> {
        let q: Vec<char> = text.chars().collect();
        let max = allowed_edits(q.iter().filter(|c| **c != ' ').count());
        if max == 0 {
            return None;
        }
        let mut best: Option<(usize, u32, &str)> = None;
        for (key, chars) in &self.keys {
            if chars.len().abs_diff(q.len()) > max {
                continue;
            }
            if let Some(d) = distance(&q, chars, max, false) {
                let population = self
                    .by_key
                    .get(key)
                    .and_then(|l| l.first())
                    .map_or(0, |&i| self.row(i).population);
                let better = match best {
                    None => true,
                    Some((bd, bp, _)) => d < bd || (d == bd && population > bp),
                };
                if better {
                    best = Some((d, population, key));
                }
            }
        }
        let (d, _, key) = best?;
        self.commune_hit(key, d)
    }

    /// Any form of place typed alone ("Lyon 3e", "75011", "Marseile", "69"), exact first.
    pub fn place(&self, query: &str) -> Option<PlaceHit> {
        let w = words(query);
        if w.is_empty() {
            return None;
        }
        if let Some((n, hit)) = self.phrase(&w) {
            // "94300 Vincennes": the postcode says it all.
            if n == w.len() || hit.postcodes.len() == 1 && w[0].len() == 5 {
                return Some(hit);
            }
        }
        self.fuzzy(&w.join(" "))
    }

    /// The closest commune keys to a word, for "did you mean" (a looser bound than search).
    pub fn closest_key(&self, word: &str, max: usize) -> Option<(usize, &str)> {
        let q: Vec<char> = word.chars().collect();
        self.keys
            .iter()
            .filter(|(_, c)| c.len().abs_diff(q.len()) <= max)
            .filter_map(|(k, c)| distance(&q, c, max, false).map(|d| (d, k.as_str())))
            .min()
    }
}

fn mean(it: impl Iterator<Item = LatLon>) -> Option<LatLon> {
    let (mut lat, mut lon, mut n) = (0.0, 0.0, 0.0);
    for p in it {
        lat += p.lat;
        lon += p.lon;
        n += 1.0;
    }
    (n > 0.0)
        .then(|| LatLon::parse(lat / n, lon / n).ok())
        .flatten()
}

/// A place found: a display name and its (mean) position.
#[derive(Debug, Clone, PartialEq)]
pub struct Located {
    pub label: String,
    pub pos: LatLon,
}

/// Any form of place ("Lyon", "lyon 3e", "Paris 11", "75011", "69", "Marseile") to a point.
pub fn locate(query: &str) -> Option<Located> {
    let hit = get().place(query)?;
    Some(Located {
        label: hit.label,
        pos: hit.pos?,
    })
}

/// The position of an address's postcode and city in `country` (postcode and city first,
/// then the postcode alone, then the city alone).
pub fn position_of(country: &str, postcode: &str, city: &str) -> Option<LatLon> {
    let g = get();
    let pc = postcode.trim();
    let key = town_key(city);
    let in_country = |r: &&Row| r.country == country;
    let with_pc: Vec<&Row> = g
        .by_postcode
        .get(pc)
        .map(|l| l.iter().map(|&i| g.row(i)).filter(in_country).collect())
        .unwrap_or_default();
    let same_town = |r: &&&Row| words(r.name).join(" ") == key;
    if let Some(r) = with_pc.iter().find(same_town) {
        // A district of the city when the postcode names one.
        let district = with_pc.iter().find(|r| r.district > 0);
        return Some(district.unwrap_or(r).pos);
    }
    if let Some(p) = mean(with_pc.iter().map(|r| r.pos)) {
        return Some(p);
    }
    g.by_key
        .get(&key)?
        .iter()
        .map(|&i| g.row(i))
        .find(|r| r.country == country)
        .map(|r| r.pos)
}

/// Folded words of a display name, as the gazetteer keys them (for callers outside search).
pub fn key_of(name: &str) -> String {
    fold(name)
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn near(p: LatLon, lat: f64, lon: f64, tolerance: f64) -> bool {
        (p.lat - lat).abs() < tolerance && (p.lon - lon).abs() < tolerance
    }

    #[test]
    fn every_commune_is_there() {
        let g = get();
        assert!(g.len() > 40_000, "{} rows", g.len());
        let communes = g
            .rows
            .iter()
            .filter(|r| r.country == "FR" && r.district == 0)
            .count();
        assert!(communes > 34_000, "{communes} French communes");
        assert!(g.rows.iter().filter(|r| r.country == "DE").count() > 1000);
        assert!(g.rows.iter().filter(|r| r.country == "IT").count() > 1000);
    }

    #[test]
    fn cities_and_postcodes() {
        let lyon = locate("lyon").unwrap();
        assert!(near(lyon.pos, 45.76, 4.84, 0.1));
        let paris = locate("75004").unwrap();
        assert!(near(paris.pos, 48.85, 2.35, 0.05));
        assert_eq!(paris.label, "75004 Paris 4e");
        assert!(locate("Berlin").is_some());
        assert!(locate("München").is_some() && locate("Munich").is_some());
        assert!(locate("Roma").is_some() && locate("Milano").is_some());
        assert!(locate("Atlantis").is_none());
        assert!(locate("7").is_none());
        // A village of 300 people, not in the old table.
        assert!(locate("Saint-Martin-de-Bossenay").is_some());
        let p = position_of("FR", "69003", "Lyon").unwrap();
        assert!(near(p, 45.75, 4.88, 0.05));
        assert!(position_of("DE", "99999", "Nowhere").is_none());
        assert!(position_of("DE", "10117", "Berlin").is_some());
    }

    #[test]
    fn districts_in_every_form() {
        for (q, label, pc) in [
            ("Paris 11", "Paris 11e", "75011"),
            ("paris 11e", "Paris 11e", "75011"),
            ("Paris 11ème arrondissement", "Paris 11e", "75011"),
            ("Lyon 3e", "Lyon 3e", "69003"),
            ("Lyon 1er", "Lyon 1er", "69001"),
            ("Marseille 8", "Marseille 8e", "13008"),
            ("Marseille 8eme", "Marseille 8e", "13008"),
        ] {
            let hit = get().place(q).unwrap_or_else(|| panic!("{q}"));
            assert_eq!(hit.label, label, "{q}");
            assert!(hit.postcodes.iter().any(|p| p == pc), "{q}");
            assert!(hit.town.is_none(), "{q}: a district is its postcodes");
        }
        let paris = get().place("Paris").unwrap();
        assert_eq!(paris.town.as_deref(), Some("paris"));
        assert!(paris.postcodes.contains(&"75116".to_owned()));
        let dept = get().place("69").unwrap();
        assert_eq!(dept.postcode_prefix.as_deref(), Some("69"));
    }

    #[test]
    fn typos_and_phrases() {
        let m = get().place("Marseile").unwrap();
        assert_eq!((m.label.as_str(), m.edits), ("Marseille", 1));
        let s = get().place("saint etienne").unwrap();
        assert_eq!(s.label, "Saint-Étienne");
        let w: Vec<String> = words("Saint-Étienne-du-Rouvray dentiste");
        let (n, hit) = get().phrase(&w).unwrap();
        assert_eq!((n, hit.label.as_str()), (4, "Saint-Étienne-du-Rouvray"));
        assert_eq!(town_key("LYON CEDEX 03"), "lyon");
        assert_eq!(town_key("Paris 11e Arrondissement"), "paris");
        assert_eq!(key_of("Bourg-en-Bresse"), "bourg en bresse");
    }
}
