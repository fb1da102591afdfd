//! What the desk's time grid needs beyond the day list: the patients' names and phones of
//! an agenda's appointments (for the grid and its printable day list), moving an
//! appointment from the practice side through the same move as the patient's, and giving
//! an appointment a length of its own (resizing it).

use super::{AppError, AppResult, Appointment, Caller, Scheduling};
use crate::agenda_access::AgendaAccess;
use careslot_core::availability::AgendaView;
use careslot_core::time::parse_instant;
use careslot_domain::availability::Unavailable;
use careslot_domain::{AbsenceId, AccountId, AgendaId, DomainError};
use careslot_store::{ConflictKind, OutboxWrite, ReservationStatus, StoreError};
use jiff::Timestamp;
use std::collections::HashMap;
use std::sync::Arc;

/// Who an appointment is for, as the desk shows it.
#[derive(Debug, Clone, Default)]
pub struct GridPatient {
    pub name: Option<String>,
    pub phone: Option<String>,
}

/// One agenda's column of the grid, as [`Scheduling::grid_lanes`] reads it.
#[derive(Clone)]
pub struct GridLane {
    pub view: Arc<AgendaView>,
    pub access: AgendaAccess,
    /// The reasons given for absences that end after now, by absence.
    pub reasons: HashMap<AbsenceId, String>,
    pub appointments: Vec<(Appointment, GridPatient)>,
}

impl Scheduling {
    /// Appointments of one of the caller's agendas on local dates `[from, to]` with each
    /// patient's name and phone; every patient shown is recorded in the access log.
    pub async fn grid_appointments(
        &self,
        caller: &Caller,
        agenda: &AgendaId,
        from: &str,
        to: &str,
    ) -> AppResult<Vec<(Appointment, GridPatient)>> {
        let mut lanes = self
            .grid_lanes(caller, std::slice::from_ref(agenda), from, to)
            .await?;
        Ok(lanes.pop().map(|l| l.appointments).unwrap_or_default())
    }

    /// The same for several agendas (a practice's grid side by side), one lane per agenda
    /// in the order given, each with the agenda's view, the caller's access and its
    /// absences' reasons. The caller's practice is read once, and the patients of all
    /// lanes are read in one go and logged as one access-log entry: a week of a
    /// five-practitioner practice shows about a thousand appointments, and a read and a log
    /// entry each would be most of the page's time. The lanes are read concurrently, and
    /// the log is written while the patients are read: the database's threads work while
    /// this one decrypts.
    pub async fn grid_lanes(
        &self,
        caller: &Caller,
        agendas: &[AgendaId],
        from: &str,
        to: &str,
    ) -> AppResult<Vec<GridLane>> {
        let me = self.practice_of(caller).await?;
        let now = Timestamp::now();
        let mut lanes = futures::future::try_join_all(
            agendas
                .iter()
                .map(|id| self.grid_lane(caller, &me, id, from, to, now)),
        )
        .await?;
        let mut ids: Vec<AccountId> = lanes
            .iter()
            .flat_map(|l| &l.appointments)
            .filter_map(|(a, _)| a.patient.clone())
            .collect();
        ids.sort_unstable();
        ids.dedup();
        let reads: Vec<(AccountId, &str)> =
            ids.iter().map(|p| (p.clone(), "agenda.grid")).collect();
        let (records, ()) = futures::future::try_join(
            async { Ok::<_, AppError>(self.store.accounts(&ids).await?) },
            self.audit(caller, &reads),
        )
        .await?;
        let mut people: HashMap<AccountId, GridPatient> = HashMap::with_capacity(ids.len());
        for record in records {
            // An erased patient (key gone) is shown without a name, as a missing account.
            let (name, phone) = match self.open_name_and_phone(&record).await {
                Ok(found) => found,
                Err(AppError::NotFound(_)) => continue,
                Err(e) => return Err(e),
            };
            people.insert(
                record.id,
                GridPatient {
                    name: Some(name),
                    phone,
                },
            );
        }
        for (a, who) in lanes.iter_mut().flat_map(|l| &mut l.appointments) {
            if let Some(found) = a.patient.as_ref().and_then(|p| people.get(p)) {
                who.clone_from(found);
            }
        }
        Ok(lanes)
    }

    /// One lane of [`Self::grid_lanes`], its patients not yet read.
    async fn grid_lane(
        &self,
        caller: &Caller,
        me: &careslot_store::Practitioner,
        id: &AgendaId,
        from: &str,
        to: &str,
        now: Timestamp,
    ) -> AppResult<GridLane> {
        let (agenda, access) = self.seen_agenda_as(caller, me, id).await?;
        let tz = careslot_core::time::parse_zone(&agenda.timezone)?;
        let (from, to) = careslot_core::time::parse_date_range(from, to, 92)?;
        let (start, end) = careslot_core::time::local_days(from, to, &tz)?;
        let (rows, reasons) = futures::future::try_join(
            self.store.agenda_appointments(&agenda.id, start, end),
            self.store.absence_reasons(&agenda.id, now),
        )
        .await?;
        let appointments = self
            .open_reservations_of(&agenda, rows)
            .await?
            .into_iter()
            .map(|a| (a, GridPatient::default()))
            .collect();
        Ok(GridLane {
            view: self.view(&agenda.id).await?,
            access,
            reasons: reasons.into_iter().collect(),
            appointments,
        })
    }

    /// Moves an appointment of one of the caller's agendas to a new start in the same
    /// agenda: the patient's move (same checks, same store transaction, same message to the
    /// patient), without the motive's notice period.
    pub async fn desk_move(
        &self,
        caller: &Caller,
        id: &str,
        start: &str,
    ) -> AppResult<Appointment> {
        let start = parse_instant("start", start)?;
        let a = self.desk_reservation(caller, id).await?;
        self.move_booked(a, start, true).await
    }

    /// Gives an appointment of one of the caller's agendas a length of its own, `minutes`
    /// from its unchanged start (kept if it moves later). The same checks as a move: booked,
    /// not started, not a vaccination, inside the opening hours and outside absences; the
    /// store's overlap rule refuses a length that runs into another appointment. The
    /// patient's messages give the start, which does not change: nothing is sent.
    pub async fn desk_resize(
        &self,
        caller: &Caller,
        id: &str,
        minutes: u32,
    ) -> AppResult<Appointment> {
        if !(MIN_LENGTH_MIN..=MAX_LENGTH_MIN).contains(&minutes) || !minutes.is_multiple_of(5) {
            return Err(
                DomainError::new("minutes", "must be a multiple of 5 between 5 and 480").into(),
            );
        }
        let a = self.desk_reservation(caller, id).await?;
        let now = Timestamp::now();
        if a.row.status != ReservationStatus::Booked {
            return Err(StoreError::Conflict(ConflictKind::NotLive).into());
        }
        if a.row.start <= now {
            return Err(AppError::Conflict(
                "already-started",
                "an appointment that has started cannot be changed".into(),
            ));
        }
        let view = self.view(&a.row.agenda_id).await?;
        let motive = view
            .motive(&a.motive_id)
            .ok_or(AppError::NotFound("motive"))?;
        if view.vaccine(&motive.id).is_some() || motive.capacity > 1 {
            return Err(AppError::Conflict(
                "shared-slot",
                "an appointment sharing its slot with others keeps the slot's length".into(),
            ));
        }
        let end = a
            .row
            .start
            .checked_add(jiff::SignedDuration::from_mins(i64::from(minutes)))
            .map_err(|_| DomainError::new("minutes", "out of range"))?;
        view.check_span(motive, a.row.start, end, now)
            .map_err(|reason| match reason {
                Unavailable::Closed => AppError::Conflict(
                    "closed",
                    "the agenda is closed during part of this length".into(),
                ),
                _ => AppError::Conflict(
                    "outside-hours",
                    "this length goes past the opening hours".into(),
                ),
            })?;
        let out = self
            .store
            .resize_with(&a.row.id, minutes, now, &OutboxWrite::default())
            .await;
        self.agendas.invalidate(&a.row.agenda_id);
        Ok(Appointment { row: out?, ..a })
    }
}

/// Shortest and longest length the practice gives an appointment (minutes).
pub const MIN_LENGTH_MIN: u32 = 5;
pub const MAX_LENGTH_MIN: u32 = 8 * 60;
