//! The desk's notification list (issue 14, part C): appointments of the practice that
//! patients cancelled or moved, newest first, and the practice's choice to also get an email
//! for each (default on). Entries are written with the change (see `notify.rs`); the
//! patient's name is opened from the appointment when shown, each read audited.

use super::{AppError, AppResult, Caller, Scheduling};
use careslot_store::{NoticeKind, PracticeNotice, Role};

/// How many entries the list shows.
pub const NOTICES_SHOWN: i64 = 50;

/// One entry as the desk shows it.
#[derive(Debug, Clone)]
pub struct DeskNotice {
    pub notice: PracticeNotice,
    /// The patient's name; `None` once erased.
    pub patient_name: Option<String>,
    /// The agenda's zone, for the times.
    pub tz: jiff::tz::TimeZone,
}

impl DeskNotice {
    pub fn is_cancellation(&self) -> bool {
        self.notice.kind == NoticeKind::Cancelled
    }
}

impl Scheduling {
    /// The practice's recent cancellations and moves by patients.
    pub async fn desk_notices(&self, caller: &Caller) -> AppResult<Vec<DeskNotice>> {
        let me = self.practice_of(caller).await?;
        let mut out = Vec::new();
        for notice in self.store.practice_notices(&me.id, NOTICES_SHOWN).await? {
            let shown = match self
                .desk_appointment(caller, notice.reservation_id.as_str())
                .await
            {
                Ok(a) => a,
                // Gone from the practice's agendas: nothing to show.
                Err(AppError::NotFound(_)) => continue,
                Err(e) => return Err(e),
            };
            let tz = self
                .view(&shown.appointment.row.agenda_id)
                .await?
                .tz
                .clone();
            out.push(DeskNotice {
                notice,
                patient_name: shown.patient_name,
                tz,
            });
        }
        Ok(out)
    }

    /// Whether the practice gets an email when a patient cancels or moves.
    pub async fn practice_email_on_changes(&self, caller: &Caller) -> AppResult<bool> {
        let me = self.practice_of(caller).await?;
        Ok(self.store.practice_emails_patient_changes(&me.id).await?)
    }

    /// The practitioner turns that email on or off (assistants cannot).
    pub async fn set_practice_email_on_changes(&self, caller: &Caller, on: bool) -> AppResult<()> {
        if caller.role != Role::Practitioner {
            return Err(AppError::Forbidden(
                "only the practitioner can change the practice's email settings",
            ));
        }
        let me = self.practice_of(caller).await?;
        if !self
            .store
            .set_practice_emails_patient_changes(&me.id, on)
            .await?
        {
            return Err(AppError::NotFound("practitioner"));
        }
        Ok(())
    }
}
