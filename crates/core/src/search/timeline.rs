//! Earliest-first ranking that is not linear in the matches. Every row of the directory sits
//! in a time bucket at a lower bound of its next slot (its memo when it was last looked at:
//! time only removes slots, so an old earliest slot stays a lower bound). A search walks the
//! buckets from the earliest, looks only at the rows it accepts, and refines them lazily: a
//! row whose bound has expired is recomputed, and moves to a later bucket when its slot is
//! later. The walk stops at the end of the first bucket by which it has the k earliest rows:
//! every row of the later buckets starts later.
//!
//! Bounds stop being bounds when an agenda changes (a cancellation frees an earlier slot):
//! the cache's change log tells which agendas changed, and their rows go back to the
//! "unknown" bucket, which every walk looks at first. A "no slot" memo is not a bound
//! either (the horizon moves): those rows go back to "unknown" when their memo expires.

use crate::availability::{Changes, Entry, Memo};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

/// Rows whose next slot is unknown: never computed, or their agenda changed.
const UNKNOWN: i64 = i64::MIN;
/// Rows with no slot within their horizon.
const NONE: i64 = i64::MAX;

/// The bucket of a row whose next slot starts at `key` (epoch seconds): one bucket per
/// start second, so that rows of a bucket tie and are ordered by row (many agendas share
/// "tomorrow 08:00", and a walk stops inside that bucket once it has enough).
fn bucket(key: i64) -> i64 {
    key
}

/// Rows of one bucket as (row, stamp), sorted by row when `sorted`.
struct Bucket {
    rows: Vec<(u32, u32)>,
    sorted: bool,
}

impl Default for Bucket {
    fn default() -> Self {
        Self {
            rows: Vec::new(),
            sorted: true,
        }
    }
}

#[derive(Default)]
pub(super) struct Timeline {
    /// Per row: its bucket, and the stamp its current copy in that bucket carries (a moved
    /// row leaves a stale copy behind, dropped when its bucket is next walked).
    bucket_of: Vec<i64>,
    stamp: Vec<u32>,
    buckets: BTreeMap<i64, Bucket>,
    /// Rows in [`NONE`] by when their memo expires (stale pairs are harmless: the row is
    /// only looked at again).
    no_slot_until: BTreeSet<(i64, u32)>,
    /// Moves since the buckets were last rebuilt (bounds the stale copies).
    moves: usize,
    /// Where this timeline reads the cache's change log from.
    cursor: u64,
    /// Rows whose bound fell (back to unknown) since `epoch` began, possibly repeated: a
    /// bound read before the fall is no longer a bound for them. When it grows long, or
    /// every row fell, a new epoch begins.
    fallen: Vec<u32>,
    epoch: u64,
    /// Rows of geographic cell lists in the order of their bound as read in an epoch (see
    /// [`Timeline::ordered`]).
    orders: HashMap<ListKey, Order>,
}

/// A cell list's key (see `cells`).
pub(super) type ListKey = (u16, i32, i32);

/// A cell list's rows sorted by their bound when read: each stays a lower bound of the
/// row's next slot unless the row fell since (then it is in `fallen`), as time only removes
/// slots. `stale`: rows a search found with a higher bound since (a rebuild sorts them
/// better).
struct Order {
    epoch: u64,
    stale: usize,
    rows: Arc<Vec<(i64, u32)>>,
}

/// A walk in progress: rows settled in the buckets already walked, and where to go on.
pub(super) struct Walk {
    pub settled: Vec<(i64, u32)>,
    from: i64,
    /// Rows walked past, and memos read (counts for benchmarks).
    pub walked: usize,
    pub bounds: usize,
}

impl Default for Walk {
    fn default() -> Self {
        Self {
            settled: Vec::new(),
            from: UNKNOWN,
            walked: 0,
            bounds: 0,
        }
    }
}

impl Timeline {
    /// Places every row at its entry's current memo. `cursor` must be read from the change
    /// log before the memos are.
    pub fn new(handles: &[Arc<Entry>], now_s: i64, cursor: u64) -> Self {
        let n = handles.len();
        let mut t = Self {
            bucket_of: vec![UNKNOWN; n],
            stamp: vec![0; n],
            cursor,
            ..Self::default()
        };
        for (row, h) in handles.iter().enumerate() {
            let b = match h.memo_second(now_s) {
                Memo::Fresh(k) | Memo::Expired(k) => bucket(k),
                Memo::Missing => UNKNOWN,
            };
            if b == NONE {
                t.no_slot_until.insert((h.memo_until_second(), row as u32));
            }
            t.bucket_of[row] = b;
        }
        t.rebuild();
        t
    }

    fn rebuild(&mut self) {
        self.buckets.clear();
        for (row, &b) in self.bucket_of.iter().enumerate() {
            self.buckets
                .entry(b)
                .or_default()
                .rows
                .push((row as u32, self.stamp[row]));
        }
        self.moves = 0;
    }

    fn place(&mut self, row: u32, b: i64) {
        let r = row as usize;
        if self.bucket_of[r] == b {
            return;
        }
        if b < self.bucket_of[r] {
            self.fell(row);
        }
        self.bucket_of[r] = b;
        self.stamp[r] = self.stamp[r].wrapping_add(1);
        let bucket = self.buckets.entry(b).or_default();
        if bucket.rows.last().is_some_and(|&(last, _)| last > row) {
            bucket.sorted = false;
        }
        bucket.rows.push((row, self.stamp[r]));
        self.moves += 1;
    }

    /// Sends the rows of agendas that changed, and of expired "no slot" memos, back to
    /// [`UNKNOWN`]. `rows_of` gives an entry's rows.
    pub fn catch_up<R: IntoIterator<Item = u32>>(
        &mut self,
        changes: Changes,
        rows_of: impl Fn(&Arc<Entry>) -> R,
        now_s: i64,
    ) {
        match changes {
            Changes::Some(entries, end) => {
                for e in &entries {
                    for row in rows_of(e) {
                        self.place(row, UNKNOWN);
                    }
                }
                self.cursor = end;
            }
            Changes::Lost(end) => {
                self.bucket_of.fill(UNKNOWN);
                self.new_epoch();
                self.no_slot_until.clear();
                self.rebuild();
                self.cursor = end;
            }
        }
        while let Some(&(until, row)) = self.no_slot_until.first() {
            if until > now_s {
                break;
            }
            self.no_slot_until.pop_first();
            if self.bucket_of[row as usize] == NONE {
                self.place(row, UNKNOWN);
            }
        }
        if self.moves > self.bucket_of.len().max(1024) {
            self.rebuild();
        }
    }

    pub fn cursor(&self) -> u64 {
        self.cursor
    }

    fn fell(&mut self, row: u32) {
        if self.fallen.len() >= (self.bucket_of.len() / 64).max(4096) {
            self.new_epoch();
        } else {
            self.fallen.push(row);
        }
    }

    /// Every order read so far stops being one; they are sorted again when next asked for.
    fn new_epoch(&mut self) {
        self.epoch += 1;
        self.fallen.clear();
        self.orders.clear();
    }

    /// Rows whose bound fell since the orders of [`Timeline::ordered`] were read (possibly
    /// repeated, possibly more).
    pub fn fallen(&self) -> &[u32] {
        &self.fallen
    }

    /// The rows of a cell list (`rows`, its key `key`) sorted by a lower bound of their next
    /// slot: a bound read in the current epoch, so a lower bound for every row that is not
    /// in [`Timeline::fallen`]. Sorted once per epoch, and again when searches found many
    /// of its bounds risen (see [`Timeline::risen`]).
    pub fn ordered(&mut self, key: ListKey, rows: &[u32]) -> Arc<Vec<(i64, u32)>> {
        if let Some(o) = self.orders.get(&key).filter(|o| o.epoch == self.epoch) {
            return o.rows.clone();
        }
        let mut sorted: Vec<(i64, u32)> = rows.iter().map(|&r| (self.bound(r), r)).collect();
        sorted.sort_unstable();
        let sorted = Arc::new(sorted);
        self.orders.insert(
            key,
            Order {
                epoch: self.epoch,
                stale: 0,
                rows: sorted.clone(),
            },
        );
        sorted
    }

    /// A search read `n` rows of a list's order whose bound has risen since: once they are
    /// a good share of the list, the next search sorts it again.
    pub fn risen(&mut self, key: ListKey, n: usize) {
        if n == 0 {
            return;
        }
        if let Some(o) = self.orders.get_mut(&key) {
            o.stale += n;
            if o.stale >= 1024 || o.stale >= 32 && o.stale * 16 >= o.rows.len() {
                self.orders.remove(&key);
            }
        }
    }

    /// A lower bound of the row's next slot as of the last [`Timeline::catch_up`]: `i64::MIN`
    /// when unknown, `i64::MAX` for "no slot" (exact until its memo expires, when
    /// `catch_up` makes it unknown again).
    pub fn bound(&self, row: u32) -> i64 {
        self.bucket_of.get(row as usize).copied().unwrap_or(UNKNOWN)
    }

    /// Places a row at its entry's memo, read now (under the caller's hold of the timeline,
    /// so that a change logged after this read sends it back to unknown at the next
    /// `catch_up`); a missing memo leaves it where it is.
    pub fn settle(&mut self, row: u32, handles: &[Arc<Entry>], now_s: i64) {
        let Some(h) = handles.get(row as usize) else {
            return;
        };
        if let Memo::Fresh(key) | Memo::Expired(key) = h.memo_second(now_s) {
            if self.bucket_of[row as usize] != bucket(key) {
                self.moved(row, bucket(key), handles);
            }
        }
    }

    /// Walks on until `k` rows are settled (`None`), or until rows of the current bucket
    /// must be recomputed first (`Some(rows)`: recompute their memos, then walk again with
    /// the same `walk`). `refreshed` holds what this search recomputed, used when a memo
    /// could not be kept (the agenda changed meanwhile, or is gone). `ties_by_row`: rows
    /// with the same next slot rank by row (no distance), so a walk may stop inside a
    /// bucket.
    #[allow(clippy::too_many_arguments)]
    pub fn walk(
        &mut self,
        walk: &mut Walk,
        k: usize,
        ties_by_row: bool,
        accept: impl Fn(u32) -> bool,
        handles: &[Arc<Entry>],
        now_s: i64,
        refreshed: &HashMap<u32, i64>,
    ) -> Option<Vec<u32>> {
        loop {
            let (&b, first) = self.buckets.range_mut(walk.from..).next()?;
            if !first.sorted {
                first.rows.sort_unstable();
                first.sorted = true;
            }
            // Rows of "unknown" do not tie; "no slot" rows may turn out to have one.
            let early = ties_by_row && b != UNKNOWN && b != NONE;
            let rows = &self.buckets[&b].rows;
            let mut found = Vec::new();
            let mut refresh = Vec::new();
            let mut moves = Vec::new();
            let mut stale = 0usize;
            for &(row, stamp) in rows {
                walk.walked += 1;
                let r = row as usize;
                if self.stamp[r] != stamp || self.bucket_of[r] != b {
                    stale += 1;
                    continue;
                }
                if !accept(row) {
                    continue;
                }
                walk.bounds += 1;
                let memo = match (handles[r].memo_second(now_s), refreshed.get(&row)) {
                    (Memo::Fresh(key), _) | (_, Some(&key)) => Some(key),
                    (Memo::Expired(key), None) if bucket(key) > b => {
                        moves.push((row, bucket(key)));
                        continue;
                    }
                    _ => None,
                };
                match memo {
                    Some(key) if bucket(key) <= b => found.push((key, row)),
                    Some(key) => {
                        moves.push((row, bucket(key)));
                        continue;
                    }
                    None => refresh.push(row),
                }
                // Every later row of this bucket ties with these and ranks after them.
                if early && walk.settled.len() + found.len() + refresh.len() >= k {
                    break;
                }
            }
            if stale > rows.len() / 2 {
                let (stamp, bucket_of) = (&self.stamp, &self.bucket_of);
                if let Some(bk) = self.buckets.get_mut(&b) {
                    bk.rows.retain(|&(row, s)| {
                        stamp[row as usize] == s && bucket_of[row as usize] == b
                    });
                }
            }
            for (row, to) in moves {
                self.moved(row, to, handles);
            }
            if self.buckets.get(&b).is_some_and(|bk| bk.rows.is_empty()) {
                self.buckets.remove(&b);
            }
            if !refresh.is_empty() {
                walk.from = b;
                return Some(refresh);
            }
            walk.settled.extend(found);
            if walk.settled.len() >= k || b == NONE {
                return None;
            }
            walk.from = b + 1;
        }
    }

    fn moved(&mut self, row: u32, b: i64, handles: &[Arc<Entry>]) {
        if b == NONE {
            let until = handles[row as usize].memo_until_second();
            self.no_slot_until.insert((until, row));
        }
        self.place(row, b);
    }
}
