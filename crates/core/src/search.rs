//! The in-memory practitioner directory behind `/search`: filters by specialty, name words
//! (prefix match on folded words, through an inverted index), city and distance, then ranks
//! by earliest availability read from each agenda's memo in the availability cache.

use crate::availability::{AgendaCache, AgendaView, Entry, Memo};
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

    /// Replaces the whole directory. Rows of practitioners not verified are left out: they
    /// may set up their practice, but nobody finds it (issue 15).
    pub fn replace_all(&self, entries: Vec<DirectoryEntry>) {
        let items = entries
            .into_iter()
            .filter(|e| e.verified)
            .map(|e| self.index(e))
            .collect();
        *self.snapshot.write() = Arc::new(Snapshot::build(items));
    }

    /// Replaces the rows of one practitioner (after they edit their profile or agendas, or
    /// their verification changes); unverified rows are left out.
    pub fn replace_practitioner(
        &self,
        practitioner: &PractitionerId,
        entries: Vec<DirectoryEntry>,
    ) {
        let fresh: Vec<Arc<Indexed>> = entries
            .into_iter()
            .filter(|e| e.verified)
            .map(|e| self.index(e))
            .collect();
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

    /// Every row of the directory as of now (the `$bulk-publish` feed walks them all).
    pub fn entries(&self) -> Vec<Arc<Indexed>> {
        self.snapshot.read().items.clone()
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

        // (earliest start or MAX, distance, position, memo expired). Unknown memos are
        // computed before ranking; merely expired ones are lower bounds (time only removes
        // slots), so they rank as they are and only those that reach the top k are
        // recomputed, then the top k is selected again.
        let now_s = now.as_second();
        let mut ranked: Vec<(i64, f64, u32, bool)> =
            Vec::with_capacity(by_name.as_ref().map_or(snap.items.len(), Vec::len));
        let mut missing: Vec<usize> = Vec::new();
        let mut consider = |i: u32| {
            if let Some(distance) = keep(i as usize) {
                let (key, expired) = match snap.handles[i as usize].memo_second(now_s) {
                    Memo::Fresh(k) => (k, false),
                    Memo::Expired(k) => (k, true),
                    Memo::Missing => {
                        missing.push(ranked.len());
                        (i64::MAX, false)
                    }
                };
                ranked.push((key, distance.unwrap_or(f64::NAN), i, expired));
            }
        };
        match &by_name {
            Some(ids) => ids.iter().copied().for_each(&mut consider),
            None => (0..snap.items.len() as u32).for_each(&mut consider),
        }
        for r in missing {
            let handle = &snap.handles[ranked[r].2 as usize];
            let next = self.agendas.next_slot_start(handle, now).await?;
            ranked[r].0 = next.map_or(i64::MAX, |t| t.as_second());
        }

        // Ties (many agendas share "today 08:00") fall back to directory order: cheap and
        // stable, unlike comparing names through another pointer.
        let dist = |d: f64| if d.is_nan() { 0.0 } else { d };
        let cmp = |a: &(i64, f64, u32, bool), b: &(i64, f64, u32, bool)| match q.sort {
            SortOrder::EarliestSlot => {
                a.0.cmp(&b.0)
                    .then(dist(a.1).total_cmp(&dist(b.1)))
                    .then(a.2.cmp(&b.2))
            }
            SortOrder::Distance => dist(a.1)
                .total_cmp(&dist(b.1))
                .then(a.0.cmp(&b.0))
                .then(a.2.cmp(&b.2)),
        };
        let k = q.limit.min(ranked.len());
        loop {
            if k > 0 && ranked.len() > k {
                ranked.select_nth_unstable_by(k - 1, cmp);
            }
            let mut refreshed = false;
            for entry in ranked.iter_mut().take(k) {
                if entry.3 {
                    let handle = &snap.handles[entry.2 as usize];
                    let next = self.agendas.next_slot_start(handle, now).await?;
                    entry.0 = next.map_or(i64::MAX, |t| t.as_second());
                    entry.3 = false;
                    refreshed = true;
                }
            }
            if !refreshed {
                break;
            }
        }
        ranked.truncate(k);
        ranked.sort_by(cmp);

        let mut hits = Vec::with_capacity(ranked.len());
        for (key, distance, i, _) in ranked {
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
    use careslot_store::{Agenda, AgendaSnapshot, Place};

    /// Agendas open at different hours (some only in the evening, some only on Sundays),
    /// so that as time passes memos expire and rankings change.
    fn directory(n: usize) -> Vec<(DirectoryEntry, AgendaView)> {
        (0..n)
            .map(|i| {
                let practitioner_id = PractitionerId::new();
                let place = Place {
                    id: PlaceId::new(),
                    practitioner_id: practitioner_id.clone(),
                    name: format!("Place {i}"),
                    address: "1 rue".into(),
                    postcode: "75001".into(),
                    city: "Paris".into(),
                    country: Country::France,
                    lat: 48.85 + (i % 10) as f64 * 0.01,
                    lon: 2.35,
                    timezone: "Europe/Paris".into(),
                };
                let agenda = Agenda {
                    id: AgendaId::new(),
                    practitioner_id: practitioner_id.clone(),
                    place_id: place.id.clone(),
                    timezone: "Europe/Paris".into(),
                    holidays: None,
                    wrapped_key: String::new(),
                };
                let motive = Motive::parse(
                    MotiveId::new(),
                    agenda.id.clone(),
                    "C",
                    15 + (i % 4) as i64 * 15,
                    1,
                    MotivePolicy {
                        min_notice_min: (i % 3) as u32 * 60,
                        ..MotivePolicy::default()
                    },
                )
                .unwrap();
                let start_h = (6 + i % 14) as i8;
                let days: Vec<i64> = if i % 5 == 0 {
                    vec![7]
                } else {
                    vec![1, 2, 3, 4, 5, 6]
                };
                let rule = OpeningRule::parse(
                    RuleId::new(),
                    agenda.id.clone(),
                    WeekdaySet::parse(&days).unwrap(),
                    jiff::civil::time(start_h, 0, 0, 0),
                    jiff::civil::time(start_h + 2, 0, 0, 0),
                    vec![motive.id.clone()],
                    None,
                    None,
                )
                .unwrap();
                let entry = DirectoryEntry {
                    practitioner_id,
                    name: format!("Dr {i}"),
                    specialty: Specialty::GeneralPractitioner,
                    agenda_id: agenda.id.clone(),
                    place,
                    verified: true,
                };
                let view = AgendaView::from_snapshot(AgendaSnapshot {
                    agenda,
                    motives: vec![motive],
                    motive_labels: vec![],
                    rules: vec![rule],
                    absences: vec![],
                    reservations: vec![],
                    vaccines: Vec::new(),
                    stock: Vec::new(),
                    lines: Vec::new(),
                })
                .unwrap();
                (entry, view)
            })
            .collect()
    }

    /// Ranking with memos that expire as time passes equals a brute-force ranking.
    #[tokio::test]
    async fn ranking_stays_exact_as_memos_expire() {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(
            careslot_store_sqlite::SqliteStore::open_dir(dir.path())
                .await
                .unwrap(),
        );
        let cache = Arc::new(AgendaCache::new(store));
        let generated = directory(240);
        let mut entries = Vec::new();
        let mut truth: Vec<(AgendaId, Arc<AgendaView>)> = Vec::new();
        for (e, v) in generated {
            entries.push(e);
            let id = v.agenda.id.clone();
            cache.insert(v);
            truth.push((id.clone(), cache.get(&id).await.unwrap().unwrap()));
        }
        let index = SearchIndex::new(cache.clone());
        index.replace_all(entries);
        let q = SearchQuery {
            specialty: None,
            text: None,
            city: None,
            near: None,
            sort: SortOrder::EarliestSlot,
            limit: 12,
        };
        let t0: Timestamp = "2027-03-26T05:00:00Z".parse().unwrap();
        // Through the evening, the night, a Sunday and the spring DST change.
        for hours in [0i64, 1, 2, 3, 5, 8, 13, 21, 34, 47, 55, 70] {
            let now = t0 + jiff::SignedDuration::from_hours(hours);
            let got: Vec<(AgendaId, Option<Timestamp>)> = index
                .search(&q, now)
                .await
                .unwrap()
                .into_iter()
                .map(|h| (h.item.entry.agenda_id.clone(), h.next_slot))
                .collect();
            let mut expected: Vec<(i64, usize, AgendaId, Option<Timestamp>)> = truth
                .iter()
                .enumerate()
                .map(|(pos, (id, v))| {
                    let next = v.next_slot(now).0.map(|s| s.start);
                    (
                        next.map_or(i64::MAX, |t| t.as_second()),
                        pos,
                        id.clone(),
                        next,
                    )
                })
                .collect();
            expected.sort();
            let expected: Vec<(AgendaId, Option<Timestamp>)> = expected
                .into_iter()
                .take(12)
                .map(|(_, _, id, next)| (id, next))
                .collect();
            assert_eq!(got, expected, "at +{hours} h");
        }
    }

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
