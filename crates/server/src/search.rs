//! The in-memory practitioner directory behind `/search`: filters by specialty, name words
//! (prefix match on folded words, through an inverted index), city and distance, then ranks
//! by earliest availability read from each agenda's memo in the availability cache.

use crate::availability::{AgendaCache, AgendaView, Entry};
use careslot_domain::geo::LatLon;
use careslot_domain::*;
use careslot_store::{DirectoryEntry, StoreError};
use jiff::Timestamp;
use parking_lot::RwLock;
use std::collections::BTreeMap;
use std::sync::Arc;
use unicode_normalization::UnicodeNormalization;

pub struct Indexed {
    pub entry: DirectoryEntry,
    handle: Arc<Entry>,
    city_key: String,
    pos: LatLon,
}

/// Lower case without diacritics: "Hélène" and "helene" match.
pub fn fold(s: &str) -> String {
    s.nfd()
        .filter(|c| !unicode_normalization::char::is_combining_mark(*c))
        .flat_map(char::to_lowercase)
        .collect()
}

fn words(s: &str) -> impl Iterator<Item = &str> {
    s.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SortOrder {
    EarliestSlot,
    Distance,
}

#[derive(Debug, Clone)]
pub struct SearchQuery {
    pub specialty: Option<Specialty>,
    /// Free text on the practitioner's name: every word must start a word of the name.
    pub text: Option<String>,
    /// City name or postcode of the place.
    pub city: Option<String>,
    pub near: Option<(LatLon, f64)>,
    pub sort: SortOrder,
    pub limit: usize,
}

pub struct Hit {
    pub item: Arc<Indexed>,
    pub distance_km: Option<f64>,
    pub next_slot: Option<Timestamp>,
    pub view: Option<Arc<AgendaView>>,
}

/// The directory as of its last change. The flat arrays parallel to `items` keep the
/// per-practitioner loop on contiguous memory (one pointer chase, to the cache entry).
#[derive(Default)]
struct Snapshot {
    items: Vec<Arc<Indexed>>,
    handles: Vec<Arc<Entry>>,
    specialties: Vec<Specialty>,
    coords: Vec<LatLon>,
    /// Folded name word → positions in `items`, for prefix range scans.
    words: BTreeMap<String, Vec<u32>>,
}

impl Snapshot {
    fn build(items: Vec<Arc<Indexed>>) -> Self {
        let mut words: BTreeMap<String, Vec<u32>> = BTreeMap::new();
        for (i, item) in items.iter().enumerate() {
            for w in words_of(&item.entry.name) {
                let list = words.entry(w).or_default();
                if list.last() != Some(&(i as u32)) {
                    list.push(i as u32);
                }
            }
        }
        Self {
            handles: items.iter().map(|i| i.handle.clone()).collect(),
            specialties: items.iter().map(|i| i.entry.specialty).collect(),
            coords: items.iter().map(|i| i.pos).collect(),
            items,
            words,
        }
    }

    /// Positions whose name has a word starting with each query word (sorted).
    fn matching(&self, query_words: &[String]) -> Vec<u32> {
        let mut result: Option<Vec<u32>> = None;
        for w in query_words {
            let mut ids: Vec<u32> = self
                .words
                .range::<str, _>((
                    std::ops::Bound::Included(w.as_str()),
                    std::ops::Bound::Unbounded,
                ))
                .take_while(|(k, _)| k.starts_with(w.as_str()))
                .flat_map(|(_, v)| v.iter().copied())
                .collect();
            ids.sort_unstable();
            ids.dedup();
            result = Some(match result {
                None => ids,
                Some(prev) => intersect(&prev, &ids),
            });
        }
        result.unwrap_or_default()
    }
}

fn words_of(name: &str) -> Vec<String> {
    let folded = fold(name);
    words(&folded).map(str::to_owned).collect()
}

fn intersect(a: &[u32], b: &[u32]) -> Vec<u32> {
    let (mut i, mut j, mut out) = (0, 0, Vec::new());
    while i < a.len() && j < b.len() {
        match a[i].cmp(&b[j]) {
            std::cmp::Ordering::Less => i += 1,
            std::cmp::Ordering::Greater => j += 1,
            std::cmp::Ordering::Equal => {
                out.push(a[i]);
                i += 1;
                j += 1;
            }
        }
    }
    out
}

pub struct SearchIndex {
    agendas: Arc<AgendaCache>,
    snapshot: RwLock<Arc<Snapshot>>,
}

impl SearchIndex {
    pub fn new(agendas: Arc<AgendaCache>) -> Self {
        Self {
            agendas,
            snapshot: RwLock::new(Arc::new(Snapshot::default())),
        }
    }

    fn index(&self, e: DirectoryEntry) -> Arc<Indexed> {
        Arc::new(Indexed {
            handle: self.agendas.handle(&e.agenda_id),
            city_key: fold(&format!("{} {}", e.place.city, e.place.postcode)),
            pos: LatLon {
                lat: e.place.lat,
                lon: e.place.lon,
            },
            entry: e,
        })
    }

    pub fn replace_all(&self, entries: Vec<DirectoryEntry>) {
        let items = entries.into_iter().map(|e| self.index(e)).collect();
        *self.snapshot.write() = Arc::new(Snapshot::build(items));
    }

    /// Replaces the rows of one practitioner (after they edit their profile or agendas).
    pub fn replace_practitioner(
        &self,
        practitioner: &PractitionerId,
        entries: Vec<DirectoryEntry>,
    ) {
        let fresh: Vec<Arc<Indexed>> = entries.into_iter().map(|e| self.index(e)).collect();
        let mut guard = self.snapshot.write();
        let mut items: Vec<Arc<Indexed>> = guard
            .items
            .iter()
            .filter(|i| &i.entry.practitioner_id != practitioner)
            .cloned()
            .collect();
        items.extend(fresh);
        *guard = Arc::new(Snapshot::build(items));
    }

    pub fn len(&self) -> usize {
        self.snapshot.read().items.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub async fn search(&self, q: &SearchQuery, now: Timestamp) -> Result<Vec<Hit>, StoreError> {
        let snap = self.snapshot.read().clone();
        let query_words: Vec<String> = q.text.as_deref().map(words_of).unwrap_or_default();
        let by_name: Option<Vec<u32>> =
            (!query_words.is_empty()).then(|| snap.matching(&query_words));
        let city = q
            .city
            .as_deref()
            .map(fold)
            .map(|c| c.trim().to_owned())
            .filter(|c| !c.is_empty());

        let keep = |i: usize| -> Option<Option<f64>> {
            if q.specialty.is_some_and(|s| s != snap.specialties[i]) {
                return None;
            }
            if let Some(c) = &city {
                if !snap.items[i].city_key.contains(c.as_str()) {
                    return None;
                }
            }
            match q.near {
                Some((point, radius)) => {
                    let d = point.distance_km(snap.coords[i]);
                    (d <= radius).then_some(Some(d))
                }
                None => Some(None),
            }
        };

        // (earliest start or MAX, distance, position); stale memos are computed afterwards.
        let now_s = now.as_second();
        let mut ranked: Vec<(i64, f64, u32)> =
            Vec::with_capacity(by_name.as_ref().map_or(snap.items.len(), Vec::len));
        let mut stale: Vec<usize> = Vec::new();
        let mut consider = |i: u32| {
            if let Some(distance) = keep(i as usize) {
                let key = match snap.handles[i as usize].cached_next_second(now_s) {
                    Some(next) => next,
                    None => {
                        stale.push(ranked.len());
                        i64::MAX
                    }
                };
                ranked.push((key, distance.unwrap_or(f64::NAN), i));
            }
        };
        match &by_name {
            Some(ids) => ids.iter().copied().for_each(&mut consider),
            None => (0..snap.items.len() as u32).for_each(&mut consider),
        }
        for r in stale {
            let handle = &snap.handles[ranked[r].2 as usize];
            let next = self.agendas.next_slot_start(handle, now).await?;
            ranked[r].0 = next.map_or(i64::MAX, |t| t.as_second());
        }

        let dist = |d: f64| if d.is_nan() { 0.0 } else { d };
        let name = |i: u32| snap.items[i as usize].entry.name.as_str();
        let cmp = |a: &(i64, f64, u32), b: &(i64, f64, u32)| match q.sort {
            SortOrder::EarliestSlot => {
                a.0.cmp(&b.0)
                    .then(dist(a.1).total_cmp(&dist(b.1)))
                    .then_with(|| name(a.2).cmp(name(b.2)))
            }
            SortOrder::Distance => dist(a.1)
                .total_cmp(&dist(b.1))
                .then(a.0.cmp(&b.0))
                .then_with(|| name(a.2).cmp(name(b.2))),
        };
        if q.limit > 0 && ranked.len() > q.limit {
            ranked.select_nth_unstable_by(q.limit - 1, cmp);
            ranked.truncate(q.limit);
        }
        ranked.sort_by(cmp);
        ranked.truncate(q.limit);

        let mut hits = Vec::with_capacity(ranked.len());
        for (key, distance, i) in ranked {
            let item = snap.items[i as usize].clone();
            let view = self.agendas.get(&item.entry.agenda_id).await?;
            hits.push(Hit {
                next_slot: (key != i64::MAX)
                    .then(|| Timestamp::from_second(key).ok())
                    .flatten(),
                distance_km: (!distance.is_nan()).then_some(distance),
                view,
                item,
            });
        }
        Ok(hits)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folding_and_words() {
        assert_eq!(fold("Dr Hélène MARTIN-Žižek"), "dr helene martin-zizek");
        assert_eq!(
            words_of("Dr Hélène MARTIN-Žižek"),
            vec!["dr", "helene", "martin", "zizek"]
        );
        assert_eq!(intersect(&[1, 3, 5, 7], &[3, 4, 5]), vec![3, 5]);
    }
}
