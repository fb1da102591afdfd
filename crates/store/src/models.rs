//! Storage models: what goes in and out of a [`crate::Store`].

use careslot_domain::*;
use jiff::Timestamp;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Patient,
    Practitioner,
    /// Runs the agenda of the practitioner who invited them, and nothing else.
    Assistant,
    /// Platform staff (health authority, operations): what they may do is their
    /// [`Permission`]s (`operator_roles`); never self-registered.
    Operator,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Patient => "patient",
            Role::Practitioner => "practitioner",
            Role::Assistant => "assistant",
            Role::Operator => "operator",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "patient" => Some(Role::Patient),
            "practitioner" => Some(Role::Practitioner),
            "assistant" => Some(Role::Assistant),
            "operator" => Some(Role::Operator),
            _ => None,
        }
    }
}

/// An account as stored: identity and contact are ciphertexts under the account's own data
/// key, which is stored only wrapped by its named key in the key service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountRecord {
    pub id: AccountId,
    pub role: Role,
    pub created_at: Timestamp,
    pub wrapped_key: String,
    pub email_ct: Vec<u8>,
    pub name_ct: Vec<u8>,
    pub phone_ct: Option<Vec<u8>>,
    pub birth_date_ct: Option<Vec<u8>>,
    /// Set for a patient record a practice created (a phone booking): it has no login.
    pub managed_by: Option<PractitionerId>,
}

/// An account with its password hash, only for logging in.
#[derive(Debug, Clone)]
pub struct AccountWithSecret {
    pub record: AccountRecord,
    pub password_hash: String,
    /// The account waits for its address to be proven: the right password is refused like
    /// a wrong one.
    pub email_pending: bool,
}

#[derive(Debug, Clone)]
pub struct NewAccount {
    pub record: AccountRecord,
    pub password_hash: String,
    /// Truncated blind index of the case-folded email (login lookups).
    pub email_bidx: i64,
    /// Full keyed hash of the case-folded email (the UNIQUE constraint).
    pub email_uniq: String,
}

#[derive(Debug, Clone)]
pub struct NewSession {
    /// SHA-256 of the bearer token, hex; the token itself is never stored.
    pub token_hash: String,
    pub account_id: AccountId,
    pub created_at: Timestamp,
    pub expires_at: Timestamp,
    /// The password was right but a second factor is still due: the session authenticates
    /// nothing but the second step.
    pub mfa_pending: bool,
    /// The signing-in device (User-Agent, cut short), shown to the account's owner.
    pub device: Option<String>,
}

/// What an account chose and proved about its messages (`account_settings`). An account
/// without a row has [`AccountSettings::default`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountSettings {
    /// Language of its messages: `fr`, `en`, `de` or `it`.
    pub lang: String,
    /// When the current email address was proven (a link followed).
    pub email_verified_at: Option<Timestamp>,
    /// When the current phone number was proven (an SMS code entered); cleared when the number
    /// changes. SMS reminders go only to a verified number.
    pub phone_verified_at: Option<Timestamp>,
    pub reminders_email: bool,
    pub reminders_sms: bool,
    /// The patient lets emails and calendar events name the visit reason (health data).
    pub show_motive: bool,
    /// Made on the web with a chosen password and its address not proven yet: the password
    /// opens no session (see [`AccountWithSecret::email_pending`]). Written only by
    /// `create_account_with`; proving the address clears it; `put_account_settings` keeps it
    /// (and clears it with a verified address). Never set together with `email_verified_at`.
    pub email_pending: bool,
}

impl Default for AccountSettings {
    fn default() -> Self {
        Self {
            lang: "fr".to_owned(),
            email_verified_at: None,
            phone_verified_at: None,
            reminders_email: true,
            reminders_sms: true,
            show_motive: false,
            email_pending: false,
        }
    }
}

/// A live session as authentication needs it.
#[derive(Debug, Clone, PartialEq)]
pub struct SessionRow {
    pub account: AccountRecord,
    pub created_at: Timestamp,
    pub expires_at: Timestamp,
    /// When the session was last used (its creation when never since).
    pub last_used_at: Timestamp,
    /// The session's public id (see [`session_public_id`]).
    pub id: String,
    pub mfa_pending: bool,
    /// When this session gave a second factor (None: it did not).
    pub second_factor_at: Option<Timestamp>,
    /// When this session last proved the password (its creation when never since).
    pub reauth_at: Timestamp,
}

/// A session as its owner sees it in the list of their sessions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionInfo {
    pub id: String,
    pub created_at: Timestamp,
    pub expires_at: Timestamp,
    pub last_used_at: Timestamp,
    pub device: Option<String>,
    pub second_factor: bool,
}

/// Length of a session's public id: the start of its token's hash (the token is 256 random
/// bits; 64 bits of its hash name it among an account's sessions and reveal nothing usable).
pub const SESSION_ID_CHARS: usize = 16;

/// The public id of the session whose token hashes to `token_hash`.
pub fn session_public_id(token_hash: &str) -> &str {
    token_hash.get(..SESSION_ID_CHARS).unwrap_or(token_hash)
}

/// An account's TOTP enrolment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MfaRecord {
    /// The shared secret, sealed under the account's data key.
    pub secret_ct: Vec<u8>,
    pub created_at: Timestamp,
    /// None while the enrolment waits for its first code.
    pub confirmed_at: Option<Timestamp>,
    /// The last RFC 6238 time step accepted (codes are single use).
    pub last_step: i64,
    /// Recovery codes not used yet.
    pub recovery_left: u32,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Practitioner {
    pub id: PractitionerId,
    pub account_id: AccountId,
    pub name: String,
    pub specialty: Specialty,
    pub languages: Vec<String>,
    pub bio: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Place {
    pub id: PlaceId,
    pub practitioner_id: PractitionerId,
    pub name: String,
    pub address: String,
    pub postcode: String,
    pub city: String,
    pub country: Country,
    pub lat: f64,
    pub lon: f64,
    /// IANA zone name, validated by the caller.
    pub timezone: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Agenda {
    pub id: AgendaId,
    pub practitioner_id: PractitionerId,
    pub place_id: PlaceId,
    pub timezone: String,
    /// Country whose public holidays close the agenda; None keeps it open.
    pub holidays: Option<Country>,
    /// The agenda's data key, wrapped by its named key in the key service.
    pub wrapped_key: String,
}

/// Everything availability needs for one agenda.
#[derive(Debug, Clone)]
pub struct AgendaSnapshot {
    pub agenda: Agenda,
    /// Motives with an empty `name`: labels stay sealed in `motive_labels`.
    pub motives: Vec<Motive>,
    pub motive_labels: Vec<(MotiveId, Vec<u8>)>,
    /// Sealed per-language labels of the motives that have some.
    pub motive_translations: Vec<(MotiveId, Vec<u8>)>,
    pub rules: Vec<OpeningRule>,
    pub absences: Vec<Absence>,
    pub reservations: Vec<Reservation>,
    /// Which motives give which vaccine dose.
    pub vaccines: Vec<MotiveVaccine>,
    /// Dose stock of the agenda, for days from today on.
    pub stock: Vec<StockRow>,
    /// Default doses per day and product, for days without a stock row.
    pub policies: Vec<(VaccineProduct, u32)>,
    /// Lines (capacity of pooled motives) of particular local days, from today on.
    pub lines: Vec<(jiff::civil::Date, u32)>,
    /// The agenda's slot-floor version, read before anything else of the snapshot (0: no
    /// row): a floor computed from this snapshot may be kept only while it is unchanged
    /// (see [`SlotFloor`]).
    pub floor_version: i64,
}

/// An instant before which none of an agenda's slots starts, now or later, unless its
/// `version` in the store has changed since (every change that may free a slot bumps it, by
/// trigger). What a restarted node ranks earliest-first by before it has read the agendas'
/// reservations (issue #17 point 3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SlotFloor {
    pub floor_s: i64,
    pub version: i64,
}

/// One row of the search index.
#[derive(Debug, Clone, PartialEq)]
pub struct DirectoryEntry {
    pub practitioner_id: PractitionerId,
    pub name: String,
    pub specialty: Specialty,
    pub agenda_id: AgendaId,
    pub place: Place,
    /// The practitioner is verified: only such rows are listed in search and feeds.
    pub verified: bool,
    /// What search results can be filtered by.
    pub facts: DirectoryFacts,
}

/// Facts of a directory row that search filters on (issue 17 point 2).
#[derive(Debug, Clone, PartialEq)]
pub struct DirectoryFacts {
    /// The agenda has a teleconsultation motive bookable online.
    pub teleconsultation: bool,
    pub accepts_new_patients: bool,
    pub fee_sector: Option<FeeSector>,
    pub wheelchair_access: bool,
    /// Language codes the practitioner speaks ("fr", "en"…), lower case.
    pub languages: Vec<String>,
}

impl Default for DirectoryFacts {
    fn default() -> Self {
        Self {
            teleconsultation: false,
            accepts_new_patients: true,
            fee_sector: None,
            wheelchair_access: false,
            languages: Vec::new(),
        }
    }
}

/// What a practitioner states beside their profile, for patients choosing one.
#[derive(Debug, Clone, PartialEq)]
pub struct PractitionerFacts {
    pub accepts_new_patients: bool,
    pub fee_sector: Option<FeeSector>,
}

impl Default for PractitionerFacts {
    fn default() -> Self {
        Self {
            accepts_new_patients: true,
            fee_sector: None,
        }
    }
}

/// A practitioner's photo as served: two JPEGs the server made from the upload (so no
/// metadata of the original survives), named by `hash` in their URLs.
#[derive(Debug, Clone, PartialEq)]
pub struct PractitionerPhoto {
    /// Hex digest of the large image (its version: URLs carry it, so they can be cached).
    pub hash: String,
    /// The public page's square (400 × 400).
    pub large: Vec<u8>,
    /// The search card's square (96 × 96).
    pub small: Vec<u8>,
    pub updated_at: Timestamp,
}

/// How a place can be reached.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PlaceAccess {
    pub wheelchair_access: bool,
    /// Floor, lift, entrance, parking, transport.
    pub details: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReservationStatus {
    Held,
    Booked,
    Cancelled,
    Expired,
    NoShow,
}

impl ReservationStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            ReservationStatus::Held => "held",
            ReservationStatus::Booked => "booked",
            ReservationStatus::Cancelled => "cancelled",
            ReservationStatus::Expired => "expired",
            ReservationStatus::NoShow => "no_show",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "held" => ReservationStatus::Held,
            "booked" => ReservationStatus::Booked,
            "cancelled" => ReservationStatus::Cancelled,
            "expired" => ReservationStatus::Expired,
            "no_show" => ReservationStatus::NoShow,
            _ => return None,
        })
    }
}

/// A hold or appointment as stored: the motive, the patient and the note are sealed under
/// the agenda's data key (associated data: table, column, reservation id).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReservationRow {
    pub id: ReservationId,
    pub agenda_id: AgendaId,
    pub start: Timestamp,
    pub end: Timestamp,
    pub status: ReservationStatus,
    pub expires_at: Option<Timestamp>,
    pub motive_ct: Vec<u8>,
    /// `None` once the patient was erased.
    pub patient_ct: Option<Vec<u8>>,
    pub note_ct: Option<Vec<u8>>,
    /// Which relative of the patient the appointment is for (sealed relative id); `None`
    /// when it is for the patient themself.
    pub relative_ct: Option<Vec<u8>>,
    /// When the practice marked the patient arrived, in consultation, done (booked only).
    pub arrived_at: Option<Timestamp>,
    pub consulting_at: Option<Timestamp>,
    pub done_at: Option<Timestamp>,
    /// When the practice marked the no-show (no-show only).
    pub no_show_at: Option<Timestamp>,
}

/// Where a booked patient's visit stands, as the practice sets it. `Booked` is the start
/// (and what an undo returns to).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum VisitStep {
    Booked,
    Arrived,
    InConsultation,
    Done,
}

impl VisitStep {
    pub fn as_str(self) -> &'static str {
        match self {
            VisitStep::Booked => "booked",
            VisitStep::Arrived => "arrived",
            VisitStep::InConsultation => "in_consultation",
            VisitStep::Done => "done",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "booked" => VisitStep::Booked,
            "arrived" => VisitStep::Arrived,
            "in_consultation" => VisitStep::InConsultation,
            "done" => VisitStep::Done,
            _ => return None,
        })
    }
}

impl ReservationRow {
    /// The furthest step set on a booked appointment (`Booked` for any other status).
    pub fn visit_step(&self) -> VisitStep {
        if self.status != ReservationStatus::Booked {
            VisitStep::Booked
        } else if self.done_at.is_some() {
            VisitStep::Done
        } else if self.consulting_at.is_some() {
            VisitStep::InConsultation
        } else if self.arrived_at.is_some() {
            VisitStep::Arrived
        } else {
            VisitStep::Booked
        }
    }

    /// When the current visit step (or the no-show) was set; None for a plain booking.
    pub fn visit_step_at(&self) -> Option<Timestamp> {
        match (self.status, self.visit_step()) {
            (ReservationStatus::NoShow, _) => self.no_show_at,
            (_, VisitStep::Done) => self.done_at,
            (_, VisitStep::InConsultation) => self.consulting_at,
            (_, VisitStep::Arrived) => self.arrived_at,
            (_, VisitStep::Booked) => None,
        }
    }
}

/// One line of an appointment's status trail: which status, when, set by whom.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VisitStatusEntry {
    /// booked (an undo) | arrived | in_consultation | done | no_show
    pub status: String,
    pub at: Timestamp,
    pub by: Option<AccountId>,
}

#[derive(Debug, Clone)]
pub struct Idempotency {
    /// Keyed hash of (account, Idempotency-Key).
    pub key_hash: String,
    /// Keyed hash of the request body: same key + other body is refused.
    pub request_hash: String,
}

#[derive(Debug, Clone)]
pub struct ReserveRequest {
    pub id: ReservationId,
    pub agenda_id: AgendaId,
    /// Read inside the transaction for duration and capacity; stored only sealed.
    pub motive_id: MotiveId,
    pub motive_ct: Vec<u8>,
    pub patient_ct: Vec<u8>,
    pub patient_bidx: i64,
    pub note_ct: Option<Vec<u8>>,
    pub relative_ct: Option<Vec<u8>>,
    pub start: Timestamp,
    /// Local date of `start` in the agenda's zone: a pooled motive takes that day's lines.
    pub day: Option<jiff::civil::Date>,
    /// `Some` makes a hold that stops occupying the place at that instant; `None` books.
    pub hold_until: Option<Timestamp>,
    pub idempotency: Option<Idempotency>,
    pub now: Timestamp,
    /// Messages queued (and pending ones deleted) in the booking's own savepoint: a refused
    /// booking sends nothing. Ignored for holds and replays.
    pub outbox: crate::OutboxWrite,
}

#[derive(Debug, Clone)]
pub struct BookHoldRequest {
    pub hold_id: ReservationId,
    /// The patient's note, sealed, set when booking.
    pub note_ct: Option<Vec<u8>>,
    /// Who the appointment is for when not the patient (sealed relative id), set when booking.
    pub relative_ct: Option<Vec<u8>>,
    pub idempotency: Option<Idempotency>,
    pub now: Timestamp,
    /// Messages queued in the same transaction as the booking.
    pub outbox: crate::OutboxWrite,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReserveOutcome {
    pub reservation: ReservationRow,
    /// True when an earlier request with the same idempotency key made it.
    pub replayed: bool,
}

/// `subject_bidx` of an audit entry naming several patients. Their blind indexes are
/// derived from the sealed entry after it is written (`audit_subjects`, filled behind the
/// request by the indexer up to a watermark), so that a page listing a thousand patients
/// does not insert a thousand rows at random places of an index while the user waits.
pub const AUDIT_MANY_SUBJECTS: i64 = -1;

/// The patient index of a range of the log.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AuditSubjects {
    /// Every entry up to this sequence number is indexed. Above it the index may be
    /// partly built (an indexer between two transactions): readers do not rely on it.
    pub indexed_to: i64,
    /// `(seq, subject_bidx)`, ordered.
    pub named: Vec<(i64, i64)>,
}

/// The many-patient entries waiting for the patient index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditBacklog {
    /// The index's watermark when read.
    pub indexed_to: i64,
    /// The watermark once `entries` are indexed: the log's end, or the last entry's sequence
    /// number when the limit cut the backlog short.
    pub up_to: i64,
    pub entries: Vec<AuditRow>,
}

/// One audit entry before it is chained.
#[derive(Debug, Clone)]
pub struct NewAuditEntry {
    pub at: Timestamp,
    /// The patient's blind index, or [`AUDIT_MANY_SUBJECTS`].
    pub subject_bidx: i64,
    pub entry_ct: Vec<u8>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditRow {
    pub seq: i64,
    pub at: Timestamp,
    pub subject_bidx: i64,
    pub entry_ct: Vec<u8>,
    pub mac: String,
}

/// Computes a row's MAC from the previous row's MAC (empty for the first row).
pub type AuditMac = dyn Fn(&str, &AuditRow) -> String + Send + Sync;

/// Who a wrapped data key belongs to, for rotation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyOwner {
    Account,
    Agenda,
    Setting,
    /// A document shared on an appointment (its id is the document's).
    Document,
    /// A practitioner's prescription-signing key ("signer-<id>").
    SigningKey,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WrappedKeyRow {
    pub owner: KeyOwner,
    pub id: String,
    pub wrapped: String,
}

/// A person a patient books for (a child, a parent): sealed under the patient's data key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RelativeRecord {
    pub id: RelativeId,
    pub account_id: AccountId,
    pub created_at: Timestamp,
    pub name_ct: Vec<u8>,
    pub birth_date_ct: Option<Vec<u8>>,
}

/// A practitioner's invitation for an assistant; the token itself is never stored.
#[derive(Debug, Clone)]
pub struct NewInvitation {
    /// SHA-256 of the invitation token, hex.
    pub token_hash: String,
    pub practitioner_id: PractitionerId,
    pub created_at: Timestamp,
    pub expires_at: Timestamp,
}

/// A motive that gives a vaccine dose; `next` is the motive of the following dose at the same
/// centre (dose 2 after dose 1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MotiveVaccine {
    pub motive_id: MotiveId,
    pub product: VaccineProduct,
    pub dose: Dose,
    pub next: Option<MotiveId>,
}

/// Doses of a product an agenda has for one local day, and how many are booked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StockRow {
    pub agenda_id: AgendaId,
    pub product: VaccineProduct,
    pub day: jiff::civil::Date,
    pub doses: u32,
    pub used: u32,
    /// Set by the centre for that day (else written from the stock policy by a booking).
    pub explicit: bool,
}

/// A centre's default doses of a product for every day without a stock of its own.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StockPolicy {
    pub agenda_id: AgendaId,
    pub product: VaccineProduct,
    /// None: no policy (days without their own stock have no dose).
    pub doses: Option<u32>,
}

/// One day's stock as the week editor saves it: `None` gives the day back to the policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StockDay {
    pub product: VaccineProduct,
    pub day: jiff::civil::Date,
    pub doses: Option<u32>,
}

/// One dose's place in a series booking: its reservation and the stock it consumes.
#[derive(Debug, Clone)]
pub struct SeriesDose {
    pub reservation: ReserveRequest,
    pub product: VaccineProduct,
    /// The local day whose stock the dose consumes.
    pub day: jiff::civil::Date,
}

/// Doses booked together (dose 1 and dose 2): all or none.
#[derive(Debug, Clone)]
pub struct SeriesRequest {
    pub id: String,
    pub protocol_version: u32,
    pub doses: Vec<SeriesDose>,
    pub now: Timestamp,
    /// The client's `Idempotency-Key` for doses booked directly (not held), recorded for
    /// this series in the same transaction as the doses: if it fails, the key is not
    /// recorded. A key recorded before with the same request books nothing new and answers
    /// that series' doses (`SeriesOutcome::replayed`); with another request it is refused
    /// with `IdempotencyMismatch` and books nothing.
    pub key: Option<SeriesKey>,
    /// With `key`: the patient to confirm to when the key names a series still held (left
    /// by a server that held doses before booking them), which this request then books.
    /// The doses booked by this request carry their confirmation in their own outbox.
    pub confirm_to: Option<AccountId>,
}

/// What a series request did: its doses, and whether they are the ones an earlier request
/// with the same `Idempotency-Key` booked (then this request booked nothing new).
#[derive(Debug, Clone)]
pub struct SeriesOutcome {
    pub rows: Vec<ReservationRow>,
    pub replayed: bool,
}

/// Turns a held series into booked appointments.
#[derive(Debug, Clone)]
pub struct BookSeriesRequest {
    pub series_id: String,
    pub patient_bidx: i64,
    pub now: Timestamp,
    /// The patient to confirm the series to: the store queues one confirmation intent on
    /// the series' first dose, in the same transaction, when the doses go from held to
    /// booked (not when a booked series is asked for again). `None`: no message.
    pub confirm_to: Option<AccountId>,
    /// The client's `Idempotency-Key`, recorded for this series in the booking's own
    /// transaction (no commit of its own); a key already recorded with another request is
    /// refused with `IdempotencyMismatch` and books nothing.
    pub key: Option<SeriesKey>,
}

/// An `Idempotency-Key` tied to a series: keyed hashes of the key and of the request.
#[derive(Debug, Clone)]
pub struct SeriesKey {
    pub key_hash: String,
    pub request_hash: String,
}

/// One centre's vaccination day for one product: stock, booked doses, no-shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VaccinationDay {
    pub agenda_id: AgendaId,
    pub product: VaccineProduct,
    pub day: jiff::civil::Date,
    pub doses: u32,
    /// Set by the centre for that day (else written from the policy by a booking).
    pub explicit: bool,
    pub booked: u32,
    pub no_shows: u32,
}

/// A vaccination dose as the health authority's export sees it (the patient still sealed).
#[derive(Debug, Clone)]
pub struct VaccinationRecord {
    pub reservation: ReservationRow,
    pub product: VaccineProduct,
    /// 1, 2 or 3 (booster), or the position in the series.
    pub dose: u8,
    pub place: Place,
}

// --- prescriptions ---------------------------------------------------------------------

/// A practitioner's Ed25519 signing key: the public key in the clear (it is published), the
/// private key sealed under a data key of its own (wrapped by "signer-<id>").
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SigningKeyRecord {
    pub id: String,
    pub practitioner_id: PractitionerId,
    pub algorithm: String,
    pub public_key: Vec<u8>,
    pub wrapped_key: String,
    pub private_ct: Vec<u8>,
    pub created_at: Timestamp,
    pub retired_at: Option<Timestamp>,
}

/// A signed prescription: the canonical payload sealed under the agenda's data key, its
/// signature, and the pharmacist's capability (its hash for lookups, a sealed copy for the
/// participants' PDF).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrescriptionRecord {
    pub id: String,
    pub reservation_id: ReservationId,
    pub practitioner_id: PractitionerId,
    pub key_id: String,
    pub issued_at: Timestamp,
    pub payload_ct: Vec<u8>,
    pub signature: Vec<u8>,
    pub capability_hash: String,
    pub capability_ct: Vec<u8>,
    pub dispensed_at: Option<Timestamp>,
}
