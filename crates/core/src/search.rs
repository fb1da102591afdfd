//! The in-memory practitioner directory behind `/search`. A free-text query is read into a
//! specialty, a place and name words (`understand`); each becomes a sorted posting list
//! (specialty → rows, town/postcode → rows, and, for name words, the distinct folded words
//! of the index matched exactly, by prefix or within a few typos → rows); the lists are
//! intersected, filtered by distance, then ranked by earliest availability read from each
//! agenda's memo in the availability cache. Text matching never walks the practitioners:
//! only the distinct words, towns and postcodes.

mod cells;
mod synonyms;
pub mod text;
mod timeline;
pub mod understand;

pub use synonyms::SPECIALTY_WORDS;
pub use text::fold;
pub use understand::Understood;

use crate::availability::{AgendaCache, AgendaView, Entry, Memo};
use crate::gazetteer::{self, PlaceHit};
use careslot_domain::geo::{self, LatLon};
use careslot_domain::*;
use careslot_store::{DirectoryEntry, DirectoryFacts, StoreError};
use jiff::Timestamp;
use parking_lot::RwLock;
use rustc_hash::FxHashMap;
use std::borrow::Cow;
use std::collections::BTreeMap;
use std::sync::Arc;
use text::{allowed_edits, distance, words};
use understand::NameMatch;

pub struct Indexed {
    pub entry: DirectoryEntry,
    handle: Arc<Entry>,
    pos: LatLon,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SortOrder {
    EarliestSlot,
    Distance,
    /// Waiting time and distance weighed together (see [`relevance_cost`]).
    Relevance,
}

/// Kilometres that weigh as much as one day of waiting in [`SortOrder::Relevance`]: 1.5 km
/// sooner is worth about half a day.
pub const KM_PER_DAY: f64 = 3.0;

/// The cost [`SortOrder::Relevance`] ranks by, lowest first: days until the next slot plus
/// the distance in [`KM_PER_DAY`] units. Without a slot the cost is infinite (ranked after
/// everyone with one); without a point, distance weighs nothing. Grows with `next`, so a
/// lower bound of the next slot gives a lower bound of the cost.
pub fn relevance_cost(next: i64, now: i64, distance_km: Option<f64>) -> f64 {
    if next == i64::MAX {
        return f64::INFINITY;
    }
    let wait_days = (next.saturating_sub(now)).max(0) as f64 / 86_400.0;
    wait_days + distance_km.unwrap_or(0.0) / KM_PER_DAY
}

/// What results must offer; every filter left at its default keeps everyone.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Filters {
    /// Only agendas with a teleconsultation motive bookable online.
    pub teleconsultation: bool,
    /// Only practitioners taking new patients.
    pub new_patients: bool,
    /// Only places with wheelchair access.
    pub wheelchair: bool,
    /// Practitioners speaking at least one of these language codes (lower case).
    pub languages: Vec<String>,
    /// Practitioners in one of these fee sectors.
    pub fee_sectors: Vec<FeeSector>,
}

impl Filters {
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }

    pub fn accepts(&self, f: &DirectoryFacts) -> bool {
        (!self.teleconsultation || f.teleconsultation)
            && (!self.new_patients || f.accepts_new_patients)
            && (!self.wheelchair || f.wheelchair_access)
            && (self.languages.is_empty() || f.languages.iter().any(|l| self.languages.contains(l)))
            && (self.fee_sectors.is_empty()
                || f.fee_sector.is_some_and(|s| self.fee_sectors.contains(&s)))
    }
}

#[derive(Debug, Clone)]
pub struct SearchQuery {
    pub specialty: Option<Specialty>,
    /// Free text: specialty words (any of the four languages), a place, name words, or all
    /// of them ("dentiste dupont", "Zahnarzt München", "Dentiste / paris 11").
    pub text: Option<String>,
    /// Any form of place: commune, district, postcode or its start ("Lyon 3e", "75011").
    pub city: Option<String>,
    pub near: Option<(LatLon, f64)>,
    pub sort: SortOrder,
    pub limit: usize,
    /// Results skipped before the `limit` returned (pagination).
    pub offset: usize,
    pub filters: Filters,
}

pub struct Hit {
    pub item: Arc<Indexed>,
    pub distance_km: Option<f64>,
    pub next_slot: Option<Timestamp>,
    pub view: Option<Arc<AgendaView>>,
}

/// A town with practices, offered when a place has nobody to offer.
#[derive(Debug, Clone, PartialEq)]
pub struct NearbyTown {
    /// As the practices write it ("Vincennes").
    pub name: String,
    pub postcode: String,
    pub pos: LatLon,
    pub distance_km: f64,
    /// Practitioners there who match the rest of the query.
    pub count: usize,
}

/// What to try instead when a search finds nobody.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Suggestions {
    /// The query with the words that matched nothing replaced by the closest known words,
    /// when that finds someone.
    pub query: Option<String>,
    /// Specialties close to a word that matched nothing ("psychologue" → psychiatrist).
    pub specialties: Vec<Specialty>,
    /// The nearest towns with matching practitioners, nearest first.
    pub places: Vec<NearbyTown>,
}

impl Suggestions {
    pub fn is_empty(&self) -> bool {
        self.query.is_none() && self.specialties.is_empty() && self.places.is_empty()
    }
}

/// A search's results with how the query was read, and suggestions when it found nobody.
pub struct SearchOutcome {
    pub hits: Vec<Hit>,
    /// How many results match in all (every page).
    pub total: usize,
    pub understood: Understood,
    /// The place the results are restricted to (from `city`, else from the text).
    pub place: Option<PlaceHit>,
    pub suggestions: Option<Suggestions>,
    /// What ranking touched (for benchmarks: counts repeat where times do not).
    pub work: Work,
}

/// Rows a search looked at while ranking, counted: unlike its time on a shared machine,
/// the counts are the same from run to run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Work {
    /// Rows checked against the radius or filters.
    pub checked: usize,
    /// Lower bounds of next slots read (a memo, or the timeline's copy).
    pub bounds: usize,
    /// Next slots asked of the agenda cache to settle a row (its memo was missing or only
    /// a lower bound).
    pub refined: usize,
    /// Timeline rows walked past.
    pub walked: usize,
}

/// A town of the directory: its rows and where its first practice is.
struct Town {
    key: String,
    rows: Vec<u32>,
}

/// The directory as of its last change. The flat arrays parallel to `items` keep the
/// per-practitioner loop on contiguous memory (one pointer chase, to the cache entry).
#[derive(Default)]
struct Snapshot {
    items: Vec<Arc<Indexed>>,
    handles: Vec<Arc<Entry>>,
    coords: Vec<LatLon>,
    /// `coords` on the unit sphere: distances compared without trigonometry per row.
    units: Vec<[f64; 3]>,
    /// Distinct folded name words, sorted (prefixes are ranges), with their letters and
    /// their rows (sorted).
    words: Vec<String>,
    word_chars: Vec<Vec<char>>,
    postings: Vec<Vec<u32>>,
    /// Rows per specialty, in the order of `Specialty::ALL`, and each row's specialty slot.
    by_specialty: Vec<Vec<u32>>,
    slot_of: Vec<u8>,
    /// Rows per town key (see `gazetteer::town_key`) and per postcode.
    towns: Vec<Town>,
    /// Each row's position in `towns`.
    town_of: Vec<u32>,
    postcodes: BTreeMap<String, Postcode>,
    /// Each row's cache entry (its address) with the row, sorted: the rows of an agenda
    /// that changed.
    by_entry: Vec<(usize, u32)>,
    /// Rows by a lower bound of their next slot (earliest-first ranking).
    timeline: parking_lot::Mutex<timeline::Timeline>,
    /// Rows by geographic cell, overall and per specialty (searches within a radius).
    cells: cells::Cells,
}

fn specialty_slot(s: Specialty) -> usize {
    Specialty::ALL.iter().position(|x| *x == s).unwrap_or(0)
}

impl Snapshot {
    /// `cursor`: the agenda cache's change log position, read before this call.
    fn build(items: Vec<Arc<Indexed>>, cursor: u64, now_s: i64) -> Self {
        let mut words_map: BTreeMap<String, Vec<u32>> = BTreeMap::new();
        let mut towns: BTreeMap<String, Vec<u32>> = BTreeMap::new();
        let mut postcodes: BTreeMap<String, Vec<u32>> = BTreeMap::new();
        let mut by_specialty = vec![Vec::new(); Specialty::ALL.len()];
        for (i, item) in items.iter().enumerate() {
            let i = i as u32;
            for w in words(&item.entry.name) {
                let list = words_map.entry(w).or_default();
                if list.last() != Some(&i) {
                    list.push(i);
                }
            }
            by_specialty[specialty_slot(item.entry.specialty)].push(i);
            towns
                .entry(gazetteer::town_key(&item.entry.place.city))
                .or_default()
                .push(i);
            postcodes
                .entry(item.entry.place.postcode.trim().to_owned())
                .or_default()
                .push(i);
        }
        let (words, postings): (Vec<String>, Vec<Vec<u32>>) = words_map.into_iter().unzip();
        let towns: Vec<Town> = towns
            .into_iter()
            .map(|(key, rows)| Town { key, rows })
            .collect();
        let mut town_of = vec![0u32; items.len()];
        for (t, town) in towns.iter().enumerate() {
            for &r in &town.rows {
                town_of[r as usize] = t as u32;
            }
        }
        let postcodes: BTreeMap<String, Postcode> = postcodes
            .into_iter()
            .map(|(key, rows)| {
                let first = rows.first().map(|&r| town_of[r as usize]);
                let town = first.filter(|&t| rows.iter().all(|&r| town_of[r as usize] == t));
                (key, Postcode { rows, town })
            })
            .collect();
        let handles: Vec<Arc<Entry>> = items.iter().map(|i| i.handle.clone()).collect();
        let mut by_entry: Vec<(usize, u32)> = handles
            .iter()
            .enumerate()
            .map(|(i, h)| (Arc::as_ptr(h) as usize, i as u32))
            .collect();
        by_entry.sort_unstable();
        let timeline = timeline::Timeline::new(&handles, now_s, cursor);
        let cells = cells::Cells::build(
            items
                .iter()
                .map(|i| (i.pos, specialty_slot(i.entry.specialty))),
        );
        Self {
            cells,
            slot_of: items
                .iter()
                .map(|i| u8::try_from(specialty_slot(i.entry.specialty)).unwrap_or(u8::MAX))
                .collect(),
            timeline: parking_lot::Mutex::new(timeline),
            by_entry,
            handles,
            coords: items.iter().map(|i| i.pos).collect(),
            units: items.iter().map(|i| i.pos.unit()).collect(),
            items,
            word_chars: words.iter().map(|w| w.chars().collect()).collect(),
            words,
            postings,
            by_specialty,
            towns,
            town_of,
            postcodes,
        }
    }

    /// The rows of a cache entry, as (entry address, row) pairs.
    fn rows_of_entry(&self, e: &Arc<Entry>) -> &[(usize, u32)] {
        let key = Arc::as_ptr(e) as usize;
        let start = self.by_entry.partition_point(|(p, _)| *p < key);
        let len = self.by_entry[start..].partition_point(|(p, _)| *p == key);
        &self.by_entry[start..start + len]
    }

    /// Ids of the words that start with `prefix`.
    fn prefixed(&self, prefix: &str) -> std::ops::Range<usize> {
        let start = self.words.partition_point(|w| w.as_str() < prefix);
        let len = self.words[start..].partition_point(|w| w.starts_with(prefix));
        start..start + len
    }

    /// Ids of the words `w` matches: itself or words it starts; with `typos`, also words
    /// within the edits its length allows (whole word, or the start of a longer word for
    /// five letters and more). Walks the distinct words, never the practitioners.
    fn word_ids(&self, w: &str, how: NameMatch) -> Vec<usize> {
        if how == NameMatch::Exact {
            return self
                .words
                .binary_search_by(|x| x.as_str().cmp(w))
                .map(|i| vec![i])
                .unwrap_or_default();
        }
        let mut ids: Vec<usize> = self.prefixed(w).collect();
        if how == NameMatch::Typo {
            let q: Vec<char> = w.chars().collect();
            let max = allowed_edits(q.len());
            if max > 0 {
                let as_prefix = q.len() >= 5;
                for (i, c) in self.word_chars.iter().enumerate() {
                    if (c.len() + max >= q.len() && as_prefix || c.len().abs_diff(q.len()) <= max)
                        && distance(&q, c, max, as_prefix).is_some()
                    {
                        ids.push(i);
                    }
                }
                ids.sort_unstable();
                ids.dedup();
            }
        }
        ids
    }

    /// Whether any word matches, stopping at the first.
    fn knows(&self, w: &str, how: NameMatch) -> bool {
        match how {
            NameMatch::Exact => self.words.binary_search_by(|x| x.as_str().cmp(w)).is_ok(),
            NameMatch::Prefix => !self.prefixed(w).is_empty(),
            NameMatch::Typo => {
                if !self.prefixed(w).is_empty() {
                    return true;
                }
                let q: Vec<char> = w.chars().collect();
                let max = allowed_edits(q.len());
                let as_prefix = q.len() >= 5;
                max > 0
                    && self.word_chars.iter().any(|c| {
                        (c.len() + max >= q.len() && as_prefix || c.len().abs_diff(q.len()) <= max)
                            && distance(&q, c, max, as_prefix).is_some()
                    })
            }
        }
    }

    fn rows_of_words(&self, ids: &[usize]) -> Vec<u32> {
        let mut rows: Vec<u32> = ids
            .iter()
            .flat_map(|&i| self.postings[i].iter().copied())
            .collect();
        rows.sort_unstable();
        rows.dedup();
        rows
    }

    /// Rows in a place: its postcodes, postcode start or town. A postcode whose rows all
    /// lie in one of the place's towns adds nothing to that town's rows: a town named alone
    /// (the common case, "dentiste lyon") is its own sorted list, borrowed, not gathered.
    fn rows_in(&self, place: &PlaceFilter) -> Cow<'_, [u32]> {
        let mut lists: Vec<&[u32]> = Vec::new();
        match place {
            PlaceFilter::Known(hit) => {
                let mut towns: Vec<usize> = hit
                    .town
                    .iter()
                    .chain(&hit.aliases)
                    .filter_map(|key| {
                        self.towns
                            .binary_search_by(|t| t.key.as_str().cmp(key))
                            .ok()
                    })
                    .collect();
                towns.sort_unstable();
                towns.dedup();
                let covered = |p: &Postcode| p.town.is_some_and(|t| towns.contains(&(t as usize)));
                for pc in &hit.postcodes {
                    if let Some(p) = self.postcodes.get(pc).filter(|p| !covered(p)) {
                        lists.push(&p.rows);
                    }
                }
                if let Some(prefix) = &hit.postcode_prefix {
                    for (_, p) in self
                        .postcodes
                        .range(prefix.clone()..)
                        .take_while(|(k, _)| k.starts_with(prefix.as_str()))
                        .filter(|(_, p)| !covered(p))
                    {
                        lists.push(&p.rows);
                    }
                }
                lists.extend(towns.iter().map(|&t| self.towns[t].rows.as_slice()));
            }
            // Not in the gazetteer: any town or postcode containing the text, as before.
            PlaceFilter::Text(t) => {
                for town in self.towns.iter().filter(|x| x.key.contains(t.as_str())) {
                    lists.push(&town.rows);
                }
                for (_, p) in self
                    .postcodes
                    .iter()
                    .filter(|(k, _)| k.contains(t.as_str()))
                {
                    lists.push(&p.rows);
                }
            }
        }
        match lists.as_slice() {
            [] => Cow::Owned(Vec::new()),
            [one] => Cow::Borrowed(one),
            _ => Cow::Owned(union(lists.concat(), self.items.len())),
        }
    }
}

/// The rows of a postcode (sorted), and the town they all lie in, if one.
struct Postcode {
    rows: Vec<u32>,
    town: Option<u32>,
}

/// Sorted, deduplicated rows of `rows` (below `n`). A big town gathers the same rows from
/// its postcodes and its names (Paris: tens of thousands twice): a bitset over the
/// directory costs n / 64 words, far less than sorting them.
fn union(mut rows: Vec<u32>, n: usize) -> Vec<u32> {
    if rows.len() < 4096 || rows.len() < n / 64 {
        rows.sort_unstable();
        rows.dedup();
        return rows;
    }
    let mut bits = vec![0u64; n.div_ceil(64)];
    for &r in &rows {
        if let Some(word) = bits.get_mut(r as usize / 64) {
            *word |= 1 << (r % 64);
        }
    }
    rows.clear();
    for (w, &word) in bits.iter().enumerate() {
        let mut word = word;
        while word != 0 {
            rows.push(w as u32 * 64 + word.trailing_zeros());
            word &= word - 1;
        }
    }
    rows
}

/// Where results must be.
enum PlaceFilter {
    Known(PlaceHit),
    /// Folded text of a place the gazetteer does not know.
    Text(String),
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

/// Intersection of sorted lists, smallest first; `None` when there is no list (everyone).
/// A single list comes back as it is (a specialty's rows are not copied).
fn intersect_all(mut lists: Vec<Cow<'_, [u32]>>) -> Option<Cow<'_, [u32]>> {
    lists.sort_by_key(|l| l.len());
    let mut it = lists.into_iter();
    let mut acc = it.next()?;
    for l in it {
        if acc.is_empty() {
            break;
        }
        acc = Cow::Owned(intersect(&acc, &l));
    }
    Some(acc)
}

/// Words of a query that are read; the rest are ignored. No person's search is longer, and
/// typo-tolerant reading costs a pass over the distinct words per word.
const MAX_WORDS: usize = 12;

/// A query read against one snapshot: who may match, before distance and ranking.
struct Plan<'s> {
    understood: Understood,
    place: Option<PlaceFilter>,
    /// Rows matching specialty, place and name words; `None` = every row.
    rows: Option<Cow<'s, [u32]>>,
    /// Name words that match no word of the directory, even with typos.
    unknown: Vec<String>,
    /// `rows` are exactly the rows of this specialty slot (nothing else narrowed them).
    only_specialty: Option<usize>,
}

impl Snapshot {
    fn plan(&self, q: &SearchQuery, text: Option<&str>) -> Plan<'_> {
        let mut tokens = text.map(words).unwrap_or_default();
        tokens.truncate(MAX_WORDS);
        let knows = |w: &str, how: NameMatch| self.knows(w, how);
        let mut plan = self.plan_reading(q, understand::understand(&tokens, &knows, false));
        let read_as_place_or_specialty = plan.understood.place.is_some()
            || plan.understood.specialty.is_some() && q.specialty.is_none();
        if plan.rows.as_ref().is_some_and(|r| r.is_empty()) && read_as_place_or_specialty {
            // "Florence Dupont": a town or specialty word that is also a name.
            let second = understand::understand(&tokens, &knows, true);
            if second != plan.understood {
                let other = self.plan_reading(q, second);
                if other.rows.as_ref().is_none_or(|r| !r.is_empty()) {
                    plan = other;
                }
            }
        }
        plan
    }

    fn plan_reading(&self, q: &SearchQuery, mut understood: Understood) -> Plan<'_> {
        let specialty = q.specialty.or(understood.specialty);
        // The specialty narrows what the other lists leave, by each row's slot (flat
        // memory), rather than by merging its rows (tens of thousands) with theirs.
        let slot = specialty.map(specialty_slot);
        let mut lists: Vec<Cow<'_, [u32]>> = Vec::new();
        let place = match q.city.as_deref().map(str::trim).filter(|c| !c.is_empty()) {
            Some(city) => {
                let text = PlaceFilter::Text(fold(city));
                match gazetteer::get().place(city) {
                    Some(hit) if hit.edits == 0 => Some(PlaceFilter::Known(hit)),
                    // A town read with a typo that has no practice may be the start of one
                    // that has ("Villeur"): the text as before, when it finds someone.
                    Some(hit) => {
                        let known = PlaceFilter::Known(hit);
                        if self.rows_in(&known).is_empty() && !self.rows_in(&text).is_empty() {
                            Some(text)
                        } else {
                            Some(known)
                        }
                    }
                    None => Some(text),
                }
            }
            None => understood.place.clone().map(PlaceFilter::Known),
        };
        if let Some(p) = &place {
            lists.push(self.rows_in(p));
        }
        let exact: Vec<Cow<'_, [u32]>> = understood
            .names
            .iter()
            .map(|w| Cow::Owned(self.rows_of_words(&self.word_ids(w, NameMatch::Prefix))))
            .collect();
        let mut unknown = Vec::new();
        // The lists are kept for a second try only when there are name words to retry.
        let mut rows = self.narrow(
            if understood.names.is_empty() {
                intersect_all(std::mem::take(&mut lists))
            } else {
                intersect_all(lists.iter().cloned().chain(exact).collect())
            },
            slot,
        );
        if rows.as_ref().is_some_and(|r| r.is_empty()) && !understood.names.is_empty() {
            // Nobody with the words as typed: allow typos in the name words.
            let mut fuzzy = Vec::new();
            for w in &understood.names {
                let ids = self.word_ids(w, NameMatch::Typo);
                if ids.is_empty() {
                    unknown.push(w.clone());
                }
                fuzzy.push(Cow::Owned(self.rows_of_words(&ids)));
            }
            rows = self.narrow(
                intersect_all(lists.into_iter().chain(fuzzy).collect()),
                slot,
            );
            if rows.as_ref().is_some_and(|r| !r.is_empty()) {
                understood.corrected = true;
            }
        }
        let only_specialty = slot.filter(|_| place.is_none() && understood.names.is_empty());
        Plan {
            understood,
            place,
            rows,
            unknown,
            only_specialty,
        }
    }

    /// `rows` (`None`: everyone) of one specialty slot, if given: the slot's own list when
    /// nothing else narrowed them.
    fn narrow<'s>(
        &'s self,
        rows: Option<Cow<'s, [u32]>>,
        slot: Option<usize>,
    ) -> Option<Cow<'s, [u32]>> {
        let Some(slot) = slot else {
            return rows;
        };
        Some(match rows {
            None => Cow::Borrowed(&self.by_specialty[slot]),
            Some(rows) => Cow::Owned(
                rows.iter()
                    .copied()
                    .filter(|&r| usize::from(self.slot_of[r as usize]) == slot)
                    .collect(),
            ),
        })
    }

    /// Exactly the rows of a plan within the query's radius, found through the cells the
    /// circle touches when that looks at fewer rows than the plan holds (`None`: measure the
    /// plan's rows as they are); in no particular order, with how many rows were looked at.
    fn near_rows(&self, q: &SearchQuery, plan: &Plan<'_>) -> Option<(Vec<u32>, usize)> {
        let (center, radius) = q.near?;
        let exact = |r: u32| center.distance_km(self.coords[r as usize]) <= radius;
        match (&plan.rows, plan.only_specialty) {
            (None, _) => self.cells.within(None, center, radius, exact),
            (Some(_), Some(slot)) => self.cells.within(Some(slot), center, radius, exact),
            (Some(rows), None) if rows.len() > 4096 => {
                let (mut near, looked) = self.cells.within(None, center, radius, exact)?;
                if looked >= rows.len() {
                    return None;
                }
                near.sort_unstable();
                Some((intersect(rows, &near), looked + rows.len()))
            }
            _ => None,
        }
    }

    /// Rows of a plan within the query's radius, if any.
    fn count_near(&self, plan: &Plan<'_>, near: Option<(LatLon, f64)>) -> usize {
        let inside = |i: u32| near.is_none_or(|(p, r)| p.distance_km(self.coords[i as usize]) <= r);
        match &plan.rows {
            Some(rows) => rows.iter().filter(|&&i| inside(i)).count(),
            None => (0..self.items.len() as u32).filter(|&i| inside(i)).count(),
        }
    }

    /// What to offer when `plan` found nobody.
    fn suggest(&self, q: &SearchQuery, text: Option<&str>, plan: &Plan<'_>) -> Suggestions {
        let mut out = Suggestions::default();
        // Spelling: each word that matched nothing, replaced by the closest known word within
        // one more typo than search allows; kept only if that query finds someone.
        if let (Some(text), false) = (text, plan.unknown.is_empty()) {
            let mut tokens = words(text);
            tokens.truncate(MAX_WORDS);
            let options: Vec<Vec<String>> = tokens
                .iter()
                .map(|t| {
                    if plan.unknown.contains(t) {
                        self.closest_words(t)
                    } else {
                        Vec::new()
                    }
                })
                .collect();
            // The closest replacements first, then the next ones (a town one edit away may
            // have nobody, a name two edits away may).
            for k in 0..options.iter().map(Vec::len).max().unwrap_or(0) {
                let corrected: Vec<&str> = tokens
                    .iter()
                    .zip(&options)
                    .map(|(t, o)| o.get(k).or(o.last()).map_or(t.as_str(), String::as_str))
                    .collect();
                let corrected = corrected.join(" ");
                let again = self.plan(q, Some(&corrected));
                if again.unknown.is_empty() && self.count_near(&again, q.near) > 0 {
                    out.query = Some(corrected);
                    break;
                }
            }
        }
        if plan.understood.specialty.is_none() && q.specialty.is_none() {
            for w in &plan.unknown {
                for s in understand::closest_specialties(w) {
                    if !out.specialties.contains(&s) && out.specialties.len() < 3 {
                        out.specialties.push(s);
                    }
                }
            }
        }
        out.places = self.nearby_towns(q, plan);
        out
    }

    /// The closest words to `w` among name words, specialty words and towns (a few, closest
    /// first).
    fn closest_words(&self, w: &str) -> Vec<String> {
        let q: Vec<char> = w.chars().collect();
        if q.len() < 3 {
            return Vec::new();
        }
        let max = allowed_edits(q.len()) + 1;
        let names = self
            .word_chars
            .iter()
            .enumerate()
            .filter(|(i, c)| {
                c.len().abs_diff(q.len()) <= max && !understand::is_stopword(&self.words[*i])
            })
            .filter_map(|(i, c)| distance(&q, c, max, false).map(|d| (d, self.words[i].clone())));
        let specialties = SPECIALTY_WORDS
            .iter()
            .flat_map(|(_, list)| list.iter().flat_map(|p| words(p)))
            .filter_map(|s| {
                let c: Vec<char> = s.chars().collect();
                distance(&q, &c, max, false).map(|d| (d, s))
            });
        let town = gazetteer::get()
            .closest_key(w, max)
            .map(|(d, k)| (d, k.to_owned()));
        let mut all: Vec<(usize, String)> = names.chain(specialties).chain(town).collect();
        all.sort();
        all.dedup_by(|a, b| a.1 == b.1);
        all.into_iter().take(4).map(|(_, word)| word).collect()
    }

    /// The nearest towns of the directory that have practitioners matching the query without
    /// its place (and outside its radius): walks the towns, not the practitioners.
    fn nearby_towns(&self, q: &SearchQuery, plan: &Plan<'_>) -> Vec<NearbyTown> {
        let from = match (&plan.place, q.near) {
            (Some(PlaceFilter::Known(hit)), _) if hit.pos.is_some() => hit.pos,
            (_, Some((p, _))) => Some(p),
            _ => None,
        };
        let Some(from) = from else {
            return Vec::new();
        };
        let without_place = Plan {
            place: None,
            ..self.plan_reading(
                &SearchQuery {
                    city: None,
                    ..q.clone()
                },
                Understood {
                    place: None,
                    ..plan.understood.clone()
                },
            )
        };
        let here = match &plan.place {
            Some(PlaceFilter::Known(hit)) => hit.town.clone(),
            _ => None,
        };
        // Per town: matching rows and the nearest of them, through each row's town (linear
        // in the matches, not in towns × matches), compared by squared chord: no
        // trigonometry per row (an empty rush search spent most of its time in sin and cos
        // here). With no constraint at all, a town is placed at its first practice rather
        // than measuring every practitioner.
        let origin = from.unit();
        let chord = |r: u32| geo::chord2(origin, self.units[r as usize]);
        let mut per: FxHashMap<u32, (usize, f64, u32)> = FxHashMap::with_capacity_and_hasher(
            without_place
                .rows
                .as_ref()
                .map_or(self.towns.len(), |r| r.len().min(self.towns.len())),
            Default::default(),
        );
        match &without_place.rows {
            Some(rows) => {
                for &r in rows.iter() {
                    let c = chord(r);
                    let e = per
                        .entry(self.town_of[r as usize])
                        .or_insert((0, f64::INFINITY, r));
                    e.0 += 1;
                    if c < e.1 || (c == e.1 && r < e.2) {
                        (e.1, e.2) = (c, r);
                    }
                }
            }
            None => {
                for (t, town) in self.towns.iter().enumerate() {
                    if let Some(&first) = town.rows.first() {
                        per.insert(t as u32, (town.rows.len(), chord(first), first));
                    }
                }
            }
        }
        let mut towns: Vec<(usize, f64, u32, u32)> = per
            .into_iter()
            .filter(|(t, _)| Some(&self.towns[*t as usize].key) != here.as_ref())
            .map(|(t, (count, c, row))| (count, geo::km_of_chord2(c), row, t))
            .filter(|(_, d, _, _)| q.near.is_none_or(|(_, r)| *d > r))
            .collect();
        // The three nearest, nearest first; equals in town order.
        let nearest = |a: &(usize, f64, u32, u32), b: &(usize, f64, u32, u32)| {
            a.1.total_cmp(&b.1).then(a.3.cmp(&b.3))
        };
        if towns.len() > 3 {
            towns.select_nth_unstable_by(2, nearest);
            towns.truncate(3);
        }
        towns.sort_by(nearest);
        let mut out = Vec::new();
        for (count, d, row, _) in towns.into_iter().take(3) {
            let place = &self.items[row as usize].entry.place;
            out.push(NearbyTown {
                name: place.city.clone(),
                postcode: place.postcode.clone(),
                pos: self.coords[row as usize],
                distance_km: (d * 10.0).round() / 10.0,
                count,
            });
        }
        out
    }
}

/// As [`LatLon::distance_km`] measures.
const EARTH_RADIUS_KM: f64 = 6371.0088;

/// (earliest start or MAX, distance or NaN, row, memo expired), best first once sorted.
type Row = (i64, f64, u32, bool);
type Ranked = Vec<Row>;

/// The order of a sort. Ties (many agendas share "today 08:00") fall back to directory
/// order: cheap and stable, unlike comparing names through another pointer.
fn order(sort: SortOrder, now_s: i64) -> impl Fn(&Row, &Row) -> std::cmp::Ordering {
    let dist = |d: f64| if d.is_nan() { 0.0 } else { d };
    move |a, b| match sort {
        SortOrder::EarliestSlot => {
            a.0.cmp(&b.0)
                .then(dist(a.1).total_cmp(&dist(b.1)))
                .then(a.2.cmp(&b.2))
        }
        SortOrder::Distance => dist(a.1)
            .total_cmp(&dist(b.1))
            .then(a.0.cmp(&b.0))
            .then(a.2.cmp(&b.2)),
        SortOrder::Relevance => {
            let cost = |x: &Row| relevance_cost(x.0, now_s, (!x.1.is_nan()).then_some(x.1));
            cost(a)
                .total_cmp(&cost(b))
                .then(dist(a.1).total_cmp(&dist(b.1)))
                .then(a.2.cmp(&b.2))
        }
    }
}

pub struct SearchIndex {
    agendas: Arc<AgendaCache>,
    snapshot: RwLock<Arc<Snapshot>>,
    /// Earliest-first walks the timeline when matches² ≥ this × k × rows (see
    /// [`SearchIndex::rank_earliest`]); tests set 0 (always) or infinity (never).
    walk_factor: f64,
    /// Tests: rank every earliest-first query that does not walk by the timeline's bounds
    /// (even without a radius), to compare it with brute force.
    #[cfg(test)]
    bounds_always: bool,
    /// Earliest-first near a point ranks through the cells' orders ([`SearchIndex::rank_near`]);
    /// tests turn it off to compare.
    cells_ranking: bool,
}

/// Walking visits about k × rows / matches rows (matches spread evenly in time) at a few
/// nanoseconds each, against tens per match for the linear ranking: walk when that is well
/// under the matches.
const WALK_FACTOR: f64 = 8.0;

impl SearchIndex {
    pub fn new(agendas: Arc<AgendaCache>) -> Self {
        Self {
            agendas,
            snapshot: RwLock::new(Arc::new(Snapshot::default())),
            walk_factor: WALK_FACTOR,
            #[cfg(test)]
            bounds_always: false,
            cells_ranking: true,
        }
    }

    /// Ranks earliest-first by reading every match's memo, as before the timeline (benchmark
    /// comparisons only).
    pub fn set_linear_ranking(&mut self, linear: bool) {
        self.walk_factor = if linear { f64::INFINITY } else { WALK_FACTOR };
    }

    fn index(&self, e: DirectoryEntry) -> Arc<Indexed> {
        Arc::new(Indexed {
            handle: self.agendas.handle(&e.agenda_id),
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
        let items: Vec<Arc<Indexed>> = entries
            .into_iter()
            .filter(|e| e.verified)
            .map(|e| self.index(e))
            .collect();
        let cursor = self.agendas.change_cursor();
        // After the cursor: a memo computed now is either current or its change is logged.
        let handles: Vec<Arc<Entry>> = items.iter().map(|i| i.handle.clone()).collect();
        self.agendas.warm_memos(&handles, Timestamp::now());
        drop(handles);
        *self.snapshot.write() =
            Arc::new(Snapshot::build(items, cursor, Timestamp::now().as_second()));
        // Unpacked here, at start-up, rather than by the first visitor's search.
        gazetteer::get();
    }

    /// Loads every agenda's view from the store in pages of `page` agendas (see
    /// [`AgendaCache::load_all`]), computes every earliest slot on all cores and places each
    /// row at it in the timeline: what a start does before its first answer, instead of one
    /// agenda at a time when searches first need them. Returns the views loaded.
    pub async fn load_views(&self, page: usize) -> Result<usize, StoreError> {
        let snap = self.snapshot.read().clone();
        let loaded = self
            .agendas
            .load_all(&snap.handles, page, Timestamp::now())
            .await?;
        // After the cursor: a memo computed now is either current or its change is logged.
        let cursor = self.agendas.change_cursor();
        let now = Timestamp::now();
        self.agendas.warm_memos(&snap.handles, now);
        *snap.timeline.lock() = timeline::Timeline::new(&snap.handles, now.as_second(), cursor);
        Ok(loaded)
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
        let cursor = self.agendas.change_cursor();
        *guard = Arc::new(Snapshot::build(items, cursor, Timestamp::now().as_second()));
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

    /// Whether a row passes the query's filters and radius, with its distance if measured.
    fn keep(snap: &Snapshot, q: &SearchQuery, i: usize) -> Option<Option<f64>> {
        if !q.filters.is_empty() && !q.filters.accepts(&snap.items[i].entry.facts) {
            return None;
        }
        match q.near {
            Some((point, radius)) => {
                let c = snap.coords[i];
                // The distance is at least the latitudes' difference along a meridian: most
                // rows are out by that compare alone, without the trigonometry.
                if (c.lat - point.lat).abs().to_radians() * EARTH_RADIUS_KM > radius + 1e-6 {
                    return None;
                }
                let d = point.distance_km(c);
                (d <= radius).then_some(Some(d))
            }
            None => Some(None),
        }
    }

    /// Earliest-first: through the timeline when the matches are many (the walk looks at
    /// about k × rows / matches rows), else by looking at every match.
    async fn rank_earliest(
        &self,
        snap: &Snapshot,
        q: &SearchQuery,
        plan: &Plan<'_>,
        now: Timestamp,
        work: &mut Work,
    ) -> Result<(Ranked, usize), StoreError> {
        if self.walk_factor.is_infinite() {
            return self
                .rank_linear(snap, q, plan.rows.as_deref(), now, work)
                .await;
        }
        if q.near.is_some() && q.filters.is_empty() && self.cells_ranking {
            // Everyone, or a whole specialty, near a point: the cells' rows in the order of
            // their bounds.
            let slot = match (&plan.rows, plan.only_specialty) {
                (None, _) => Some(None),
                (Some(_), Some(slot)) => Some(Some(slot)),
                _ => None,
            };
            if let Some(slot) = slot {
                if let Some(out) = self.rank_near(snap, q, slot, now, work).await? {
                    return Ok(out);
                }
            }
        }
        let n = snap.items.len();
        let k = q.offset.saturating_add(q.limit);
        // The rows the query keeps: counting them is linear, but in flat memory (no memo),
        // and near a point only over the cells its circle touches.
        let mut by_cells = false;
        let passing: Option<Vec<u32>> = if q.filters.is_empty() && q.near.is_none() {
            None
        } else if let Some((near, looked)) = snap.near_rows(q, plan) {
            // Exactly within the radius already: only the filters are left.
            by_cells = true;
            work.checked += looked;
            let facts = |i: &u32| q.filters.accepts(&snap.items[*i as usize].entry.facts);
            Some(if q.filters.is_empty() {
                near
            } else {
                near.into_iter().filter(facts).collect()
            })
        } else {
            let keep = |&i: &u32| Self::keep(snap, q, i as usize).is_some();
            work.checked += plan.rows.as_ref().map_or(n, |r| r.len());
            Some(match plan.rows.as_deref() {
                Some(rows) => rows.iter().copied().filter(keep).collect(),
                None => (0..n as u32).filter(keep).collect(),
            })
        };
        let members: Option<&[u32]> = passing.as_deref().or(plan.rows.as_deref());
        let total = members.map_or(n, <[u32]>::len);
        // Near a point whose circle the cells answered, the radius was measured row by row
        // over the cells it touches: reading one flat bound per row that passed costs less
        // than that, while the walk reads whole buckets (rows of a bucket rank by distance)
        // and a memo per accepted row in them. Elsewhere the walk looks at about k × rows /
        // matches rows, the bounds at every match.
        let walk = k > 0
            && total > 0
            && (total as f64) * (total as f64) >= self.walk_factor * k as f64 * n as f64
            && (!by_cells || self.walk_factor == 0.0);
        #[cfg(test)]
        let walk = walk && !self.bounds_always;
        if !walk {
            // The rows that passed already: the radius and filters are not measured twice
            // over the whole plan.
            return self.rank_bounds(snap, q, members, now, work).await;
        }
        // A whole specialty is accepted by its rows' slot, without a bitset of its rows.
        let by_slot = plan.only_specialty.filter(|_| passing.is_none());
        let bits: Option<Vec<u64>> = members.filter(|_| by_slot.is_none()).map(|rows| {
            let mut bits = vec![0u64; n.div_ceil(64)];
            for &r in rows {
                bits[r as usize / 64] |= 1 << (r % 64);
            }
            bits
        });
        let accept = |r: u32| match (by_slot, &bits) {
            (Some(slot), _) => usize::from(snap.slot_of[r as usize]) == slot,
            (None, Some(b)) => b[r as usize / 64] & (1 << (r % 64)) != 0,
            (None, None) => true,
        };
        let now_s = now.as_second();
        {
            drop(self.caught_up(snap, now_s));
        }
        let mut walk = timeline::Walk::default();
        let mut refreshed: std::collections::HashMap<u32, i64> = Default::default();
        loop {
            let refresh = snap.timeline.lock().walk(
                &mut walk,
                k,
                q.near.is_none(),
                accept,
                &snap.handles,
                now_s,
                &refreshed,
            );
            let Some(rows) = refresh else { break };
            work.refined += rows.len();
            for r in rows {
                let next = self
                    .agendas
                    .next_slot_start(&snap.handles[r as usize], now)
                    .await?;
                refreshed.insert(r, next.map_or(i64::MAX, |t| t.as_second()));
            }
        }
        work.walked += walk.walked;
        work.bounds += walk.bounds;
        let mut ranked: Ranked = walk
            .settled
            .into_iter()
            .map(|(key, r)| {
                let d = q
                    .near
                    .map_or(f64::NAN, |(p, _)| p.distance_km(snap.coords[r as usize]));
                (key, d, r, false)
            })
            .collect();
        ranked.sort_by(order(q.sort, now_s));
        ranked.truncate(k);
        ranked.drain(..q.offset.min(ranked.len()));
        Ok((ranked, total))
    }

    /// The snapshot's timeline, locked, after taking in the agenda changes since it last
    /// did (every ranking starts from bounds that are current).
    fn caught_up<'s>(
        &self,
        snap: &'s Snapshot,
        now_s: i64,
    ) -> parking_lot::MutexGuard<'s, timeline::Timeline> {
        let changes = self.agendas.changes_since(snap.timeline.lock().cursor());
        let mut timeline = snap.timeline.lock();
        timeline.catch_up(
            changes,
            |e| snap.rows_of_entry(e).iter().map(|(_, r)| *r),
            now_s,
        );
        timeline
    }

    /// Earliest-first near a point, for everyone or one specialty slot (no other filter):
    /// not linear in the rows within the radius. Each cell list the circle touches keeps
    /// its rows sorted by a lower bound of their next slot (read from the timeline once per
    /// epoch, see [`timeline::Timeline::ordered`]); rows whose bound fell since are taken
    /// from the timeline's list of them instead. The lists are merged from the lowest
    /// bound; each row taken is checked against the radius (cells wholly inside need not),
    /// its bound read again from the timeline, then its memo, which settles it or gives a
    /// higher bound (it goes back into the merge), or it is recomputed. The merge stops once
    /// `offset + limit` rows are settled and the next bound is above the last of them: every
    /// row not taken starts later. The count of rows within the radius is read from the
    /// cells (a cell wholly inside counts its rows without measuring them). `None` when the
    /// circle is too large for the cells.
    async fn rank_near(
        &self,
        snap: &Snapshot,
        q: &SearchQuery,
        slot: Option<usize>,
        now: Timestamp,
        work: &mut Work,
    ) -> Result<Option<(Ranked, usize)>, StoreError> {
        use std::cmp::Reverse;
        use std::collections::{BinaryHeap, HashSet};
        let Some((center, radius)) = q.near else {
            return Ok(None);
        };
        let Some(mut lists) = snap.cells.touched_lists(slot, center, radius) else {
            return Ok(None);
        };
        // Nearest cells first: among rows of equal bound the merge takes them in this order,
        // so that the page's last key is settled by near rows and farther cells drop out.
        lists.sort_by(|a, b| a.near_km.total_cmp(&b.near_km));
        // Rows taken from the lists are checked against the radius by their chord (the
        // haversine only near the edge): a profile of the rush put 8 % of the server's CPU
        // in the haversine here.
        let circle = cells::Circle::new(center, radius);
        let exact = |r: u32| {
            circle.contains(snap.units[r as usize], || {
                center.distance_km(snap.coords[r as usize]) <= radius
            })
        };
        let of_slot = |r: u32| slot.is_none_or(|s| usize::from(snap.slot_of[r as usize]) == s);
        let strays: Vec<u32> = snap
            .cells
            .stray()
            .iter()
            .copied()
            .filter(|&r| of_slot(r) && exact(r))
            .collect();
        let (counted, looked) = cells::Cells::count_within(&lists, center, radius, exact);
        let total = counted + strays.len();
        work.checked += looked + snap.cells.stray().len();
        let k = q.offset.saturating_add(q.limit).min(total);
        if k == 0 {
            return Ok(Some((Vec::new(), total)));
        }
        let now_s = now.as_second();

        // Per list: its order, where the merge is in it, and how many risen bounds it met.
        struct Cursor {
            key: timeline::ListKey,
            order: Arc<Vec<(i64, u32)>>,
            at: usize,
            inside: bool,
            near_km: f64,
            risen: usize,
        }
        // Candidates by bound: (bound, row, what the bound is).
        const TIMELINE: u8 = 0;
        const EXPIRED_MEMO: u8 = 1;
        let mut candidates: BinaryHeap<Reverse<(i64, u32, u8)>> = BinaryHeap::new();
        let mut cursors: Vec<Cursor> = Vec::with_capacity(lists.len());
        let mut fallen: HashSet<u32> = HashSet::new();
        {
            let mut timeline = self.caught_up(snap, now_s);
            for list in &lists {
                cursors.push(Cursor {
                    key: list.key,
                    order: timeline.ordered(list.key, list.rows),
                    at: 0,
                    inside: list.inside,
                    near_km: list.near_km,
                    risen: 0,
                });
            }
            // Rows whose ordered bound may be too high: at their current bound instead.
            for &r in timeline.fallen().iter().chain(&strays) {
                if of_slot(r) && exact(r) && fallen.insert(r) {
                    candidates.push(Reverse((timeline.bound(r), r, TIMELINE)));
                }
            }
        }
        // The next bound of each list.
        let mut heads: BinaryHeap<Reverse<(i64, usize)>> = cursors
            .iter()
            .enumerate()
            .filter_map(|(i, c)| c.order.first().map(|&(b, _)| Reverse((b, i))))
            .collect();
        // The offset + limit first rows settled so far in the page's order (key, distance,
        // row; a max-heap: a distance, never negative, orders as its bits), and every row
        // that was among them at some point (the page is among those).
        let mut settled: Vec<(i64, u32)> = Vec::new();
        let mut lowest: BinaryHeap<(i64, u64, u32)> = BinaryHeap::new();
        let mut rose: Vec<u32> = Vec::new();
        let settle = |key: i64,
                      row: u32,
                      settled: &mut Vec<(i64, u32)>,
                      lowest: &mut BinaryHeap<(i64, u64, u32)>| {
            let near = (
                key,
                center.distance_km(snap.coords[row as usize]).to_bits(),
                row,
            );
            if lowest.len() < k {
                lowest.push(near);
            } else if lowest.peek().is_some_and(|&top| near < top) {
                lowest.pop();
                lowest.push(near);
            } else {
                return;
            }
            settled.push((key, row));
        };
        loop {
            // Under the timeline's lock until a row must be recomputed.
            let refresh: Option<u32> = {
                let mut timeline = snap.timeline.lock();
                let mut refresh = None;
                loop {
                    let head = heads.peek().map(|Reverse((b, _))| *b);
                    let candidate = candidates.peek().map(|Reverse((b, _, _))| *b);
                    let next = match (head, candidate) {
                        (None, None) => break,
                        (Some(h), None) => h,
                        (None, Some(c)) => c,
                        (Some(h), Some(c)) => h.min(c),
                    };
                    // Every row not taken yet starts at or after `next`; ties rank by
                    // distance, so rows at the last settled key are all taken.
                    let kth = lowest.peek().copied().filter(|_| lowest.len() >= k);
                    if kth.is_some_and(|(key, _, _)| next > key) {
                        break;
                    }
                    // Candidates first at equal bounds: settling them is what lets cells
                    // farther than the page's last row drop out.
                    if head == Some(next) && candidate != Some(next) {
                        let Some(Reverse((_, i))) = heads.pop() else {
                            break;
                        };
                        let c = &mut cursors[i];
                        // At the page's last key, a cell farther than its last row holds
                        // nothing that ranks before it (ties rank by distance): dropped.
                        if kth
                            .is_some_and(|(key, d, _)| next == key && c.near_km > f64::from_bits(d))
                        {
                            continue;
                        }
                        // The list's run of rows at this bound (thousands where a city's
                        // agendas share their next slot): a row still at its ordered bound
                        // with a fresh memo there settles at once; the others wait in the
                        // candidates' heap at their current bound.
                        while let Some(&(ordered, row)) = c.order.get(c.at) {
                            if ordered != next {
                                break;
                            }
                            c.at += 1;
                            work.walked += 1;
                            if fallen.contains(&row) || !c.inside && !exact(row) {
                                continue;
                            }
                            work.bounds += 1;
                            let bound = timeline.bound(row);
                            if bound > ordered {
                                c.risen += 1;
                            } else if snap.handles[row as usize].memo_second(now_s)
                                == Memo::Fresh(bound)
                            {
                                work.bounds += 1;
                                settle(bound, row, &mut settled, &mut lowest);
                                continue;
                            }
                            candidates.push(Reverse((bound.max(ordered), row, TIMELINE)));
                        }
                        if let Some(&(b, _)) = c.order.get(c.at) {
                            heads.push(Reverse((b, i)));
                        }
                        continue;
                    }
                    let Some(Reverse((bound, row, what))) = candidates.pop() else {
                        break;
                    };
                    if what == EXPIRED_MEMO {
                        refresh = Some(row);
                        break;
                    }
                    work.bounds += 1;
                    match snap.handles[row as usize].memo_second(now_s) {
                        Memo::Fresh(key) => {
                            if key != timeline.bound(row) {
                                rose.push(row);
                            }
                            settle(key, row, &mut settled, &mut lowest);
                        }
                        Memo::Expired(key) if key > bound => {
                            candidates.push(Reverse((key, row, EXPIRED_MEMO)));
                        }
                        Memo::Expired(_) | Memo::Missing => {
                            refresh = Some(row);
                            break;
                        }
                    }
                }
                if refresh.is_none() {
                    for c in &cursors {
                        timeline.risen(c.key, c.risen);
                    }
                    for &r in &rose {
                        timeline.settle(r, &snap.handles, now_s);
                    }
                }
                refresh
            };
            let Some(row) = refresh else { break };
            work.refined += 1;
            let next = self
                .agendas
                .next_slot_start(&snap.handles[row as usize], now)
                .await?;
            rose.push(row);
            settle(
                next.map_or(i64::MAX, |t| t.as_second()),
                row,
                &mut settled,
                &mut lowest,
            );
        }
        let mut ranked: Ranked = settled
            .into_iter()
            .map(|(key, r)| (key, center.distance_km(snap.coords[r as usize]), r, false))
            .collect();
        let cmp = order(SortOrder::EarliestSlot, now_s);
        if ranked.len() > k {
            ranked.select_nth_unstable_by(k - 1, &cmp);
            ranked.truncate(k);
        }
        ranked.sort_unstable_by(&cmp);
        ranked.drain(..q.offset.min(ranked.len()));
        Ok(Some((ranked, total)))
    }

    /// Earliest-first over `rows` (`None`: every row), which already pass the query's
    /// radius and filters: reads each row's lower bound of its next slot from the timeline
    /// (flat memory, no memo), selects the offset + limit lowest, and settles those with
    /// their memos (recomputed when expired or missing) until the selection no longer
    /// changes. Every order grows with the next slot, so a row outside the selection, whose
    /// bound is above the last selected row's exact key, cannot rank before it. Rows whose
    /// bound rose go back into the timeline at their memo.
    async fn rank_bounds(
        &self,
        snap: &Snapshot,
        q: &SearchQuery,
        rows: Option<&[u32]>,
        now: Timestamp,
        work: &mut Work,
    ) -> Result<(Ranked, usize), StoreError> {
        let now_s = now.as_second();
        // (bound, then exact key once settled; row)
        let mut bounds: Vec<(i64, u32)>;
        {
            let timeline = self.caught_up(snap, now_s);
            let row = |r: u32| (timeline.bound(r), r);
            bounds = match rows {
                Some(rows) => rows.iter().map(|&r| row(r)).collect(),
                None => (0..snap.items.len() as u32).map(row).collect(),
            };
        }
        let total = bounds.len();
        work.checked += total;
        work.bounds += total;
        let k = q.offset.saturating_add(q.limit).min(total);
        if k == 0 {
            return Ok((Vec::new(), total));
        }
        let cmp = order(SortOrder::EarliestSlot, now_s);
        let mut rose: Vec<u32> = Vec::new();
        let mut settled: std::collections::HashMap<u32, i64> = Default::default();
        let mut ranked: Ranked;
        loop {
            // The k-th lowest bound, and every row at or below it in front.
            bounds.select_nth_unstable(k - 1);
            let kth = bounds[k - 1].0;
            let mut end = k;
            for i in k..bounds.len() {
                if bounds[i].0 <= kth {
                    bounds.swap(i, end);
                    end += 1;
                }
            }
            let distance = |r: u32| {
                q.near
                    .map_or(f64::NAN, |(p, _)| p.distance_km(snap.coords[r as usize]))
            };
            ranked = bounds[..end]
                .iter()
                .map(|&(key, r)| (key, distance(r), r, settled.contains_key(&r)))
                .collect();
            ranked.select_nth_unstable_by(k - 1, &cmp);
            ranked.truncate(k);
            ranked.sort_unstable_by(&cmp);
            // Settle the first k: a bound that rises sends its row back for another pass.
            let mut changed = false;
            for x in ranked.iter_mut().filter(|x| !x.3) {
                let handle = &snap.handles[x.2 as usize];
                work.bounds += 1;
                let key = match handle.memo_second(now_s) {
                    Memo::Fresh(key) => key,
                    Memo::Expired(_) | Memo::Missing => {
                        work.refined += 1;
                        let next = self.agendas.next_slot_start(handle, now).await?;
                        next.map_or(i64::MAX, |t| t.as_second())
                    }
                };
                x.3 = true;
                settled.insert(x.2, key);
                if key != x.0 {
                    rose.push(x.2);
                    changed = true;
                }
            }
            if !changed {
                break;
            }
            for b in bounds[..end].iter_mut() {
                if let Some(&key) = settled.get(&b.1) {
                    b.0 = key;
                }
            }
        }
        ranked.drain(..q.offset.min(ranked.len()));
        if !rose.is_empty() {
            let mut timeline = snap.timeline.lock();
            for r in rose {
                timeline.settle(r, &snap.handles, now_s);
            }
        }
        Ok((ranked, total))
    }

    /// Ranks every match among `rows` (`None`: every row): reads each one's memo, settles
    /// the first offset + limit.
    async fn rank_linear(
        &self,
        snap: &Snapshot,
        q: &SearchQuery,
        rows: Option<&[u32]>,
        now: Timestamp,
        work: &mut Work,
    ) -> Result<(Ranked, usize), StoreError> {
        // (earliest start or MAX, distance, position, memo expired). Unknown memos are
        // computed before ranking; merely expired ones are lower bounds (time only removes
        // slots), so they rank as they are and only those that reach the top k are
        // recomputed, then the top k is selected again.
        let now_s = now.as_second();
        let mut ranked: Ranked = Vec::with_capacity(rows.map_or(snap.items.len(), <[u32]>::len));
        let mut missing: Vec<usize> = Vec::new();
        let mut consider = |i: u32| {
            if let Some(distance) = Self::keep(snap, q, i as usize) {
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
        match rows {
            Some(ids) => ids.iter().copied().for_each(&mut consider),
            None => (0..snap.items.len() as u32).for_each(&mut consider),
        }
        work.checked += rows.map_or(snap.items.len(), <[u32]>::len);
        work.bounds += ranked.len();
        work.refined += missing.len();
        for r in missing {
            let handle = &snap.handles[ranked[r].2 as usize];
            let next = self.agendas.next_slot_start(handle, now).await?;
            ranked[r].0 = next.map_or(i64::MAX, |t| t.as_second());
        }
        let cmp = order(q.sort, now_s);
        let total = ranked.len();
        // Every order grows with the next slot, so memos that are lower bounds keep working
        // for any page: the first offset + limit are settled, then the page is cut from them.
        let k = q.offset.saturating_add(q.limit).min(ranked.len());
        loop {
            if k > 0 && ranked.len() > k {
                ranked.select_nth_unstable_by(k - 1, &cmp);
            }
            let mut refreshed = false;
            for entry in ranked.iter_mut().take(k) {
                if entry.3 {
                    work.refined += 1;
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
        ranked.sort_by(&cmp);
        ranked.drain(..q.offset.min(ranked.len()));
        Ok((ranked, total))
    }

    pub async fn search(&self, q: &SearchQuery, now: Timestamp) -> Result<Vec<Hit>, StoreError> {
        Ok(self.search_explained(q, now).await?.hits)
    }

    /// Searches, and tells how the text was read and, on an empty result, what to try.
    pub async fn search_explained(
        &self,
        q: &SearchQuery,
        now: Timestamp,
    ) -> Result<SearchOutcome, StoreError> {
        let snap = self.snapshot.read().clone();
        let text = q.text.as_deref().map(str::trim).filter(|t| !t.is_empty());
        let plan = snap.plan(q, text);

        let mut work = Work::default();
        let (ranked, total) = if q.sort == SortOrder::EarliestSlot {
            self.rank_earliest(&snap, q, &plan, now, &mut work).await?
        } else {
            let near = snap.near_rows(q, &plan).map(|(rows, _)| rows);
            let rows = near.as_deref().or(plan.rows.as_deref());
            self.rank_linear(&snap, q, rows, now, &mut work).await?
        };

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
        let suggestions = (total == 0)
            .then(|| snap.suggest(q, text, &plan))
            .filter(|s| !s.is_empty());
        Ok(SearchOutcome {
            hits,
            total,
            place: match plan.place {
                Some(PlaceFilter::Known(hit)) => Some(hit),
                _ => None,
            },
            understood: plan.understood,
            suggestions,
            work,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The bitset union gives what sorting and deduplicating give, on both of its paths.
    #[test]
    fn union_is_sort_and_dedup() {
        for (len, n) in [(100usize, 1000usize), (10_000, 5000), (50_000, 70_000)] {
            let rows: Vec<u32> = (0..len as u64)
                .map(|i| (i.wrapping_mul(2_654_435_761) % n as u64) as u32)
                .collect();
            let mut expected = rows.clone();
            expected.sort_unstable();
            expected.dedup();
            assert_eq!(union(rows, n), expected);
        }
    }
    use careslot_store::{Agenda, AgendaSnapshot, Place};

    /// Agendas open at different hours (some only in the evening, some only on Sundays),
    /// so that as time passes memos expire and rankings change.
    fn directory(n: usize) -> Vec<(DirectoryEntry, AgendaView)> {
        directory_with(n, false)
    }

    /// `tied`: every agenda open all day every day in 15-minute steps with no notice, so
    /// that all share their earliest slot and rank by distance alone.
    fn directory_with(n: usize, tied: bool) -> Vec<(DirectoryEntry, AgendaView)> {
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
                    lon: 2.35 + (i % 7) as f64 * 0.02,
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
                    if tied { 15 } else { 15 + (i % 4) as i64 * 15 },
                    1,
                    MotivePolicy {
                        min_notice_min: if tied { 0 } else { (i % 3) as u32 * 60 },
                        ..MotivePolicy::default()
                    },
                )
                .unwrap();
                let (start_h, hours) = if tied {
                    (0, 23)
                } else {
                    ((6 + i % 14) as i8, 2)
                };
                let days: Vec<i64> = if tied {
                    vec![1, 2, 3, 4, 5, 6, 7]
                } else if i % 5 == 0 {
                    vec![7]
                } else {
                    vec![1, 2, 3, 4, 5, 6]
                };
                let rule = OpeningRule::parse(
                    RuleId::new(),
                    agenda.id.clone(),
                    WeekdaySet::parse(&days).unwrap(),
                    jiff::civil::time(start_h, 0, 0, 0),
                    jiff::civil::time(start_h + hours, 0, 0, 0),
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
                    facts: DirectoryFacts {
                        teleconsultation: i % 2 == 0,
                        accepts_new_patients: i % 3 != 0,
                        fee_sector: [None, Some(FeeSector::Sector1), Some(FeeSector::Sector2)]
                            [i % 3],
                        wheelchair_access: i % 4 == 1,
                        languages: if i % 5 == 2 {
                            vec!["fr".into(), "de".into()]
                        } else {
                            vec!["fr".into()]
                        },
                    },
                };
                let view = AgendaView::from_snapshot(AgendaSnapshot {
                    agenda,
                    motives: vec![motive],
                    motive_labels: vec![],
                    motive_translations: Vec::new(),
                    rules: vec![rule],
                    absences: vec![],
                    reservations: vec![],
                    vaccines: Vec::new(),
                    stock: Vec::new(),
                    policies: Vec::new(),
                    lines: Vec::new(),
                    floor_version: 0,
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
            offset: 0,
            filters: Filters::default(),
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

    /// Every sort order, filter and page equals a brute-force ranking as memos expire.
    #[tokio::test]
    async fn sorts_filters_and_pages_stay_exact() {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(
            careslot_store_sqlite::SqliteStore::open_dir(dir.path())
                .await
                .unwrap(),
        );
        let cache = Arc::new(AgendaCache::new(store));
        let mut entries = Vec::new();
        let mut truth: Vec<(DirectoryEntry, Arc<AgendaView>)> = Vec::new();
        for (e, v) in directory(180) {
            let id = v.agenda.id.clone();
            cache.insert(v);
            truth.push((e.clone(), cache.get(&id).await.unwrap().unwrap()));
            entries.push(e);
        }
        let index = SearchIndex::new(cache.clone());
        index.replace_all(entries);
        let centre = LatLon {
            lat: 48.87,
            lon: 2.40,
        };
        let filter_sets = [
            Filters::default(),
            Filters {
                teleconsultation: true,
                ..Filters::default()
            },
            Filters {
                new_patients: true,
                wheelchair: true,
                ..Filters::default()
            },
            Filters {
                languages: vec!["de".into()],
                fee_sectors: vec![FeeSector::Sector1, FeeSector::Sector2],
                ..Filters::default()
            },
        ];
        let t0: Timestamp = "2027-03-26T05:00:00Z".parse().unwrap();
        for hours in [0i64, 3, 13, 34, 55] {
            let now = t0 + jiff::SignedDuration::from_hours(hours);
            let now_s = now.as_second();
            for sort in [
                SortOrder::EarliestSlot,
                SortOrder::Distance,
                SortOrder::Relevance,
            ] {
                for near in [None, Some((centre, 4.0))] {
                    for filters in &filter_sets {
                        for (offset, limit) in [(0usize, 7usize), (7, 7), (30, 10), (500, 5)] {
                            let q = SearchQuery {
                                specialty: None,
                                text: None,
                                city: None,
                                near,
                                sort,
                                limit,
                                offset,
                                filters: filters.clone(),
                            };
                            let outcome = index.search_explained(&q, now).await.unwrap();
                            let got: Vec<(AgendaId, Option<Timestamp>)> = outcome
                                .hits
                                .iter()
                                .map(|h| (h.item.entry.agenda_id.clone(), h.next_slot))
                                .collect();
                            // (cost, key, distance, position) for everyone the filters keep.
                            let mut all: Vec<(f64, i64, f64, usize, AgendaId, Option<Timestamp>)> =
                                Vec::new();
                            for (pos, (e, v)) in truth.iter().enumerate() {
                                if !filters.accepts(&e.facts) {
                                    continue;
                                }
                                let d = near.map(|(p, _)| {
                                    p.distance_km(LatLon {
                                        lat: e.place.lat,
                                        lon: e.place.lon,
                                    })
                                });
                                if let (Some(d), Some((_, r))) = (d, near) {
                                    if d > r {
                                        continue;
                                    }
                                }
                                let next = v.next_slot(now).0.map(|s| s.start);
                                let key = next.map_or(i64::MAX, |t| t.as_second());
                                let cost = relevance_cost(key, now_s, d);
                                all.push((
                                    cost,
                                    key,
                                    d.unwrap_or(0.0),
                                    pos,
                                    e.agenda_id.clone(),
                                    next,
                                ));
                            }
                            all.sort_by(|a, b| match sort {
                                SortOrder::EarliestSlot => {
                                    a.1.cmp(&b.1).then(a.2.total_cmp(&b.2)).then(a.3.cmp(&b.3))
                                }
                                SortOrder::Distance => {
                                    a.2.total_cmp(&b.2).then(a.1.cmp(&b.1)).then(a.3.cmp(&b.3))
                                }
                                SortOrder::Relevance => {
                                    a.0.total_cmp(&b.0)
                                        .then(a.2.total_cmp(&b.2))
                                        .then(a.3.cmp(&b.3))
                                }
                            });
                            assert_eq!(outcome.total, all.len());
                            let expected: Vec<(AgendaId, Option<Timestamp>)> = all
                                .into_iter()
                                .skip(offset)
                                .take(limit)
                                .map(|x| (x.4, x.5))
                                .collect();
                            assert_eq!(
                                got, expected,
                                "+{hours} h, {sort:?}, near {near:?}, {filters:?}, offset {offset}"
                            );
                        }
                    }
                }
            }
        }
    }

    /// The timeline walk (forced for every query) equals a brute-force ranking while time
    /// passes and agendas change: bookings of their earliest slot (through the cache's
    /// write path), agendas that vanish from the store, and a cache-wide invalidation.
    #[tokio::test]
    async fn timeline_stays_exact_through_writes() {
        stays_exact_through_writes(0.0, false).await;
    }

    /// The same with the timeline's bounds read row by row (forced for every query), and
    /// with the choice the index makes by itself.
    #[tokio::test]
    async fn bounds_stay_exact_through_writes() {
        stays_exact_through_writes(WALK_FACTOR, true).await;
        stays_exact_through_writes(WALK_FACTOR, false).await;
    }

    /// Earliest-first near a point through the cells' orders (everyone or one specialty,
    /// radii from within one cell to beyond every row, cells wholly inside and cut by the
    /// circle) equals a brute-force ranking while time passes and agendas change; and the
    /// same queries without the orders agree with it.
    #[tokio::test]
    async fn near_ranking_stays_exact_through_writes() {
        near_stays_exact(true).await;
        near_stays_exact(false).await;
    }

    async fn near_stays_exact(cells_ranking: bool) {
        stays_exact(WALK_FACTOR, false, Some(cells_ranking)).await;
    }

    async fn stays_exact_through_writes(walk_factor: f64, bounds_always: bool) {
        stays_exact(walk_factor, bounds_always, None).await;
    }

    /// `spread`: rows spread over about 100 km in four specialties, every query near a
    /// point, the cells' orders on or off.
    async fn stays_exact(walk_factor: f64, bounds_always: bool, spread: Option<bool>) {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(
            careslot_store_sqlite::SqliteStore::open_dir(dir.path())
                .await
                .unwrap(),
        );
        let cache = Arc::new(AgendaCache::new(store));
        let mut entries = Vec::new();
        let mut ids = Vec::new();
        let specialties = [
            Specialty::GeneralPractitioner,
            Specialty::Dentist,
            Specialty::Pediatrician,
            Specialty::Ophthalmologist,
        ];
        for (i, (mut e, v)) in directory(300).into_iter().enumerate() {
            if spread.is_some() {
                // A deterministic scatter over about 1° × 1.3°, some rows sharing a spot.
                let (a, b) = ((i * 37) % 101, (i * 59) % 89);
                e.place.lat = 48.3 + a as f64 * 0.01;
                e.place.lon = 1.8 + b as f64 * 0.015;
                e.specialty = specialties[i % 4];
            }
            ids.push(v.agenda.id.clone());
            cache.insert(v);
            entries.push(e);
        }
        let mut index = SearchIndex::new(cache.clone());
        index.walk_factor = walk_factor;
        index.bounds_always = bounds_always;
        index.cells_ranking = spread.unwrap_or(true);
        index.replace_all(entries.clone());
        let centre = LatLon {
            lat: 48.88,
            lon: 2.40,
        };
        // A small deterministic generator (no extra dependency).
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        let mut next = move |n: usize| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            (seed % n as u64) as usize
        };
        let mut gone: Vec<bool> = vec![false; ids.len()];
        let t0: Timestamp = "2027-03-26T05:00:00Z".parse().unwrap();
        let mut minutes = 0i64;
        let steps = if spread.is_some() { 160 } else { 40 };
        // Queries within the cells' reach that the cells' orders ranked: they alone walk
        // rows there (the other ranking reads the bounds of the rows the circle holds).
        let mut merged = 0usize;
        for step in 0..steps {
            minutes += [1, 7, 30, 95, 240][next(5)] as i64;
            let now = t0 + jiff::SignedDuration::from_mins(minutes);
            // Writes: book a few agendas' earliest slot, make one vanish now and then.
            for _ in 0..next(6) {
                let a = next(ids.len());
                if gone[a] {
                    continue;
                }
                let view = cache.get(&ids[a]).await.unwrap().unwrap();
                if let (Some(slot), _) = view.next_slot(now) {
                    cache.reserved(
                        &careslot_store::ReservationRow {
                            id: ReservationId::new(),
                            agenda_id: ids[a].clone(),
                            start: slot.start,
                            end: slot.end,
                            status: careslot_store::ReservationStatus::Booked,
                            expires_at: None,
                            motive_ct: Vec::new(),
                            patient_ct: None,
                            note_ct: None,
                            relative_ct: None,
                            arrived_at: None,
                            consulting_at: None,
                            done_at: None,
                            no_show_at: None,
                        },
                        false,
                        None,
                    );
                }
            }
            if step % 9 == 4 {
                let a = next(ids.len());
                cache.invalidate(&ids[a]);
                gone[a] = true;
            }
            if step == if spread.is_some() { 140 } else { 33 } {
                cache.invalidate_all();
                gone.fill(true);
            }
            let (near, specialty) = match spread {
                None => ([None, Some((centre, 3.0))][next(2)], None),
                Some(_) => {
                    let at = LatLon {
                        lat: 48.3 + next(100) as f64 * 0.01,
                        lon: 1.8 + next(130) as f64 * 0.01,
                    };
                    let radius = [0.5, 4.0, 12.0, 20.0, 35.0, 400.0][next(6)];
                    (
                        Some((at, radius)),
                        [None, Some(specialties[next(4)])][next(2)],
                    )
                }
            };
            let (offset, limit) = [(0usize, 10usize), (0, 1), (10, 10), (290, 20)][next(4)];
            let q = SearchQuery {
                specialty,
                text: None,
                city: None,
                near,
                sort: SortOrder::EarliestSlot,
                limit,
                offset,
                filters: Filters::default(),
            };
            let outcome = index.search_explained(&q, now).await.unwrap();
            if near.is_some_and(|(_, r)| r <= 35.0) && outcome.work.walked > 0 {
                merged += 1;
            }
            let got: Vec<(AgendaId, Option<Timestamp>)> = outcome
                .hits
                .iter()
                .map(|h| (h.item.entry.agenda_id.clone(), h.next_slot))
                .collect();
            let mut all = Vec::new();
            for (pos, (e, id)) in entries.iter().zip(&ids).enumerate() {
                if specialty.is_some_and(|s| s != e.specialty) {
                    continue;
                }
                let d = near.map(|(p, _)| {
                    p.distance_km(LatLon {
                        lat: e.place.lat,
                        lon: e.place.lon,
                    })
                });
                if let (Some(d), Some((_, r))) = (d, near) {
                    if d > r {
                        continue;
                    }
                }
                let next = if gone[pos] {
                    None
                } else {
                    let view = cache.get(id).await.unwrap().unwrap();
                    view.next_slot(now).0.map(|s| s.start)
                };
                let key = next.map_or(i64::MAX, |t| t.as_second());
                all.push((key, d.unwrap_or(0.0), pos, id.clone(), next));
            }
            all.sort_by(|a, b| a.0.cmp(&b.0).then(a.1.total_cmp(&b.1)).then(a.2.cmp(&b.2)));
            assert_eq!(outcome.total, all.len(), "step {step}");
            let expected: Vec<(AgendaId, Option<Timestamp>)> = all
                .into_iter()
                .skip(offset)
                .take(limit)
                .map(|x| (x.3, x.4))
                .collect();
            assert_eq!(got, expected, "step {step}, +{minutes} min, near {near:?}");
        }
        if spread == Some(true) {
            assert!(
                merged > 40,
                "only {merged} queries went through the cells' orders"
            );
        } else if spread == Some(false) {
            assert_eq!(merged, 0);
        }
    }

    /// Near a point, rows tied at the page's last key rank by distance: the merge takes the
    /// nearest cells first and drops cells farther than the page's last row, and the pages
    /// equal brute force. Every agenda shares its earliest slot here.
    #[tokio::test]
    async fn ties_near_a_point_rank_by_distance_from_the_nearest_cells() {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(
            careslot_store_sqlite::SqliteStore::open_dir(dir.path())
                .await
                .unwrap(),
        );
        let cache = Arc::new(AgendaCache::new(store));
        let mut entries = Vec::new();
        for (i, (mut e, v)) in directory_with(900, true).into_iter().enumerate() {
            let (a, b) = ((i * 37) % 101, (i * 59) % 89);
            e.place.lat = 48.3 + a as f64 * 0.01;
            e.place.lon = 1.8 + b as f64 * 0.015;
            cache.insert(v);
            entries.push(e);
        }
        let index = SearchIndex::new(cache.clone());
        index.replace_all(entries.clone());
        // The memos' own instant (the index computed them at `replace_all`): bounds are
        // current, so ties are what the merge meets.
        let now = Timestamp::now();
        let mut pruned = 0usize;
        for (step, (lat, lon)) in [(48.5, 2.3), (48.9, 2.1), (48.31, 1.81), (49.2, 3.0)]
            .into_iter()
            .enumerate()
        {
            let center = LatLon { lat, lon };
            for radius in [2.0, 5.0, 12.0, 20.0, 35.0] {
                for (offset, limit) in [(0usize, 10usize), (0, 1), (10, 10), (0, 20)] {
                    let q = SearchQuery {
                        specialty: None,
                        text: None,
                        city: None,
                        near: Some((center, radius)),
                        sort: SortOrder::EarliestSlot,
                        limit,
                        offset,
                        filters: Filters::default(),
                    };
                    let outcome = index.search_explained(&q, now).await.unwrap();
                    let mut all = Vec::new();
                    for (pos, e) in entries.iter().enumerate() {
                        let d = center.distance_km(LatLon {
                            lat: e.place.lat,
                            lon: e.place.lon,
                        });
                        if d > radius {
                            continue;
                        }
                        let view = cache.get(&e.agenda_id).await.unwrap().unwrap();
                        let next = view.next_slot(now).0.map(|s| s.start);
                        let key = next.map_or(i64::MAX, |t| t.as_second());
                        all.push((key, d, pos, e.agenda_id.clone(), next));
                    }
                    all.sort_by(|a, b| a.0.cmp(&b.0).then(a.1.total_cmp(&b.1)).then(a.2.cmp(&b.2)));
                    assert_eq!(outcome.total, all.len());
                    // Fewer rows walked than the circle holds: cells were left out.
                    if outcome.work.walked < all.len() {
                        pruned += 1;
                    }
                    let got: Vec<_> = outcome
                        .hits
                        .iter()
                        .map(|h| (h.item.entry.agenda_id.clone(), h.next_slot))
                        .collect();
                    let expected: Vec<_> = all
                        .into_iter()
                        .skip(offset)
                        .take(limit)
                        .map(|x| (x.3, x.4))
                        .collect();
                    assert_eq!(
                        got, expected,
                        "step {step}, radius {radius}, page {offset}+{limit}"
                    );
                }
            }
        }
        assert!(pruned >= 30, "only {pruned} of 80 queries left cells out");
    }

    #[test]
    fn relevance_weighs_waiting_against_distance() {
        let now = 1_000_000;
        // A slot today 5 km away loses to one today 1.5 km away, and to one tomorrow 1 km away.
        let far_today = relevance_cost(now + 3_600, now, Some(5.0));
        let near_today = relevance_cost(now + 3_600, now, Some(1.5));
        let near_tomorrow = relevance_cost(now + 86_400, now, Some(1.0));
        assert!(near_today < far_today);
        assert!(near_tomorrow < far_today);
        // A slot in three weeks next door loses to one today 5 km away.
        assert!(relevance_cost(now + 21 * 86_400, now, Some(0.1)) > far_today);
        assert_eq!(relevance_cost(i64::MAX, now, Some(0.0)), f64::INFINITY);
    }

    #[test]
    fn intersections() {
        assert_eq!(intersect(&[1, 3, 5, 7], &[3, 4, 5]), vec![3, 5]);
        assert_eq!(
            intersect_all(vec![
                Cow::Owned(vec![1, 2, 3]),
                Cow::Borrowed(&[2, 3][..]),
                Cow::Owned(vec![3, 9])
            ]),
            Some(Cow::Owned(vec![3]))
        );
        assert_eq!(intersect_all(vec![]), None);
    }
}
