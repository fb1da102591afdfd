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
use parking_lot::{Mutex, RwLock};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// Everything needed to answer availability questions about one agenda, frozen at load.
pub struct AgendaView {
    pub agenda: Agenda,
    pub tz: TimeZone,
    pub calendar: AgendaCalendar,
    pub motives: Vec<Motive>,
    pub occupancy: Occupancy,
    next: Mutex<Option<NextMemo>>,
}

/// The earliest online slot, remembered while it cannot have changed: time only removes
/// slots, so a found slot stays the earliest until it falls inside its motive's notice.
#[derive(Clone, Copy)]
struct NextMemo {
    slot: Option<Slot>,
    valid_until: Timestamp,
}

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
            occupancy: Occupancy::new(s.reservations),
            next: Mutex::new(None),
        })
    }

    pub fn motive(&self, id: &MotiveId) -> Option<&Motive> {
        self.motives.iter().find(|m| &m.id == id)
    }

    /// Earliest slot of any motive bookable online.
    pub fn next_slot(&self, now: Timestamp) -> Option<Slot> {
        if let Some(memo) = *self.next.lock() {
            if now < memo.valid_until {
                return memo.slot;
            }
        }
        let mut best: Option<(Slot, &Motive)> = None;
        for m in self.motives.iter().filter(|m| m.policy.bookable_online) {
            if let Some(s) = self.calendar.next_slot(m, &self.occupancy, now) {
                if best.is_none_or(|(b, _)| s.start < b.start) {
                    best = Some((s, m));
                }
            }
        }
        let memo = match best {
            Some((slot, m)) => NextMemo {
                slot: Some(slot),
                valid_until: slot
                    .start
                    .checked_sub(jiff::SignedDuration::from_mins(i64::from(m.policy.min_notice_min)))
                    .unwrap_or(now),
            },
            // Nothing within the horizon: the horizon moves with time, look again soon.
            None => NextMemo {
                slot: None,
                valid_until: now
                    .checked_add(jiff::SignedDuration::from_secs(60))
                    .unwrap_or(now),
            },
        };
        *self.next.lock() = Some(memo);
        memo.slot
    }

    pub fn check_start(&self, motive: &Motive, start: Timestamp, now: Timestamp) -> Result<Slot, Unavailable> {
        self.calendar.check_start(motive, &self.occupancy, start, now)
    }

    /// Checks only the calendar (rules, closures, notice, horizon), not occupancy.
    pub fn check_calendar(&self, motive: &Motive, start: Timestamp, now: Timestamp) -> Result<Slot, Unavailable> {
        self.calendar.check_start(motive, &Occupancy::default(), start, now)
    }
}

struct Entry {
    generation: AtomicU64,
    view: RwLock<Option<(u64, Arc<AgendaView>)>>,
    loading: tokio::sync::Mutex<()>,
}

impl Entry {
    fn new() -> Self {
        Self {
            generation: AtomicU64::new(0),
            view: RwLock::new(None),
            loading: tokio::sync::Mutex::new(()),
        }
    }

    fn fresh(&self) -> Option<Arc<AgendaView>> {
        let generation = self.generation.load(Ordering::Acquire);
        match &*self.view.read() {
            Some((g, v)) if *g == generation => Some(v.clone()),
            _ => None,
        }
    }
}

pub struct AgendaCache {
    store: Arc<dyn Store>,
    entries: RwLock<HashMap<AgendaId, Arc<Entry>>>,
}

impl AgendaCache {
    pub fn new(store: Arc<dyn Store>) -> Self {
        Self {
            store,
            entries: RwLock::new(HashMap::new()),
        }
    }

    /// The current view of an agenda, loading it if needed; `None` for an unknown agenda.
    pub async fn get(&self, id: &AgendaId) -> Result<Option<Arc<AgendaView>>, StoreError> {
        let existing = self.entries.read().get(id).cloned();
        let entry = match existing {
            Some(e) => e,
            // Registered before loading, so an invalidation during the load is not lost.
            None => self
                .entries
                .write()
                .entry(id.clone())
                .or_insert_with(|| Arc::new(Entry::new()))
                .clone(),
        };
        if let Some(v) = entry.fresh() {
            return Ok(Some(v));
        }
        let _guard = entry.loading.lock().await;
        if let Some(v) = entry.fresh() {
            return Ok(Some(v));
        }
        // Read the generation before loading: a write landing during the load bumps it and
        // the next reader loads again.
        let generation = entry.generation.load(Ordering::Acquire);
        let snapshot = match self.store.agenda_snapshot(id, Timestamp::now()).await {
            Ok(Some(s)) => s,
            Ok(None) => {
                self.entries.write().remove(id);
                return Ok(None);
            }
            Err(e) => return Err(e),
        };
        let view = Arc::new(AgendaView::from_snapshot(snapshot)?);
        *entry.view.write() = Some((generation, view.clone()));
        Ok(Some(view))
    }

    /// Views of many agendas: fresh ones under one lock, the rest loaded one by one.
    pub async fn get_many<'a>(
        &self,
        ids: impl Iterator<Item = &'a AgendaId>,
    ) -> Result<Vec<Option<Arc<AgendaView>>>, StoreError> {
        let ids: Vec<&AgendaId> = ids.collect();
        let mut out: Vec<Option<Arc<AgendaView>>> = {
            let entries = self.entries.read();
            ids.iter()
                .map(|id| entries.get(*id).and_then(|e| e.fresh()))
                .collect()
        };
        for (slot, id) in out.iter_mut().zip(&ids) {
            if slot.is_none() {
                *slot = self.get(id).await?;
            }
        }
        Ok(out)
    }

    /// Installs a view built elsewhere (bulk warm-up, benchmarks).
    pub fn insert(&self, view: AgendaView) {
        let id = view.agenda.id.clone();
        let entry = Arc::new(Entry::new());
        *entry.view.write() = Some((0, Arc::new(view)));
        self.entries.write().insert(id, entry);
    }

    /// Marks an agenda's view stale. Call after every committed write that touches it.
    pub fn invalidate(&self, id: &AgendaId) {
        if let Some(e) = self.entries.read().get(id) {
            e.generation.fetch_add(1, Ordering::AcqRel);
        }
    }

    pub fn invalidate_all(&self) {
        for e in self.entries.read().values() {
            e.generation.fetch_add(1, Ordering::AcqRel);
        }
    }

    pub fn len(&self) -> usize {
        self.entries.read().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}
