//! The patient side: slots, holds, booking, cancelling, moving.
//!
//! The in-memory view answers fast "no" (not a slot, closed, full) without touching the
//! database; the store's transaction and constraints have the last word on every "yes".
//! Which motive, which patient and the patient's note are sealed under the agenda's data
//! key before they reach the store.

use super::notify::Event;
use super::payment::Charge;
use super::{AppError, AppResult, Caller, Core, Scheduling};
use careslot_core::availability::AgendaView;
use careslot_core::protection::agenda_key_name;
use careslot_core::time::{parse_date_range, parse_instant};
use careslot_domain::availability::Unavailable;
use careslot_domain::*;
use careslot_store::*;
use careslot_vault::DataKey;
use jiff::Timestamp;
use std::sync::Arc;

pub struct SlotQuery<'a> {
    pub agenda_id: &'a str,
    pub motive_id: &'a str,
    pub from: &'a str,
    pub to: &'a str,
}

/// What a patient adds when booking.
#[derive(Debug, Clone, Copy, Default)]
pub struct BookingDetails<'a> {
    pub note: Option<&'a str>,
    /// One of the patient's relatives (`None` or `"self"`: the patient themself).
    pub relative_id: Option<&'a str>,
}

pub enum BookingInput {
    Direct {
        agenda_id: String,
        motive_id: String,
        start: String,
    },
    FromHold {
        hold_id: String,
    },
}

/// A reservation with its sealed fields opened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Appointment {
    pub row: ReservationRow,
    pub motive_id: MotiveId,
    /// `None` once the patient was erased.
    pub patient: Option<AccountId>,
    pub note: Option<String>,
    /// The patient's relative the appointment is for; `None`: the patient themself.
    pub relative: Option<RelativeId>,
}

/// Who holds a place before booking: a signed-in patient, or a visitor of the web pages who
/// has not signed in yet (identified by a random id in their cookie). A guest's hold is
/// handed to their account when they sign in ([`Scheduling::claim_guest_hold`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Holder<'a> {
    Patient(&'a Caller),
    Guest(&'a str),
}

/// The patient link sealed in a guest's hold.
fn guest_subject(guest: &str) -> AccountId {
    AccountId(format!("guest:{guest}"))
}

/// A guest id: the random string the web layer keeps in its cookie.
pub fn is_valid_guest_id(guest: &str) -> bool {
    (16..=64).contains(&guest.len())
        && guest
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// Longest slot range one request may ask for, in days.
pub const MAX_SLOT_RANGE_DAYS: i32 = 31;
const MAX_NOTE_CHARS: usize = 2000;

fn unavailable(reason: Unavailable) -> AppError {
    let (slug, detail) = match reason {
        Unavailable::NotASlot => ("not-a-slot", "no slot of this motive starts at this time"),
        Unavailable::Closed => ("closed", "the agenda is closed at this time"),
        Unavailable::TooSoon => (
            "too-soon",
            "this slot is within the practitioner's minimum notice",
        ),
        Unavailable::TooFar => (
            "too-far",
            "this slot is beyond the practitioner's booking horizon",
        ),
        Unavailable::Full => ("slot-taken", "this time is no longer free"),
    };
    AppError::Conflict(slug, detail.into())
}

fn parse_note(note: Option<&str>) -> AppResult<Option<String>> {
    match note.map(str::trim) {
        None | Some("") => Ok(None),
        Some(n) if n.chars().count() > MAX_NOTE_CHARS => {
            Err(DomainError::new("note", "must be at most 2000 characters").into())
        }
        Some(n) => Ok(Some(n.to_owned())),
    }
}

impl Scheduling {
    pub async fn view(&self, agenda: &AgendaId) -> AppResult<Arc<AgendaView>> {
        self.agendas
            .get(agenda)
            .await?
            .ok_or(AppError::NotFound("agenda"))
    }

    pub async fn agenda_key(&self, agenda: &Agenda) -> AppResult<DataKey> {
        Ok(self
            .protect
            .data_key(&agenda_key_name(&agenda.id), &agenda.wrapped_key)
            .await?)
    }

    fn online_motive<'v>(view: &'v AgendaView, motive: &str) -> AppResult<&'v Motive> {
        view.motive(&MotiveId(motive.to_owned()))
            .filter(|m| m.policy.bookable_online)
            .ok_or(AppError::NotFound("motive"))
    }

    pub async fn slots(&self, q: SlotQuery<'_>) -> AppResult<(Arc<AgendaView>, Vec<Slot>)> {
        let (from, to) = parse_date_range(q.from, q.to, MAX_SLOT_RANGE_DAYS)?;
        let view = self.view(&AgendaId(q.agenda_id.to_owned())).await?;
        let motive = Self::online_motive(&view, q.motive_id)?;
        let slots = view.slots(motive, from, to, Timestamp::now());
        Ok((view, slots))
    }

    /// What a slot list is computed from: the agenda's view, the (online) motive and the
    /// checked local date range, for callers that compute it day by day.
    pub async fn slot_range(
        &self,
        q: SlotQuery<'_>,
    ) -> AppResult<(
        Arc<AgendaView>,
        Motive,
        jiff::civil::Date,
        jiff::civil::Date,
    )> {
        let (from, to) = parse_date_range(q.from, q.to, MAX_SLOT_RANGE_DAYS)?;
        let view = self.view(&AgendaId(q.agenda_id.to_owned())).await?;
        let motive = Self::online_motive(&view, q.motive_id)?.clone();
        Ok((view, motive, from, to))
    }

    /// Opens the sealed fields of a reservation with its agenda's key.
    pub async fn open_reservation(&self, row: ReservationRow) -> AppResult<Appointment> {
        let view = self.view(&row.agenda_id).await?;
        let key = self.agenda_key(&view.agenda).await?;
        self.open_with(&key, row)
    }

    /// Opens reservations of one agenda (the key of `agenda`): the agenda and its key are
    /// looked up once, not once per row.
    pub async fn open_reservations_of(
        &self,
        agenda: &Agenda,
        rows: Vec<ReservationRow>,
    ) -> AppResult<Vec<Appointment>> {
        let key = self.agenda_key(agenda).await?;
        rows.into_iter().map(|r| self.open_with(&key, r)).collect()
    }

    fn open_with(&self, key: &DataKey, row: ReservationRow) -> AppResult<Appointment> {
        let p = &self.protect;
        let id = row.id.as_str();
        let motive_id =
            MotiveId(p.open_string(key, &row.motive_ct, "reservations", "motive", id)?);
        let patient = row
            .patient_ct
            .as_deref()
            .map(|c| {
                p.open_string(key, c, "reservations", "patient", id)
                    .map(AccountId)
            })
            .transpose()?;
        let note = row
            .note_ct
            .as_deref()
            .map(|c| p.open_string(key, c, "reservations", "note", id))
            .transpose()?;
        let relative = row
            .relative_ct
            .as_deref()
            .map(|c| {
                p.open_string(key, c, "reservations", "relative", id)
                    .map(RelativeId)
            })
            .transpose()?;
        Ok(Appointment {
            row,
            motive_id,
            patient,
            note,
            relative,
        })
    }

    /// Reservations of a patient: blind-index candidates, opened, false positives dropped.
    async fn reservations_of(
        &self,
        patient: &AccountId,
        rows: Vec<ReservationRow>,
    ) -> AppResult<Vec<Appointment>> {
        let mut out = Vec::new();
        for row in rows {
            let opened = self.open_reservation(row).await?;
            if opened.patient.as_ref() == Some(patient) {
                out.push(opened);
            }
        }
        Ok(out)
    }

    pub async fn own_reservation_ids(&self, patient: &AccountId) -> AppResult<Vec<ReservationId>> {
        let rows = self
            .store
            .reservations_by_patient_index(self.protect.patient_index(patient))
            .await?;
        Ok(self
            .reservations_of(patient, rows)
            .await?
            .into_iter()
            .map(|a| a.row.id)
            .collect())
    }

    async fn is_known_patient(
        &self,
        patient: &AccountId,
        practitioner: &PractitionerId,
    ) -> AppResult<bool> {
        let rows = self
            .store
            .practitioner_reservations_by_patient_index(
                self.protect.patient_index(patient),
                practitioner,
            )
            .await?;
        Ok(!self.reservations_of(patient, rows).await?.is_empty())
    }

    /// Refuses early what the view already knows cannot be booked.
    async fn precheck(
        &self,
        holder: &Holder<'_>,
        agenda_id: &str,
        motive_id: &str,
        start: &str,
    ) -> AppResult<(Arc<AgendaView>, MotiveId, Timestamp)> {
        if let Holder::Patient(caller) = holder {
            Core::require_role(caller, Role::Patient)?;
        }
        let start = parse_instant("start", start)?;
        let view = self.view(&AgendaId(agenda_id.to_owned())).await?;
        let motive = Self::online_motive(&view, motive_id)?;
        if view.vaccine(&motive.id).is_some() {
            return Err(AppError::Rule(
                "vaccination appointments are booked with their doses together: POST /api/v1/vaccination/bookings".into(),
            ));
        }
        view.check_start(motive, start, Timestamp::now())
            .map_err(unavailable)?;
        if let Holder::Patient(caller) = holder {
            self.check_new_patient_rule(caller, &view, motive).await?;
        }
        let id = motive.id.clone();
        Ok((view, id, start))
    }

    async fn check_new_patient_rule(
        &self,
        caller: &Caller,
        view: &AgendaView,
        motive: &Motive,
    ) -> AppResult<()> {
        if motive.policy.new_patients_only
            && self
                .is_known_patient(&caller.id, &view.agenda.practitioner_id)
                .await?
        {
            return Err(AppError::Rule(
                "this visit motive is reserved for new patients of this practitioner".into(),
            ));
        }
        Ok(())
    }

    /// A reservation request with motive, patient and note sealed under the agenda's key.
    pub async fn sealed_request(
        &self,
        patient: &AccountId,
        view: &AgendaView,
        motive_id: MotiveId,
        start: Timestamp,
        note: Option<&str>,
    ) -> AppResult<ReserveRequest> {
        let key = self.agenda_key(&view.agenda).await?;
        let id = ReservationId::new();
        let p = &self.protect;
        let seal =
            |col: &str, v: &str| p.seal(&key, v.as_bytes(), "reservations", col, id.as_str());
        Ok(ReserveRequest {
            motive_ct: seal("motive", motive_id.as_str()),
            patient_ct: seal("patient", patient.as_str()),
            patient_bidx: p.patient_index(patient),
            note_ct: note.map(|n| seal("note", n)),
            relative_ct: None,
            agenda_id: view.agenda.id.clone(),
            motive_id,
            day: Some(start.to_zoned(view.tz.clone()).date()),
            start,
            hold_until: None,
            idempotency: None,
            now: Timestamp::now(),
            outbox: OutboxWrite::default(),
            id,
        })
    }

    /// What a hold or booking this node just asked for does to the agenda's view: one
    /// committed is applied in place (no reload from the database); a refusal means the
    /// view missed something (another node's write, an expired hold), so the next read
    /// reloads it.
    fn after_reserve(
        &self,
        view: &AgendaView,
        motive: &MotiveId,
        out: &Result<ReserveOutcome, StoreError>,
    ) {
        match out {
            Ok(o) if !o.replayed => {
                let pooled = view.motive(motive).is_some_and(|m| m.capacity > 1);
                self.agendas.reserved(&o.reservation, pooled, None);
            }
            Ok(_) => {}
            Err(_) => self.agendas.invalidate(&view.agenda.id),
        }
    }

    pub async fn hold(
        &self,
        holder: Holder<'_>,
        agenda_id: &str,
        motive_id: &str,
        start: &str,
    ) -> AppResult<Appointment> {
        let subject = match holder {
            Holder::Patient(caller) => caller.id.clone(),
            Holder::Guest(guest) if is_valid_guest_id(guest) => guest_subject(guest),
            Holder::Guest(_) => return Err(AppError::Unauthenticated),
        };
        let (view, motive_id, start) = self.precheck(&holder, agenda_id, motive_id, start).await?;
        let mut req = self
            .sealed_request(&subject, &view, motive_id.clone(), start, None)
            .await?;
        req.hold_until = Some(
            req.now
                .checked_add(self.config.hold_ttl)
                .map_err(|_| AppError::BadRequest("hold expiry out of range".into()))?,
        );
        let out = self.store.reserve(&req).await;
        self.after_reserve(&view, &req.motive_id, &out);
        Ok(Appointment {
            row: out?.reservation,
            motive_id,
            patient: Some(subject),
            note: None,
            relative: None,
        })
    }

    /// A guest's live hold, for the page that asks them to sign in.
    pub async fn guest_hold(&self, guest: &str, hold_id: &str) -> AppResult<Appointment> {
        let a = self.live_hold(hold_id).await?;
        if !is_valid_guest_id(guest) || a.patient.as_ref() != Some(&guest_subject(guest)) {
            return Err(AppError::NotFound("hold"));
        }
        Ok(a)
    }

    async fn live_hold(&self, hold_id: &str) -> AppResult<Appointment> {
        let row = self
            .store
            .reservation(&ReservationId(hold_id.to_owned()))
            .await?
            .filter(|r| {
                r.status == ReservationStatus::Held
                    && r.expires_at.is_some_and(|t| t > Timestamp::now())
            })
            .ok_or(AppError::NotFound("hold"))?;
        self.open_reservation(row).await
    }

    /// A hold of this holder that is no longer live (expired, or past its expiry and not yet
    /// swept), opened so that the booking page can offer the same practitioner's next times
    /// instead of a dead end. `NotFound` for anyone else's hold, a live hold or a booking.
    pub async fn lapsed_hold(&self, holder: Holder<'_>, hold_id: &str) -> AppResult<Appointment> {
        let now = Timestamp::now();
        let row = self
            .store
            .reservation(&ReservationId(hold_id.to_owned()))
            .await?
            .filter(|r| match r.status {
                ReservationStatus::Expired => true,
                ReservationStatus::Held => r.expires_at.is_none_or(|t| t <= now),
                _ => false,
            })
            .ok_or(AppError::NotFound("hold"))?;
        let owner = match holder {
            Holder::Patient(caller) => {
                Core::require_role(caller, Role::Patient)?;
                caller.id.clone()
            }
            Holder::Guest(guest) if is_valid_guest_id(guest) => guest_subject(guest),
            Holder::Guest(_) => return Err(AppError::NotFound("hold")),
        };
        let a = self.open_reservation(row).await?;
        if a.patient.as_ref() != Some(&owner) {
            return Err(AppError::NotFound("hold"));
        }
        Ok(a)
    }

    /// Hands a guest's hold to the patient who just signed in, keeping its place and expiry.
    pub async fn claim_guest_hold(
        &self,
        caller: &Caller,
        guest: &str,
        hold_id: &str,
    ) -> AppResult<Appointment> {
        Core::require_role(caller, Role::Patient)?;
        let hold = self.guest_hold(guest, hold_id).await?;
        let view = self.view(&hold.row.agenda_id).await?;
        if let Some(motive) = view.motive(&hold.motive_id) {
            if let Err(e) = self.check_new_patient_rule(caller, &view, motive).await {
                let _ = self.store.cancel(&hold.row.id, Timestamp::now()).await;
                self.agendas.invalidate(&hold.row.agenda_id);
                return Err(e);
            }
        }
        let key = self.agenda_key(&view.agenda).await?;
        let patient_ct = self.protect.seal(
            &key,
            caller.id.as_str().as_bytes(),
            "reservations",
            "patient",
            hold.row.id.as_str(),
        );
        let row = self
            .store
            .claim_hold(
                &hold.row.id,
                &patient_ct,
                self.protect.patient_index(&caller.id),
                Timestamp::now(),
            )
            .await?
            .ok_or(AppError::NotFound("hold"))?;
        Ok(Appointment {
            row,
            patient: Some(caller.id.clone()),
            ..hold
        })
    }

    /// Releases a hold its holder no longer wants (a guest's or the caller's own).
    pub async fn release_hold(&self, holder: Holder<'_>, hold_id: &str) -> AppResult<()> {
        let hold = match holder {
            Holder::Patient(caller) => self.own_reservation(caller, hold_id).await?,
            Holder::Guest(guest) => self.guest_hold(guest, hold_id).await?,
        };
        if hold.row.status == ReservationStatus::Held {
            let out = self.store.cancel(&hold.row.id, Timestamp::now()).await;
            self.agendas.invalidate(&hold.row.agenda_id);
            out?;
        }
        Ok(())
    }

    /// Books directly or from a hold. `idempotency` is the client's key and the request
    /// body as sent; both are stored only as keyed hashes.
    pub async fn book(
        &self,
        caller: &Caller,
        input: BookingInput,
        details: BookingDetails<'_>,
        idempotency: Option<(&str, &[u8])>,
    ) -> AppResult<Appointment> {
        self.book_with_payment(caller, input, details, idempotency, None)
            .await
    }

    /// [`Scheduling::book`] with the payment method that pays a teleconsultation's fee online
    /// (see `services/payment.rs`: the card is authorised on a hold before it is booked).
    pub async fn book_with_payment(
        &self,
        caller: &Caller,
        input: BookingInput,
        details: BookingDetails<'_>,
        idempotency: Option<(&str, &[u8])>,
        payment_method: Option<&str>,
    ) -> AppResult<Appointment> {
        Core::require_role(caller, Role::Patient)?;
        let note = parse_note(details.note)?;
        let relative = match details.relative_id {
            None | Some("") | Some("self") => None,
            Some(id) => Some(self.own_relative(caller, id).await?),
        };
        let idempotency = idempotency.map(|(key, body)| Idempotency {
            key_hash: self.protect.keyed_hash(
                "idempotency.key",
                format!("{}\0{key}", caller.id).as_bytes(),
            ),
            request_hash: self.protect.keyed_hash("idempotency.request", body),
        });
        if let Some(idem) = &idempotency {
            if let Some((hash, row)) = self.store.find_idempotent(&idem.key_hash).await? {
                if hash != idem.request_hash {
                    return Err(StoreError::IdempotencyMismatch.into());
                }
                return self.open_reservation(row).await;
            }
        }
        let charge = self.charge_for(caller, &input).await?;
        let (input, authorised) = match &charge {
            Charge::Online { agenda, fee } => {
                let (hold_id, taken_here) = self
                    .authorise_for_booking(caller, input, agenda, fee, payment_method)
                    .await?;
                (
                    BookingInput::FromHold {
                        hold_id: hold_id.clone(),
                    },
                    Some((hold_id, taken_here)),
                )
            }
            _ => (input, None),
        };
        let out = async {
            Ok::<_, AppError>(match input {
                BookingInput::Direct {
                    agenda_id,
                    motive_id,
                    start,
                } => {
                    let (view, motive_id, start) = self
                        .precheck(&Holder::Patient(caller), &agenda_id, &motive_id, &start)
                        .await?;
                    let mut req = self
                        .sealed_request(&caller.id, &view, motive_id, start, note.as_deref())
                        .await?;
                    if let Some(r) = &relative {
                        let key = self.agenda_key(&view.agenda).await?;
                        req.relative_ct = Some(self.protect.seal(
                            &key,
                            r.as_str().as_bytes(),
                            "reservations",
                            "relative",
                            req.id.as_str(),
                        ));
                    }
                    req.idempotency = idempotency;
                    let end = view
                        .motive(&req.motive_id)
                        .and_then(|m| {
                            start
                                .checked_add(jiff::SignedDuration::from_secs(m.duration.seconds()))
                                .ok()
                        })
                        .unwrap_or(start);
                    req.outbox = self
                        .outbox_for(Event::Booked, &view, &caller.id, &req.id, start, end)
                        .await;
                    self.add_video_link(
                        &mut req.outbox,
                        &view,
                        &req.motive_id,
                        &caller.id,
                        &req.id,
                        start,
                        end,
                    )
                    .await;
                    let out = self.store.reserve(&req).await;
                    self.after_reserve(&view, &req.motive_id, &out);
                    let out = out?;
                    if !out.replayed {
                        self.wake_outbox(&req.outbox);
                    }
                    out
                }
                BookingInput::FromHold { hold_id } => {
                    let hold =
                        self.own_reservation(caller, &hold_id)
                            .await
                            .map_err(|e| match e {
                                AppError::NotFound(_) => AppError::NotFound("hold"),
                                e => e,
                            })?;
                    let view = self.view(&hold.row.agenda_id).await?;
                    let key = self.agenda_key(&view.agenda).await?;
                    let seal = |col: &str, v: &str| {
                        self.protect.seal(
                            &key,
                            v.as_bytes(),
                            "reservations",
                            col,
                            hold.row.id.as_str(),
                        )
                    };
                    let note_ct = note.as_deref().map(|n| seal("note", n));
                    let relative_ct = relative.as_ref().map(|r| seal("relative", r.as_str()));
                    let mut outbox = self
                        .outbox_for(
                            Event::Booked,
                            &view,
                            &caller.id,
                            &hold.row.id,
                            hold.row.start,
                            hold.row.end,
                        )
                        .await;
                    self.add_video_link(
                        &mut outbox,
                        &view,
                        &hold.motive_id,
                        &caller.id,
                        &hold.row.id,
                        hold.row.start,
                        hold.row.end,
                    )
                    .await;
                    let out = self
                        .store
                        .book_hold(&BookHoldRequest {
                            hold_id: hold.row.id.clone(),
                            note_ct,
                            relative_ct,
                            idempotency,
                            now: Timestamp::now(),
                            outbox: outbox.clone(),
                        })
                        .await;
                    match &out {
                        // The held place is now booked: the view changes in place.
                        Ok(o) if !o.replayed => self.agendas.booked(&o.reservation),
                        Ok(_) => {}
                        Err(_) => self.agendas.invalidate(&hold.row.agenda_id),
                    }
                    let out = out?;
                    self.wake_outbox(&outbox);
                    out
                }
            })
        }
        .await;
        {
            use careslot_core::observe::BookingKind::Appointment;
            match &out {
                Ok(o) if !o.replayed => self.metrics.booked(Appointment),
                Err(
                    AppError::Store(StoreError::Conflict(_)) | AppError::Conflict("slot-taken", _),
                ) => self.metrics.booking_conflict(Appointment),
                _ => {}
            }
        }
        let out = match (out, authorised) {
            (Ok(out), _) => out,
            (Err(e), Some((hold_id, taken_here))) => {
                self.undo_authorisation(&hold_id, taken_here).await;
                return Err(e);
            }
            (Err(e), None) => return Err(e),
        };
        let booked = self.open_reservation(out.reservation).await?;
        if let Charge::AtPractice { agenda, fee } = charge {
            self.record_at_practice(&booked, agenda, fee).await;
        }
        Ok(booked)
    }

    /// A reservation of the caller's (patients see only their own; others get 404).
    pub async fn own_reservation(&self, caller: &Caller, id: &str) -> AppResult<Appointment> {
        Core::require_role(caller, Role::Patient)?;
        let row = self
            .store
            .reservation(&ReservationId(id.to_owned()))
            .await?
            .filter(|r| r.status != ReservationStatus::Expired && r.patient_ct.is_some())
            .ok_or(AppError::NotFound("appointment"))?;
        let opened = self.open_reservation(row).await?;
        if opened.patient.as_ref() != Some(&caller.id) {
            return Err(AppError::NotFound("appointment"));
        }
        Ok(opened)
    }

    pub async fn cancel(&self, caller: &Caller, id: &str) -> AppResult<Appointment> {
        let a = self.own_reservation(caller, id).await?;
        match a.row.status {
            ReservationStatus::Cancelled => return Ok(a),
            ReservationStatus::Booked if a.row.start <= Timestamp::now() => {
                return Err(AppError::Conflict(
                    "already-started",
                    "an appointment that has started cannot be cancelled".into(),
                ))
            }
            ReservationStatus::Booked | ReservationStatus::Held => {}
            _ => return Err(StoreError::Conflict(ConflictKind::NotLive).into()),
        }
        let outbox = if a.row.status == ReservationStatus::Booked {
            let view = self.view(&a.row.agenda_id).await?;
            self.outbox_for(
                Event::CancelledByPatient,
                &view,
                &caller.id,
                &a.row.id,
                a.row.start,
                a.row.end,
            )
            .await
        } else {
            OutboxWrite::default()
        };
        let out = self
            .store
            .cancel_with(&a.row.id, Timestamp::now(), &outbox)
            .await;
        self.agendas.invalidate(&a.row.agenda_id);
        let cancelled = out?;
        if cancelled.is_some() {
            self.wake_outbox(&outbox);
        }
        // A dose implies the ones after it: cancelling dose 1 cancels dose 2.
        if cancelled.is_some() {
            for later in self.store.series_of(&a.row.id).await? {
                if later.start > a.row.start && later.status == ReservationStatus::Booked {
                    // Its reminder goes with it (the series queued one per dose).
                    let drop = OutboxWrite {
                        delete_pending: vec![
                            crate::notify::reminder_key(&later.id),
                            crate::event_messages::video_key(&later.id),
                        ],
                        ..OutboxWrite::default()
                    };
                    let out = self
                        .store
                        .cancel_with(&later.id, Timestamp::now(), &drop)
                        .await;
                    self.agendas.invalidate(&later.agenda_id);
                    out?;
                }
            }
        }
        if cancelled.is_some() {
            self.release_or_log(&a.row.id).await;
        }
        match cancelled {
            Some(row) => Ok(Appointment { row, ..a }),
            // Cancelled concurrently: report the state as it is now; a visit the practice
            // started meanwhile was not cancelled (409).
            None => {
                let now = self.own_reservation(caller, id).await?;
                let row = crate::payment::unchanged_by_cancel(now.row)?;
                Ok(Appointment { row, ..now })
            }
        }
    }

    pub async fn move_appointment(
        &self,
        caller: &Caller,
        id: &str,
        start: &str,
    ) -> AppResult<Appointment> {
        let start = parse_instant("start", start)?;
        let a = self.own_reservation(caller, id).await?;
        self.move_booked(a, start, false).await
    }

    /// The one move of a booked appointment, for the patient and for the practice's desk:
    /// same checks, same store write, same messages to the patient. The practice is not held
    /// to the motive's notice (as when it books), and its own moves are not reported back to
    /// it as something a patient did.
    pub(crate) async fn move_booked(
        &self,
        a: Appointment,
        start: Timestamp,
        by_practice: bool,
    ) -> AppResult<Appointment> {
        let now = Timestamp::now();
        if a.row.status != ReservationStatus::Booked {
            return Err(StoreError::Conflict(ConflictKind::NotLive).into());
        }
        if a.row.start <= now {
            return Err(AppError::Conflict(
                "already-started",
                "an appointment that has started cannot be moved".into(),
            ));
        }
        let view = self.view(&a.row.agenda_id).await?;
        let mut motive = view
            .motive(&a.motive_id)
            .ok_or(AppError::NotFound("motive"))?
            .clone();
        if view.vaccine(&motive.id).is_some() {
            // The doses' interval and stock were checked together: change them together.
            return Err(AppError::Conflict(
                "vaccination-move",
                "a vaccination appointment is changed by cancelling it and booking its doses again"
                    .into(),
            ));
        }
        if by_practice {
            motive.policy.min_notice_min = 0;
        }
        // Occupancy is left to the store: the appointment may move onto part of its own time.
        let slot = view
            .check_calendar(&motive, start, now)
            .map_err(unavailable)?;
        let end = start
            .checked_add(a.row.end.duration_since(a.row.start))
            .unwrap_or(start);
        if end > slot.end {
            // A length of its own, longer than its motive's: it must fit there too.
            view.check_span(&motive, start, end, now)
                .map_err(unavailable)?;
        }
        let outbox = match &a.patient {
            Some(patient) if start != a.row.start => {
                let mut w = self
                    .outbox_for(
                        Event::Moved {
                            previous_start: a.row.start,
                        },
                        &view,
                        patient,
                        &a.row.id,
                        start,
                        end,
                    )
                    .await;
                if by_practice {
                    w.notices.clear();
                }
                // The moved teleconsultation's link, due when its new room opens.
                self.add_video_link(&mut w, &view, &a.motive_id, patient, &a.row.id, start, end)
                    .await;
                w
            }
            _ => OutboxWrite::default(),
        };
        let out = self
            .store
            .move_with(&a.row.id, &a.motive_id, start, now, &outbox)
            .await;
        self.agendas.invalidate(&a.row.agenda_id);
        let row = out?;
        self.wake_outbox(&outbox);
        Ok(Appointment { row, ..a })
    }

    /// The caller's appointments (holds excluded), the read audited.
    pub async fn my_appointments(&self, caller: &Caller) -> AppResult<Vec<Appointment>> {
        Core::require_role(caller, Role::Patient)?;
        let rows = self
            .store
            .reservations_by_patient_index(self.protect.patient_index(&caller.id))
            .await?;
        let mine: Vec<Appointment> = self
            .reservations_of(&caller.id, rows)
            .await?
            .into_iter()
            .filter(|a| a.row.status != ReservationStatus::Held)
            .collect();
        self.audit(caller, &[(caller.id.clone(), "appointments.list")])
            .await?;
        Ok(mine)
    }
}
