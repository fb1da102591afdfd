//! Who takes part in an appointment: the one authorisation rule that video rooms, shared
//! documents, prescriptions and payments all build on.
//!
//! A participant is the appointment's patient (the account that booked it, relatives
//! included) or the practice that owns its agenda (the practitioner or one of their
//! assistants). Anyone else, and any appointment that does not exist, gets the same
//! `NotFound("appointment")` so that ids cannot be probed.

use super::{AppError, AppResult, Appointment, Caller, Scheduling};
use careslot_domain::{Motive, PractitionerId, ReservationId};
use careslot_store::{ReservationStatus, Role};

/// Which side of the appointment the caller is on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    Patient,
    /// The practitioner or one of their assistants.
    Practice,
}

/// An appointment seen by one of its participants.
#[derive(Debug, Clone)]
pub struct Participation {
    pub appointment: Appointment,
    pub side: Side,
    /// The practitioner whose agenda holds the appointment.
    pub practitioner: PractitionerId,
    /// The appointment's motive as the agenda defines it now.
    pub motive: Motive,
}

impl Participation {
    pub fn is_teleconsultation(&self) -> bool {
        self.motive.policy.teleconsultation
    }
}

impl Scheduling {
    /// The appointment `id` if the caller takes part in it; `NotFound("appointment")` for
    /// anyone else. Held (not yet booked) and expired reservations are not appointments.
    pub async fn participation(&self, caller: &Caller, id: &str) -> AppResult<Participation> {
        let not_found = || AppError::NotFound("appointment");
        let row = self
            .store
            .reservation(&ReservationId(id.to_owned()))
            .await?
            .filter(|r| {
                matches!(
                    r.status,
                    ReservationStatus::Booked
                        | ReservationStatus::Cancelled
                        | ReservationStatus::NoShow
                )
            })
            .ok_or_else(not_found)?;
        let view = self.view(&row.agenda_id).await?;
        let practitioner = view.agenda.practitioner_id.clone();
        let side = match caller.role {
            Role::Patient => Side::Patient,
            Role::Practitioner | Role::Assistant => match self.practice_of(caller).await {
                Ok(me) if me.id == practitioner => Side::Practice,
                Ok(_) | Err(AppError::Forbidden(_)) | Err(AppError::NotFound(_)) => {
                    return Err(not_found())
                }
                Err(e) => return Err(e),
            },
            // Operators take part in no consultation.
            Role::Operator => return Err(not_found()),
        };
        let appointment = self.open_reservation(row).await?;
        if side == Side::Patient && appointment.patient.as_ref() != Some(&caller.id) {
            return Err(not_found());
        }
        let motive = view
            .motive(&appointment.motive_id)
            .cloned()
            .ok_or_else(not_found)?;
        Ok(Participation {
            appointment,
            side,
            practitioner,
            motive,
        })
    }
}
