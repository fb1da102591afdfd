//! What the desk's time grid needs beyond the day list: the patients' names and phones of
//! an agenda's appointments (for the grid and its printable day list), and moving an
//! appointment from the practice side through the same move as the patient's.

use super::{AppError, AppResult, Appointment, Caller, Scheduling};
use careslot_core::time::parse_instant;
use careslot_domain::{AccountId, AgendaId};
use std::collections::HashMap;

/// Who an appointment is for, as the desk shows it.
#[derive(Debug, Clone, Default)]
pub struct GridPatient {
    pub name: Option<String>,
    pub phone: Option<String>,
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
        let (_, agenda) = self.own_agenda(caller, agenda).await?;
        let tz = careslot_core::time::parse_zone(&agenda.timezone)?;
        let (from, to) = careslot_core::time::parse_date_range(from, to, 92)?;
        let (start, end) = careslot_core::time::local_days(from, to, &tz)?;
        let rows = self
            .store
            .agenda_appointments(&agenda.id, start, end)
            .await?;
        let mut people: HashMap<AccountId, GridPatient> = HashMap::new();
        let mut out = Vec::with_capacity(rows.len());
        for row in rows {
            let a = self.open_reservation(row).await?;
            let mut who = GridPatient::default();
            if let Some(patient) = &a.patient {
                if !people.contains_key(patient) {
                    let found = match self.store.account(patient).await? {
                        Some(r) => match self.open_identity(&r).await {
                            Ok(i) => GridPatient {
                                name: Some(i.name),
                                phone: i.phone,
                            },
                            Err(AppError::NotFound(_)) => GridPatient::default(),
                            Err(e) => return Err(e),
                        },
                        None => GridPatient::default(),
                    };
                    people.insert(patient.clone(), found);
                }
                who = people.get(patient).cloned().unwrap_or_default();
            }
            out.push((a, who));
        }
        let reads: Vec<(AccountId, &str)> =
            people.keys().map(|p| (p.clone(), "agenda.grid")).collect();
        self.audit(caller, &reads).await?;
        Ok(out)
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
}
