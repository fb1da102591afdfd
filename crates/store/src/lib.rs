//! The one boundary to persistence. Backends (SQLite, PostgreSQL) implement [`Store`]; the
//! behaviour suite in [`suite`] (feature `test-suite`) is run by each backend's tests so
//! both behave the same.
//!
//! Invariants the backends enforce *in the database*, not only here:
//! - live reservations (`held`, `booked`) of an agenda never overlap unless they share a pool
//!   (same start and end of a motive with capacity > 1);
//! - a pool never holds more live reservations than its capacity;
//! - one `Idempotency-Key` per account books at most once.

mod backup;
mod care_series;
pub mod codec;
mod credentials;
mod directory;
mod documents;
mod error;
mod import;
mod interop;
mod models;
mod operators;
mod organisations;
mod outbox;
mod payments;
mod reminders;
mod shared;
#[cfg(feature = "test-suite")]
pub mod suite;
mod verification;

pub use backup::BackupError;
pub use care_series::*;
pub use credentials::*;
pub use directory::{PatientMerge, PatientMove, PracticePatient};
pub use documents::{DocumentId, DocumentMeta, DocumentRecord, Uploader};
pub use error::{ConflictKind, StoreError};
pub use import::{ImportedSite, SitePublic, SiteWrite};
pub use interop::*;
pub use models::*;
pub use operators::*;
pub use organisations::*;
pub use outbox::*;
pub use payments::*;
pub use reminders::*;
pub use shared::*;
pub use verification::*;

use async_trait::async_trait;
use careslot_domain::*;
use jiff::Timestamp;

pub type StoreResult<T> = Result<T, StoreError>;

/// Called with the id of an agenda whose availability another process changed, or with
/// `None` when changes may have been missed (everything must be considered stale).
pub type AgendaWatcher = std::sync::Arc<dyn Fn(Option<AgendaId>) + Send + Sync>;

/// Called when another process queued outbox messages (PostgreSQL: NOTIFY), or when such
/// announcements may have been missed.
pub type OutboxWatcher = std::sync::Arc<dyn Fn() + Send + Sync>;

/// What a store announces about sessions to an in-memory session cache (see
/// [`Store::watch_sessions`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SessionSignal {
    /// A session of this account changed or went (sign-out, revocation, second factor,
    /// password change, erasure, the account deleted), on this node or another.
    Account(AccountId),
    /// The session with this token hash changed or went (this process's own writes).
    Token(String),
    /// Any session may have changed (a write whose account is unknown failed midway).
    Everything,
    /// Announcements arrive again after a gap: anything may have changed meanwhile.
    Resumed,
    /// Announcements still arrive (a heartbeat): a cache may go on trusting its entries.
    Alive,
    /// Announcements stopped arriving (the connection that hears them was lost): nothing
    /// cached may be trusted until `Resumed`.
    Lost,
}

/// Receives a store's [`SessionSignal`]s.
pub type SessionWatcher = std::sync::Arc<dyn Fn(SessionSignal) + Send + Sync>;

/// Called with the number of requests in each transaction the booking writer committed.
pub type GroupObserver = std::sync::Arc<dyn Fn(usize) + Send + Sync>;

#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// Short backend name for logs and metrics ("sqlite", "postgres").
    fn backend(&self) -> &'static str;

    /// Readiness: the database answers a trivial query.
    async fn ping(&self) -> StoreResult<()>;

    /// The reading pool's open and idle connections, for metrics; `None` when unknown.
    fn pool_stats(&self) -> Option<(u32, u32)> {
        None
    }

    /// Requests waiting for the booking writer (group commit), for metrics; `None` when the
    /// backend has no such queue.
    fn writer_queue_depth(&self) -> Option<usize> {
        None
    }

    /// Calls `on_group` with the number of requests of every transaction the booking writer
    /// commits (group commit), for metrics.
    fn observe_group_commits(&self, on_group: GroupObserver) {
        let _ = on_group;
    }

    /// Outbox rows by state at `now`, for metrics: one counting query.
    async fn outbox_depth(&self, now: Timestamp) -> StoreResult<OutboxDepth> {
        let _ = now;
        Ok(OutboxDepth::default())
    }

    /// Stops the node's writes for shutdown: the booking writer commits what was queued and
    /// stops, then the connections close (waiting for running statements).
    async fn close(&self) {}

    /// Starts delivering changes made by other processes to `on_change`. A single-process
    /// backend has nothing to deliver.
    fn watch_agendas(&self, on_change: AgendaWatcher) {
        let _ = on_change;
    }

    /// Starts calling `on_change` when another process queues outbox messages. A
    /// single-process backend has nothing to deliver (its workers are woken in-process).
    fn watch_outbox(&self, on_change: OutboxWatcher) {
        let _ = on_change;
    }

    /// Starts announcing session changes to `on_signal`: this process's own writes as they
    /// commit, and every other process's (PostgreSQL: a trigger's NOTIFY, so even a change
    /// made by hand or by a cascade is heard), with a heartbeat. Returns false when the
    /// backend cannot hear other processes (SQLite), so a cache must not be used at all.
    fn watch_sessions(&self, on_signal: SessionWatcher) -> bool {
        let _ = on_signal;
        false
    }

    /// The waiting room's state shared by every node of the database; `None`: a
    /// single-node backend (the node keeps it in memory).
    fn shared_room(&self) -> Option<std::sync::Arc<dyn SharedRoom>> {
        None
    }

    /// The relay of video signalling between the nodes of the database; `None`: a
    /// single-node backend (both sides of a call are on this node).
    fn signal_bus(&self) -> Option<std::sync::Arc<dyn SignalBus>> {
        None
    }

    // --- settings ---------------------------------------------------------------------------
    async fn setting(&self, name: &str) -> StoreResult<Option<String>>;
    /// Inserts unless present; returns the value stored (the existing one on a race).
    async fn insert_setting(&self, name: &str, value: &str) -> StoreResult<String>;

    // --- accounts and sessions -------------------------------------------------------------
    /// Conflict(EmailTaken) when `email_uniq` exists.
    async fn create_account(&self, account: &NewAccount) -> StoreResult<()>;
    /// Accounts whose email blind index matches (false positives included).
    async fn account_candidates(&self, email_bidx: i64) -> StoreResult<Vec<AccountWithSecret>>;
    async fn account(&self, id: &AccountId) -> StoreResult<Option<AccountRecord>>;
    /// The accounts among `ids` that exist, in no particular order (one read for a page
    /// that shows many patients, such as the desk's week grid).
    async fn accounts(&self, ids: &[AccountId]) -> StoreResult<Vec<AccountRecord>>;
    async fn create_session(&self, session: &NewSession) -> StoreResult<()>;
    /// The account of an unexpired session.
    async fn session_account(
        &self,
        token_hash: &str,
        now: Timestamp,
    ) -> StoreResult<Option<AccountRecord>>;
    /// An unexpired session with its account, when it was created and last used.
    async fn session(&self, token_hash: &str, now: Timestamp) -> StoreResult<Option<SessionRow>>;
    /// Records that a session was used at `at` (callers write it at most once a minute).
    async fn touch_session(&self, token_hash: &str, at: Timestamp) -> StoreResult<()>;
    /// Deletes one session; false when there was none.
    async fn delete_session(&self, token_hash: &str) -> StoreResult<bool>;
    /// Deletes every session of an account (password change, reset); how many went.
    async fn delete_account_sessions(&self, account: &AccountId) -> StoreResult<u64>;
    /// Records what a session proved at `at`: the password again (`reauth_at`), and a second
    /// factor when `second_factor`; a pending session becomes complete. False when the
    /// session is gone.
    async fn prove_session(
        &self,
        token_hash: &str,
        at: Timestamp,
        second_factor: bool,
    ) -> StoreResult<bool>;
    /// The account's unexpired sessions, pending ones left out, latest use first.
    async fn account_sessions(
        &self,
        account: &AccountId,
        now: Timestamp,
    ) -> StoreResult<Vec<SessionInfo>>;
    /// Deletes the account's session with this public id; false when it has none.
    async fn delete_session_by_id(&self, account: &AccountId, id: &str) -> StoreResult<bool>;

    // --- two-factor authentication -----------------------------------------------------------
    /// The account's TOTP enrolment, confirmed or pending.
    async fn mfa(&self, account: &AccountId) -> StoreResult<Option<MfaRecord>>;
    /// Starts (or restarts) a pending enrolment with this sealed secret; false (nothing
    /// written) when a confirmed one exists.
    async fn mfa_begin(
        &self,
        account: &AccountId,
        secret_ct: &[u8],
        at: Timestamp,
    ) -> StoreResult<bool>;
    /// Confirms a pending enrolment with its first accepted time step and stores the recovery
    /// codes' hashes, in one transaction; false when there is no pending enrolment or the step
    /// is not newer than the last one.
    async fn mfa_confirm(
        &self,
        account: &AccountId,
        step: i64,
        recovery_hashes: &[String],
        at: Timestamp,
    ) -> StoreResult<bool>;
    /// Replaces the recovery codes of a confirmed enrolment; false when there is none.
    async fn mfa_replace_recovery(
        &self,
        account: &AccountId,
        recovery_hashes: &[String],
    ) -> StoreResult<bool>;
    /// Accepts a time step of a confirmed enrolment once: true when it is newer than the last
    /// one accepted (and now the last), false otherwise (a replayed or older code).
    async fn mfa_use_step(&self, account: &AccountId, step: i64) -> StoreResult<bool>;
    /// Uses an unused recovery code of a confirmed enrolment; false when none matches.
    async fn mfa_use_recovery(
        &self,
        account: &AccountId,
        code_hash: &str,
        at: Timestamp,
    ) -> StoreResult<bool>;
    /// Removes the enrolment and its recovery codes; false when there was none.
    async fn mfa_remove(&self, account: &AccountId) -> StoreResult<bool>;

    /// The account's calendar subscription, if it has one.
    async fn calendar_feed(&self, account: &AccountId) -> StoreResult<Option<CalendarFeed>>;
    /// Records `feed` unless its account already has one; the feed in force either way.
    async fn create_calendar_feed(&self, feed: &CalendarFeed) -> StoreResult<CalendarFeed>;
    /// The feed whose token hashes to `token_hash`.
    async fn calendar_feed_by_hash(&self, token_hash: &str) -> StoreResult<Option<CalendarFeed>>;
    /// Revokes the account's feed; false when it had none.
    async fn delete_calendar_feed(&self, account: &AccountId) -> StoreResult<bool>;

    /// The agenda's calendar subscription (issue 18 point 6), if it has one.
    async fn agenda_feed(&self, agenda: &AgendaId) -> StoreResult<Option<AgendaFeed>>;
    /// Records `feed` as the agenda's subscription, replacing the one it had (a rotation: the
    /// old token stops opening anything).
    async fn put_agenda_feed(&self, feed: &AgendaFeed) -> StoreResult<()>;
    /// Turns the patients' names in the agenda's feed on or off; false when it has no feed.
    async fn set_agenda_feed_names(&self, agenda: &AgendaId, show: bool) -> StoreResult<bool>;
    /// The agenda feed whose token hashes to `token_hash`.
    async fn agenda_feed_by_hash(&self, token_hash: &str) -> StoreResult<Option<AgendaFeed>>;
    /// Revokes the agenda's feed; false when it had none.
    async fn delete_agenda_feed(&self, agenda: &AgendaId) -> StoreResult<bool>;
    /// Appointments (booked, cancelled, no-show) of an agenda starting in `[from, to)`, each
    /// with the instant of its last change (what a feed's `SEQUENCE` follows).
    async fn agenda_feed_appointments(
        &self,
        agenda: &AgendaId,
        from: Timestamp,
        to: Timestamp,
    ) -> StoreResult<Vec<(ReservationRow, Timestamp)>>;

    // --- webhooks (issue 19) ------------------------------------------------------------------
    async fn create_webhook(&self, sub: &WebhookSubscription) -> StoreResult<()>;
    /// A practitioner's webhooks, oldest first.
    async fn webhooks_of(
        &self,
        practitioner: &PractitionerId,
    ) -> StoreResult<Vec<WebhookSubscription>>;
    async fn webhook(&self, id: &str) -> StoreResult<Option<WebhookSubscription>>;
    /// The practitioners that have at least one webhook.
    async fn webhook_practitioners(&self) -> StoreResult<Vec<PractitionerId>>;
    /// How long after its creation a subscription receives events: zero on a single-node
    /// backend; on several nodes, the time every node takes to learn of it.
    fn webhook_activation_delay(&self) -> jiff::SignedDuration;
    /// Deletes a practitioner's webhook and its deliveries; false when it has no such one.
    async fn delete_webhook(&self, practitioner: &PractitionerId, id: &str) -> StoreResult<bool>;
    /// A webhook's deliveries, newest first, at most `limit`.
    async fn webhook_deliveries(
        &self,
        subscription: &str,
        limit: i64,
    ) -> StoreResult<Vec<WebhookDelivery>>;
    /// Leases up to `limit` due deliveries until `now + lease` (as [`Store::claim_due`]).
    async fn claim_webhook_deliveries(
        &self,
        now: Timestamp,
        lease: jiff::SignedDuration,
        limit: i64,
    ) -> StoreResult<Vec<WebhookDelivery>>;
    /// Records an attempt's outcome; false when the delivery is gone.
    async fn record_webhook_delivery(
        &self,
        event_id: &str,
        subscription: &str,
        outcome: &WebhookOutcome,
        now: Timestamp,
    ) -> StoreResult<bool>;

    /// The account's message settings; the defaults when it never changed them.
    async fn account_settings(&self, account: &AccountId) -> StoreResult<AccountSettings>;
    /// Replaces the account's message settings. NotFound when the account does not exist.
    async fn put_account_settings(
        &self,
        account: &AccountId,
        settings: &AccountSettings,
    ) -> StoreResult<()>;

    // --- throttling (counters shared by every node) ----------------------------------------
    /// The latest instant before which any of `keys` is refused, if one is blocked now.
    async fn throttle_blocked_until(
        &self,
        keys: &[&str],
        now: Timestamp,
    ) -> StoreResult<Option<Timestamp>>;
    /// Counts one failure of `key` atomically and returns the count; a counter whose last
    /// failure is before `forget_before` starts again from 1.
    async fn throttle_failure(
        &self,
        key: &str,
        now: Timestamp,
        forget_before: Timestamp,
    ) -> StoreResult<u32>;
    /// Refuses `key` until `until` (never shortens an existing block).
    async fn throttle_block(&self, key: &str, until: Timestamp) -> StoreResult<()>;
    /// Forgets the failures of `key` (a successful login).
    async fn throttle_reset(&self, key: &str) -> StoreResult<()>;
    /// Deletes counters whose last failure is before `before` and that block nothing.
    async fn throttle_purge(&self, before: Timestamp) -> StoreResult<u64>;
    /// Erasure: deletes the account (and its wrapped key and sessions) and strips the patient
    /// link, blind index and note from the listed reservations; they stay in their agendas.
    async fn erase_account(
        &self,
        id: &AccountId,
        reservations: &[ReservationId],
    ) -> StoreResult<()>;

    // --- practitioner side -----------------------------------------------------------------
    async fn upsert_practitioner(&self, p: &Practitioner) -> StoreResult<Practitioner>;
    async fn practitioner_by_account(
        &self,
        account: &AccountId,
    ) -> StoreResult<Option<Practitioner>>;
    async fn create_place(&self, place: &Place) -> StoreResult<()>;
    async fn place(&self, id: &PlaceId) -> StoreResult<Option<Place>>;
    /// Whether the practitioner takes new patients, and their fee sector (NotFound if no
    /// such practitioner).
    async fn practitioner_facts(&self, id: &PractitionerId) -> StoreResult<PractitionerFacts>;
    async fn set_practitioner_facts(
        &self,
        id: &PractitionerId,
        facts: &PractitionerFacts,
    ) -> StoreResult<()>;
    /// Wheelchair access and access details of a place (NotFound if no such place).
    async fn place_access(&self, id: &PlaceId) -> StoreResult<PlaceAccess>;
    async fn set_place_access(&self, id: &PlaceId, access: &PlaceAccess) -> StoreResult<()>;
    /// Sets (or replaces) a practitioner's photo.
    async fn set_practitioner_photo(
        &self,
        id: &PractitionerId,
        photo: &PractitionerPhoto,
    ) -> StoreResult<()>;
    async fn practitioner_photo(
        &self,
        id: &PractitionerId,
    ) -> StoreResult<Option<PractitionerPhoto>>;
    /// The current photo's hash only (what links to it need), without the images.
    async fn practitioner_photo_hash(&self, id: &PractitionerId) -> StoreResult<Option<String>>;
    /// Removes the photo: false when there was none.
    async fn delete_practitioner_photo(&self, id: &PractitionerId) -> StoreResult<bool>;
    async fn create_agenda(&self, agenda: &Agenda) -> StoreResult<()>;
    async fn agenda(&self, id: &AgendaId) -> StoreResult<Option<Agenda>>;
    async fn create_motive(&self, motive: &Motive, label_ct: &[u8]) -> StoreResult<()>;
    /// Every motive id must belong to the rule's agenda (else NotFound).
    async fn create_rule(&self, rule: &OpeningRule) -> StoreResult<()>;
    async fn create_absence(&self, absence: &Absence, reason: Option<&str>) -> StoreResult<()> {
        self.create_absence_with(
            absence,
            reason,
            &[],
            Timestamp::now(),
            &OutboxWrite::default(),
        )
        .await
        .map(|_| ())
    }
    /// Records an absence and, in the same transaction, cancels the live appointments `cancel`
    /// (of the absence's agenda; others are left alone) and applies `outbox` (their patients'
    /// notices). Returns the appointments it cancelled.
    async fn create_absence_with(
        &self,
        absence: &Absence,
        reason: Option<&str>,
        cancel: &[ReservationId],
        now: Timestamp,
        outbox: &OutboxWrite,
    ) -> StoreResult<Vec<ReservationRow>>;

    // --- the hot in-memory index is built from these ---------------------------------------
    /// Everything availability needs for one agenda: configuration plus live reservations
    /// ending after `now`.
    async fn agenda_snapshot(
        &self,
        id: &AgendaId,
        now: Timestamp,
    ) -> StoreResult<Option<AgendaSnapshot>>;
    /// Every agenda's snapshot, a page at a time in the order of their ids: the first `limit`
    /// agendas after `after` (from the first when `None`), each equal to its
    /// [`Store::agenda_snapshot`]. A start loads every view with a few table-wide queries
    /// per page instead of about eight per agenda.
    async fn agenda_snapshots(
        &self,
        after: Option<&AgendaId>,
        limit: usize,
        now: Timestamp,
    ) -> StoreResult<Vec<AgendaSnapshot>>;
    /// Every bookable (practitioner, agenda, place) row for the search index.
    async fn directory(&self) -> StoreResult<Vec<DirectoryEntry>>;
    /// Every known slot floor (agendas whose floor is unknown are left out).
    async fn slot_floors(&self) -> StoreResult<Vec<(AgendaId, SlotFloor)>>;
    /// Keeps each floor whose agenda's version is still the one given; returns how many
    /// were kept (the others changed since their snapshot was read).
    async fn keep_slot_floors(&self, floors: &[(AgendaId, SlotFloor)]) -> StoreResult<u64>;
    /// Directory rows of one practitioner, to refresh the index after they edit something.
    async fn directory_of(&self, practitioner: &PractitionerId)
        -> StoreResult<Vec<DirectoryEntry>>;

    // --- reservations ----------------------------------------------------------------------
    /// Holds or books a place. The backend reads the motive inside its transaction (its
    /// agenda, duration and capacity), expires stale holds in the way, enforces overlap and
    /// capacity, and records the idempotency key in the same transaction.
    async fn reserve(&self, req: &ReserveRequest) -> StoreResult<ReserveOutcome>;
    /// Turns an unexpired hold into a booked appointment (the caller checked it is theirs).
    async fn book_hold(&self, req: &BookHoldRequest) -> StoreResult<ReserveOutcome>;
    /// The request hash and vaccination series (hold id) recorded under an idempotency key
    /// hash (`POST /api/v1/vaccination/bookings`).
    async fn series_key(&self, key_hash: &str) -> StoreResult<Option<(String, String)>>;
    /// Records the series of an idempotency key unless the key has one already; the
    /// (request hash, series id) stored: the earlier one when another request won.
    async fn record_series_key(
        &self,
        key_hash: &str,
        request_hash: &str,
        series_id: &str,
        now: Timestamp,
    ) -> StoreResult<(String, String)>;
    /// The request hash and reservation recorded under an idempotency key hash.
    async fn find_idempotent(
        &self,
        key_hash: &str,
    ) -> StoreResult<Option<(String, ReservationRow)>>;
    async fn reservation(&self, id: &ReservationId) -> StoreResult<Option<ReservationRow>>;
    /// Cancels a held or booked reservation; Ok(None) when it was not live.
    async fn cancel(
        &self,
        id: &ReservationId,
        now: Timestamp,
    ) -> StoreResult<Option<ReservationRow>> {
        self.cancel_with(id, now, &OutboxWrite::default()).await
    }
    /// [`Store::cancel`] applying `outbox` in the same transaction, only when it cancelled
    /// something.
    async fn cancel_with(
        &self,
        id: &ReservationId,
        now: Timestamp,
        outbox: &OutboxWrite,
    ) -> StoreResult<Option<ReservationRow>>;
    /// Moves a booked appointment of motive `motive` to a new start atomically: on any
    /// conflict nothing changes.
    async fn move_reservation(
        &self,
        id: &ReservationId,
        motive: &MotiveId,
        start: Timestamp,
        now: Timestamp,
    ) -> StoreResult<ReservationRow> {
        self.move_with(id, motive, start, now, &OutboxWrite::default())
            .await
    }
    /// [`Store::move_reservation`] applying `outbox` in the same transaction when it moved.
    async fn move_with(
        &self,
        id: &ReservationId,
        motive: &MotiveId,
        start: Timestamp,
        now: Timestamp,
        outbox: &OutboxWrite,
    ) -> StoreResult<ReservationRow>;
    /// Gives a booked, unpooled appointment its own length of `minutes` from its start (kept
    /// when it moves later) atomically, applying `outbox` in the same transaction: the
    /// database's overlap rule refuses a length that runs into another live reservation
    /// (`Conflict(SlotTaken)`), and nothing changes. `Conflict(NotLive)` when it is not
    /// booked, `Conflict(CapacityExhausted)` when it shares a pooled slot.
    async fn resize_with(
        &self,
        id: &ReservationId,
        minutes: u32,
        now: Timestamp,
        outbox: &OutboxWrite,
    ) -> StoreResult<ReservationRow>;
    /// Reservations whose patient blind index matches (false positives included), by start.
    async fn reservations_by_patient_index(&self, bidx: i64) -> StoreResult<Vec<ReservationRow>>;
    /// Same, restricted to one practitioner's agendas and to booked / no-show appointments.
    async fn practitioner_reservations_by_patient_index(
        &self,
        bidx: i64,
        practitioner: &PractitionerId,
    ) -> StoreResult<Vec<ReservationRow>>;
    /// Appointments (booked, cancelled, no-show) of an agenda starting in `[from, to)`.
    async fn agenda_appointments(
        &self,
        agenda: &AgendaId,
        from: Timestamp,
        to: Timestamp,
    ) -> StoreResult<Vec<ReservationRow>>;
    /// Retention: strips patient links from appointments of agendas whose practitioner has
    /// `specialty` and that ended before `before`. Returns how many were stripped.
    async fn strip_patient_links(
        &self,
        specialty: Specialty,
        before: Timestamp,
    ) -> StoreResult<u64>;

    // --- the practice's side of the web app ------------------------------------------------
    async fn practitioner(&self, id: &PractitionerId) -> StoreResult<Option<Practitioner>>;
    /// Replaces a motive's label, duration, policy and sealed per-language labels
    /// (`labels_ct`, NULL for none), in one transaction; its capacity never changes (pools
    /// depend on it). A new duration shapes the slots offered from then on: appointments
    /// keep the times they were booked with. Ok(false) when no such motive in the agenda.
    async fn update_motive(
        &self,
        motive: &Motive,
        label_ct: &[u8],
        labels_ct: Option<&[u8]>,
    ) -> StoreResult<bool>;
    /// Ok(false) when the agenda has no such rule.
    async fn delete_rule(&self, agenda: &AgendaId, id: &RuleId) -> StoreResult<bool>;
    /// Ok(false) when the agenda has no such absence.
    async fn delete_absence(&self, agenda: &AgendaId, id: &AbsenceId) -> StoreResult<bool>;
    /// The reasons the practice gave for the agenda's absences ending after `after` (those
    /// without one are left out): the desk shows them where the absences appear.
    async fn absence_reasons(
        &self,
        agenda: &AgendaId,
        after: Timestamp,
    ) -> StoreResult<Vec<(AbsenceId, String)>>;
    /// `no_show = true`: booked -> no_show; `false`: no_show -> booked again (through the
    /// same overlap and capacity checks as any booking). Ok(None) when the appointment was
    /// not in the expected state.
    async fn set_no_show(
        &self,
        id: &ReservationId,
        no_show: bool,
        now: Timestamp,
    ) -> StoreResult<Option<ReservationRow>> {
        self.set_no_show_with(id, no_show, now, &OutboxWrite::default())
            .await
    }
    /// [`Store::set_no_show`] applying `outbox` in the same transaction when it changed.
    async fn set_no_show_with(
        &self,
        id: &ReservationId,
        no_show: bool,
        now: Timestamp,
        outbox: &OutboxWrite,
    ) -> StoreResult<Option<ReservationRow>> {
        self.set_no_show_by(id, no_show, None, now, outbox).await
    }
    /// [`Store::set_no_show_with`] recording who did it in the appointment's status trail.
    /// A patient marked arrived (or further) is no no-show: Ok(None) until that is undone.
    async fn set_no_show_by(
        &self,
        id: &ReservationId,
        no_show: bool,
        by: Option<&AccountId>,
        now: Timestamp,
        outbox: &OutboxWrite,
    ) -> StoreResult<Option<ReservationRow>>;
    /// Sets a booked appointment's visit step: forward (the step's time is `now`, earlier
    /// steps keep theirs) or back to undo a mistake (later steps are cleared), and appends
    /// it to the status trail, in one transaction. Ok(None) when the appointment is not
    /// booked (cancelled, no-show, a hold...).
    async fn set_visit_step(
        &self,
        id: &ReservationId,
        step: VisitStep,
        by: &AccountId,
        now: Timestamp,
    ) -> StoreResult<Option<ReservationRow>>;
    /// An appointment's status trail, oldest first.
    async fn visit_status_log(&self, id: &ReservationId) -> StoreResult<Vec<VisitStatusEntry>>;
    /// Gives an unexpired hold to another patient (a guest who has just signed in).
    /// Ok(None) when the hold is no longer live.
    async fn claim_hold(
        &self,
        id: &ReservationId,
        patient_ct: &[u8],
        patient_bidx: i64,
        now: Timestamp,
    ) -> StoreResult<Option<ReservationRow>>;

    // --- relatives -------------------------------------------------------------------------
    async fn create_relative(&self, relative: &RelativeRecord) -> StoreResult<()>;
    async fn relatives(&self, account: &AccountId) -> StoreResult<Vec<RelativeRecord>>;
    /// Ok(false) when the account has no such relative.
    async fn delete_relative(&self, account: &AccountId, id: &RelativeId) -> StoreResult<bool>;

    // --- assistants ------------------------------------------------------------------------
    async fn create_invitation(&self, invitation: &NewInvitation) -> StoreResult<()>;
    /// In one transaction: consumes the invitation, creates the assistant's account and links
    /// it to the inviting practitioner. NotFound when the invitation is unknown, used or
    /// expired (and then no account is created).
    async fn accept_invitation(
        &self,
        token_hash: &str,
        account: &NewAccount,
        now: Timestamp,
    ) -> StoreResult<PractitionerId> {
        self.accept_invitation_with(
            token_hash,
            account,
            &AccountSettings::default(),
            None,
            &OutboxWrite::default(),
            now,
        )
        .await
    }
    /// [`Store::accept_invitation`] writing, in the same transaction, what a sign-up writes
    /// with the account (as [`Store::create_account_with`]): its settings (a web sign-up is
    /// pending), its verification token, its messages. Conflict(EmailTaken) when the address
    /// has an account, and then nothing is written (the invitation stays live).
    async fn accept_invitation_with(
        &self,
        token_hash: &str,
        account: &NewAccount,
        settings: &AccountSettings,
        token: Option<&EmailToken>,
        outbox: &OutboxWrite,
        now: Timestamp,
    ) -> StoreResult<PractitionerId>;
    /// Uses up a live invitation without creating an account (an attempt with an address
    /// that has one: the link is spent as an account would spend it, so that using it again
    /// says nothing about that address). `attempt` is the id the refused account would have
    /// had. False when the invitation was not live.
    async fn spend_invitation(
        &self,
        token_hash: &str,
        attempt: &AccountId,
        now: Timestamp,
    ) -> StoreResult<bool>;
    /// The practitioner an assistant works for.
    async fn assistant_of(&self, account: &AccountId) -> StoreResult<Option<PractitionerId>>;
    async fn assistants(&self, practitioner: &PractitionerId) -> StoreResult<Vec<AccountRecord>>;
    /// Deletes the assistant's account. Ok(false) when not this practitioner's assistant.
    async fn remove_assistant(
        &self,
        practitioner: &PractitionerId,
        account: &AccountId,
    ) -> StoreResult<bool>;

    // --- organisations (group practices) -----------------------------------------------------
    /// Creates an organisation with `founder` as its first member.
    async fn create_organisation(
        &self,
        org: &Organisation,
        founder: &PractitionerId,
    ) -> StoreResult<()>;
    /// The practitioner's own one-person organisation (its id is the practitioner's),
    /// created with the practitioner as member when missing; idempotent.
    async fn ensure_own_organisation(
        &self,
        practitioner: &PractitionerId,
        now: Timestamp,
    ) -> StoreResult<OrganisationId>;
    async fn organisation(&self, id: &OrganisationId) -> StoreResult<Option<Organisation>>;
    /// False when there is no such organisation.
    async fn rename_organisation(&self, id: &OrganisationId, name: &str) -> StoreResult<bool>;
    /// The organisations a practitioner belongs to, oldest membership first.
    async fn organisations_of(
        &self,
        practitioner: &PractitionerId,
    ) -> StoreResult<Vec<Organisation>>;
    /// The organisation an assistant works for.
    async fn organisation_of_assistant(
        &self,
        account: &AccountId,
    ) -> StoreResult<Option<Organisation>>;
    async fn organisation_members(&self, id: &OrganisationId) -> StoreResult<Vec<Practitioner>>;
    /// The organisation's assistants, each with the agendas it may run.
    async fn organisation_assistants(
        &self,
        id: &OrganisationId,
    ) -> StoreResult<Vec<(AccountRecord, Vec<AgendaId>)>>;
    /// Every agenda of the organisation's members.
    async fn organisation_agendas(&self, id: &OrganisationId) -> StoreResult<Vec<Agenda>>;
    /// Replaces an assistant's agenda rights, all or nothing: NotFound when the assistant
    /// does not work for the organisation or an agenda is not a member's.
    async fn set_agenda_rights(
        &self,
        org: &OrganisationId,
        account: &AccountId,
        agendas: &[AgendaId],
    ) -> StoreResult<()>;
    /// Whether an assistant has a right on an agenda.
    async fn agenda_right(&self, account: &AccountId, agenda: &AgendaId) -> StoreResult<bool>;
    /// Whether two practitioners belong to a common organisation.
    async fn share_organisation(&self, a: &PractitionerId, b: &PractitionerId)
        -> StoreResult<bool>;
    /// An assistant invitation into `org` (see [`Store::create_invitation`], which invites
    /// into the practitioner's own organisation). NotFound when the inviter is no member.
    async fn create_organisation_invitation(
        &self,
        org: &OrganisationId,
        inv: &NewInvitation,
        outbox: &OutboxWrite,
    ) -> StoreResult<()>;
    /// Takes `practitioner` out of `org` (leaving, or removed by a colleague): the rights of
    /// the organisation's assistants on their agendas go with the membership (foreign keys).
    /// A practitioner left with no organisation gets their own one-person one back in the
    /// same transaction. Refused when they are the last member, or when `org` is that own
    /// one and they have no other.
    async fn leave_organisation(
        &self,
        org: &OrganisationId,
        practitioner: &PractitionerId,
        now: Timestamp,
    ) -> StoreResult<Departure>;
    /// Removes an assistant of `org`: its account is deleted (an assistant works for one
    /// organisation only), its rights and queued messages with it. False when `account` is no
    /// assistant of `org`.
    async fn remove_organisation_assistant(
        &self,
        org: &OrganisationId,
        account: &AccountId,
    ) -> StoreResult<bool>;
    /// A single-use link inviting a practitioner colleague into `org`, applying `outbox`
    /// (its mail) in the same transaction.
    async fn create_colleague_invitation(
        &self,
        org: &OrganisationId,
        token_hash: &str,
        created_at: Timestamp,
        expires_at: Timestamp,
        outbox: &OutboxWrite,
    ) -> StoreResult<()>;
    /// Spends a live colleague invitation and makes `practitioner` a member (a member
    /// already stays one). NotFound when the link is unknown, used or expired.
    async fn accept_colleague_invitation(
        &self,
        token_hash: &str,
        practitioner: &PractitionerId,
        now: Timestamp,
    ) -> StoreResult<OrganisationId>;

    // --- vaccination -----------------------------------------------------------------------
    /// Links a motive of the agenda to a vaccine dose (replacing an earlier link).
    async fn set_motive_vaccine(&self, agenda: &AgendaId, v: &MotiveVaccine) -> StoreResult<()>;
    /// Every version of every product's protocol.
    async fn protocols(&self) -> StoreResult<Vec<Protocol>>;
    /// Conflict(Duplicate) when this product already has this version.
    async fn add_protocol(&self, p: &Protocol, now: Timestamp) -> StoreResult<()>;
    /// Sets the doses of a product an agenda has on a day. Conflict(StockBelowBooked) when
    /// fewer than already booked.
    async fn set_stock(
        &self,
        agenda: &AgendaId,
        product: VaccineProduct,
        day: jiff::civil::Date,
        doses: u32,
    ) -> StoreResult<StockRow>;
    /// Sets (or removes, `doses: None`) default stock policies, all in one transaction.
    /// Days from `from` on whose stock was written from a policy follow the new value, but
    /// never drop below the doses they already booked (those stay booked; the day is full).
    async fn set_stock_policies(
        &self,
        policies: &[StockPolicy],
        from: jiff::civil::Date,
    ) -> StoreResult<()>;
    /// Sets the stock of several days of an agenda at once, all or none: `Some(n)` overrides
    /// the policy (0 closes the day), `None` gives the day back to the policy.
    /// Conflict(StockBelowBooked) when a day would get fewer doses than it has booked.
    async fn set_stock_days(&self, agenda: &AgendaId, days: &[StockDay]) -> StoreResult<()>;
    /// Books every dose of a series in one transaction, each through the same overlap and
    /// capacity rules as any booking and each consuming one dose of its day's stock
    /// (Conflict(StockExhausted) when none is left): all doses are booked or none. With a
    /// key (see [`SeriesRequest::key`]), a request seen before answers its series again.
    async fn reserve_series(&self, req: &SeriesRequest) -> StoreResult<SeriesOutcome>;
    /// Expires every hold past its expiry (its pool place and dose go back); the agendas
    /// that changed.
    async fn expire_holds(&self, now: Timestamp) -> StoreResult<Vec<AgendaId>>;
    /// Books the held doses of a series of this patient: all or none (HoldExpired when one
    /// has expired, NotFound when the patient has no such series). Once booked, asking again
    /// answers the same rows.
    async fn book_series_hold(&self, req: &BookSeriesRequest) -> StoreResult<Vec<ReservationRow>>;
    // --- recurring care (issue 18 point 5) ----------------------------------------------------
    /// Books every occurrence of a care series in one transaction through the booking writer,
    /// each under the database's overlap and capacity rules: all are booked (and the series'
    /// outbox applied), or none and the occurrences that were not free are named.
    async fn book_care_series(&self, req: &CareSeriesRequest) -> StoreResult<CareSeriesOutcome>;
    /// A care series with its appointments (any status), by start.
    async fn care_series(&self, id: &str) -> StoreResult<Option<CareSeries>>;
    /// The care series an appointment belongs to, if any.
    async fn care_series_of(&self, reservation: &ReservationId) -> StoreResult<Option<CareSeries>>;
    /// Cancels the live occurrences of a series starting at or after `from` (and after
    /// `now`: past ones stay as they were) in one transaction, applying `outbox` when it
    /// cancelled something. NotFound when there is no such series. Returns what it cancelled.
    async fn cancel_care_series(
        &self,
        id: &str,
        from: Timestamp,
        now: Timestamp,
        outbox: &OutboxWrite,
    ) -> StoreResult<Vec<ReservationRow>>;
    /// Moves booked occurrences of series `id` to new starts (each keeps its length) in one
    /// transaction, under the database's overlap and capacity rules: all move (and `outbox` is
    /// applied) or none, and those whose new time is taken are named. An occurrence may move
    /// onto a time another occurrence of the same series leaves. NotFound when there is no
    /// such series; Conflict(NotLive) when an occurrence is not a booked one of it.
    async fn move_care_series(
        &self,
        id: &str,
        moves: &[OccurrenceMove],
        now: Timestamp,
        outbox: &OutboxWrite,
    ) -> StoreResult<SeriesMoveOutcome>;
    /// The other reservations of the series a reservation belongs to (empty if none).
    async fn series_of(&self, id: &ReservationId) -> StoreResult<Vec<ReservationRow>>;
    /// Every campaign phase, open and closed, in the order they were opened.
    async fn phases(&self) -> StoreResult<Vec<Phase>>;
    async fn open_phase(&self, phase: &Phase) -> StoreResult<()>;
    /// Ok(false) when no such open phase.
    async fn close_phase(&self, id: &str, now: Timestamp) -> StoreResult<bool>;
    /// Sets the lines of a local day (`day_start`..`day_end` in UTC) of an agenda: the
    /// capacity of its pooled motives that day. Conflict(CapacityExhausted) when a time of
    /// that day already has more live reservations than `lines`.
    async fn set_lines(
        &self,
        agenda: &AgendaId,
        day: jiff::civil::Date,
        day_start: Timestamp,
        day_end: Timestamp,
        lines: u32,
    ) -> StoreResult<()>;
    /// Inserts or replaces an application setting.
    async fn put_setting(&self, name: &str, value: &str) -> StoreResult<()>;
    /// Stock, booked doses and no-shows per product and day of the agendas given (all
    /// agendas when `agenda` is None), for local days in `[from, to]`.
    async fn vaccination_days(
        &self,
        agenda: Option<&AgendaId>,
        from: jiff::civil::Date,
        to: jiff::civil::Date,
    ) -> StoreResult<Vec<VaccinationDay>>;
    /// Booked, cancelled and no-show vaccination doses starting in `[from, to)`, by start.
    async fn vaccination_records(
        &self,
        from: Timestamp,
        to: Timestamp,
    ) -> StoreResult<Vec<VaccinationRecord>>;

    // --- audit and key rotation ------------------------------------------------------------
    /// Appends entries, chaining each MAC to the previous row's, atomically.
    async fn append_audit(&self, entries: &[NewAuditEntry], mac: &AuditMac) -> StoreResult<()>;
    /// The whole log from `after_seq` on (exclusive), in order, at most `limit` rows.
    async fn audit_rows(&self, after_seq: i64, limit: i64) -> StoreResult<Vec<AuditRow>>;
    /// The entries that may name a patient, in order: theirs, the many-patient entries
    /// indexed under their blind index, and every many-patient entry not indexed yet (the
    /// caller opens those to see whether they name the patient).
    async fn audit_rows_for_subject(&self, subject_bidx: i64) -> StoreResult<Vec<AuditRow>>;
    /// The patient index of the many-patient entries with a sequence number in
    /// `(after_seq, up_to]`, and how far the index goes, read at one instant.
    async fn audit_subjects(&self, after_seq: i64, up_to: i64) -> StoreResult<AuditSubjects>;
    /// The many-patient entries the patient index does not cover yet (at most `limit`).
    async fn audit_unindexed(&self, limit: i64) -> StoreResult<AuditBacklog>;
    /// Adds `named` (`(seq, subject_bidx)` pairs, any order, duplicates allowed) to the
    /// patient index, then moves its watermark from `from` to `to`. False when the
    /// watermark is no longer `from` (another node indexed these entries first): the rows
    /// added are then the same ones, already there or harmless above the watermark.
    async fn index_audit_subjects(
        &self,
        from: i64,
        to: i64,
        named: &mut [(i64, i64)],
    ) -> StoreResult<bool>;
    async fn wrapped_keys(&self) -> StoreResult<Vec<WrappedKeyRow>>;
    async fn set_wrapped_key(&self, row: &WrappedKeyRow) -> StoreResult<()>;

    // --- imports ---------------------------------------------------------------------------
    /// Every site recorded by `careslot import`.
    async fn imported_sites(&self) -> StoreResult<Vec<ImportedSite>>;
    /// Writes one imported site in one transaction (account, practitioner, place, agenda,
    /// new motives and their vaccine links, opening rules replaced) and records its source
    /// key and hash. Existing motives and appointments are never touched. NotFound when a
    /// rule or vaccine link names a motive of another agenda.
    async fn write_imported_site(&self, w: &SiteWrite) -> StoreResult<()>;

    // --- payments (teleconsultation fees) ---------------------------------------------------
    /// Sets (`Some`) or removes (`None`) the online fee of a teleconsultation motive of the
    /// agenda. NotFound when the motive is not in the agenda or is not a teleconsultation
    /// (the database refuses fees on other motives).
    async fn set_motive_fee(
        &self,
        agenda: &AgendaId,
        motive: &MotiveId,
        fee: Option<&Fee>,
    ) -> StoreResult<()>;
    /// The fees of an agenda's motives.
    async fn motive_fees(&self, agenda: &AgendaId) -> StoreResult<Vec<MotiveFee>>;
    /// Records a payment. Conflict(Duplicate) when the appointment already has one.
    async fn insert_payment(&self, p: &PaymentRow) -> StoreResult<()>;
    async fn payment(&self, reservation: &ReservationId) -> StoreResult<Option<PaymentRow>>;
    async fn payment_by_intent(&self, intent_id: &str) -> StoreResult<Option<PaymentRow>>;
    /// Applies the transition if the payment is in one of its `from` states; the row as
    /// changed, or None when it was not (someone else moved it first).
    async fn transition_payment(
        &self,
        t: &PaymentTransition<'_>,
    ) -> StoreResult<Option<PaymentRow>>;
    /// Authorised online payments whose appointment has ended (to capture) or is no longer
    /// live (to release): booked and ended by `now`, or cancelled, expired, no-show, or a
    /// hold past its expiry. At most `limit`, oldest first.
    async fn payments_to_settle(&self, now: Timestamp, limit: i64)
        -> StoreResult<Vec<OpenPayment>>;
    /// Records a processed webhook event; false when it was recorded before (a replay).
    async fn record_payment_event(
        &self,
        provider: &str,
        event_id: &str,
        now: Timestamp,
    ) -> StoreResult<bool>;
    async fn payment_event_seen(&self, provider: &str, event_id: &str) -> StoreResult<bool>;
    /// Ends a hold now (its expiry set to `now`; `expire_holds` then gives its place back):
    /// a hold taken for a payment that failed disappears like an abandoned one, instead of
    /// showing as a cancelled appointment. False when it is not held.
    async fn expire_hold_now(&self, id: &ReservationId, now: Timestamp) -> StoreResult<bool>;
    // --- documents ---------------------------------------------------------------------------
    /// Adds a document to an appointment unless it already holds `max_per_appointment`
    /// documents: Ok(false) then, and nothing is written. The count is kept in the database
    /// by a conditional update, so concurrent uploads cannot pass the limit.
    async fn insert_document(
        &self,
        doc: &DocumentRecord,
        max_per_appointment: u32,
    ) -> StoreResult<bool> {
        self.insert_document_with(doc, max_per_appointment, &OutboxWrite::default())
            .await
    }
    /// [`Store::insert_document`] applying `outbox` in the same transaction when it stored.
    async fn insert_document_with(
        &self,
        doc: &DocumentRecord,
        max_per_appointment: u32,
        outbox: &OutboxWrite,
    ) -> StoreResult<bool>;
    /// The documents of an appointment, oldest first, without their content.
    async fn documents(&self, reservation: &ReservationId) -> StoreResult<Vec<DocumentMeta>>;
    /// One document of an appointment, with its content.
    async fn document(
        &self,
        reservation: &ReservationId,
        id: &DocumentId,
    ) -> StoreResult<Option<DocumentRecord>>;
    /// Deletes a document of the appointment uploaded by `uploader`; Ok(false) when none.
    async fn delete_document(
        &self,
        reservation: &ReservationId,
        id: &DocumentId,
        uploader: Uploader,
    ) -> StoreResult<bool>;
    /// The ids of every document of these appointments (erasure destroys their keys).
    async fn document_ids_of(&self, reservations: &[ReservationId])
        -> StoreResult<Vec<DocumentId>>;
    /// Deletes every document of these appointments; how many went.
    async fn delete_documents_of(&self, reservations: &[ReservationId]) -> StoreResult<u64>;
    // --- prescriptions ---------------------------------------------------------------------
    /// Stores a practitioner's first signing key unless they already have one in use;
    /// returns the key in use (the existing one when two first uses race).
    async fn insert_signing_key(&self, key: &SigningKeyRecord) -> StoreResult<SigningKeyRecord>;
    /// The practitioner's signing key in use, if any.
    async fn current_signing_key(
        &self,
        practitioner: &PractitionerId,
    ) -> StoreResult<Option<SigningKeyRecord>>;
    async fn signing_key(&self, id: &str) -> StoreResult<Option<SigningKeyRecord>>;
    /// Every signing key of the practitioner (retired ones too: old prescriptions stay
    /// verifiable), oldest first.
    async fn signing_keys(
        &self,
        practitioner: &PractitionerId,
    ) -> StoreResult<Vec<SigningKeyRecord>>;
    /// NotFound when the reservation, practitioner or key does not exist.
    async fn insert_prescription(&self, rx: &PrescriptionRecord) -> StoreResult<()> {
        self.insert_prescription_with(rx, &OutboxWrite::default())
            .await
    }
    /// [`Store::insert_prescription`] applying `outbox` in the same transaction.
    async fn insert_prescription_with(
        &self,
        rx: &PrescriptionRecord,
        outbox: &OutboxWrite,
    ) -> StoreResult<()>;
    async fn prescription(&self, id: &str) -> StoreResult<Option<PrescriptionRecord>>;
    /// The prescriptions of an appointment, oldest first.
    async fn prescriptions_of(
        &self,
        reservation: &ReservationId,
    ) -> StoreResult<Vec<PrescriptionRecord>>;
    /// Marks a prescription dispensed at `at` unless it already is (one conditional UPDATE):
    /// Ok(true) when this call dispensed it, Ok(false) when it was dispensed before or does
    /// not exist.
    async fn dispense_prescription(&self, id: &str, at: Timestamp) -> StoreResult<bool>;

    // --- outbox ------------------------------------------------------------------------------
    /// Applies `outbox` in a transaction of its own (messages that follow no other write:
    /// password resets, invitations).
    async fn enqueue(&self, outbox: &OutboxWrite) -> StoreResult<()>;
    /// Leases up to `limit` due messages until `now + lease`: not dead, available by `now`,
    /// not leased by another worker. Each claim counts as an attempt. Two workers never get
    /// the same row while its lease runs (PostgreSQL: `FOR UPDATE SKIP LOCKED`; SQLite: the
    /// single writer).
    async fn claim_due(
        &self,
        now: Timestamp,
        lease: jiff::SignedDuration,
        limit: i64,
    ) -> StoreResult<Vec<OutboxRow>>;
    /// Ends a claimed confirmation batch (rows claimed with `batch` set): in one transaction
    /// the batch is deleted and `requeue`, its confirmations that were not delivered, are
    /// queued as ordinary messages with their attempts, due time, error and dead-letter state.
    async fn settle_batch(&self, batch: &str, requeue: &[OutboxRow]) -> StoreResult<()>;
    /// Delivered: the row (and its sealed payload) is deleted. Ok(false) when it was not there.
    async fn complete_message(&self, id: &str) -> StoreResult<bool>;
    /// Failed for now: available again at `at`, lease dropped, `error` kept (no personal data).
    async fn reschedule_message(&self, id: &str, at: Timestamp, error: &str) -> StoreResult<bool>;
    /// Failed for good: parked as a dead letter at `now`.
    async fn dead_letter(&self, id: &str, error: &str, now: Timestamp) -> StoreResult<bool>;
    /// Dead letters, newest first, at most `limit`.
    async fn dead_letters(&self, limit: i64) -> StoreResult<Vec<OutboxRow>>;
    /// Puts a dead letter back in the queue, due at `now`, its attempts reset. Ok(false) when
    /// there is no such dead letter.
    async fn retry_dead_letter(&self, id: &str, now: Timestamp) -> StoreResult<bool>;
    /// Puts every dead letter back in the queue (as [`Store::retry_dead_letter`]); how many.
    async fn retry_all_dead_letters(&self, now: Timestamp) -> StoreResult<u64>;
    /// The practice desk's notification list: the practitioner's newest entries first, at
    /// most `limit`.
    async fn practice_notices(
        &self,
        practitioner: &PractitionerId,
        limit: i64,
    ) -> StoreResult<Vec<PracticeNotice>>;
    /// Whether the practice gets an email when a patient cancels or moves (default true).
    async fn practice_emails_patient_changes(
        &self,
        practitioner: &PractitionerId,
    ) -> StoreResult<bool>;
    /// Ok(false) when no such practitioner.
    async fn set_practice_emails_patient_changes(
        &self,
        practitioner: &PractitionerId,
        on: bool,
    ) -> StoreResult<bool>;
    /// Deletes queued (not leased, not dead) messages by dedupe key; how many went.
    async fn delete_pending(&self, dedupe_keys: &[String]) -> StoreResult<u64>;
    /// Every queued message of an account (any state).
    async fn outbox_of(&self, account: &AccountId) -> StoreResult<Vec<OutboxRow>>;

    // --- password resets ---------------------------------------------------------------------
    /// Records a reset token (its hash) and queues its message, in one transaction.
    async fn create_password_reset(
        &self,
        reset: &PasswordReset,
        outbox: &OutboxWrite,
    ) -> StoreResult<()>;
    /// Consumes an unexpired token in one transaction: sets the account's password hash,
    /// deletes every session and every reset token of the account, and proves the address of
    /// a pending web sign-up (verified at `now`). Ok(None) when the token is unknown, used or
    /// expired (and then nothing changes).
    async fn consume_password_reset(
        &self,
        token_hash: &str,
        password_hash: &str,
        now: Timestamp,
    ) -> StoreResult<Option<AccountId>>;

    // --- account verification and changes (issue 14) -----------------------------------------
    /// Signs up in one transaction: the account, its settings (language, and whether it is a
    /// pending web sign-up), the email verification token if any and the messages. Conflict(EmailTaken) as `create_account`,
    /// and then nothing is written.
    async fn create_account_with(
        &self,
        account: &NewAccount,
        settings: &AccountSettings,
        token: Option<&EmailToken>,
        outbox: &OutboxWrite,
    ) -> StoreResult<()>;
    /// The account's password hash (to check the current password before a change).
    async fn password_hash(&self, account: &AccountId) -> StoreResult<Option<String>>;
    /// Records an email token and queues its message in one transaction; earlier tokens of
    /// the same account and purpose die (only the latest link works). NotFound when the
    /// account does not exist.
    async fn create_email_token(&self, token: &EmailToken, outbox: &OutboxWrite)
        -> StoreResult<()>;
    /// An unexpired token (not consumed).
    async fn email_token(
        &self,
        token_hash: &str,
        now: Timestamp,
    ) -> StoreResult<Option<EmailToken>>;
    /// Consumes an unexpired `Verify` token and marks the account's address verified at
    /// `now`. Ok(None) when the token is unknown, used, expired or of another purpose.
    async fn confirm_email(
        &self,
        token_hash: &str,
        now: Timestamp,
    ) -> StoreResult<Option<AccountId>>;
    /// Consumes an unexpired `Change` token of `account` and, in the same transaction,
    /// replaces the account's address (verified at `now`), deletes the account's other email
    /// tokens and applies `outbox` (the notice to the old address). Ok(false) when the token
    /// is unknown, used, expired or not this account's; Conflict(EmailTaken) when the new
    /// address got an account meanwhile (and then nothing changes).
    async fn change_email(
        &self,
        token_hash: &str,
        account: &AccountId,
        change: &EmailChange,
        now: Timestamp,
        outbox: &OutboxWrite,
    ) -> StoreResult<bool>;
    /// Replaces the account's live SMS code (wrong tries back to 0) and queues the SMS in one
    /// transaction. NotFound when the account does not exist.
    async fn create_phone_code(&self, code: &PhoneCode, outbox: &OutboxWrite) -> StoreResult<()>;
    /// Checks an entered code in one transaction: the right one verifies the phone at `now`
    /// and is spent; a wrong one counts, and the [`PHONE_CODE_MAX_FAILURES`]th kills it.
    async fn check_phone_code(
        &self,
        account: &AccountId,
        code_hash: &str,
        now: Timestamp,
    ) -> StoreResult<PhoneCodeCheck>;
    /// Records an instant sign-up's code and queues its mail in one transaction (expired
    /// attempts are forgotten on the way).
    async fn create_signup_code(&self, code: &SignupCode, outbox: &OutboxWrite) -> StoreResult<()>;
    /// The account of a live sign-up attempt that has one (a code may be sent again).
    async fn signup_code_account(
        &self,
        ticket_hash: &str,
        now: Timestamp,
    ) -> StoreResult<Option<AccountId>>;
    /// Replaces a live attempt's code (wrong tries back to 0, a new expiry) and queues its
    /// mail in one transaction; false (and nothing queued) when the attempt is not live.
    async fn renew_signup_code(&self, code: &SignupCode, outbox: &OutboxWrite)
        -> StoreResult<bool>;
    /// Checks an entered sign-up code in one transaction: the right one (of an attempt that
    /// created an account) verifies the address at `now` and is spent; a wrong one counts,
    /// and the [`PHONE_CODE_MAX_FAILURES`]th kills the attempt.
    async fn check_signup_code(
        &self,
        ticket_hash: &str,
        code_hash: &str,
        now: Timestamp,
    ) -> StoreResult<SignupCodeCheck>;
    /// Replaces the sealed name and phone; a changed phone loses its proof and its live code
    /// in the same transaction. NotFound when the account does not exist.
    async fn update_contact(&self, account: &AccountId, update: &ContactUpdate) -> StoreResult<()>;
    /// Sets the chosen preferences, leaving the proofs as they are. NotFound when the account
    /// does not exist.
    async fn put_account_preferences(
        &self,
        account: &AccountId,
        prefs: &AccountPreferences,
    ) -> StoreResult<()>;
    /// Sets a new password hash and, in the same transaction, ends every session of the
    /// account but `keep_session` (a token hash; None ends them all), drops its reset tokens
    /// and applies `outbox`. Ok(false) when the account does not exist.
    async fn change_password(
        &self,
        account: &AccountId,
        password_hash: &str,
        keep_session: Option<&str>,
        outbox: &OutboxWrite,
    ) -> StoreResult<bool>;
    /// Records an invitation and queues its email in one transaction.
    async fn create_invitation_with(
        &self,
        invitation: &NewInvitation,
        outbox: &OutboxWrite,
    ) -> StoreResult<()>;
    // --- reminder delays (issue 14, reminders on a clock) -----------------------------------
    /// The practitioner's reminder delays; the defaults when they never changed them.
    async fn reminder_delays(&self, practitioner: &PractitionerId) -> StoreResult<ReminderDelays>;
    /// Replaces the practitioner's reminder delays (the database refuses more than
    /// [`MAX_REMINDER_HOURS`]). NotFound when there is no such practitioner.
    async fn put_reminder_delays(
        &self,
        practitioner: &PractitionerId,
        delays: &ReminderDelays,
        now: Timestamp,
    ) -> StoreResult<()>;

    // --- earlier-slot alerts (issue 14) -------------------------------------------------------
    /// Subscribes; a cancellation or move in the agenda from now on leaves a freed place.
    async fn create_slot_alert(&self, alert: &SlotAlert) -> StoreResult<()>;
    /// The account's alerts in subscription order.
    async fn slot_alerts_of(&self, account: &AccountId) -> StoreResult<Vec<SlotAlert>>;
    /// Offers whose hold runs past `now`, of the account's alerts.
    async fn slot_offers_of(
        &self,
        account: &AccountId,
        now: Timestamp,
    ) -> StoreResult<Vec<SlotOffer>>;
    /// Unsubscribes (its offers go; their holds lapse). Ok(false) when not the account's.
    async fn delete_slot_alert(&self, account: &AccountId, id: &str) -> StoreResult<bool>;
    /// Leases one freed place due by `now` (not leased by another worker; PostgreSQL: SKIP
    /// LOCKED) until `now + lease`.
    async fn claim_freed_place(
        &self,
        now: Timestamp,
        lease: jiff::SignedDuration,
    ) -> StoreResult<Option<FreedPlace>>;
    /// Alerts that may be offered `place`, in subscription order: same agenda, `before`
    /// after the start, not offered this place yet.
    async fn slot_alert_candidates(&self, place: &FreedPlace) -> StoreResult<Vec<SlotAlert>>;
    /// In one transaction: the hold `hold` (a [`ReserveRequest`] with `hold_until`) for the
    /// alert's patient, the offer row, the place due again when the hold lapses, and `outbox`
    /// (the offer's messages). A conflict (the place is taken) changes nothing.
    async fn offer_freed_place(
        &self,
        place: &FreedPlace,
        alert_id: &str,
        hold: &ReserveRequest,
        outbox: &OutboxWrite,
    ) -> StoreResult<()>;
    /// Nobody (else) wants the place: it is forgotten.
    async fn drop_freed_place(&self, id: &str) -> StoreResult<()>;

    // --- practitioner verification (issue 15, point 6) ---------------------------------------
    /// The practitioner declares `id`: the credential becomes pending (decision cleared),
    /// unless it is already verified on that very identifier (then unchanged). The history
    /// gets an entry in the same transaction. NotFound when there is no such practitioner.
    async fn declare_credential(
        &self,
        practitioner: &PractitionerId,
        id: &ProfessionalId,
        at: Timestamp,
    ) -> StoreResult<CredentialRecord>;
    /// Applies a decision if the credential is in one of `d.from` (and still declares
    /// `d.identifier`), with its history entry, in one transaction. Ok(None) when it is not
    /// (nothing changes); Conflict(Duplicate) when verifying an identifier another
    /// practitioner holds verified.
    async fn decide_credential(
        &self,
        d: &CredentialDecision<'_>,
    ) -> StoreResult<Option<CredentialRecord>>;
    /// Marks a practitioner verified whatever their state, with or without an identifier
    /// (demo data, benchmarks: listings the operator itself creates), with a history entry.
    async fn vouch_practitioner(
        &self,
        practitioner: &PractitionerId,
        id: Option<&ProfessionalId>,
        actor: &str,
        at: Timestamp,
    ) -> StoreResult<()>;
    /// The practitioner's credential; `unverified` when nothing was ever declared.
    async fn credential(&self, practitioner: &PractitionerId) -> StoreResult<CredentialRecord>;
    /// Credentials in `status` (every status when None), oldest declaration first, at most
    /// `limit`.
    async fn credentials(
        &self,
        status: Option<CredentialStatus>,
        limit: i64,
    ) -> StoreResult<Vec<CredentialListing>>;
    /// Every practitioner who declared `id` (whatever the status).
    async fn credentials_declaring(
        &self,
        id: &ProfessionalId,
    ) -> StoreResult<Vec<CredentialListing>>;
    /// The sequence number of the latest credential change (0 when none).
    async fn credential_seq(&self) -> StoreResult<i64>;
    /// Practitioners whose credential changed after `seq` (at most `limit` changes, in
    /// order), each with its change's sequence number: how every node (and a change made by
    /// `careslot import practitioners` in another process) keeps its search index in step.
    async fn credentials_changed_since(
        &self,
        seq: i64,
        limit: i64,
    ) -> StoreResult<Vec<(i64, PractitionerId)>>;
    /// The credential's history, oldest first.
    async fn credential_events(
        &self,
        practitioner: &PractitionerId,
    ) -> StoreResult<Vec<CredentialEvent>>;

    // --- operator accounts (issue 15, point 5) -----------------------------------------------
    /// Creates an operator account in one transaction: the account (role operator), its
    /// operator row and roles, a set-password token (a password reset) and its messages.
    /// Conflict(EmailTaken) as `create_account`, and then nothing is written.
    async fn create_operator(
        &self,
        account: &NewAccount,
        roles: &[Permission],
        created_by: &str,
        set_password: &PasswordReset,
        outbox: &OutboxWrite,
    ) -> StoreResult<()>;
    /// An operator account's row and roles (None: not an operator account).
    async fn operator(&self, account: &AccountId) -> StoreResult<Option<OperatorRecord>>;
    /// Every operator account, oldest first.
    async fn operators(&self) -> StoreResult<Vec<OperatorRecord>>;
    /// Replaces an operator's roles; false when there is no such operator.
    async fn set_operator_roles(
        &self,
        account: &AccountId,
        roles: &[Permission],
    ) -> StoreResult<bool>;
    /// Disables an operator account (once; a second call keeps the first time) and deletes
    /// its sessions and pending set-password tokens, in one transaction; false when there is
    /// no such operator.
    async fn disable_operator(&self, account: &AccountId, at: Timestamp) -> StoreResult<bool>;
    /// Appends to the operators' action log; returns the entry's sequence number.
    async fn record_operator_action(
        &self,
        at: Timestamp,
        actor: &str,
        action: &str,
        target: Option<&str>,
    ) -> StoreResult<i64>;
    /// The latest `limit` entries of the operators' action log, newest first.
    async fn operator_actions(&self, limit: i64) -> StoreResult<Vec<OperatorAction>>;

    // --- patient directory (issue 18, point 1) -----------------------------------------------
    /// Files `entry.account_id` in `entry.practitioner_id`'s directory with `terms` (its blind
    /// indexes), in one transaction; when the account is already filed there, its terms are
    /// replaced and the existing entry (id, note, creation) is returned.
    async fn file_practice_patient(
        &self,
        entry: &PracticePatient,
        terms: &[i64],
    ) -> StoreResult<PracticePatient>;
    /// The practice's entries holding every one of `terms`, oldest first, at most `limit`.
    async fn practice_patients_with_terms(
        &self,
        practitioner: &PractitionerId,
        terms: &[i64],
        limit: i64,
    ) -> StoreResult<Vec<PracticePatient>>;
    /// One entry of the practice's directory (None: unknown, or another practice's).
    async fn practice_patient(
        &self,
        practitioner: &PractitionerId,
        id: &str,
    ) -> StoreResult<Option<PracticePatient>>;
    /// The practice's entry for `account`, if filed.
    async fn practice_patient_of_account(
        &self,
        practitioner: &PractitionerId,
        account: &AccountId,
    ) -> StoreResult<Option<PracticePatient>>;
    /// Replaces (or clears) the practice's note on an entry; false when there is no such
    /// entry in this practice.
    async fn set_practice_patient_note(
        &self,
        practitioner: &PractitionerId,
        id: &str,
        note_ct: Option<&[u8]>,
    ) -> StoreResult<bool>;
    /// Merges two entries of one practice (see [`PatientMerge`]) in one transaction. Refused
    /// with `NotFound` when either entry is not the practice's (or they are one), and with a
    /// conflict when a reservation of `from` changed patient meanwhile or `from` holds one in
    /// the practice that `moves` does not name (booked since it was read): nothing changes.
    async fn merge_practice_patients(&self, merge: &PatientMerge) -> StoreResult<()>;
}
