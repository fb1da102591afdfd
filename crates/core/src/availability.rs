//! The hot availability index: one immutable [`AgendaView`] per agenda, kept in memory so the
//! common slot query is a memory read. Every write bumps the agenda's generation; a reader
//! that finds its view older than the generation reloads it from the store (one loader at a
//! time per agenda). Other app nodes' writes arrive through the store's change feed
//! (PostgreSQL LISTEN/NOTIFY) and bump generations the same way.

use careslot_domain::availability::Unavailable;
use careslot_domain::*;
use careslot_store::{Agenda, AgendaSnapshot, Store, StoreError};
use jiff::tz::TimeZone;
use jiff::Timestamp;
use parking_lot::RwLock;
use std::borrow::Cow;
use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;

/// Everything needed to answer availability questions about one agenda, frozen at load (a
/// write made by this node replaces it with an updated copy, see [`AgendaCache::reserved`]).
#[derive(Clone)]
pub struct AgendaView {
    pub agenda: Agenda,
    pub tz: TimeZone,
    pub calendar: AgendaCalendar,
    pub motives: Vec<Motive>,
    /// Motive labels, sealed under the agenda's key (opened only for display).
    pub motive_labels: Vec<(MotiveId, Vec<u8>)>,
    /// Per-language labels of the motives that have some, sealed like the labels.
    pub motive_translations: Vec<(MotiveId, Vec<u8>)>,
    pub occupancy: Occupancy,
    /// The absences with their ids (the calendar keeps only their spans).
    pub absences: Vec<Absence>,
    /// Motives that give a vaccine dose.
    pub vaccines: Vec<careslot_store::MotiveVaccine>,
    /// Dose stock per product and local day, from yesterday on.
    pub stock: Vec<careslot_store::StockRow>,
    /// Default doses per day and product, for days without a stock row (loaded with the
    /// view, so a day's stock is a lookup, never a query).
    pub policies: Vec<(VaccineProduct, u32)>,
    /// Lines of particular local days (capacity of pooled motives).
    pub lines: Vec<(jiff::civil::Date, u32)>,
    /// The slot-floor version read before the view's rows (see [`careslot_store::SlotFloor`]).
    pub floor_version: i64,
}

/// An agenda's remembered earliest slot, in epoch seconds (`i64::MAX`: none).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Memo {
    Fresh(i64),
    /// Only time has passed since it was computed: the true earliest slot is this one or a
    /// later one (time only removes slots), so it is a lower bound.
    Expired(i64),
    /// Never computed, or the agenda changed since: unknown.
    Missing,
}

/// `next_start` value meaning "no slot within the horizon".
const NO_SLOT: i64 = i64::MAX;
/// `next_generation` value that matches no generation.
const NO_MEMO: u64 = u64::MAX;

impl AgendaView {
    pub fn from_snapshot(s: AgendaSnapshot) -> Result<Self, StoreError> {
        let tz = TimeZone::get(&s.agenda.timezone)
            .map_err(|_| StoreError::Internal("agenda has an unknown time zone".into()))?;
        let calendar = AgendaCalendar {
            tz: tz.clone(),
            holidays: s.agenda.holidays,
            rules: s.rules,
            absences: s.absences.iter().map(|a| (a.start, a.end)).collect(),
        };
        Ok(Self {
            agenda: s.agenda,
            tz,
            calendar,
            motives: s.motives,
            motive_labels: s.motive_labels,
            motive_translations: s.motive_translations,
            occupancy: Occupancy::new(s.reservations),
            absences: s.absences,
            vaccines: s.vaccines,
            stock: s.stock,
            policies: s.policies,
            lines: s.lines,
            floor_version: s.floor_version,
        })
    }

    /// A floor of this agenda's slots (none starts before it, now or later, while its
    /// floor version is unchanged), given its earliest online slot `next` at `now`:
    /// - holds may lapse, freeing any slot that overlaps them: not above a live hold's
    ///   start less the longest motive;
    /// - "no slot" holds until the shortest horizon of the online motives reaches past
    ///   `now`'s (an agenda without one has no slot until its motives change, which makes
    ///   its floor unknown).
    pub fn slot_floor(&self, next: Option<Timestamp>, now: Timestamp) -> i64 {
        const DAY_S: i64 = 86_400;
        let now_s = now.as_second();
        let online = self.motives.iter().filter(|m| m.policy.bookable_online);
        let mut floor = match next {
            Some(t) => t.as_second(),
            None => online
                .map(|m| i64::from(m.policy.max_horizon_days) * DAY_S)
                .min()
                .map_or(now_s + 365 * DAY_S, |h| now_s + h),
        };
        let longest = self
            .motives
            .iter()
            .map(|m| m.duration.seconds())
            .max()
            .unwrap_or(DAY_S);
        for hold in self.occupancy.holds() {
            if hold.expires_at.is_some_and(|e| e > now) {
                floor = floor.min(hold.start.as_second() - longest);
            }
        }
        floor
    }

    pub fn motive(&self, id: &MotiveId) -> Option<&Motive> {
        self.motives.iter().find(|m| &m.id == id)
    }

    /// The vaccine dose a motive gives, if it is a vaccination motive.
    pub fn vaccine(&self, motive: &MotiveId) -> Option<&careslot_store::MotiveVaccine> {
        self.vaccines.iter().find(|v| &v.motive_id == motive)
    }

    /// Doses of `product` left on local day `day`: its stock row's, else the policy's
    /// (neither: none).
    pub fn doses_left(&self, product: VaccineProduct, day: jiff::civil::Date) -> u32 {
        match self
            .stock
            .iter()
            .find(|s| s.product == product && s.day == day)
        {
            Some(s) => s.doses.saturating_sub(s.used),
            None => self.policy(product).unwrap_or(0),
        }
    }

    /// The default doses per day of a product, when the centre has a policy for it.
    pub fn policy(&self, product: VaccineProduct) -> Option<u32> {
        self.policies
            .iter()
            .find(|(p, _)| *p == product)
            .map(|(_, d)| *d)
    }

    /// The lines of a local day, when the agenda changed them for that day.
    pub fn lines_on(&self, day: jiff::civil::Date) -> Option<u32> {
        self.lines.iter().find(|(d, _)| *d == day).map(|(_, l)| *l)
    }

    /// A pooled motive as it is on `day`: with that day's lines as its capacity (borrowed
    /// as is when the day has no override — the common case, and on the booking path).
    pub fn motive_on<'m>(&self, motive: &'m Motive, day: jiff::civil::Date) -> Cow<'m, Motive> {
        match self.lines_on(day) {
            Some(lines) if motive.capacity > 1 => {
                let mut m = motive.clone();
                m.capacity = lines;
                Cow::Owned(m)
            }
            _ => Cow::Borrowed(motive),
        }
    }

    /// Bookable slots of a motive on local dates `[from, to]`: with each day's lines for a
    /// pooled motive, and for a vaccination motive only on days with a dose left.
    pub fn slots(
        &self,
        motive: &Motive,
        from: jiff::civil::Date,
        to: jiff::civil::Date,
        now: Timestamp,
    ) -> Vec<Slot> {
        let changed = motive.capacity > 1 && self.lines.iter().any(|(d, _)| *d >= from && *d <= to);
        let slots = if changed {
            let mut out = Vec::new();
            let mut day = from;
            while day <= to {
                let m = self.motive_on(motive, day);
                out.extend(self.calendar.slots(&m, &self.occupancy, day, day, now));
                match day.tomorrow() {
                    Ok(d) => day = d,
                    Err(_) => break,
                }
            }
            out
        } else {
            self.calendar.slots(motive, &self.occupancy, from, to, now)
        };
        match self.vaccine(&motive.id) {
            None => slots,
            Some(v) => {
                // Slots come in order: each local day and its doses are looked up once,
                // not once per slot.
                let mut day: Option<(Timestamp, Timestamp, bool)> = None;
                slots
                    .into_iter()
                    .filter(|s| match day {
                        Some((a, b, open)) if a <= s.start && s.start < b => open,
                        _ => {
                            let d = s.start.to_zoned(self.tz.clone()).date();
                            let open = self.doses_left(v.product, d) > 0;
                            day = crate::time::local_days(d, d, &self.tz)
                                .ok()
                                .map(|(a, b)| (a, b, open));
                            open
                        }
                    })
                    .collect()
            }
        }
    }

    /// The earliest bookable slot of a motive (stock-aware for vaccination motives).
    pub fn next_slot_of(&self, motive: &Motive, now: Timestamp) -> Option<Slot> {
        let Some(v) = self.vaccine(&motive.id) else {
            return self.calendar.next_slot(motive, &self.occupancy, now);
        };
        if self.policy(v.product).is_some_and(|d| d > 0) {
            return self.next_slot_with_policy(motive, v.product, now);
        }
        let mut days: Vec<jiff::civil::Date> = self
            .stock
            .iter()
            .filter(|s| s.product == v.product && s.used < s.doses)
            .map(|s| s.day)
            .collect();
        days.sort_unstable();
        days.into_iter()
            .find_map(|d| self.slots(motive, d, d, now).into_iter().next())
    }

    /// With a policy most days have doses: the calendar's earliest slot, unless its day ran
    /// out (or was closed), then day by day from there over the stock rows' exceptions.
    fn next_slot_with_policy(
        &self,
        motive: &Motive,
        product: VaccineProduct,
        now: Timestamp,
    ) -> Option<Slot> {
        let first = self.calendar.next_slot(motive, &self.occupancy, now)?;
        let mut day = first.start.to_zoned(self.tz.clone()).date();
        if self.doses_left(product, day) > 0 {
            return Some(first);
        }
        let last = now
            .to_zoned(self.tz.clone())
            .date()
            .checked_add(jiff::Span::new().days(i64::from(motive.policy.max_horizon_days)))
            .ok()?;
        while day < last {
            day = day.tomorrow().ok()?;
            if self.doses_left(product, day) > 0 {
                if let Some(s) = self.slots(motive, day, day, now).into_iter().next() {
                    return Some(s);
                }
            }
        }
        None
    }

    /// Earliest slot of any motive bookable online, and until when that answer holds.
    pub fn next_slot(&self, now: Timestamp) -> (Option<Slot>, Timestamp) {
        let mut best: Option<(Slot, &Motive)> = None;
        for m in self.motives.iter().filter(|m| m.policy.bookable_online) {
            if let Some(s) = self.next_slot_of(m, now) {
                if best.is_none_or(|(b, _)| s.start < b.start) {
                    best = Some((s, m));
                }
            }
        }
        match best {
            Some((slot, m)) => {
                let notice = jiff::SignedDuration::from_mins(i64::from(m.policy.min_notice_min));
                (Some(slot), slot.start.checked_sub(notice).unwrap_or(now))
            }
            None => (
                None,
                now.checked_add(jiff::SignedDuration::from_secs(60))
                    .unwrap_or(now),
            ),
        }
    }

    pub fn check_start(
        &self,
        motive: &Motive,
        start: Timestamp,
        now: Timestamp,
    ) -> Result<Slot, Unavailable> {
        let m = if motive.capacity > 1 && !self.lines.is_empty() {
            self.motive_on(motive, start.to_zoned(self.tz.clone()).date())
        } else {
            Cow::Borrowed(motive)
        };
        self.calendar.check_start(&m, &self.occupancy, start, now)
    }

    /// Whether `[start, end)` lies inside one of `motive`'s opening windows, outside
    /// holidays and absences (an appointment's own length); not occupancy.
    pub fn check_span(
        &self,
        motive: &Motive,
        start: Timestamp,
        end: Timestamp,
        now: Timestamp,
    ) -> Result<(), Unavailable> {
        self.calendar.check_span(motive, start, end, now)
    }

    /// Checks only the calendar (rules, closures, notice, horizon), not occupancy.
    pub fn check_calendar(
        &self,
        motive: &Motive,
        start: Timestamp,
        now: Timestamp,
    ) -> Result<Slot, Unavailable> {
        self.calendar
            .check_start(motive, &Occupancy::default(), start, now)
    }
}

/// One agenda's slot in the cache. Search keeps `Arc<Entry>` handles so ranking by earliest
/// availability costs a lock and a compare per practitioner, no map lookups.
pub struct Entry {
    id: AgendaId,
    generation: AtomicU64,
    view: RwLock<Option<(u64, Arc<AgendaView>)>>,
    loading: tokio::sync::Mutex<()>,
    // The earliest online slot, remembered while it cannot have changed: time only removes
    // slots, so a found slot stays the earliest until it falls inside its motive's notice;
    // "nothing within the horizon" is looked at again after a minute. Lock-free, because
    // search reads it for every practitioner. Concurrent writers for one generation store
    // equally valid answers, so a mixed read is still a valid one.
    next_generation: AtomicU64,
    next_start: AtomicI64,
    next_until: AtomicI64,
    /// Serialised slot answers of the current generation (the hot read of a rush: many
    /// people asking for the same centre's same week), each valid for a second at most
    /// because time alone removes slots.
    responses: parking_lot::Mutex<HashMap<String, CachedResponse>>,
    /// What each recent generation changed: `Some((start_s, end_s))` for a reservation this
    /// node applied, `None` for anything else (everything may have changed). A day's cached
    /// slots stay valid across changes that all miss that day.
    changes: parking_lot::Mutex<std::collections::VecDeque<Change>>,
    /// Serialised slots of one motive on one local day (issue 20 point 3): a booking
    /// recomputes its own day, not the whole week an answer spans.
    days: parking_lot::Mutex<HashMap<(String, jiff::civil::Date), CachedDay>>,
    /// Bytes held by `days` (changed under its lock), and the last second a day was read
    /// or kept: what the cache's byte budget trims by (see [`AgendaCache::trim_days`]).
    days_bytes: AtomicUsize,
    days_used_s: AtomicI64,
    /// The slot floor last known to be in the store ([`NO_FLOOR`]: none), so that only
    /// floors that moved are written again.
    floor_kept: AtomicI64,
}

/// `floor_kept` value: no floor known to be stored.
const NO_FLOOR: i64 = i64::MIN;
/// A stored floor is written again once its agenda's earliest slot moved this far past it
/// (or below it): less is not worth a write per agenda at national scale.
const FLOOR_STEP_S: i64 = 900;

/// A generation and the instants it changed, in seconds (`None`: anything).
type Change = (u64, Option<(i64, i64)>);

struct CachedDay {
    generation: u64,
    until_s: i64,
    bytes: bytes::Bytes,
    /// What it counts against the byte budget: the bytes, the key and the map's slot.
    size: usize,
}

/// Changes remembered per agenda, and days kept (a few motives × a month).
const MAX_DAY_CHANGES: usize = 64;
const MAX_DAYS: usize = 256;
/// Bytes of kept days across all agendas before the least recently used agendas' days are
/// dropped (down to three quarters). A rush centre keeps about 115 KB (its dose-2 window and
/// the week asked for), so this holds some 4,500 busy centres.
const DAY_BYTES_BUDGET: usize = 512 << 20;

struct CachedResponse {
    generation: u64,
    until_s: i64,
    answer: crate::answer::Answer,
}

/// Answers kept per agenda (a few motives × a few date ranges).
const MAX_RESPONSES: usize = 32;

impl Entry {
    fn new(id: AgendaId) -> Self {
        Self {
            id,
            generation: AtomicU64::new(0),
            view: RwLock::new(None),
            loading: tokio::sync::Mutex::new(()),
            next_generation: AtomicU64::new(NO_MEMO),
            next_start: AtomicI64::new(NO_SLOT),
            next_until: AtomicI64::new(0),
            responses: parking_lot::Mutex::new(HashMap::new()),
            changes: parking_lot::Mutex::new(std::collections::VecDeque::new()),
            days: parking_lot::Mutex::new(HashMap::new()),
            days_bytes: AtomicUsize::new(0),
            days_used_s: AtomicI64::new(0),
            floor_kept: AtomicI64::new(NO_FLOOR),
        }
    }

    /// Records that generation `generation` changed `span` (`None`: anything).
    fn changed(&self, generation: u64, span: Option<(i64, i64)>) {
        let mut changes = self.changes.lock();
        if changes.len() >= MAX_DAY_CHANGES {
            changes.pop_front();
        }
        changes.push_back((generation, span));
    }

    /// Whether every generation after `since` up to `now` is recorded and changed only
    /// times outside `[from_s, to_s)`. A generation not recorded yet (its writer is between
    /// the bump and the record) or forgotten counts as a change.
    fn untouched(&self, since: u64, now: u64, from_s: i64, to_s: i64) -> bool {
        if since == now {
            return true;
        }
        if since > now {
            return false;
        }
        let changes = self.changes.lock();
        let mut seen = 0u64;
        for (g, span) in changes.iter() {
            if *g > since && *g <= now {
                match span {
                    Some((a, b)) if *b <= from_s || *a >= to_s => seen += 1,
                    _ => return false,
                }
            }
        }
        seen == now - since
    }

    fn fresh_with_generation(&self) -> Option<(u64, Arc<AgendaView>)> {
        let generation = self.generation.load(Ordering::Acquire);
        match &*self.view.read() {
            Some((g, v)) if *g == generation => Some((*g, v.clone())),
            _ => None,
        }
    }

    /// Computes the earliest slot of `view` (of `generation`) and remembers it.
    fn remember_next(
        &self,
        generation: u64,
        view: &AgendaView,
        now: Timestamp,
    ) -> Option<Timestamp> {
        let (slot, valid_until) = view.next_slot(now);
        let start = slot.map(|s| s.start);
        self.next_start
            .store(start.map_or(NO_SLOT, |s| s.as_second()), Ordering::Relaxed);
        self.next_until
            .store(valid_until.as_second(), Ordering::Relaxed);
        self.next_generation.store(generation, Ordering::Release);
        start
    }

    pub fn agenda_id(&self) -> &AgendaId {
        &self.id
    }

    /// The remembered earliest slot start, if still valid: `Some(None)` means "no slot".
    pub fn cached_next(&self, now: Timestamp) -> Option<Option<Timestamp>> {
        self.cached_next_second(now.as_second()).map(|s| {
            (s != NO_SLOT)
                .then(|| Timestamp::from_second(s).ok())
                .flatten()
        })
    }

    /// [`Entry::cached_next`] in epoch seconds, `i64::MAX` for "no slot": the search loop.
    #[inline]
    pub fn cached_next_second(&self, now_s: i64) -> Option<i64> {
        match self.memo_second(now_s) {
            Memo::Fresh(s) => Some(s),
            Memo::Expired(_) | Memo::Missing => None,
        }
    }

    /// Until when a memo read as fresh stays so (epoch seconds): search's timeline looks at
    /// a "no slot" again from then.
    #[inline]
    pub fn memo_until_second(&self) -> i64 {
        self.next_until.load(Ordering::Relaxed)
    }

    /// The memo as search ranks with it (see [`Memo`]).
    #[inline]
    pub fn memo_second(&self, now_s: i64) -> Memo {
        let memo = self.next_generation.load(Ordering::Acquire);
        if memo != self.generation.load(Ordering::Acquire) {
            return Memo::Missing;
        }
        let start = self.next_start.load(Ordering::Relaxed);
        if now_s < self.next_until.load(Ordering::Relaxed) {
            Memo::Fresh(start)
        } else if start == NO_SLOT {
            // "No slot" may have become "a slot" as the horizon moved: unknown, look again.
            Memo::Missing
        } else {
            Memo::Expired(start)
        }
    }
}

pub struct AgendaCache {
    store: Arc<dyn Store>,
    entries: RwLock<HashMap<AgendaId, Arc<Entry>>>,
    changes: parking_lot::Mutex<ChangeLog>,
    /// Bytes of kept days over every entry, their budget, and whether a trim is under way.
    day_bytes: AtomicUsize,
    day_budget: usize,
    trimming: AtomicBool,
}

/// The entries whose generation moved, in order, so that a reader keeping per-agenda state
/// (the search timeline) finds what changed without walking every agenda. Bounded: a reader
/// that falls behind by more than [`MAX_CHANGES`] is told it lost track.
#[derive(Default)]
struct ChangeLog {
    /// Sequence number of `entries[0]`.
    first: u64,
    entries: VecDeque<Arc<Entry>>,
}

const MAX_CHANGES: usize = 1 << 16;

/// What changed since a reader's cursor (see [`AgendaCache::changes_since`]).
pub enum Changes {
    /// These entries (possibly repeated), then read again from the cursor given.
    Some(Vec<Arc<Entry>>, u64),
    /// Too much changed, or everything: treat every agenda as changed.
    Lost(u64),
}

impl AgendaCache {
    pub fn new(store: Arc<dyn Store>) -> Self {
        Self {
            store,
            entries: RwLock::new(HashMap::new()),
            changes: parking_lot::Mutex::new(ChangeLog::default()),
            day_bytes: AtomicUsize::new(0),
            day_budget: DAY_BYTES_BUDGET,
            trimming: AtomicBool::new(false),
        }
    }

    /// The same with another budget for kept days (tests).
    pub fn with_day_budget(store: Arc<dyn Store>, bytes: usize) -> Self {
        Self {
            day_budget: bytes,
            ..Self::new(store)
        }
    }

    /// Bytes of kept days over every agenda.
    pub fn day_bytes(&self) -> usize {
        self.day_bytes.load(Ordering::Relaxed)
    }

    /// Drops an entry's kept days from the count (the entry leaves the cache, or the
    /// budget needs room).
    fn drop_days(&self, entry: &Entry) {
        let mut days = entry.days.lock();
        days.clear();
        let freed = entry.days_bytes.swap(0, Ordering::Relaxed);
        self.day_bytes.fetch_sub(freed, Ordering::Relaxed);
    }

    /// Over budget: drops the days of the agendas used least recently until three quarters
    /// of the budget are left. One trim at a time; the others go on meanwhile.
    fn trim_days(&self) {
        if self.trimming.swap(true, Ordering::Acquire) {
            return;
        }
        let mut held: Vec<(i64, Arc<Entry>)> = self
            .entries
            .read()
            .values()
            .filter(|e| e.days_bytes.load(Ordering::Relaxed) > 0)
            .map(|e| (e.days_used_s.load(Ordering::Relaxed), e.clone()))
            .collect();
        held.sort_unstable_by_key(|(used, _)| *used);
        let target = self.day_budget / 4 * 3;
        for (_, e) in held {
            if self.day_bytes.load(Ordering::Relaxed) <= target {
                break;
            }
            self.drop_days(&e);
        }
        self.trimming.store(false, Ordering::Release);
    }

    /// Moves an entry to its next generation and records it in the change log.
    /// A new generation of `entry` that changed `span` (`None`: anything), recorded for
    /// its cached days and for search.
    fn bump(&self, entry: &Arc<Entry>, span: Option<(i64, i64)>) {
        let before = entry.generation.fetch_add(1, Ordering::AcqRel);
        entry.changed(before + 1, span);
        self.changed(entry);
    }

    fn changed(&self, entry: &Arc<Entry>) {
        let mut log = self.changes.lock();
        if log.entries.len() >= MAX_CHANGES {
            log.entries.pop_front();
            log.first += 1;
        }
        log.entries.push_back(entry.clone());
    }

    /// The position after the last change so far: a reader starting now reads from there.
    pub fn change_cursor(&self) -> u64 {
        let log = self.changes.lock();
        log.first + log.entries.len() as u64
    }

    /// The entries whose generation moved since `cursor`.
    pub fn changes_since(&self, cursor: u64) -> Changes {
        let log = self.changes.lock();
        let end = log.first + log.entries.len() as u64;
        if cursor < log.first || cursor > end {
            return Changes::Lost(end);
        }
        let skip = (cursor - log.first) as usize;
        Changes::Some(log.entries.iter().skip(skip).cloned().collect(), end)
    }

    /// The current view of an agenda, loading it if needed; `None` for an unknown agenda.
    pub async fn get(&self, id: &AgendaId) -> Result<Option<Arc<AgendaView>>, StoreError> {
        Ok(self.load(&self.handle(id)).await?.map(|(_, v)| v))
    }

    /// The cache slot of an agenda, registered if new (so invalidations reach it).
    pub fn handle(&self, id: &AgendaId) -> Arc<Entry> {
        if let Some(e) = self.entries.read().get(id) {
            return e.clone();
        }
        self.entries
            .write()
            .entry(id.clone())
            .or_insert_with(|| Arc::new(Entry::new(id.clone())))
            .clone()
    }

    async fn load(&self, entry: &Arc<Entry>) -> Result<Option<(u64, Arc<AgendaView>)>, StoreError> {
        if let Some(v) = entry.fresh_with_generation() {
            return Ok(Some(v));
        }
        let _guard = entry.loading.lock().await;
        if let Some(v) = entry.fresh_with_generation() {
            return Ok(Some(v));
        }
        // Read the generation before loading: a write landing during the load bumps it and
        // the next reader loads again.
        let generation = entry.generation.load(Ordering::Acquire);
        let snapshot = match self
            .store
            .agenda_snapshot(&entry.id, Timestamp::now())
            .await?
        {
            Some(s) => s,
            None => {
                if let Some(gone) = self.entries.write().remove(&entry.id) {
                    self.drop_days(&gone);
                }
                return Ok(None);
            }
        };
        let view = Arc::new(AgendaView::from_snapshot(snapshot)?);
        *entry.view.write() = Some((generation, view.clone()));
        Ok(Some((generation, view)))
    }

    /// Earliest online slot start of an agenda, from the entry's memo when still valid.
    pub async fn next_slot_start(
        &self,
        entry: &Arc<Entry>,
        now: Timestamp,
    ) -> Result<Option<Timestamp>, StoreError> {
        if let Some(cached) = entry.cached_next(now) {
            return Ok(cached);
        }
        let Some((generation, view)) = self.load(entry).await? else {
            return Ok(None);
        };
        Ok(entry.remember_next(generation, &view, now))
    }

    /// Computes the earliest-slot memo of every entry whose view is in memory and whose memo
    /// is not fresh, on all cores: at start-up, rather than one agenda after another in the
    /// first search over everyone. Entries without a view in memory are left to be loaded
    /// when a search needs them.
    pub fn warm_memos(&self, entries: &[Arc<Entry>], now: Timestamp) {
        let now_s = now.as_second();
        let threads = std::thread::available_parallelism().map_or(1, |p| p.get());
        let chunk = entries.len().div_ceil(threads).max(1);
        std::thread::scope(|s| {
            for part in entries.chunks(chunk) {
                s.spawn(move || {
                    for entry in part {
                        if matches!(entry.memo_second(now_s), Memo::Fresh(_)) {
                            continue;
                        }
                        if let Some((generation, view)) = entry.fresh_with_generation() {
                            entry.remember_next(generation, &view, now);
                        }
                    }
                });
            }
        });
    }

    /// Loads the view of every agenda in the store, `page` agendas at a time (a few
    /// table-wide queries each, see [`Store::agenda_snapshots`]), into the entries of
    /// `entries` (agendas without one are not kept): a start's warm-up, instead of about
    /// eight queries per agenda. Each view is installed as of its entry's generation read
    /// before the load began, so a write during the load leaves that agenda stale (its next
    /// reader loads it alone), and a view loaded meanwhile is kept. Returns the views
    /// installed.
    pub async fn load_all(
        &self,
        entries: &[Arc<Entry>],
        page: usize,
        now: Timestamp,
    ) -> Result<usize, StoreError> {
        let before: HashMap<&str, (&Arc<Entry>, u64)> = entries
            .iter()
            .map(|e| (e.id.as_str(), (e, e.generation.load(Ordering::Acquire))))
            .collect();
        let mut installed = 0usize;
        let mut next = Some(self.store.agenda_snapshots(None, page, now).await?);
        while let Some(snapshots) = next.take() {
            let Some(last) = snapshots.last() else { break };
            let after = last.agenda.id.clone();
            // The next page is read (by the database's threads) while this one is turned
            // into views.
            let read = self.store.agenda_snapshots(Some(&after), page, now);
            let build = async {
                let mut n = 0usize;
                for s in snapshots {
                    let Some(&(entry, generation)) = before.get(s.agenda.id.as_str()) else {
                        continue;
                    };
                    let view = AgendaView::from_snapshot(s)?;
                    let mut slot = entry.view.write();
                    if slot.as_ref().is_none_or(|(g, _)| *g < generation) {
                        *slot = Some((generation, Arc::new(view)));
                        n += 1;
                    }
                }
                Ok::<usize, StoreError>(n)
            };
            let (read, built) = tokio::join!(read, build);
            installed += built?;
            next = Some(read?);
        }
        Ok(installed)
    }

    /// Starts every entry of `floors` that has no earliest-slot memo yet from its stored
    /// floor, as an expired memo (a lower bound): search ranks by it before the agenda's
    /// view is loaded, and loads the view only when the row reaches a page (issue #17
    /// point 3). A change to the agenda (a new generation) drops it like any memo.
    pub fn seed_floors(&self, floors: &[(AgendaId, careslot_store::SlotFloor)]) {
        for (id, floor) in floors {
            let entry = self.handle(id);
            let generation = entry.generation.load(Ordering::Acquire);
            if entry.next_generation.load(Ordering::Acquire) != NO_MEMO {
                continue;
            }
            entry.next_start.store(floor.floor_s, Ordering::Relaxed);
            entry.next_until.store(i64::MIN, Ordering::Relaxed);
            entry.next_generation.store(generation, Ordering::Release);
            entry.floor_kept.store(floor.floor_s, Ordering::Relaxed);
        }
    }

    /// The slot floors worth writing to the store: of every agenda whose view and memo are
    /// current (a memo no longer fresh is computed again first), the floor when it moved by
    /// [`FLOOR_STEP_S`] or fell since it was last written, with the version its view was
    /// read under. Pass them to [`AgendaCache::floors_kept`] once written.
    pub fn floors_to_keep(&self, now: Timestamp) -> Vec<(AgendaId, careslot_store::SlotFloor)> {
        let entries: Vec<Arc<Entry>> = self.entries.read().values().cloned().collect();
        let now_s = now.as_second();
        let mut out = Vec::new();
        for entry in entries {
            let Some((generation, view)) = entry.fresh_with_generation() else {
                continue;
            };
            let next = match entry.memo_second(now_s) {
                Memo::Fresh(s) => (s != NO_SLOT)
                    .then(|| Timestamp::from_second(s).ok())
                    .flatten(),
                Memo::Expired(_) | Memo::Missing => entry.remember_next(generation, &view, now),
            };
            let floor = view.slot_floor(next, now);
            let kept = entry.floor_kept.load(Ordering::Relaxed);
            if kept == NO_FLOOR || floor < kept || floor - kept >= FLOOR_STEP_S {
                out.push((
                    entry.id.clone(),
                    careslot_store::SlotFloor {
                        floor_s: floor,
                        version: view.floor_version,
                    },
                ));
            }
        }
        out
    }

    /// Writes the floors of [`AgendaCache::floors_to_keep`] (computed off the async
    /// threads), a few thousand per statement, so that the next start ranks by them before
    /// it has read any reservation. Returns how many the store kept.
    pub async fn keep_floors(self: &Arc<Self>) -> Result<u64, StoreError> {
        const CHUNK: usize = 4096;
        let cache = self.clone();
        let floors = tokio::task::spawn_blocking(move || cache.floors_to_keep(Timestamp::now()))
            .await
            .map_err(|e| StoreError::Internal(format!("slot floors: {e}")))?;
        let mut kept = 0;
        for chunk in floors.chunks(CHUNK) {
            kept += self.store.keep_slot_floors(chunk).await?;
            self.floors_kept(chunk);
        }
        Ok(kept)
    }

    /// Records floors written by [`careslot_store::Store::keep_slot_floors`] (those whose
    /// version had changed were not kept; their entries try again once reloaded).
    pub fn floors_kept(&self, floors: &[(AgendaId, careslot_store::SlotFloor)]) {
        let entries = self.entries.read();
        for (id, floor) in floors {
            if let Some(e) = entries.get(id) {
                e.floor_kept.store(floor.floor_s, Ordering::Relaxed);
            }
        }
    }

    /// Installs a view built elsewhere (bulk warm-up, benchmarks).
    pub fn insert(&self, view: AgendaView) {
        let id = view.agenda.id.clone();
        let entry = Arc::new(Entry::new(id.clone()));
        *entry.view.write() = Some((0, Arc::new(view)));
        let replaced = self.entries.write().insert(id, entry);
        if let Some(old) = replaced {
            self.drop_days(&old);
        }
    }

    /// Applies a change this node has just committed to the agenda's current view, so that
    /// readers see it at once without reloading the agenda from the store. When the view is
    /// not current (or `change` declines), it is marked stale instead.
    fn apply(
        &self,
        id: &AgendaId,
        span: (Timestamp, Timestamp),
        change: impl FnOnce(&mut AgendaView) -> bool,
    ) {
        let Some(entry) = self.entries.read().get(id).cloned() else {
            return;
        };
        let span = Some((span.0.as_second(), span.1.as_second()));
        let mut slot = entry.view.write();
        let generation = entry.generation.load(Ordering::Acquire);
        if let Some((_, view)) = slot.as_ref().filter(|(g, _)| *g == generation) {
            let mut updated = AgendaView::clone(view);
            // Claim the next generation first: an invalidation racing with us wins.
            if change(&mut updated)
                && entry
                    .generation
                    .compare_exchange(
                        generation,
                        generation + 1,
                        Ordering::AcqRel,
                        Ordering::Acquire,
                    )
                    .is_ok()
            {
                *slot = Some((generation + 1, Arc::new(updated)));
                entry.changed(generation + 1, span);
                drop(slot);
                self.changed(&entry);
                return;
            }
        }
        drop(slot);
        self.bump(&entry, span);
    }

    /// A reservation (hold or booking) this node has just committed; `stock` is the vaccine
    /// dose it consumed.
    pub fn reserved(
        &self,
        row: &careslot_store::ReservationRow,
        pooled: bool,
        stock: Option<(VaccineProduct, jiff::civil::Date)>,
    ) {
        self.apply(&row.agenda_id, (row.start, row.end), |view| {
            if let Some((product, day)) = stock {
                match view
                    .stock
                    .iter_mut()
                    .find(|s| s.product == product && s.day == day)
                {
                    Some(s) => s.used += 1,
                    None => match view.policy(product) {
                        // The booking wrote the day's row from the policy.
                        Some(doses) => view.stock.push(careslot_store::StockRow {
                            agenda_id: row.agenda_id.clone(),
                            product,
                            day,
                            doses,
                            used: 1,
                            explicit: false,
                        }),
                        None => return false,
                    },
                }
            }
            view.occupancy
                .insert(careslot_domain::availability::Reservation {
                    start: row.start,
                    end: row.end,
                    pooled,
                    expires_at: row.expires_at,
                });
            true
        });
    }

    /// A hold this node has just turned into a booking.
    pub fn booked(&self, row: &careslot_store::ReservationRow) {
        self.apply(&row.agenda_id, (row.start, row.end), |view| {
            view.occupancy.confirm(row.start, row.end)
        });
    }

    /// The generation an answer computed from now on will belong to (see
    /// [`AgendaCache::keep_response`]); `None` for an agenda not in the cache.
    pub fn generation(&self, id: &AgendaId) -> Option<u64> {
        self.entries
            .read()
            .get(id)
            .map(|e| e.generation.load(Ordering::Acquire))
    }

    /// A serialised answer kept under `key`, if nothing changed since and it is fresh.
    pub fn response(&self, id: &AgendaId, key: &str, now_s: i64) -> Option<crate::answer::Answer> {
        let entry = self.entries.read().get(id).cloned()?;
        let generation = entry.generation.load(Ordering::Acquire);
        let responses = entry.responses.lock();
        let r = responses.get(key)?;
        (r.generation == generation && now_s < r.until_s).then(|| r.answer.clone())
    }

    /// Keeps an answer computed from a view read at or after `generation` (read before
    /// computing: a write meanwhile makes the answer stale at once, never wrongly fresh).
    pub fn keep_response(
        &self,
        id: &AgendaId,
        generation: u64,
        key: String,
        answer: crate::answer::Answer,
        now_s: i64,
    ) {
        let Some(entry) = self.entries.read().get(id).cloned() else {
            return;
        };
        let mut responses = entry.responses.lock();
        if responses.len() >= MAX_RESPONSES {
            responses.clear();
        }
        responses.insert(
            key,
            CachedResponse {
                generation,
                until_s: now_s + 1,
                answer,
            },
        );
    }

    /// Marks an agenda's view stale. Call after every committed write that touches it.
    pub fn invalidate(&self, id: &AgendaId) {
        let entry = self.entries.read().get(id).cloned();
        if let Some(e) = entry {
            self.bump(&e, None);
        }
    }

    pub fn invalidate_all(&self) {
        for e in self.entries.read().values() {
            let before = e.generation.fetch_add(1, Ordering::AcqRel);
            e.changed(before + 1, None);
        }
        // Every reader loses track: they look at every agenda again.
        let mut log = self.changes.lock();
        log.first += log.entries.len() as u64 + 1;
        log.entries.clear();
    }

    /// One day's serialised slots kept under `key` (motive and format) if nothing changed
    /// since in `[from_s, to_s)` (the instants a write must miss to leave the day's slots
    /// alone) and it is fresh.
    pub fn day(
        &self,
        id: &AgendaId,
        key: &str,
        day: jiff::civil::Date,
        (from_s, to_s): (i64, i64),
        now_s: i64,
    ) -> Option<bytes::Bytes> {
        let entry = self.entries.read().get(id).cloned()?;
        let generation = entry.generation.load(Ordering::Acquire);
        let (since, bytes) = {
            let days = entry.days.lock();
            let d = days.get(&(key.to_owned(), day))?;
            if now_s >= d.until_s {
                return None;
            }
            (d.generation, d.bytes.clone())
        };
        if !entry.untouched(since, generation, from_s, to_s) {
            return None;
        }
        entry.days_used_s.store(now_s, Ordering::Relaxed);
        Some(bytes)
    }

    /// Keeps a day's slots computed at `now_s` from a view read at or after `generation`
    /// (read before computing, as for [`AgendaCache::keep_response`]), fresh while the
    /// clock's second is before `until_s`: time alone removes slots (notice), adds them
    /// (horizon) and frees held ones (expiry), see [`AgendaCalendar::slots_stable_until`]. Within
    /// the cache's byte budget for days ([`DAY_BYTES_BUDGET`]).
    pub fn keep_day(
        &self,
        id: &AgendaId,
        generation: u64,
        key: &str,
        day: jiff::civil::Date,
        bytes: bytes::Bytes,
        (now_s, until_s): (i64, i64),
    ) {
        let Some(entry) = self.entries.read().get(id).cloned() else {
            return;
        };
        let size = bytes.len() + key.len() + 64;
        {
            let mut days = entry.days.lock();
            let mut freed = 0;
            if days.len() >= MAX_DAYS {
                freed += days.values().map(|d| d.size).sum::<usize>();
                days.clear();
            }
            let kept = CachedDay {
                generation,
                until_s,
                bytes,
                size,
            };
            if let Some(old) = days.insert((key.to_owned(), day), kept) {
                freed += old.size;
            }
            // Added before subtracted: the counts never go below what is held.
            entry.days_bytes.fetch_add(size, Ordering::Relaxed);
            entry.days_bytes.fetch_sub(freed, Ordering::Relaxed);
            self.day_bytes.fetch_add(size, Ordering::Relaxed);
            self.day_bytes.fetch_sub(freed, Ordering::Relaxed);
        }
        entry.days_used_s.store(now_s, Ordering::Relaxed);
        if self.day_bytes.load(Ordering::Relaxed) > self.day_budget {
            self.trim_days();
        }
    }

    pub fn len(&self) -> usize {
        self.entries.read().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Kept days stay within the byte budget; the agendas used least recently lose theirs
    /// first, one read all along keeps its own.
    #[tokio::test]
    async fn kept_days_stay_within_their_budget_dropping_the_least_used() {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(
            careslot_store_sqlite::SqliteStore::open_dir(dir.path())
                .await
                .unwrap(),
        );
        let cache = AgendaCache::with_day_budget(store, 10_000);
        let day = jiff::civil::date(2027, 3, 1);
        let span = (0, 1);
        let ids: Vec<AgendaId> = (0..8).map(|_| AgendaId::new()).collect();
        for (i, id) in (0i64..).zip(&ids) {
            cache.handle(id);
            let g = cache.generation(id).unwrap();
            let piece = bytes::Bytes::from(vec![b'x'; 2_000]);
            cache.keep_day(id, g, "m", day, piece, (2 * i, 1_000));
            assert!(
                cache.day_bytes() <= 10_000,
                "{} bytes kept",
                cache.day_bytes()
            );
            assert!(cache.day(&ids[0], "m", day, span, 2 * i + 1).is_some());
        }
        assert!(
            cache.day(&ids[1], "m", day, span, 20).is_none(),
            "least used, dropped"
        );
        assert!(cache.day(&ids[4], "m", day, span, 20).is_none());
        assert!(
            cache.day(&ids[7], "m", day, span, 20).is_some(),
            "the newest"
        );
        assert_eq!(cache.day_bytes(), 4 * (2_000 + 1 + 64), "the four left");
        // An agenda gone from the store leaves the cache with its days' bytes.
        assert!(cache.get(&ids[7]).await.unwrap().is_none());
        assert_eq!(cache.day_bytes(), 3 * (2_000 + 1 + 64));
    }

    /// A day's cached slots survive changes that all miss the day, and nothing else: a
    /// change anywhere in it, an invalidation of everything, a generation not recorded yet,
    /// or one forgotten.
    #[test]
    fn a_day_stays_valid_only_across_changes_elsewhere() {
        let e = Entry::new(AgendaId::new());
        let day = (1_000, 2_000);
        let bump = |span: Option<(i64, i64)>| {
            let before = e.generation.fetch_add(1, Ordering::AcqRel);
            e.changed(before + 1, span);
            before + 1
        };
        assert!(e.untouched(0, 0, day.0, day.1));
        let g = bump(Some((2_000, 2_500)));
        let g = bump(Some((500, 1_000))).max(g);
        assert!(e.untouched(0, g, day.0, day.1), "before and after the day");
        let g2 = bump(Some((1_999, 2_100)));
        assert!(!e.untouched(0, g2, day.0, day.1), "its last second");
        assert!(e.untouched(g2, g2, day.0, day.1), "kept after that change");
        let g3 = bump(None);
        assert!(
            !e.untouched(g2, g3, day.0, day.1),
            "everything may have changed"
        );
        // Bumped but not recorded yet: a change.
        let g4 = e.generation.fetch_add(1, Ordering::AcqRel) + 1;
        assert!(!e.untouched(g3, g4, day.0, day.1));
        e.changed(g4, Some((0, 10)));
        assert!(e.untouched(g3, g4, day.0, day.1));
        // Forgotten generations count as changes.
        let from = g4;
        let mut last = g4;
        for _ in 0..MAX_DAY_CHANGES + 1 {
            last = bump(Some((0, 10)));
        }
        assert!(!e.untouched(from, last, day.0, day.1));
        assert!(e.untouched(last - 5, last, day.0, day.1));
    }
}
