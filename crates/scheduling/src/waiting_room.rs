//! The waiting room (issue #6, "the 12 July rush"): when it is active, booking entry points
//! only let in holders of an admitted queue ticket.
//!
//! - **Tickets** are self-contained and HMAC-SHA256-signed: a format version, the arrival
//!   (a random 64-bit draw for an arrival before the opening, else the rank itself) and the
//!   issue time. The server keeps no per-ticket state, so checking one is a base64 decode,
//!   one HMAC and a few atomic loads.
//! - **Order** (Queue-it's rule): the `P` people who arrived before the opening are served in
//!   random order (rank = ⌊u·P⌋ with u = draw / 2⁶⁴ uniform in [0, 1)); later arrivals get
//!   rank `P + n` from a per-process sequence, first in first out.
//! - **Admission**: a watermark grows at the admission rate from the opening; a rank below it
//!   is admitted, and stays honoured for a window (20 minutes by default) after the instant
//!   the watermark passed it. Position = how many ranks are still ahead + 1, and the wait is
//!   the time until the watermark reaches the rank.
//! - **Activation**: the campaign operator switches the room on (optionally with an opening
//!   time: everybody before it draws a random place), or it switches itself on when guarded
//!   endpoints get more requests per second than a threshold, and off again once the queue
//!   has drained and the rate stayed under the threshold for a calm period.
//!
//! The session parameters (active, opening, the watermark's line) change rarely; they are
//! published through a sequence lock made of atomics, so readers never take a lock.
//!
//! - **Several nodes** (PostgreSQL): the session and the arrival counters live in one row of
//!   the database ([`careslot_store::SharedRoom`]): a ticket's rank is taken there, the
//!   operator's switch and an automatic activation are written there, and every node keeps
//!   a copy refreshed by the database's announcements and a one-second poll, so that
//!   checking a guarded request stays lock-free and local.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use careslot_core::mac::MacKey;
use careslot_store::{RoomRecord, SharedRoom, StoreError};
use hmac::Mac;
use rand::RngCore;
use std::fmt;
use std::sync::atomic::{fence, AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};

/// The request header that carries a ticket (API clients).
pub const TICKET_HEADER: &str = "careslot-queue-ticket";
/// The cookie that carries a ticket (web pages).
pub const TICKET_COOKIE: &str = "careslot_queue";

/// Ticket format version (the first byte of every ticket).
const VERSION: u8 = 1;
/// version, kind, value (u64), issued at (i64 ms).
const PAYLOAD_LEN: usize = 1 + 1 + 8 + 8;
/// HMAC-SHA256 truncated to 128 bits.
const TAG_LEN: usize = 16;
const TICKET_LEN: usize = PAYLOAD_LEN + TAG_LEN;
/// Longest base64url text a ticket can be (anything longer is refused before decoding).
pub const MAX_TICKET_CHARS: usize = (TICKET_LEN * 4).div_ceil(3);

/// Highest admission rate accepted (people per second).
pub const MAX_RATE: u32 = 1_000_000;

/// The waiting room's configuration (`careslot serve --waiting-room-*`).
#[derive(Clone)]
pub struct RoomConfig {
    /// Key that signs tickets; `None`: a random key per process (the server then uses a key
    /// kept in the database when nodes share one, PostgreSQL).
    pub secret: Option<Arc<careslot_vault::SecretToken>>,
    /// People admitted per second while the room is active.
    pub admission_rate: u32,
    /// Requests per second to guarded endpoints past which the room activates by itself.
    pub auto_threshold: Option<u32>,
    /// How long an admitted ticket is honoured after its admission.
    pub admitted_window: jiff::SignedDuration,
    /// How long the request rate must stay under the threshold (with the queue drained)
    /// before an automatically activated room switches itself off.
    pub auto_calm: jiff::SignedDuration,
}

impl Default for RoomConfig {
    fn default() -> Self {
        Self {
            secret: None,
            admission_rate: 50,
            auto_threshold: None,
            admitted_window: jiff::SignedDuration::from_mins(20),
            auto_calm: jiff::SignedDuration::from_secs(30),
        }
    }
}

impl fmt::Debug for RoomConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RoomConfig")
            .field("secret", &self.secret.as_ref().map(|_| "**redacted**"))
            .field("admission_rate", &self.admission_rate)
            .field("auto_threshold", &self.auto_threshold)
            .field("admitted_window", &self.admitted_window)
            .field("auto_calm", &self.auto_calm)
            .finish()
    }
}

// ---------------------------------------------------------------------------------------
// Pure logic: ranks and the watermark
// ---------------------------------------------------------------------------------------

/// The rank of a pre-opening arrival among `p` of them: ⌊u·p⌋ with u = draw / 2⁶⁴, so
/// always below `p` and uniformly spread (ties are admitted together).
pub fn pre_opening_rank(draw: u64, p: u64) -> u64 {
    ((u128::from(draw) * u128::from(p)) >> 64) as u64
}

/// The admission watermark as a function of time: 0 until the opening, then growing by
/// `rate` per second. A rate change rebases the line (`base` at `base_ms`) so that the
/// watermark never jumps.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Schedule {
    pub opening_ms: i64,
    pub base: f64,
    pub base_ms: i64,
    /// People per second (> 0).
    pub rate: f64,
}

impl Schedule {
    pub fn new(opening_ms: i64, rate: u32) -> Self {
        Self {
            opening_ms,
            base: 0.0,
            base_ms: opening_ms,
            rate: f64::from(rate.max(1)),
        }
    }

    /// The watermark at `now_ms`: ranks strictly below it are admitted.
    pub fn watermark(&self, now_ms: i64) -> f64 {
        if now_ms <= self.base_ms {
            self.base
        } else {
            self.base + self.rate * (now_ms - self.base_ms) as f64 / 1000.0
        }
    }

    /// How many ranks are admitted at `now_ms` (ranks `0..n`).
    pub fn admitted_count(&self, now_ms: i64) -> u64 {
        let w = self.watermark(now_ms).ceil();
        if w <= 0.0 {
            0
        } else if w >= u64::MAX as f64 {
            u64::MAX
        } else {
            w as u64
        }
    }

    /// The first millisecond at which `rank` is admitted (the watermark passes it); computed
    /// with [`Self::watermark`] itself so that both always agree.
    pub fn admission_ms(&self, rank: u64) -> i64 {
        const FAR: i64 = i64::MAX / 4;
        let r = rank as f64;
        if r < self.base {
            // Admitted at the latest when the line was last rebased.
            return self.base_ms;
        }
        let guess = ((r - self.base) * 1000.0 / self.rate).floor();
        if guess >= (FAR - self.base_ms.max(0)) as f64 {
            return FAR;
        }
        let mut t = self.base_ms + guess as i64 + 1;
        while t - 1 > self.base_ms && self.watermark(t - 1) > r {
            t -= 1;
        }
        while self.watermark(t) <= r {
            t += 1;
        }
        t
    }

    /// The same watermark from `now_ms` on at another rate.
    pub fn with_rate(&self, now_ms: i64, rate: u32) -> Self {
        let rate = f64::from(rate.max(1));
        if now_ms <= self.base_ms {
            Self { rate, ..*self }
        } else {
            Self {
                base: self.watermark(now_ms),
                base_ms: now_ms,
                rate,
                ..*self
            }
        }
    }
}

// ---------------------------------------------------------------------------------------
// Tickets
// ---------------------------------------------------------------------------------------

/// How a ticket's holder arrived.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Arrival {
    /// Before the opening: a random draw, turned into a rank once the number of such
    /// arrivals is known.
    BeforeOpening { draw: u64 },
    /// After the opening (or while the room was inactive): the rank itself.
    AfterOpening { rank: u64 },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ticket {
    pub arrival: Arrival,
    pub issued_ms: i64,
}

/// A ticket that is not one of ours: garbled, truncated, of an unknown version, or with a
/// signature that does not match.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InvalidTicket;

impl fmt::Display for InvalidTicket {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("invalid queue ticket")
    }
}

impl std::error::Error for InvalidTicket {}

/// The ticket-signing key.
#[derive(Clone, Debug)]
pub struct TicketKey(MacKey);

impl TicketKey {
    pub fn new(secret: &[u8]) -> Self {
        TicketKey(MacKey::new(secret))
    }

    pub fn random() -> Self {
        TicketKey(MacKey::random())
    }

    pub fn sign(&self, t: &Ticket) -> String {
        let mut raw = [0u8; TICKET_LEN];
        raw[0] = VERSION;
        let (kind, value) = match t.arrival {
            Arrival::BeforeOpening { draw } => (0u8, draw),
            Arrival::AfterOpening { rank } => (1u8, rank),
        };
        raw[1] = kind;
        raw[2..10].copy_from_slice(&value.to_be_bytes());
        raw[10..18].copy_from_slice(&t.issued_ms.to_be_bytes());
        let mut mac = self.0.mac();
        mac.update(&raw[..PAYLOAD_LEN]);
        let tag = mac.finalize().into_bytes();
        raw[PAYLOAD_LEN..].copy_from_slice(&tag[..TAG_LEN]);
        URL_SAFE_NO_PAD.encode(raw)
    }

    pub fn verify(&self, text: &str) -> Result<Ticket, InvalidTicket> {
        let text = text.trim();
        if text.len() > MAX_TICKET_CHARS {
            return Err(InvalidTicket);
        }
        let mut raw = [0u8; TICKET_LEN + 3];
        let n = URL_SAFE_NO_PAD
            .decode_slice(text.as_bytes(), &mut raw)
            .map_err(|_| InvalidTicket)?;
        if n != TICKET_LEN || raw[0] != VERSION {
            return Err(InvalidTicket);
        }
        let mut mac = self.0.mac();
        mac.update(&raw[..PAYLOAD_LEN]);
        mac.verify_truncated_left(&raw[PAYLOAD_LEN..TICKET_LEN])
            .map_err(|_| InvalidTicket)?;
        let mut value = [0u8; 8];
        value.copy_from_slice(&raw[2..10]);
        let value = u64::from_be_bytes(value);
        let mut issued = [0u8; 8];
        issued.copy_from_slice(&raw[10..18]);
        let arrival = match raw[1] {
            0 => Arrival::BeforeOpening { draw: value },
            1 => Arrival::AfterOpening { rank: value },
            _ => return Err(InvalidTicket),
        };
        Ok(Ticket {
            arrival,
            issued_ms: i64::from_be_bytes(issued),
        })
    }
}

// ---------------------------------------------------------------------------------------
// The room
// ---------------------------------------------------------------------------------------

/// The room's session as one consistent snapshot.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Session {
    pub active: bool,
    /// When this session started on this node: tickets issued before belong to an earlier
    /// session and must be renewed.
    pub started_ms: i64,
    pub schedule: Schedule,
}

/// Where a ticket stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Standing {
    /// The room is inactive: everybody goes through.
    Open,
    /// Admitted; honoured until `until_ms`.
    Admitted { until_ms: i64 },
    /// Waiting: `position` 1 is next; admitted in about `eta_ms`. Before the opening,
    /// `opens_at_ms` says when it opens (positions are then an estimate: the draw is final
    /// once the opening has passed).
    Waiting {
        position: u64,
        eta_ms: i64,
        opens_at_ms: Option<i64>,
    },
    /// From an earlier session, or admitted too long ago: a new ticket is needed.
    Expired,
}

impl Standing {
    pub fn passes(&self) -> bool {
        matches!(self, Standing::Open | Standing::Admitted { .. })
    }
}

/// Why a guarded request was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    NoTicket,
    Invalid,
    Expired,
    Waiting { position: u64, eta_ms: i64 },
}

/// A ticket with where it stands; `renewed` when a new ticket replaced the one presented.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pass {
    pub ticket: String,
    pub standing: Standing,
    pub renewed: bool,
}

/// What the operator sees.
#[derive(Clone, Debug, PartialEq)]
pub struct RoomState {
    /// Switched on by the operator.
    pub enabled: bool,
    /// Active now (by the operator or by itself).
    pub active: bool,
    pub admission_rate: u32,
    pub auto_threshold: Option<u32>,
    pub opens_at_ms: Option<i64>,
    /// Tickets issued in this session.
    pub issued: u64,
    /// Ranks below this are admitted.
    pub admitted_watermark: u64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConfigureError {
    /// `opens_at` with `enabled: false`, or a rate out of range.
    Invalid(&'static str, &'static str),
    /// A new opening time for a room that has opened already.
    AlreadyOpen,
    /// The shared state could not be read or written (PostgreSQL): retry.
    Unavailable,
}

/// Why a presented ticket got no status.
#[derive(Debug)]
pub enum StatusError {
    Invalid(InvalidTicket),
    /// The shared state could not be read or written (PostgreSQL): retry.
    Store(StoreError),
}

pub struct WaitingRoom {
    key: TicketKey,
    window_ms: i64,
    calm_ms: i64,
    auto_threshold: Option<u32>,
    // The session, behind a sequence lock: `seq` is odd while a writer is storing.
    seq: AtomicU64,
    active: AtomicBool,
    started_ms: AtomicI64,
    opening_ms: AtomicI64,
    base_bits: AtomicU64,
    base_ms: AtomicI64,
    rate_bits: AtomicU64,
    /// Serialises writers of the session.
    writer: parking_lot::Mutex<()>,
    /// The generation of the session published (see [`RoomRecord`]).
    generation: AtomicI64,
    // Counters of the current session.
    before_opening: AtomicU64,
    after_opening: AtomicU64,
    // Who switched it on.
    operator_enabled: AtomicBool,
    auto_active: AtomicBool,
    // Demand on guarded endpoints: requests counted per second.
    bucket_sec: AtomicI64,
    bucket_count: AtomicU64,
    last_busy_ms: AtomicI64,
    /// With several nodes on one database (PostgreSQL): the session and the counters live
    /// in the database; this node keeps a copy that its announcements and a one-second
    /// poll refresh, so that the check of a guarded request stays a few atomic loads.
    shared: OnceLock<Arc<dyn SharedRoom>>,
}

impl fmt::Debug for WaitingRoom {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WaitingRoom")
            .field("session", &self.session())
            .field("shared", &self.shared.get().is_some())
            .finish_non_exhaustive()
    }
}

pub fn now_ms() -> i64 {
    jiff::Timestamp::now().as_millisecond()
}

fn schedule_of(r: &RoomRecord) -> Schedule {
    Schedule {
        opening_ms: r.opening_ms,
        base: r.base,
        base_ms: r.base_ms,
        rate: r.rate.max(1.0),
    }
}

fn with_schedule(r: RoomRecord, s: Schedule) -> RoomRecord {
    RoomRecord {
        opening_ms: s.opening_ms,
        base: s.base,
        base_ms: s.base_ms,
        rate: s.rate,
        ..r
    }
}

fn rate_of(s: &Schedule) -> u32 {
    s.rate.round().clamp(1.0, f64::from(MAX_RATE)) as u32
}

/// A new session opening at `opening_ms` (counters from zero).
fn started(r: &RoomRecord, now_ms: i64, opening_ms: i64, rate: u32) -> RoomRecord {
    with_schedule(
        RoomRecord {
            active: true,
            started_ms: now_ms,
            before_opening: 0,
            after_opening: 0,
            ..*r
        },
        Schedule::new(opening_ms.max(now_ms), rate),
    )
}

/// What the operator's switch makes of the session `r`.
fn configured(
    r: &RoomRecord,
    enabled: bool,
    rate: Option<u32>,
    opens_at_ms: Option<i64>,
    now_ms: i64,
) -> Result<RoomRecord, ConfigureError> {
    let current = schedule_of(r);
    let rate = rate.unwrap_or_else(|| rate_of(&current));
    Ok(if !enabled {
        with_schedule(
            RoomRecord {
                active: false,
                operator_enabled: false,
                auto_active: false,
                ..*r
            },
            current.with_rate(now_ms, rate),
        )
    } else if !r.active {
        RoomRecord {
            operator_enabled: true,
            ..started(r, now_ms, opens_at_ms.unwrap_or(now_ms), rate)
        }
    } else {
        let schedule = match opens_at_ms {
            Some(at) if at != current.opening_ms => {
                if now_ms >= current.opening_ms {
                    return Err(ConfigureError::AlreadyOpen);
                }
                Schedule::new(at.max(now_ms), rate)
            }
            _ => current.with_rate(now_ms, rate),
        };
        with_schedule(
            RoomRecord {
                operator_enabled: true,
                ..*r
            },
            schedule,
        )
    })
}

/// Whether an automatically activated room should switch itself off at `now_ms`: the queue
/// has drained and demand stayed calm (last busy at `last_busy_ms`) for `calm_ms`.
fn winds_down(r: &RoomRecord, last_busy_ms: i64, calm_ms: i64, now_ms: i64) -> bool {
    let issued = (r.before_opening.max(0) as u64).saturating_add(r.after_opening.max(0) as u64);
    r.active
        && r.auto_active
        && !r.operator_enabled
        && now_ms.saturating_sub(last_busy_ms.saturating_add(1000)) >= calm_ms
        && schedule_of(r).admitted_count(now_ms) >= issued
}

impl WaitingRoom {
    pub fn new(config: &RoomConfig) -> Self {
        let key = match &config.secret {
            Some(s) => TicketKey::new(s.expose().as_bytes()),
            None => TicketKey::random(),
        };
        let rate = config.admission_rate.clamp(1, MAX_RATE);
        let schedule = Schedule::new(0, rate);
        Self {
            key,
            window_ms: config
                .admitted_window
                .as_millis()
                .clamp(1, i64::MAX as i128) as i64,
            calm_ms: config.auto_calm.as_millis().clamp(0, i64::MAX as i128) as i64,
            auto_threshold: config.auto_threshold,
            seq: AtomicU64::new(0),
            active: AtomicBool::new(false),
            started_ms: AtomicI64::new(0),
            opening_ms: AtomicI64::new(schedule.opening_ms),
            base_bits: AtomicU64::new(schedule.base.to_bits()),
            base_ms: AtomicI64::new(schedule.base_ms),
            rate_bits: AtomicU64::new(schedule.rate.to_bits()),
            writer: parking_lot::Mutex::new(()),
            generation: AtomicI64::new(0),
            before_opening: AtomicU64::new(0),
            after_opening: AtomicU64::new(0),
            operator_enabled: AtomicBool::new(false),
            auto_active: AtomicBool::new(false),
            bucket_sec: AtomicI64::new(0),
            bucket_count: AtomicU64::new(0),
            last_busy_ms: AtomicI64::new(i64::MIN / 2),
            shared: OnceLock::new(),
        }
    }

    /// Moves the session into the database shared by every node (PostgreSQL): from now on
    /// tickets take their rank there, and the operator's switch and an automatic activation
    /// are written there; this node follows the database's announcements and polls it every
    /// second (the counters move without announcements).
    pub fn share(self: &Arc<Self>, shared: Arc<dyn SharedRoom>) {
        if self.shared.set(shared.clone()).is_err() {
            return;
        }
        let wake = Arc::new(tokio::sync::Notify::new());
        shared.watch({
            let wake = wake.clone();
            Arc::new(move || wake.notify_one())
        });
        let room = Arc::downgrade(self);
        tokio::spawn(async move {
            loop {
                let _ =
                    tokio::time::timeout(std::time::Duration::from_secs(1), wake.notified()).await;
                let Some(room) = room.upgrade() else {
                    return;
                };
                match shared.load().await {
                    Ok(r) => {
                        room.absorb(&r);
                        let now = now_ms();
                        if winds_down(&r, r.last_busy_ms, room.calm_ms, now) {
                            let stop = RoomRecord {
                                active: false,
                                auto_active: false,
                                ..r
                            };
                            if let Ok(Some(stored)) = shared.replace(r.generation, &stop).await {
                                room.absorb(&stored);
                                tracing::info!(
                                    "waiting room deactivated: queue drained and demand calm"
                                );
                            }
                        }
                    }
                    Err(e) => tracing::debug!(error = %e, "waiting room: shared state unreadable"),
                }
            }
        });
    }

    /// Whether the session lives in the database (several nodes).
    pub fn is_shared(&self) -> bool {
        self.shared.get().is_some()
    }

    /// The session as one consistent snapshot (lock-free: retried if a writer was busy).
    pub fn session(&self) -> Session {
        loop {
            let s1 = self.seq.load(Ordering::Acquire);
            if s1 & 1 == 1 {
                std::hint::spin_loop();
                continue;
            }
            let session = Session {
                active: self.active.load(Ordering::Relaxed),
                started_ms: self.started_ms.load(Ordering::Relaxed),
                schedule: Schedule {
                    opening_ms: self.opening_ms.load(Ordering::Relaxed),
                    base: f64::from_bits(self.base_bits.load(Ordering::Relaxed)),
                    base_ms: self.base_ms.load(Ordering::Relaxed),
                    rate: f64::from_bits(self.rate_bits.load(Ordering::Relaxed)),
                },
            };
            fence(Ordering::Acquire);
            if self.seq.load(Ordering::Relaxed) == s1 {
                return session;
            }
        }
    }

    /// Publishes a new session; the caller holds `writer`.
    fn publish(&self, s: &Session) {
        let seq = self.seq.load(Ordering::Relaxed);
        self.seq.store(seq.wrapping_add(1), Ordering::Relaxed);
        fence(Ordering::Release);
        self.active.store(s.active, Ordering::Relaxed);
        self.started_ms.store(s.started_ms, Ordering::Relaxed);
        self.opening_ms
            .store(s.schedule.opening_ms, Ordering::Relaxed);
        self.base_bits
            .store(s.schedule.base.to_bits(), Ordering::Relaxed);
        self.base_ms.store(s.schedule.base_ms, Ordering::Relaxed);
        self.rate_bits
            .store(s.schedule.rate.to_bits(), Ordering::Relaxed);
        self.seq.store(seq.wrapping_add(2), Ordering::Release);
    }

    /// This node's copy of the session as a record; the caller holds `writer`.
    fn record(&self) -> RoomRecord {
        let s = self.session();
        with_schedule(
            RoomRecord {
                generation: self.generation.load(Ordering::Acquire),
                active: s.active,
                operator_enabled: self.operator_enabled.load(Ordering::Acquire),
                auto_active: self.auto_active.load(Ordering::Acquire),
                started_ms: s.started_ms,
                before_opening: self.before_opening.load(Ordering::Relaxed) as i64,
                after_opening: self.after_opening.load(Ordering::Relaxed) as i64,
                last_busy_ms: self.last_busy_ms.load(Ordering::Acquire),
                ..RoomRecord::default()
            },
            s.schedule,
        )
    }

    /// Takes `r` as the session when it is newer than this node's copy (its counters only,
    /// when it is the same session); the caller holds `writer`.
    fn apply(&self, r: &RoomRecord) {
        let current = self.generation.load(Ordering::Acquire);
        if r.generation < current {
            return;
        }
        let counters = |a: &AtomicU64, v: i64| {
            let v = v.max(0) as u64;
            if r.generation > current {
                a.store(v, Ordering::Relaxed);
            } else {
                a.fetch_max(v, Ordering::Relaxed);
            }
        };
        counters(&self.before_opening, r.before_opening);
        counters(&self.after_opening, r.after_opening);
        if r.generation > current {
            self.operator_enabled
                .store(r.operator_enabled, Ordering::Release);
            self.auto_active.store(r.auto_active, Ordering::Release);
            self.publish(&Session {
                active: r.active,
                started_ms: r.started_ms,
                schedule: schedule_of(r),
            });
            self.generation.store(r.generation, Ordering::Release);
        }
    }

    /// [`Self::apply`] taking the writer's lock.
    fn absorb(&self, r: &RoomRecord) {
        let _w = self.writer.lock();
        self.apply(r);
    }

    /// Changes this node's session with `change` (`None`: nothing to change).
    fn change_here<E>(
        &self,
        change: impl FnOnce(&RoomRecord) -> Result<Option<RoomRecord>, E>,
    ) -> Result<(), E> {
        let _w = self.writer.lock();
        let r = self.record();
        if let Some(next) = change(&r)? {
            self.apply(&RoomRecord {
                generation: r.generation + 1,
                ..next
            });
        }
        Ok(())
    }

    /// Changes the shared session with `change`, again from what the database holds when
    /// another node changed it in between.
    async fn change_shared<E: From<StoreError>>(
        &self,
        shared: &Arc<dyn SharedRoom>,
        change: impl Fn(&RoomRecord) -> Result<Option<RoomRecord>, E>,
    ) -> Result<(), E> {
        for _ in 0..16 {
            let r = shared.load().await?;
            self.absorb(&r);
            let Some(next) = change(&r)? else {
                return Ok(());
            };
            if let Some(stored) = shared.replace(r.generation, &next).await? {
                self.absorb(&stored);
                return Ok(());
            }
        }
        Err(StoreError::Unavailable("the waiting room keeps changing".into()).into())
    }

    /// Ranks handed out so far in this session (all of them below this).
    fn issued(&self) -> u64 {
        self.before_opening
            .load(Ordering::Relaxed)
            .saturating_add(self.after_opening.load(Ordering::Relaxed))
    }

    /// A new ticket at the back of the queue (admitted at once when the room is inactive);
    /// with several nodes its rank is taken in the database.
    pub async fn issue(&self, now_ms: i64) -> Result<Pass, StoreError> {
        let Some(shared) = self.shared.get() else {
            return Ok(self.issue_here(now_ms));
        };
        let r = shared.take_place(now_ms).await?;
        self.absorb(&r);
        let arrival = if r.active && now_ms < r.opening_ms {
            Arrival::BeforeOpening {
                draw: rand::thread_rng().next_u64(),
            }
        } else if r.active {
            Arrival::AfterOpening {
                rank: (r.before_opening.max(0) as u64)
                    .saturating_add(r.after_opening.max(1) as u64 - 1),
            }
        } else {
            Arrival::AfterOpening { rank: 0 }
        };
        let ticket = Ticket {
            arrival,
            issued_ms: now_ms,
        };
        let session = Session {
            active: r.active,
            started_ms: r.started_ms,
            schedule: schedule_of(&r),
        };
        Ok(Pass {
            ticket: self.key.sign(&ticket),
            standing: self.standing(&ticket, &session, now_ms),
            renewed: true,
        })
    }

    /// [`Self::issue`] on this node alone.
    pub fn issue_here(&self, now_ms: i64) -> Pass {
        let s = self.session();
        let arrival = if s.active && now_ms < s.schedule.opening_ms {
            self.before_opening.fetch_add(1, Ordering::Relaxed);
            Arrival::BeforeOpening {
                draw: rand::thread_rng().next_u64(),
            }
        } else if s.active {
            let n = self.after_opening.fetch_add(1, Ordering::Relaxed);
            Arrival::AfterOpening {
                rank: self
                    .before_opening
                    .load(Ordering::Relaxed)
                    .saturating_add(n),
            }
        } else {
            Arrival::AfterOpening { rank: 0 }
        };
        let ticket = Ticket {
            arrival,
            issued_ms: now_ms,
        };
        Pass {
            ticket: self.key.sign(&ticket),
            standing: self.standing(&ticket, &s, now_ms),
            renewed: true,
        }
    }

    /// Where `ticket` stands in session `s` at `now_ms`.
    pub fn standing(&self, ticket: &Ticket, s: &Session, now_ms: i64) -> Standing {
        if !s.active {
            return Standing::Open;
        }
        if ticket.issued_ms < s.started_ms {
            return Standing::Expired;
        }
        let rank = match ticket.arrival {
            Arrival::BeforeOpening { draw } => {
                pre_opening_rank(draw, self.before_opening.load(Ordering::Relaxed).max(1))
            }
            Arrival::AfterOpening { rank } => rank,
        };
        let admitted_at = s.schedule.admission_ms(rank);
        if now_ms >= admitted_at {
            let until_ms = admitted_at.saturating_add(self.window_ms);
            return if now_ms < until_ms {
                Standing::Admitted { until_ms }
            } else {
                Standing::Expired
            };
        }
        let ahead = rank.saturating_sub(s.schedule.admitted_count(now_ms));
        Standing::Waiting {
            position: ahead.saturating_add(1),
            eta_ms: admitted_at - now_ms,
            opens_at_ms: (now_ms < s.schedule.opening_ms).then_some(s.schedule.opening_ms),
        }
    }

    /// Where a presented ticket stands; a ticket of an earlier session, or admitted too long
    /// ago, is replaced by a new one at the back of the queue.
    pub async fn status(&self, presented: &str, now_ms: i64) -> Result<Pass, StatusError> {
        match self.status_here(presented, now_ms) {
            Ok(Some(pass)) => Ok(pass),
            Ok(None) => self.issue(now_ms).await.map_err(StatusError::Store),
            Err(e) => Err(StatusError::Invalid(e)),
        }
    }

    /// Where a presented ticket stands on this node's copy; `None` when it must be renewed.
    fn status_here(&self, presented: &str, now_ms: i64) -> Result<Option<Pass>, InvalidTicket> {
        let ticket = self.key.verify(presented)?;
        let s = self.session();
        Ok(match self.standing(&ticket, &s, now_ms) {
            Standing::Expired => None,
            standing => Some(Pass {
                ticket: presented.trim().to_owned(),
                standing,
                renewed: false,
            }),
        })
    }

    /// The check of a guarded request: passes when the room is inactive or the ticket is
    /// admitted. Counts the request towards automatic activation.
    pub fn admit(&self, presented: Option<&str>, now_ms: i64) -> Result<(), Refusal> {
        self.note_demand(now_ms);
        let s = self.session();
        if !s.active {
            return Ok(());
        }
        let presented = presented.ok_or(Refusal::NoTicket)?;
        let ticket = self.key.verify(presented).map_err(|_| Refusal::Invalid)?;
        match self.standing(&ticket, &s, now_ms) {
            Standing::Open | Standing::Admitted { .. } => Ok(()),
            Standing::Expired => Err(Refusal::Expired),
            Standing::Waiting {
                position, eta_ms, ..
            } => Err(Refusal::Waiting { position, eta_ms }),
        }
    }

    /// Counts a request to a guarded endpoint (only with an automatic threshold): past the
    /// threshold within one second the room opens now; at each new second, an automatically
    /// activated room that has drained and stayed calm switches itself off.
    fn note_demand(&self, now_ms: i64) {
        let Some(threshold) = self.auto_threshold else {
            return;
        };
        let sec = now_ms.div_euclid(1000);
        let current = self.bucket_sec.load(Ordering::Acquire);
        let n = if sec != current
            && self
                .bucket_sec
                .compare_exchange(current, sec, Ordering::AcqRel, Ordering::Acquire)
                .is_ok()
        {
            self.bucket_count.store(1, Ordering::Release);
            self.maintain(now_ms);
            1
        } else {
            self.bucket_count.fetch_add(1, Ordering::AcqRel) + 1
        };
        // Only the request that crosses the threshold in this second writes.
        if n != u64::from(threshold) + 1 {
            return;
        }
        self.last_busy_ms.fetch_max(now_ms, Ordering::AcqRel);
        if let Some(shared) = self.shared.get() {
            // Written in the database by a task; the room starts on every node once the
            // write is announced (the requests of that moment still pass).
            let shared = shared.clone();
            let active = self.session().active;
            tokio::spawn(async move {
                if let Err(e) = shared.note_busy(now_ms).await {
                    tracing::warn!(error = %e, "waiting room: demand not recorded");
                }
                if active {
                    return;
                }
                if let Ok(r) = shared.load().await {
                    if !r.active {
                        // Busy now: not to be wound down before the calm period.
                        let next = RoomRecord {
                            auto_active: true,
                            last_busy_ms: r.last_busy_ms.max(now_ms),
                            ..started(&r, now_ms, now_ms, rate_of(&schedule_of(&r)))
                        };
                        if let Ok(Some(_)) = shared.replace(r.generation, &next).await {
                            tracing::warn!(
                                threshold,
                                "waiting room activated: guarded endpoints past the threshold"
                            );
                        }
                    }
                }
            });
            return;
        }
        if !self.session().active {
            let _ = self.change_here(|r| {
                if r.active {
                    return Ok::<_, ()>(None);
                }
                let rate = rate_of(&schedule_of(r));
                tracing::warn!(
                    threshold,
                    admission_rate = rate,
                    "waiting room activated: guarded endpoints past the threshold"
                );
                Ok(Some(RoomRecord {
                    auto_active: true,
                    ..started(r, now_ms, now_ms, rate)
                }))
            });
        }
    }

    /// Switches off a room that activated itself once the queue has drained and the request
    /// rate has stayed under the threshold for the calm period (an operator's room stays on).
    /// With several nodes, the poll of the shared state does this.
    pub fn maintain(&self, now_ms: i64) {
        if self.auto_threshold.is_none()
            || self.is_shared()
            || !self.auto_active.load(Ordering::Acquire)
            || self.operator_enabled.load(Ordering::Acquire)
        {
            return;
        }
        let calm_ms = self.calm_ms;
        let _ = self.change_here(|r| {
            if !winds_down(r, r.last_busy_ms, calm_ms, now_ms) {
                return Ok::<_, ()>(None);
            }
            tracing::info!("waiting room deactivated: queue drained and demand calm");
            Ok(Some(RoomRecord {
                active: false,
                auto_active: false,
                ..*r
            }))
        });
    }

    /// The operator switches the room on or off, changes the admission rate, or sets when a
    /// room that has not opened yet opens; with several nodes, for all of them.
    pub async fn configure(
        &self,
        enabled: bool,
        rate: Option<u32>,
        opens_at_ms: Option<i64>,
        now_ms: i64,
    ) -> Result<RoomState, ConfigureError> {
        check_configure(enabled, rate, opens_at_ms)?;
        let Some(shared) = self.shared.get() else {
            return self.configure_here(enabled, rate, opens_at_ms, now_ms);
        };
        self.change_shared(shared, |r| {
            configured(r, enabled, rate, opens_at_ms, now_ms).map(Some)
        })
        .await?;
        Ok(self.state_here(now_ms))
    }

    /// [`Self::configure`] on this node alone.
    pub fn configure_here(
        &self,
        enabled: bool,
        rate: Option<u32>,
        opens_at_ms: Option<i64>,
        now_ms: i64,
    ) -> Result<RoomState, ConfigureError> {
        check_configure(enabled, rate, opens_at_ms)?;
        self.change_here(|r| configured(r, enabled, rate, opens_at_ms, now_ms).map(Some))?;
        Ok(self.state_here(now_ms))
    }

    /// What the operator sees; with several nodes, as the database holds it now.
    pub async fn state(&self, now_ms: i64) -> Result<RoomState, StoreError> {
        if let Some(shared) = self.shared.get() {
            let r = shared.load().await?;
            self.absorb(&r);
        }
        Ok(self.state_here(now_ms))
    }

    /// [`Self::state`] from this node's copy.
    pub fn state_here(&self, now_ms: i64) -> RoomState {
        self.maintain(now_ms);
        let s = self.session();
        RoomState {
            enabled: self.operator_enabled.load(Ordering::Acquire),
            active: s.active,
            admission_rate: rate_of(&s.schedule),
            auto_threshold: self.auto_threshold,
            opens_at_ms: s.active.then_some(s.schedule.opening_ms),
            issued: if s.active { self.issued() } else { 0 },
            admitted_watermark: if s.active {
                s.schedule.admitted_count(now_ms)
            } else {
                0
            },
        }
    }

    /// Whether the room is active now (the pages use it to explain themselves).
    pub fn is_active(&self) -> bool {
        self.session().active
    }
}

impl From<StoreError> for ConfigureError {
    fn from(e: StoreError) -> Self {
        tracing::warn!(error = %e, "waiting room: shared state unavailable");
        ConfigureError::Unavailable
    }
}

fn check_configure(
    enabled: bool,
    rate: Option<u32>,
    opens_at_ms: Option<i64>,
) -> Result<(), ConfigureError> {
    if let Some(r) = rate {
        if !(1..=MAX_RATE).contains(&r) {
            return Err(ConfigureError::Invalid(
                "admission_rate",
                "must be 1 to 1000000 people per second",
            ));
        }
    }
    if opens_at_ms.is_some() && !enabled {
        return Err(ConfigureError::Invalid(
            "opens_at",
            "only with enabled: true",
        ));
    }
    Ok(())
}

/// When to ask again: half the expected wait (so the estimate converges), within bounds.
pub fn poll_after_ms(standing: &Standing, now_ms: i64) -> u64 {
    match standing {
        Standing::Open | Standing::Admitted { .. } | Standing::Expired => 0,
        Standing::Waiting {
            eta_ms,
            opens_at_ms,
            ..
        } => {
            let wait = match opens_at_ms {
                Some(at) => (at - now_ms).clamp(1_000, 30_000),
                None => (eta_ms / 2).clamp(500, 15_000),
            };
            wait as u64
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn room(rate: u32) -> WaitingRoom {
        WaitingRoom::new(&RoomConfig {
            admission_rate: rate,
            ..RoomConfig::default()
        })
    }

    /// Where a ticket stands, renewed when it must be (as `status` does).
    fn status(room: &WaitingRoom, ticket: &str, now: i64) -> Pass {
        room.status_here(ticket, now)
            .unwrap()
            .unwrap_or_else(|| room.issue_here(now))
    }

    fn rank_of(room: &WaitingRoom, ticket: &str) -> u64 {
        match room.key.verify(ticket).unwrap().arrival {
            Arrival::BeforeOpening { draw } => {
                pre_opening_rank(draw, room.before_opening.load(Ordering::Relaxed))
            }
            Arrival::AfterOpening { rank } => rank,
        }
    }

    #[test]
    fn watermark_grows_at_the_rate_from_the_opening() {
        let s = Schedule::new(10_000, 50);
        assert_eq!(s.watermark(0), 0.0);
        assert_eq!(s.watermark(10_000), 0.0);
        assert_eq!(s.admitted_count(10_000), 0);
        assert_eq!(s.watermark(11_000), 50.0);
        assert_eq!(s.admitted_count(11_000), 50);
        assert_eq!(s.admitted_count(10_001), 1);
        // rank r is admitted exactly when the watermark passes it
        for rank in [0u64, 1, 49, 50, 51, 1234] {
            let at = s.admission_ms(rank);
            assert!(s.watermark(at) > rank as f64, "rank {rank} at {at}");
            assert!(
                s.watermark(at - 1) <= rank as f64,
                "rank {rank} before {at}"
            );
            assert!(s.admitted_count(at) > rank);
            assert!(s.admitted_count(at - 1) <= rank);
        }
    }

    #[test]
    fn a_rate_change_keeps_the_watermark_continuous() {
        let s = Schedule::new(0, 10);
        let t = 5_000;
        let w = s.watermark(t);
        let faster = s.with_rate(t, 100);
        assert_eq!(faster.watermark(t), w);
        assert_eq!(faster.watermark(t + 1_000), w + 100.0);
        // ranks admitted before the change stay admitted
        assert!(faster.admission_ms(10) <= t);
        // before the opening, only the rate changes
        let early = Schedule::new(60_000, 10).with_rate(1_000, 20);
        assert_eq!(early, Schedule::new(60_000, 20));
    }

    #[test]
    fn pre_opening_ranks_stay_below_p_and_spread_evenly() {
        assert_eq!(pre_opening_rank(0, 10), 0);
        assert_eq!(pre_opening_rank(u64::MAX, 10), 9);
        assert_eq!(pre_opening_rank(u64::MAX / 2, 10), 4);
        assert_eq!(pre_opening_rank(12345, 0), 0);
        let mut buckets = [0u32; 10];
        let mut rng = rand::thread_rng();
        for _ in 0..100_000 {
            let r = pre_opening_rank(rng.next_u64(), 10);
            buckets[r as usize] += 1;
        }
        assert!(
            buckets.iter().all(|&b| (9_000..11_000).contains(&b)),
            "{buckets:?}"
        );
    }

    #[test]
    fn tickets_round_trip_and_refuse_tampering() {
        let key = TicketKey::random();
        let t = Ticket {
            arrival: Arrival::BeforeOpening { draw: 0xdead_beef },
            issued_ms: 1_626_000_000_000,
        };
        let text = key.sign(&t);
        assert!(text.len() <= MAX_TICKET_CHARS);
        assert_eq!(key.verify(&text), Ok(t));
        // another key, a flipped character, garbage, empty, too long
        assert_eq!(TicketKey::random().verify(&text), Err(InvalidTicket));
        let mut bytes = text.clone().into_bytes();
        bytes[5] = if bytes[5] == b'A' { b'B' } else { b'A' };
        assert_eq!(
            key.verify(std::str::from_utf8(&bytes).unwrap()),
            Err(InvalidTicket)
        );
        assert_eq!(key.verify("not a ticket!"), Err(InvalidTicket));
        assert_eq!(key.verify(""), Err(InvalidTicket));
        assert_eq!(key.verify(&"A".repeat(500)), Err(InvalidTicket));
        // the same secret signs the same way (several nodes share it)
        let a = TicketKey::new(b"shared secret between nodes");
        let b = TicketKey::new(b"shared secret between nodes");
        assert!(b.verify(&a.sign(&t)).is_ok());
    }

    #[test]
    fn an_inactive_room_admits_everybody() {
        let r = room(50);
        let pass = r.issue_here(1_000);
        assert_eq!(pass.standing, Standing::Open);
        assert_eq!(r.admit(None, 1_000), Ok(()));
        assert_eq!(r.admit(Some("garbage"), 1_000), Ok(()));
        assert_eq!(status(&r, &pass.ticket, 2_000).standing, Standing::Open);
    }

    #[test]
    fn after_the_opening_arrivals_are_first_in_first_out() {
        let r = room(10);
        let t0 = 1_000_000;
        r.configure_here(true, None, None, t0).unwrap();
        let tickets: Vec<String> = (0..30).map(|i| r.issue_here(t0 + i).ticket).collect();
        let ranks: Vec<u64> = tickets.iter().map(|t| rank_of(&r, t)).collect();
        assert_eq!(ranks, (0..30).collect::<Vec<_>>());
        // positions count down, waits shrink, and admission follows the issue order
        let pos = |t: &str, now| match status(&r, t, now).standing {
            Standing::Waiting { position, .. } => position,
            _ => 0,
        };
        assert_eq!(pos(&tickets[29], t0), 30);
        assert_eq!(pos(&tickets[29], t0 + 1_500), 15);
        assert_eq!(r.admit(Some(&tickets[14]), t0 + 1_500), Ok(()));
        assert!(matches!(
            r.admit(Some(&tickets[15]), t0 + 1_500),
            Err(Refusal::Waiting { position: 1, .. })
        ));
        assert_eq!(r.admit(None, t0), Err(Refusal::NoTicket));
        assert_eq!(r.admit(Some("forged"), t0), Err(Refusal::Invalid));
        assert_eq!(r.state_here(t0 + 1_500).admitted_watermark, 15);
        assert_eq!(r.state_here(t0 + 1_500).issued, 30);
    }

    #[test]
    fn before_the_opening_arrivals_are_drawn_at_random() {
        let r = room(1_000);
        let t0 = 5_000_000;
        let opening = t0 + 60_000;
        r.configure_here(true, None, Some(opening), t0).unwrap();
        let early: Vec<String> = (0..200).map(|i| r.issue_here(t0 + i).ticket).collect();
        // before the opening nobody is admitted, and the page says when it opens
        match status(&r, &early[0], t0 + 500).standing {
            Standing::Waiting { opens_at_ms, .. } => assert_eq!(opens_at_ms, Some(opening)),
            other => panic!("{other:?}"),
        }
        assert!(r.admit(Some(&early[0]), opening - 1).is_err());
        let ranks: Vec<u64> = early.iter().map(|t| rank_of(&r, t)).collect();
        assert!(ranks.iter().all(|&x| x < 200));
        assert!(ranks.windows(2).any(|w| w[0] > w[1]), "not the issue order");
        // later arrivals come after every early one, in order
        let late: Vec<u64> = (0..5)
            .map(|i| rank_of(&r, &r.issue_here(opening + i).ticket))
            .collect();
        assert_eq!(late, vec![200, 201, 202, 203, 204]);
        // 1,000 a second: everybody early is in within 200 ms of the opening
        assert!(early
            .iter()
            .all(|t| r.admit(Some(t), opening + 200).is_ok()));
    }

    #[test]
    fn admission_lasts_for_the_window_then_the_ticket_is_renewed() {
        let r = room(1);
        let t0 = 0;
        r.configure_here(true, None, None, t0).unwrap();
        let first = r.issue_here(t0).ticket;
        let window = 20 * 60 * 1000;
        assert!(r.admit(Some(&first), 10).is_ok());
        assert!(r.admit(Some(&first), window).is_ok());
        assert_eq!(r.admit(Some(&first), window + 10), Err(Refusal::Expired));
        let renewed = status(&r, &first, window + 10);
        assert!(renewed.renewed);
        assert_ne!(renewed.ticket, first);
        // a new session does not honour tickets of the previous one
        r.configure_here(false, None, None, window + 20).unwrap();
        r.configure_here(true, None, None, window + 30).unwrap();
        assert_eq!(
            r.admit(Some(&renewed.ticket), window + 40),
            Err(Refusal::Expired)
        );
    }

    #[test]
    fn the_opening_moves_until_it_has_passed() {
        let r = room(10);
        r.configure_here(true, None, Some(100_000), 0).unwrap();
        let early = r.issue_here(10).ticket;
        let state = r.configure_here(true, Some(20), Some(50_000), 20).unwrap();
        assert_eq!(state.opens_at_ms, Some(50_000));
        assert_eq!(state.admission_rate, 20);
        // the same session: the early ticket still counts
        assert!(r.admit(Some(&early), 50_100).is_ok());
        assert_eq!(
            r.configure_here(true, None, Some(200_000), 60_000),
            Err(ConfigureError::AlreadyOpen)
        );
        assert!(matches!(
            r.configure_here(false, None, Some(200_000), 60_000),
            Err(ConfigureError::Invalid("opens_at", _))
        ));
        assert!(matches!(
            r.configure_here(true, Some(0), None, 60_000),
            Err(ConfigureError::Invalid("admission_rate", _))
        ));
    }

    #[test]
    fn it_switches_itself_on_past_the_threshold_and_off_once_calm() {
        let r = WaitingRoom::new(&RoomConfig {
            admission_rate: 100,
            auto_threshold: Some(10),
            auto_calm: jiff::SignedDuration::from_secs(5),
            ..RoomConfig::default()
        });
        let t0 = 1_000_000;
        for i in 0..10 {
            assert_eq!(r.admit(None, t0 + i), Ok(()));
        }
        assert!(!r.is_active());
        assert_eq!(r.admit(None, t0 + 10), Err(Refusal::NoTicket));
        assert!(r.is_active());
        let st = r.state_here(t0 + 20);
        assert!(st.active && !st.enabled);
        let ticket = r.issue_here(t0 + 20).ticket;
        // still busy in the next seconds, then calm; off once calm long enough and drained
        assert!(r.admit(Some(&ticket), t0 + 1_500).is_ok());
        assert!(r.is_active());
        r.maintain(t0 + 4_000);
        assert!(r.is_active());
        assert!(r.admit(None, t0 + 7_000).is_ok(), "calm for 5 s: off");
        assert!(!r.is_active());
    }

    #[test]
    fn the_operator_keeps_an_automatic_room_on() {
        let r = WaitingRoom::new(&RoomConfig {
            auto_threshold: Some(1),
            auto_calm: jiff::SignedDuration::from_secs(1),
            ..RoomConfig::default()
        });
        let _ = r.admit(None, 0);
        let _ = r.admit(None, 1);
        assert!(r.is_active());
        r.configure_here(true, None, None, 2).unwrap();
        r.maintain(100_000);
        assert!(r.is_active());
        r.configure_here(false, None, None, 100_001).unwrap();
        assert!(!r.is_active());
    }

    #[test]
    fn polling_follows_the_wait() {
        let w = |eta_ms, opens_at_ms| Standing::Waiting {
            position: 1,
            eta_ms,
            opens_at_ms,
        };
        assert_eq!(poll_after_ms(&w(100, None), 0), 500);
        assert_eq!(poll_after_ms(&w(10_000, None), 0), 5_000);
        assert_eq!(poll_after_ms(&w(10_000_000, None), 0), 15_000);
        assert_eq!(poll_after_ms(&w(10_000, Some(5_000)), 0), 5_000);
        assert_eq!(poll_after_ms(&Standing::Open, 0), 0);
    }
}
