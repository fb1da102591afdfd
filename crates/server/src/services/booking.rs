//! The patient side: slots, holds, booking, cancelling, moving.
//!
//! The in-memory view answers fast "no" (not a slot, closed, full) without touching the
//! database; the store's transaction and constraints have the last word on every "yes".

use super::{App, AppError, AppResult};
use crate::availability::AgendaView;
use crate::time::{parse_date_range, parse_instant};
use careslot_domain::availability::Unavailable;
use careslot_domain::*;
use careslot_store::*;
use jiff::Timestamp;
use std::sync::Arc;

pub struct SlotQuery<'a> {
    pub agenda_id: &'a str,
    pub motive_id: &'a str,
    pub from: &'a str,
    pub to: &'a str,
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

/// Longest slot range one request may ask for, in days.
pub const MAX_SLOT_RANGE_DAYS: i32 = 31;

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

impl App {
    pub async fn view(&self, agenda: &AgendaId) -> AppResult<Arc<AgendaView>> {
        self.agendas
            .get(agenda)
            .await?
            .ok_or(AppError::NotFound("agenda"))
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
        let slots = view
            .calendar
            .slots(motive, &view.occupancy, from, to, Timestamp::now());
        Ok((view, slots))
    }

    /// Refuses early what the view already knows cannot be booked.
    async fn precheck(
        &self,
        caller: &Account,
        agenda_id: &str,
        motive_id: &str,
        start: &str,
    ) -> AppResult<(Arc<AgendaView>, MotiveId, Timestamp)> {
        App::require_role(caller, Role::Patient)?;
        let start = parse_instant("start", start)?;
        let view = self.view(&AgendaId(agenda_id.to_owned())).await?;
        let motive = Self::online_motive(&view, motive_id)?;
        view.check_start(motive, start, Timestamp::now())
            .map_err(unavailable)?;
        if motive.policy.new_patients_only
            && self
                .store
                .is_known_patient(&caller.id, &view.agenda.practitioner_id)
                .await?
        {
            return Err(AppError::Rule(
                "this visit motive is reserved for new patients of this practitioner".into(),
            ));
        }
        let id = motive.id.clone();
        Ok((view, id, start))
    }

    pub async fn hold(
        &self,
        caller: &Account,
        agenda_id: &str,
        motive_id: &str,
        start: &str,
    ) -> AppResult<ReservationRow> {
        let (view, motive_id, start) = self.precheck(caller, agenda_id, motive_id, start).await?;
        let now = Timestamp::now();
        let until = now
            .checked_add(self.config.hold_ttl)
            .map_err(|_| AppError::BadRequest("hold expiry out of range".into()))?;
        let out = self
            .store
            .reserve(&ReserveRequest {
                id: ReservationId::new(),
                agenda_id: view.agenda.id.clone(),
                motive_id,
                patient_id: caller.id.clone(),
                start,
                hold_until: Some(until),
                idempotency: None,
                now,
            })
            .await;
        self.agendas.invalidate(&view.agenda.id);
        Ok(out?.reservation)
    }

    /// Books directly or from a hold. Returns the appointment and whether it is a replay
    /// of an earlier request with the same idempotency key.
    pub async fn book(
        &self,
        caller: &Account,
        input: BookingInput,
        idempotency: Option<Idempotency>,
    ) -> AppResult<(ReservationRow, bool)> {
        App::require_role(caller, Role::Patient)?;
        if let Some(idem) = &idempotency {
            if let Some((hash, row)) = self.store.find_idempotent(&caller.id, &idem.key).await? {
                if hash != idem.request_hash {
                    return Err(StoreError::IdempotencyMismatch.into());
                }
                return Ok((row, true));
            }
        }
        let now = Timestamp::now();
        let out = match input {
            BookingInput::Direct {
                agenda_id,
                motive_id,
                start,
            } => {
                let (view, motive_id, start) = self
                    .precheck(caller, &agenda_id, &motive_id, &start)
                    .await?;
                let out = self
                    .store
                    .reserve(&ReserveRequest {
                        id: ReservationId::new(),
                        agenda_id: view.agenda.id.clone(),
                        motive_id,
                        patient_id: caller.id.clone(),
                        start,
                        hold_until: None,
                        idempotency,
                        now,
                    })
                    .await;
                self.agendas.invalidate(&view.agenda.id);
                out?
            }
            BookingInput::FromHold { hold_id } => {
                let out = self
                    .store
                    .book_hold(&BookHoldRequest {
                        hold_id: ReservationId(hold_id),
                        patient_id: caller.id.clone(),
                        idempotency,
                        now,
                    })
                    .await
                    .map_err(|e| match e {
                        StoreError::NotFound => AppError::NotFound("hold"),
                        e => e.into(),
                    })?;
                self.agendas.invalidate(&out.reservation.agenda_id);
                out
            }
        };
        Ok((out.reservation, out.replayed))
    }

    /// A reservation of the caller's (patients see only their own; others get 404).
    async fn own_reservation(&self, caller: &Account, id: &str) -> AppResult<ReservationRow> {
        App::require_role(caller, Role::Patient)?;
        match self
            .store
            .reservation(&ReservationId(id.to_owned()))
            .await?
        {
            Some(r)
                if r.patient_id.as_ref() == Some(&caller.id)
                    && r.status != ReservationStatus::Expired =>
            {
                Ok(r)
            }
            _ => Err(AppError::NotFound("appointment")),
        }
    }

    pub async fn cancel(&self, caller: &Account, id: &str) -> AppResult<ReservationRow> {
        let r = self.own_reservation(caller, id).await?;
        match r.status {
            ReservationStatus::Cancelled => return Ok(r),
            ReservationStatus::Booked if r.start <= Timestamp::now() => {
                return Err(AppError::Conflict(
                    "already-started",
                    "an appointment that has started cannot be cancelled".into(),
                ))
            }
            ReservationStatus::Booked | ReservationStatus::Held => {}
            _ => return Err(StoreError::Conflict(ConflictKind::NotLive).into()),
        }
        let out = self.store.cancel(&r.id, Timestamp::now()).await;
        self.agendas.invalidate(&r.agenda_id);
        match out? {
            Some(c) => Ok(c),
            // Cancelled concurrently: report the state as it is now.
            None => self.own_reservation(caller, id).await,
        }
    }

    pub async fn move_appointment(
        &self,
        caller: &Account,
        id: &str,
        start: &str,
    ) -> AppResult<ReservationRow> {
        let start = parse_instant("start", start)?;
        let r = self.own_reservation(caller, id).await?;
        let now = Timestamp::now();
        if r.status != ReservationStatus::Booked {
            return Err(StoreError::Conflict(ConflictKind::NotLive).into());
        }
        if r.start <= now {
            return Err(AppError::Conflict(
                "already-started",
                "an appointment that has started cannot be moved".into(),
            ));
        }
        let view = self.view(&r.agenda_id).await?;
        let motive = view
            .motive(&r.motive_id)
            .ok_or(AppError::NotFound("motive"))?;
        // Occupancy is left to the store: the appointment may move onto part of its own time.
        view.check_calendar(motive, start, now)
            .map_err(unavailable)?;
        let out = self.store.move_reservation(&r.id, start, now).await;
        self.agendas.invalidate(&r.agenda_id);
        Ok(out?)
    }

    pub async fn my_appointments(&self, caller: &Account) -> AppResult<Vec<ReservationRow>> {
        App::require_role(caller, Role::Patient)?;
        Ok(self.store.patient_appointments(&caller.id).await?)
    }
}
