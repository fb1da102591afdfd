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

/// Changes to a motive; duration and capacity are fixed once created.
pub struct MotiveChanges {
    pub name: String,
    pub policy: MotivePolicy,
    /// Labels per language (`fr`, `en`, `de`, `it`): the pages show the visitor's, else
    /// `name`. Replaces the ones there (empty: none).
    pub labels: std::collections::BTreeMap<String, String>,
}

/// The languages a practice may name a motive in: those of the pages.
pub const LABEL_LANGS: [&str; 4] = ["fr", "en", "de", "it"];

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
        Ok(self.store.directory_of(&me.id).await?)
    }

    /// An appointment in one of the caller's agendas; anything else is unknown.
    pub(crate) async fn desk_reservation(
        &self,
        caller: &Caller,
        id: &str,
    ) -> AppResult<Appointment> {
        let me = self.practice_of(caller).await?;
        let row = self
            .store
            .reservation(&ReservationId(id.to_owned()))
            .await?
            .ok_or(AppError::NotFound("appointment"))?;
        let view = self.view(&row.agenda_id).await?;
        if view.agenda.practitioner_id != me.id {
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
        let patient_id = match patient {
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
        };
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
            .set_no_show_with(&a.row.id, no_show, now, &outbox)
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
            if let Some(r) = self.store.account(p).await? {
                match self.open_identity(&r).await {
                    Ok(i) => name = Some(i.name),
                    Err(AppError::NotFound(_)) => {}
                    Err(e) => return Err(e),
                }
            }
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
        let updated = Motive::parse(
            current.id.clone(),
            agenda.id.clone(),
            &changes.name,
            i64::from(current.duration.get()),
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
}
