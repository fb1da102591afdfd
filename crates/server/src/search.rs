//! The in-memory practitioner directory behind `/search`: filters by specialty, folded
//! free text and distance, then ranks by earliest availability read from the availability
//! index (a memory read per candidate).

use crate::availability::AgendaCache;
use careslot_domain::geo::LatLon;
use careslot_domain::*;
use careslot_store::{DirectoryEntry, StoreError};
use jiff::Timestamp;
use parking_lot::RwLock;
use std::sync::Arc;
use unicode_normalization::UnicodeNormalization;

pub struct Indexed {
    pub entry: DirectoryEntry,
    name_key: String,
    city_key: String,
    pos: LatLon,
}

impl Indexed {
    fn new(entry: DirectoryEntry) -> Self {
        Self {
            name_key: fold(&entry.name),
            city_key: fold(&format!("{} {}", entry.place.city, entry.place.postcode)),
            pos: LatLon {
                lat: entry.place.lat,
                lon: entry.place.lon,
            },
            entry,
        }
    }
}

/// Lower case without diacritics: "Hélène" and "helene" match.
pub fn fold(s: &str) -> String {
    s.nfd()
        .filter(|c| !unicode_normalization::char::is_combining_mark(*c))
        .flat_map(char::to_lowercase)
        .collect()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SortOrder {
    EarliestSlot,
    Distance,
}

#[derive(Debug, Clone)]
pub struct SearchQuery {
    pub specialty: Option<Specialty>,
    /// Free text on the practitioner's name; every word must match.
    pub text: Option<String>,
    /// City name or postcode prefix of the place.
    pub city: Option<String>,
    pub near: Option<(LatLon, f64)>,
    pub sort: SortOrder,
    pub limit: usize,
}

pub struct Hit {
    pub item: Arc<Indexed>,
    pub distance_km: Option<f64>,
    pub next_slot: Option<Slot>,
    pub tz: Option<jiff::tz::TimeZone>,
}

#[derive(Default)]
pub struct SearchIndex {
    items: RwLock<Arc<Vec<Arc<Indexed>>>>,
}

impl SearchIndex {
    pub fn replace_all(&self, entries: Vec<DirectoryEntry>) {
        let items = entries.into_iter().map(|e| Arc::new(Indexed::new(e))).collect();
        *self.items.write() = Arc::new(items);
    }

    /// Replaces the rows of one practitioner (after they edit their profile or agendas).
    pub fn replace_practitioner(&self, practitioner: &PractitionerId, entries: Vec<DirectoryEntry>) {
        let mut guard = self.items.write();
        let mut items: Vec<Arc<Indexed>> = guard
            .iter()
            .filter(|i| &i.entry.practitioner_id != practitioner)
            .cloned()
            .collect();
        items.extend(entries.into_iter().map(|e| Arc::new(Indexed::new(e))));
        *guard = Arc::new(items);
    }

    pub fn len(&self) -> usize {
        self.items.read().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub async fn search(&self, q: &SearchQuery, agendas: &AgendaCache, now: Timestamp) -> Result<Vec<Hit>, StoreError> {
        let items = self.items.read().clone();
        let words: Vec<String> = q
            .text
            .as_deref()
            .map(|t| fold(t).split_whitespace().map(str::to_owned).collect())
            .unwrap_or_default();
        let city = q.city.as_deref().map(fold).filter(|c| !c.trim().is_empty());
        let mut candidates: Vec<(Arc<Indexed>, Option<f64>)> = Vec::new();
        for item in items.iter() {
            if q.specialty.is_some_and(|s| s != item.entry.specialty) {
                continue;
            }
            if !words.iter().all(|w| item.name_key.contains(w.as_str())) {
                continue;
            }
            if let Some(c) = &city {
                if !item.city_key.contains(c.trim()) {
                    continue;
                }
            }
            let distance = match q.near {
                Some((point, radius)) => {
                    let d = point.distance_km(item.pos);
                    if d > radius {
                        continue;
                    }
                    Some(d)
                }
                None => None,
            };
            candidates.push((item.clone(), distance));
        }

        let views = agendas
            .get_many(candidates.iter().map(|(i, _)| &i.entry.agenda_id))
            .await?;
        let mut hits: Vec<Hit> = candidates
            .into_iter()
            .zip(views)
            .map(|((item, distance_km), view)| Hit {
                next_slot: view.as_ref().and_then(|v| v.next_slot(now)),
                tz: view.map(|v| v.tz.clone()),
                item,
                distance_km,
            })
            .collect();

        let key_slot = |h: &Hit| h.next_slot.map_or(i64::MAX, |s| s.start.as_second());
        let key_dist = |h: &Hit| h.distance_km.unwrap_or(0.0);
        let cmp = |a: &Hit, b: &Hit| match q.sort {
            SortOrder::EarliestSlot => key_slot(a)
                .cmp(&key_slot(b))
                .then(key_dist(a).total_cmp(&key_dist(b)))
                .then_with(|| a.item.entry.name.cmp(&b.item.entry.name)),
            SortOrder::Distance => key_dist(a)
                .total_cmp(&key_dist(b))
                .then(key_slot(a).cmp(&key_slot(b)))
                .then_with(|| a.item.entry.name.cmp(&b.item.entry.name)),
        };
        if hits.len() > q.limit && q.limit > 0 {
            hits.select_nth_unstable_by(q.limit - 1, cmp);
            hits.truncate(q.limit);
        }
        hits.sort_by(cmp);
        hits.truncate(q.limit);
        Ok(hits)
    }
}
