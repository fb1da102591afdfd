//! What several app nodes on one database share besides the tables of the domain: the
//! waiting room's state and the relay of video signalling. A single-node backend (SQLite)
//! shares nothing: the nodes keep both in memory, as before.

use crate::StoreResult;
use async_trait::async_trait;
use std::sync::Arc;

/// The waiting room as every node sees it (one row). `generation` grows with every change
/// of the session (switch, opening, rate), so writers replace it only if nobody changed it
/// since they read it; the arrival counters grow without changing the generation.
#[derive(Clone, Copy, Debug, PartialEq, Default)]
pub struct RoomRecord {
    /// 0: never configured (the nodes' own settings apply).
    pub generation: i64,
    pub active: bool,
    pub operator_enabled: bool,
    pub auto_active: bool,
    /// When the current session started (tickets issued before are from an earlier one).
    pub started_ms: i64,
    pub opening_ms: i64,
    /// The admission watermark's line: `base` at `base_ms`, growing by `rate` per second.
    pub base: f64,
    pub base_ms: i64,
    pub rate: f64,
    /// Arrivals of the session before the opening (drawn at random) and after it (in order).
    pub before_opening: i64,
    pub after_opening: i64,
    /// The last instant some node saw more guarded requests than its threshold.
    pub last_busy_ms: i64,
}

/// Called when another node may have changed the waiting room (or announcements may have
/// been missed).
pub type RoomWatcher = Arc<dyn Fn() + Send + Sync>;

/// The waiting room's row, shared by every node of a database.
#[async_trait]
pub trait SharedRoom: Send + Sync + 'static {
    /// The current record.
    async fn load(&self) -> StoreResult<RoomRecord>;

    /// Stores `next` (its generation is ignored: the stored one is `expected + 1`) if the
    /// stored generation is still `expected`; the stored record, or `None` when another
    /// node changed it first (read it again). Announced to every node.
    async fn replace(&self, expected: i64, next: &RoomRecord) -> StoreResult<Option<RoomRecord>>;

    /// Counts one arrival at `now_ms` in one atomic update: before the opening when the
    /// room is active and not open yet, after it when active and open, nothing when
    /// inactive. The record as updated (the caller derives its rank from it).
    async fn take_place(&self, now_ms: i64) -> StoreResult<RoomRecord>;

    /// Records that guarded endpoints were busy at `now_ms` (keeps an automatic room on).
    async fn note_busy(&self, now_ms: i64) -> StoreResult<()>;

    /// Starts calling `on_change` when another node changed the session.
    fn watch(&self, on_change: RoomWatcher);
}

/// Called with each signalling envelope another node published.
pub type SignalWatcher = Arc<dyn Fn(String) + Send + Sync>;

/// Video signalling between nodes: an envelope published by one node reaches every other
/// node subscribed on the same database.
#[async_trait]
pub trait SignalBus: Send + Sync + 'static {
    /// Publishes `envelope` (JSON text, any length) to the other nodes.
    async fn publish(&self, envelope: &str) -> StoreResult<()>;

    /// Starts delivering the other nodes' envelopes to `on_signal`, in publication order.
    fn subscribe(&self, on_signal: SignalWatcher);
}
