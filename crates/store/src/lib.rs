//! The one boundary to persistence. Backends (SQLite, PostgreSQL) implement [`Store`]; the
//! behaviour suite in [`suite`] (feature `test-suite`) is run by each backend's tests so
//! both behave the same.
//!
//! Invariants the backends enforce *in the database*, not only here:
//! - live reservations (`held`, `booked`) of an agenda never overlap unless they share a pool
//!   (same start and end of a motive with capacity > 1);
//! - a pool never holds more live reservations than its capacity;
//! - one `Idempotency-Key` per account books at most once.

pub mod codec;
mod error;
mod models;
#[cfg(feature = "test-suite")]
pub mod suite;

pub use error::{ConflictKind, StoreError};
pub use models::*;

use async_trait::async_trait;
use careslot_domain::*;
use jiff::Timestamp;

pub type StoreResult<T> = Result<T, StoreError>;

/// Called with the id of an agenda whose availability another process changed, or with
/// `None` when changes may have been missed (everything must be considered stale).
pub type AgendaWatcher = std::sync::Arc<dyn Fn(Option<AgendaId>) + Send + Sync>;

#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// Short backend name for logs and metrics ("sqlite", "postgres").
    fn backend(&self) -> &'static str;

    /// Starts delivering changes made by other processes to `on_change`. A single-process
    /// backend has nothing to deliver.
    fn watch_agendas(&self, on_change: AgendaWatcher) {
        let _ = on_change;
    }

    // --- accounts and sessions -------------------------------------------------------------
    /// Conflict(EmailTaken) when the (case-folded) email exists.
    async fn create_account(&self, account: &NewAccount) -> StoreResult<Account>;
    async fn account_by_email(&self, email: &str) -> StoreResult<Option<AccountWithSecret>>;
    async fn account(&self, id: &AccountId) -> StoreResult<Option<Account>>;
    async fn create_session(&self, session: &NewSession) -> StoreResult<()>;
    /// The account of an unexpired session.
    async fn session_account(
        &self,
        token_hash: &str,
        now: Timestamp,
    ) -> StoreResult<Option<Account>>;

    // --- practitioner side -----------------------------------------------------------------
    async fn upsert_practitioner(&self, p: &Practitioner) -> StoreResult<Practitioner>;
    async fn practitioner_by_account(
        &self,
        account: &AccountId,
    ) -> StoreResult<Option<Practitioner>>;
    async fn create_place(&self, place: &Place) -> StoreResult<()>;
    async fn place(&self, id: &PlaceId) -> StoreResult<Option<Place>>;
    async fn create_agenda(&self, agenda: &Agenda) -> StoreResult<()>;
    async fn agenda(&self, id: &AgendaId) -> StoreResult<Option<Agenda>>;
    async fn create_motive(&self, motive: &Motive) -> StoreResult<()>;
    /// Every motive id must belong to the rule's agenda (else NotFound).
    async fn create_rule(&self, rule: &OpeningRule) -> StoreResult<()>;
    async fn create_absence(&self, absence: &Absence, reason: Option<&str>) -> StoreResult<()>;

    // --- the hot in-memory index is built from these ---------------------------------------
    /// Everything availability needs for one agenda: configuration plus live reservations
    /// ending after `now`.
    async fn agenda_snapshot(
        &self,
        id: &AgendaId,
        now: Timestamp,
    ) -> StoreResult<Option<AgendaSnapshot>>;
    /// Every bookable (practitioner, agenda, place) row for the search index.
    async fn directory(&self) -> StoreResult<Vec<DirectoryEntry>>;
    /// Directory rows of one practitioner, to refresh the index after they edit something.
    async fn directory_of(&self, practitioner: &PractitionerId)
        -> StoreResult<Vec<DirectoryEntry>>;

    // --- reservations ----------------------------------------------------------------------
    /// Holds or books a place. The backend reads the motive inside its transaction (its
    /// agenda, duration and capacity), expires stale holds in the way, enforces overlap and
    /// capacity, and records the idempotency key in the same transaction.
    async fn reserve(&self, req: &ReserveRequest) -> StoreResult<ReserveOutcome>;
    /// Turns the caller's unexpired hold into a booked appointment.
    async fn book_hold(&self, req: &BookHoldRequest) -> StoreResult<ReserveOutcome>;
    /// The request hash and reservation recorded under an idempotency key of an account.
    async fn find_idempotent(
        &self,
        account: &AccountId,
        key: &str,
    ) -> StoreResult<Option<(String, ReservationRow)>>;
    async fn reservation(&self, id: &ReservationId) -> StoreResult<Option<ReservationRow>>;
    /// Cancels a held or booked reservation; Ok(None) when it was not live.
    async fn cancel(
        &self,
        id: &ReservationId,
        now: Timestamp,
    ) -> StoreResult<Option<ReservationRow>>;
    /// Moves a booked appointment to a new start (same motive) atomically: on any conflict
    /// nothing changes.
    async fn move_reservation(
        &self,
        id: &ReservationId,
        start: Timestamp,
        now: Timestamp,
    ) -> StoreResult<ReservationRow>;
    /// Booked (and past/cancelled) appointments of a patient, holds excluded, by start.
    async fn patient_appointments(&self, patient: &AccountId) -> StoreResult<Vec<ReservationRow>>;
    /// Appointments of an agenda starting in `[from, to)`, with the patient's name.
    async fn agenda_appointments(
        &self,
        agenda: &AgendaId,
        from: Timestamp,
        to: Timestamp,
    ) -> StoreResult<Vec<AgendaAppointment>>;
    /// Whether the patient ever had a booked appointment with this practitioner.
    async fn is_known_patient(
        &self,
        patient: &AccountId,
        practitioner: &PractitionerId,
    ) -> StoreResult<bool>;
}
