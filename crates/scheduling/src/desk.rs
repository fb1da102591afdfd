//! The practice's desk: what a practitioner, or an assistant they invited, does with the
//! agenda — see the day, book a patient on the phone, mark a no-show, look up a patient's
//! history with this practitioner, change motives, hours and absences.

use super::{AppError, AppResult, Appointment, Caller, Identity, Scheduling};
use careslot_core::availability::AgendaView;
use careslot_core::protection::subject_key_name;
use careslot_core::time::parse_instant;
use careslot_domain::availability::Unavailable;
use careslot_domain::*;
use careslot_identity::{parse_birth_date, parse_name, parse_phone};
use careslot_store::*;
use jiff::Timestamp;
use std::sync::Arc;

/// A patient booked by the practice: someone already known (by account id), an entry of the
/// practice's directory (by entry id), or a person given on the phone by name and number
/// (and birth date if known): the directory's patient with that number and name when there
/// is one, else a new record (it has no login).
pub enum DeskPatient<'a> {
    Known(&'a str),
    Entry(&'a str),
    New {
        name: &'a str,
        phone: &'a str,
        birth_date: Option<&'a str>,
    },
}

/// Changes to a motive. The capacity is fixed once created; the duration may change on a
/// motive without parallel places (its pools would no longer line up) and applies to the
/// slots offered from then on: booked appointments keep their times.
pub struct MotiveChanges {
    pub name: String,
    /// The new duration in minutes; None keeps it.
    pub duration_min: Option<i64>,
    pub policy: MotivePolicy,
    /// Labels per language (`fr`, `en`, `de`, `it`): the pages show the visitor's, else
    /// `name`. Replaces the ones there (empty: none).
    pub labels: std::collections::BTreeMap<String, String>,
}

/// The languages a practice may name a motive in: those of the pages.
pub const LABEL_LANGS: [&str; 4] = ["fr", "en", "de", "it"];

/// One day's figures of an agenda: `booked` counts the appointments in force (whatever
/// their visit step), `arrived` those marked arrived or further, `in_consultation` and
/// `done` those at that step.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DayCounts {
    pub date: jiff::civil::Date,
    pub booked: u32,
    pub arrived: u32,
    pub in_consultation: u32,
    pub done: u32,
    pub no_show: u32,
    pub cancelled: u32,
}

/// The figures of each local day `from..=to` (in `tz`) of these appointments.
pub fn day_counts<'a>(
    rows: impl IntoIterator<Item = &'a ReservationRow>,
    from: jiff::civil::Date,
    to: jiff::civil::Date,
    tz: &jiff::tz::TimeZone,
) -> Vec<DayCounts> {
    let mut days = Vec::new();
    let mut d = from;
    while d <= to && days.len() < 62 {
        days.push(DayCounts {
            date: d,
            ..DayCounts::default()
        });
        match d.tomorrow() {
            Ok(n) => d = n,
            Err(_) => break,
        }
    }
    for r in rows {
        let date = r.start.to_zoned(tz.clone()).date();
        let Some(c) = days.iter_mut().find(|c| c.date == date) else {
            continue;
        };
        match r.status {
            ReservationStatus::Booked => {
                c.booked += 1;
                let step = r.visit_step();
                if step >= VisitStep::Arrived {
                    c.arrived += 1;
                }
                match step {
                    VisitStep::InConsultation => c.in_consultation += 1,
                    VisitStep::Done => c.done += 1,
                    _ => {}
                }
            }
            ReservationStatus::NoShow => c.no_show += 1,
            ReservationStatus::Cancelled => c.cancelled += 1,
            _ => {}
        }
    }
    days
}

/// An appointment as the desk sees it: with the patient's name (or who it is for).
#[derive(Debug, Clone)]
pub struct DeskAppointment {
    pub appointment: Appointment,
    pub patient_name: Option<String>,
}

impl Scheduling {
    /// The agendas the caller runs, with their places.
    pub async fn desk_agendas(&self, caller: &Caller) -> AppResult<Vec<DirectoryEntry>> {
        let me = self.practice_of(caller).await?;
        if caller.role == careslot_store::Role::Assistant {
            // The agendas it has a right on, whoever's in its organisation.
            return Ok(self
                .practice_agendas(caller, None)
                .await?
                .into_iter()
                .filter(|(_, a)| *a == crate::agenda_access::AgendaAccess::Run)
                .map(|(e, _)| e)
                .collect());
        }
        Ok(self.store.directory_of(&me.id).await?)
    }

    /// An appointment in one of the caller's agendas; anything else is unknown.
    pub(crate) async fn desk_reservation(
        &self,
        caller: &Caller,
        id: &str,
    ) -> AppResult<Appointment> {
        self.practice_of(caller).await?;
        let row = self
            .store
            .reservation(&ReservationId(id.to_owned()))
            .await?
            .ok_or(AppError::NotFound("appointment"))?;
        let view = self.view(&row.agenda_id).await?;
        if !self.runs(caller, &view.agenda).await? {
            return Err(AppError::NotFound("appointment"));
        }
        self.open_reservation(row).await
    }

    /// Books a patient from the desk. The practice may book any motive, online or not, and
    /// inside its own notice period; opening hours, absences and occupancy still apply.
    pub async fn desk_book(
        &self,
        caller: &Caller,
        agenda: &AgendaId,
        motive: &str,
        start: &str,
        patient: DeskPatient<'_>,
        note: Option<&str>,
    ) -> AppResult<Appointment> {
        let (me, _) = self.own_agenda(caller, agenda).await?;
        let start = parse_instant("start", start)?;
        let view = self.view(agenda).await?;
        let mut motive = view
            .motive(&MotiveId(motive.to_owned()))
            .ok_or(AppError::NotFound("motive"))?
            .clone();
        motive.policy.min_notice_min = 0;
        view.check_start(&motive, start, Timestamp::now())
            .map_err(|r| match r {
                Unavailable::Full => {
                    AppError::Conflict("slot-taken", "this time is no longer free".into())
                }
                _ => AppError::Conflict(
                    "not-a-slot",
                    "this is not a free slot of this motive".into(),
                ),
            })?;
        let patient_id = self.desk_patient(caller, &me, patient).await?;
        let note = note.map(str::trim).filter(|n| !n.is_empty());
        if note.is_some_and(|n| n.chars().count() > 2000) {
            return Err(DomainError::new("note", "must be at most 2000 characters").into());
        }
        let req = self
            .sealed_request(&patient_id, &view, motive.id.clone(), start, note)
            .await?;
        let out = self.store.reserve(&req).await;
        self.agendas.invalidate(agenda);
        let row = out?.reservation;
        let booked = self.open_reservation(row).await?;
        // In the practice's directory from now on; the booking stands whatever happens here
        // (filing again later repairs a miss).
        if let Err(e) = self.file_in_directory(&me.id, &patient_id).await {
            tracing::warn!(error = %e, "a phone booking's patient could not be filed in the directory");
        }
        // Booked on the phone: no card was given, the fee is paid at the practice.
        if motive.policy.teleconsultation {
            if let Some(fee) = self.motive_fees(agenda).await?.remove(&motive.id) {
                self.record_at_practice(&booked, agenda.clone(), fee).await;
            }
        }
        Ok(booked)
    }

    /// The account a desk booking is for: a known patient of this practice, an entry of its
    /// directory, or a person given on the phone (found in the directory, else recorded).
    pub(crate) async fn desk_patient(
        &self,
        caller: &Caller,
        me: &Practitioner,
        patient: DeskPatient<'_>,
    ) -> AppResult<AccountId> {
        Ok(match patient {
            DeskPatient::Known(id) => {
                let id = AccountId(id.to_owned());
                // Only patients this practice knows can be picked again.
                let filed = self
                    .store
                    .practice_patient_of_account(&me.id, &id)
                    .await?
                    .is_some();
                if !filed && self.desk_history(caller, &id).await?.1.is_empty() {
                    return Err(AppError::NotFound("patient"));
                }
                id
            }
            DeskPatient::Entry(entry) => {
                self.store
                    .practice_patient(&me.id, entry)
                    .await?
                    .ok_or(AppError::NotFound("patient"))?
                    .account_id
            }
            DeskPatient::New {
                name,
                phone,
                birth_date,
            } => {
                let name = parse_name("patient_name", name)?;
                let phone = parse_phone(phone).map_err(|_| {
                    DomainError::new(
                        "patient_phone",
                        "must be a phone number, e.g. +33 6 12 34 56 78",
                    )
                })?;
                let birth_date = birth_date
                    .map(str::trim)
                    .filter(|b| !b.is_empty())
                    .map(|b| {
                        parse_birth_date(b).map_err(|_| {
                            DomainError::new(
                                "patient_birth_date",
                                "must be a past date, YYYY-MM-DD",
                            )
                        })
                    })
                    .transpose()?;
                match self.directory_twin(&me.id, &name, &phone).await? {
                    Some(known) => known,
                    None => {
                        self.create_managed_patient(&me.id, name, phone, birth_date)
                            .await?
                    }
                }
            }
        })
    }

    /// A patient record without login, for a phone booking.
    async fn create_managed_patient(
        &self,
        practice: &PractitionerId,
        name: String,
        phone: String,
        birth_date: Option<String>,
    ) -> AppResult<AccountId> {
        let id = AccountId::new();
        let key_name = subject_key_name(&id);
        let (key, wrapped_key) = self.protect.new_data_key(&key_name).await?;
        let p = &self.protect;
        let seal = |col: &str, v: &str| p.seal(&key, v.as_bytes(), "accounts", col, id.as_str());
        let record = AccountRecord {
            role: Role::Patient,
            created_at: Timestamp::now(),
            wrapped_key,
            email_ct: seal("email", ""),
            name_ct: seal("name", &name),
            phone_ct: Some(seal("phone", &phone)),
            birth_date_ct: birth_date.as_deref().map(|b| seal("birth_date", b)),
            managed_by: Some(practice.clone()),
            id: id.clone(),
        };
        let created = self
            .store
            .create_account(&NewAccount {
                // Never matched by a login: no email, and a hash no password verifies.
                email_bidx: p.email_index(""),
                email_uniq: p.keyed_hash("managed-patient", id.as_str().as_bytes()),
                record,
                password_hash: "!".into(),
            })
            .await;
        if let Err(e) = created {
            let _ = self.protect.destroy(&key_name).await;
            return Err(e.into());
        }
        Ok(id)
    }

    /// Marks a booked appointment as a no-show once it has started, or takes that back.
    pub async fn set_no_show(
        &self,
        caller: &Caller,
        id: &str,
        no_show: bool,
    ) -> AppResult<Appointment> {
        let a = self.desk_reservation(caller, id).await?;
        let now = Timestamp::now();
        if no_show && a.row.start > now {
            return Err(AppError::Conflict(
                "not-started",
                "an appointment can be marked as a no-show only once it has started".into(),
            ));
        }
        // Marking (not undoing) tells the patient, in neutral words, with the change.
        let outbox = match (&a.patient, no_show) {
            (Some(patient), true) => {
                let view = self.view(&a.row.agenda_id).await?;
                self.outbox_for(
                    crate::notify::Event::NoShow,
                    &view,
                    patient,
                    &a.row.id,
                    a.row.start,
                    a.row.end,
                )
                .await
            }
            _ => OutboxWrite::default(),
        };
        let out = self
            .store
            .set_no_show_by(&a.row.id, no_show, Some(&caller.id), now, &outbox)
            .await;
        self.agendas.invalidate(&a.row.agenda_id);
        match out? {
            Some(row) => {
                self.wake_outbox(&outbox);
                Ok(Appointment { row, ..a })
            }
            None => Err(StoreError::Conflict(ConflictKind::NotLive).into()),
        }
    }

    /// Sets an appointment's status from the desk: `arrived`, `in_consultation`, `done`,
    /// `no_show`, or `booked` to undo a mistaken one. Forward and back moves are free while
    /// the appointment is booked; a no-show only before arrival, and undone only to
    /// `booked`; nothing on a cancelled appointment (the store has the last word).
    pub async fn set_visit_status(
        &self,
        caller: &Caller,
        id: &str,
        status: &str,
    ) -> AppResult<Appointment> {
        let target = match status {
            "no_show" => None,
            s => Some(VisitStep::parse(s).ok_or_else(|| {
                DomainError::new(
                    "status",
                    "must be one of booked, arrived, in_consultation, done, no_show",
                )
            })?),
        };
        let a = self.desk_reservation(caller, id).await?;
        match (a.row.status, target) {
            (ReservationStatus::NoShow, Some(VisitStep::Booked)) => {
                return self.set_no_show(caller, id, false).await
            }
            (ReservationStatus::NoShow, None) => return Ok(a),
            (ReservationStatus::NoShow, Some(_)) => {
                return Err(AppError::Conflict(
                    "status-no-show",
                    "this appointment is marked as a no-show: set it back to booked first".into(),
                ))
            }
            (ReservationStatus::Booked, None) => {
                if a.row.visit_step() > VisitStep::Booked {
                    return Err(AppError::Conflict(
                        "status-arrived",
                        "the patient was marked as arrived: set it back to booked first".into(),
                    ));
                }
                return self.set_no_show(caller, id, true).await;
            }
            (ReservationStatus::Booked, Some(_)) => {}
            _ => {
                return Err(AppError::Conflict(
                    "status-not-booked",
                    "only a booked appointment takes a status".into(),
                ))
            }
        }
        let step = target.unwrap_or(VisitStep::Booked);
        let out = self
            .store
            .set_visit_step(&a.row.id, step, &caller.id, Timestamp::now())
            .await;
        self.agendas.invalidate(&a.row.agenda_id);
        match out? {
            Some(row) => Ok(Appointment { row, ..a }),
            None => Err(AppError::Conflict(
                "status-not-booked",
                "only a booked appointment takes a status".into(),
            )),
        }
    }

    /// An appointment's status trail (who set which status when), for the practice.
    pub async fn visit_status_log(
        &self,
        caller: &Caller,
        id: &str,
    ) -> AppResult<Vec<VisitStatusEntry>> {
        let a = self.desk_reservation(caller, id).await?;
        Ok(self.store.visit_status_log(&a.row.id).await?)
    }

    /// A patient's identity and their appointments with this practice (the read audited).
    pub async fn desk_history(
        &self,
        caller: &Caller,
        patient: &AccountId,
    ) -> AppResult<(Option<Identity>, Vec<Appointment>)> {
        let me = self.practice_of(caller).await?;
        let rows = self
            .store
            .practitioner_reservations_by_patient_index(self.protect.patient_index(patient), &me.id)
            .await?;
        let mut mine = Vec::new();
        for row in rows {
            let a = self.open_reservation(row).await?;
            if a.patient.as_ref() == Some(patient) {
                mine.push(a);
            }
        }
        if mine.is_empty() {
            return Ok((None, mine));
        }
        let identity = match self.store.account(patient).await? {
            Some(r) => match self.open_identity(&r).await {
                Ok(i) => Some(i),
                Err(AppError::NotFound(_)) => None,
                Err(e) => return Err(e),
            },
            None => None,
        };
        self.audit(caller, &[(patient.clone(), "practice.patient_history")])
            .await?;
        Ok((identity, mine))
    }

    /// One appointment of the practice with its patient's name (the read audited).
    pub async fn desk_appointment(&self, caller: &Caller, id: &str) -> AppResult<DeskAppointment> {
        let a = self.desk_reservation(caller, id).await?;
        let mut name = None;
        if let Some(p) = &a.patient {
            name = self.name_of(p).await?;
            self.audit(caller, &[(p.clone(), "practice.appointment")])
                .await?;
        }
        Ok(DeskAppointment {
            appointment: a,
            patient_name: name,
        })
    }

    pub async fn update_motive(
        &self,
        caller: &Caller,
        agenda: &AgendaId,
        motive: &str,
        changes: MotiveChanges,
    ) -> AppResult<Motive> {
        let (_, agenda) = self.own_agenda(caller, agenda).await?;
        let view = self.view(&agenda.id).await?;
        let current = view
            .motive(&MotiveId(motive.to_owned()))
            .ok_or(AppError::NotFound("motive"))?;
        let duration = changes
            .duration_min
            .unwrap_or(i64::from(current.duration.get()));
        if duration != i64::from(current.duration.get()) && current.capacity > 1 {
            return Err(DomainError::new(
                "duration_min",
                "the duration of a motive with parallel places cannot change",
            )
            .into());
        }
        let updated = Motive::parse(
            current.id.clone(),
            agenda.id.clone(),
            &changes.name,
            duration,
            i64::from(current.capacity),
            changes.policy,
        )?;
        let label_ct = self.seal_motive_label(&agenda, &updated).await?;
        let mut labels = std::collections::BTreeMap::new();
        for (lang, label) in &changes.labels {
            let label = label.trim();
            if label.is_empty() {
                continue;
            }
            if !LABEL_LANGS.contains(&lang.as_str()) {
                return Err(DomainError::new("labels", "languages are fr, en, de and it").into());
            }
            // The same rules as the default label (length, no control characters).
            Motive::parse(
                current.id.clone(),
                agenda.id.clone(),
                label,
                i64::from(current.duration.get()),
                i64::from(current.capacity),
                updated.policy.clone(),
            )?;
            labels.insert(lang.clone(), label.to_owned());
        }
        let labels_ct = self
            .seal_motive_translations(&agenda, &updated.id, &labels)
            .await?;
        if !updated.policy.teleconsultation {
            // Only teleconsultations take an online fee (the database insists).
            self.store
                .set_motive_fee(&agenda.id, &updated.id, None)
                .await?;
        }
        let found = self
            .store
            .update_motive(&updated, &label_ct, labels_ct.as_deref())
            .await;
        self.agendas.invalidate(&agenda.id);
        if !found? {
            return Err(AppError::NotFound("motive"));
        }
        let online_video = |p: &MotivePolicy| p.teleconsultation && p.bookable_online;
        if online_video(&current.policy) != online_video(&updated.policy) {
            // The teleconsultation search filter reads the directory.
            self.refresh_directory(&agenda.practitioner_id).await?;
        }
        Ok(updated)
    }

    pub async fn delete_rule(&self, caller: &Caller, agenda: &AgendaId, id: &str) -> AppResult<()> {
        let (_, agenda) = self.own_agenda(caller, agenda).await?;
        let found = self
            .store
            .delete_rule(&agenda.id, &RuleId(id.to_owned()))
            .await;
        self.agendas.invalidate(&agenda.id);
        found?
            .then_some(())
            .ok_or(AppError::NotFound("opening rule"))
    }

    pub async fn delete_absence(
        &self,
        caller: &Caller,
        agenda: &AgendaId,
        id: &str,
    ) -> AppResult<()> {
        let (_, agenda) = self.own_agenda(caller, agenda).await?;
        let found = self
            .store
            .delete_absence(&agenda.id, &AbsenceId(id.to_owned()))
            .await;
        self.agendas.invalidate(&agenda.id);
        found?.then_some(()).ok_or(AppError::NotFound("absence"))
    }

    /// The view of one of the caller's agendas (for the desk's day and week pages).
    pub async fn desk_view(
        &self,
        caller: &Caller,
        agenda: &AgendaId,
    ) -> AppResult<Arc<AgendaView>> {
        self.own_agenda(caller, agenda).await?;
        self.view(agenda).await
    }

    /// An agenda's view for the grid: one the caller runs, or a colleague's they may see.
    pub async fn grid_view(
        &self,
        caller: &Caller,
        agenda: &AgendaId,
    ) -> AppResult<(Arc<AgendaView>, crate::agenda_access::AgendaAccess)> {
        let (_, access) = self.seen_agenda(caller, agenda).await?;
        Ok((self.view(agenda).await?, access))
    }

    /// The reasons given for the agenda's absences ending after `after`, by absence.
    pub async fn absence_reasons(
        &self,
        caller: &Caller,
        agenda: &AgendaId,
        after: Timestamp,
    ) -> AppResult<std::collections::HashMap<AbsenceId, String>> {
        self.seen_agenda(caller, agenda).await?;
        Ok(self
            .store
            .absence_reasons(agenda, after)
            .await?
            .into_iter()
            .collect())
    }
}
