//! The practitioner side: profile, places, agendas, motives, opening rules, absences, and
//! the agenda's appointments.

use super::{AppError, AppResult, Appointment, Caller, Core, Scheduling};
use careslot_core::availability::AgendaView;
use careslot_core::protection::agenda_key_name;
use careslot_core::time::{parse_date, parse_hhmm, parse_instant, parse_zone};
use careslot_domain::geo::LatLon;
use careslot_domain::*;
use careslot_identity::parse_name;
use careslot_store::{Agenda, OutboxWrite, Place, Practitioner, Role};
use jiff::Timestamp;
use std::collections::{BTreeMap, HashMap};

pub struct ProfileInput {
    pub name: String,
    pub specialty: String,
    pub languages: Vec<String>,
    pub bio: Option<String>,
}

pub struct NewPlace {
    pub name: String,
    pub address: String,
    pub postcode: String,
    pub city: String,
    pub country: String,
    pub lat: f64,
    pub lon: f64,
    pub timezone: String,
}

pub struct NewMotive {
    pub name: String,
    pub duration_min: i64,
    pub capacity: i64,
    pub policy: MotivePolicy,
    /// Makes it a vaccination motive: which product and dose.
    pub vaccine: Option<crate::VaccineSpec>,
}

pub struct NewRule {
    pub weekdays: Vec<i64>,
    pub start: String,
    pub end: String,
    pub motive_ids: Vec<String>,
    pub valid_from: Option<String>,
    pub valid_until: Option<String>,
}

fn text(field: &'static str, raw: &str, max: usize) -> Result<String, DomainError> {
    let t = raw.trim();
    if t.is_empty() || t.chars().count() > max {
        return Err(DomainError::new(
            field,
            format!("must be 1 to {max} characters"),
        ));
    }
    Ok(t.to_owned())
}

impl Scheduling {
    pub async fn set_profile(
        &self,
        caller: &Caller,
        input: ProfileInput,
    ) -> AppResult<Practitioner> {
        Core::require_role(caller, Role::Practitioner)?;
        let specialty = Specialty::parse(input.specialty.trim())?;
        let mut languages = Vec::new();
        for l in input.languages {
            let l = l.trim().to_ascii_lowercase();
            if l.len() < 2 || l.len() > 8 || !l.chars().all(|c| c.is_ascii_alphabetic() || c == '-')
            {
                return Err(DomainError::new(
                    "languages",
                    "use language codes such as \"fr\" or \"en\"",
                )
                .into());
            }
            if !languages.contains(&l) {
                languages.push(l);
            }
        }
        let bio = match input.bio.as_deref().map(str::trim) {
            Some(b) if b.chars().count() > 4000 => {
                return Err(DomainError::new("bio", "must be at most 4000 characters").into())
            }
            Some("") | None => None,
            Some(b) => Some(b.to_owned()),
        };
        let saved = self
            .store
            .upsert_practitioner(&Practitioner {
                id: PractitionerId::new(),
                account_id: caller.id.clone(),
                name: parse_name("name", &input.name)?,
                specialty,
                languages,
                bio,
            })
            .await?;
        self.refresh_directory(&saved.id).await?;
        Ok(saved)
    }

    pub(crate) async fn refresh_directory(&self, practitioner: &PractitionerId) -> AppResult<()> {
        let rows = self.store.directory_of(practitioner).await?;
        self.directory.replace_practitioner(practitioner, rows);
        Ok(())
    }

    pub async fn create_place(&self, caller: &Caller, input: NewPlace) -> AppResult<Place> {
        let me = self.practitioner_of(caller).await?;
        let pos = LatLon::parse(input.lat, input.lon)?;
        parse_zone(&input.timezone)?;
        let place = Place {
            id: PlaceId::new(),
            practitioner_id: me.id,
            name: text("name", &input.name, 200)?,
            address: text("address", &input.address, 500)?,
            postcode: text("postcode", &input.postcode, 16)?,
            city: text("city", &input.city, 200)?,
            country: Country::parse(&input.country)?,
            lat: pos.lat,
            lon: pos.lon,
            timezone: input.timezone.trim().to_owned(),
        };
        self.store.create_place(&place).await?;
        Ok(place)
    }

    pub async fn create_agenda(
        &self,
        caller: &Caller,
        place_id: &str,
        holidays: Option<Option<String>>,
    ) -> AppResult<Agenda> {
        let me = self.practitioner_of(caller).await?;
        let place = match self.store.place(&PlaceId(place_id.to_owned())).await? {
            Some(p) if p.practitioner_id == me.id => p,
            _ => return Err(AppError::NotFound("place")),
        };
        // Closed on the place's national holidays unless told otherwise (`null` = open).
        let holidays = match holidays {
            None => Some(place.country),
            Some(None) => None,
            Some(Some(code)) => Some(Country::parse(&code).map_err(|_| {
                DomainError::new("holidays", "supported countries are FR, DE and IT, or null")
            })?),
        };
        let id = AgendaId::new();
        let wrapped_key = self.new_agenda_key(&id).await?;
        let agenda = Agenda {
            id,
            practitioner_id: me.id.clone(),
            place_id: place.id,
            timezone: place.timezone,
            holidays,
            wrapped_key,
        };
        self.store.create_agenda(&agenda).await?;
        self.refresh_directory(&me.id).await?;
        Ok(agenda)
    }

    pub async fn create_motive(
        &self,
        caller: &Caller,
        agenda: &AgendaId,
        input: NewMotive,
    ) -> AppResult<Motive> {
        let (_, agenda) = self.own_agenda(caller, agenda).await?;
        let motive = Motive::parse(
            MotiveId::new(),
            agenda.id.clone(),
            &input.name,
            input.duration_min,
            input.capacity,
            input.policy,
        )?;
        if let Some(spec) = &input.vaccine {
            // Refuse a bad product or dose before anything is stored.
            VaccineProduct::parse(&spec.product)?;
            Dose::from_number(spec.dose)?;
        }
        let label_ct = self.seal_motive_label(&agenda, &motive).await?;
        self.store.create_motive(&motive, &label_ct).await?;
        self.agendas.invalidate(&agenda.id);
        if let Some(spec) = &input.vaccine {
            self.link_vaccine(&agenda.id, &motive.id, spec).await?;
        }
        if motive.policy.teleconsultation && motive.policy.bookable_online {
            // The teleconsultation search filter reads the directory.
            self.refresh_directory(&agenda.practitioner_id).await?;
        }
        Ok(motive)
    }

    pub async fn create_rule(
        &self,
        caller: &Caller,
        agenda: &AgendaId,
        input: NewRule,
    ) -> AppResult<OpeningRule> {
        let (_, agenda) = self.own_agenda(caller, agenda).await?;
        let weekdays = WeekdaySet::parse(&input.weekdays)?;
        let start = parse_hhmm("start", &input.start)?;
        let end = parse_hhmm("end", &input.end)?;
        let valid_from = input
            .valid_from
            .as_deref()
            .map(|d| parse_date("valid_from", d))
            .transpose()?;
        let valid_until = input
            .valid_until
            .as_deref()
            .map(|d| parse_date("valid_until", d))
            .transpose()?;
        let mut motive_ids: Vec<MotiveId> = Vec::new();
        for m in input.motive_ids {
            let m = MotiveId(m);
            if !motive_ids.contains(&m) {
                motive_ids.push(m);
            }
        }
        let rule = OpeningRule::parse(
            RuleId::new(),
            agenda.id.clone(),
            weekdays,
            start,
            end,
            motive_ids,
            valid_from,
            valid_until,
        )?;
        match self.store.create_rule(&rule).await {
            Ok(()) => {}
            Err(careslot_store::StoreError::NotFound) => {
                return Err(DomainError::new(
                    "motive_ids",
                    "every motive must belong to this agenda",
                )
                .into())
            }
            Err(e) => return Err(e.into()),
        }
        self.agendas.invalidate(&agenda.id);
        Ok(rule)
    }

    pub async fn create_absence(
        &self,
        caller: &Caller,
        agenda: &AgendaId,
        start: &str,
        end: &str,
        reason: Option<&str>,
    ) -> AppResult<Absence> {
        let (_, agenda) = self.own_agenda(caller, agenda).await?;
        let (absence, reason) = parse_absence(&agenda.id, start, end, reason)?;
        self.store.create_absence(&absence, reason).await?;
        self.agendas.invalidate(&agenda.id);
        Ok(absence)
    }

    /// An absence that also cancels the booked appointments it overlaps (issue 14 part C):
    /// each patient gets a cancellation notice, queued with the absence and the
    /// cancellations in one transaction. Returns the absence and the cancelled appointments.
    pub async fn create_absence_cancelling(
        &self,
        caller: &Caller,
        agenda: &AgendaId,
        start: &str,
        end: &str,
        reason: Option<&str>,
    ) -> AppResult<(Absence, Vec<ReservationId>)> {
        let (_, agenda) = self.own_agenda(caller, agenda).await?;
        let (absence, reason) = parse_absence(&agenda.id, start, end, reason)?;
        let view = self.view(&agenda.id).await?;
        // Appointments last at most a day: those starting up to a day before may overlap.
        let from = absence
            .start
            .checked_sub(jiff::SignedDuration::from_hours(24))
            .unwrap_or(absence.start);
        let rows = self
            .store
            .agenda_appointments(&agenda.id, from, absence.end)
            .await?;
        let mut ids = Vec::new();
        let mut outbox = OutboxWrite::default();
        for row in rows {
            let covered = row.start < absence.end && row.end > absence.start;
            if !covered || row.status != careslot_store::ReservationStatus::Booked {
                continue;
            }
            let a = self.open_reservation(row).await?;
            if let Some(patient) = &a.patient {
                let w = self
                    .outbox_for(
                        crate::notify::Event::CancelledByPractice,
                        &view,
                        patient,
                        &a.row.id,
                        a.row.start,
                        a.row.end,
                    )
                    .await;
                outbox.delete_pending.extend(w.delete_pending);
                outbox.enqueue.extend(w.enqueue);
            }
            ids.push(a.row.id);
        }
        let out = self
            .store
            .create_absence_with(&absence, reason, &ids, Timestamp::now(), &outbox)
            .await;
        self.agendas.invalidate(&agenda.id);
        let cancelled: Vec<ReservationId> = out?.into_iter().map(|r| r.id).collect();
        self.wake_outbox(&outbox);
        for id in &cancelled {
            // A teleconsultation paid online is refunded like any practice cancellation.
            self.release_or_log(id).await;
        }
        Ok((absence, cancelled))
    }

    /// Appointments of one of the caller's agendas with start on local dates `[from, to]`,
    /// with each patient's name; every patient shown is recorded in the access log.
    pub async fn agenda_appointments(
        &self,
        caller: &Caller,
        agenda: &AgendaId,
        from: &str,
        to: &str,
    ) -> AppResult<(jiff::tz::TimeZone, Vec<(Appointment, Option<String>)>)> {
        let (_, agenda) = self.own_agenda(caller, agenda).await?;
        let tz = parse_zone(&agenda.timezone)?;
        let (from, to) = careslot_core::time::parse_date_range(from, to, 92)?;
        let (start, end) = careslot_core::time::local_days(from, to, &tz)?;
        let rows = self
            .store
            .agenda_appointments(&agenda.id, start, end)
            .await?;
        let mut names: HashMap<AccountId, Option<String>> = HashMap::new();
        let mut out = Vec::with_capacity(rows.len());
        for row in rows {
            let a = self.open_reservation(row).await?;
            if let Some(patient) = &a.patient {
                if !names.contains_key(patient) {
                    names.insert(patient.clone(), self.name_of(patient).await?);
                }
            }
            let name = a
                .patient
                .as_ref()
                .and_then(|p| names.get(p).cloned().flatten());
            out.push((a, name));
        }
        let reads: Vec<(AccountId, &str)> = names
            .keys()
            .map(|p| (p.clone(), "agenda.appointments"))
            .collect();
        self.audit(caller, &reads).await?;
        Ok((tz, out))
    }

    /// A new named key for an agenda and its data key, wrapped (for `Agenda::wrapped_key`).
    pub async fn new_agenda_key(&self, id: &AgendaId) -> AppResult<String> {
        Ok(self.protect.new_data_key(&agenda_key_name(id)).await?.1)
    }

    pub async fn seal_motive_label(&self, agenda: &Agenda, motive: &Motive) -> AppResult<Vec<u8>> {
        let key = self.agenda_key(agenda).await?;
        Ok(self.protect.seal(
            &key,
            motive.name.as_bytes(),
            "motives",
            "label",
            motive.id.as_str(),
        ))
    }

    /// A motive's labels per language (`fr`, `en`, `de`, `it` → label), sealed under the
    /// agenda's key as one JSON object; `None` when there are none.
    pub async fn seal_motive_translations(
        &self,
        agenda: &Agenda,
        motive: &MotiveId,
        labels: &BTreeMap<String, String>,
    ) -> AppResult<Option<Vec<u8>>> {
        if labels.is_empty() {
            return Ok(None);
        }
        let key = self.agenda_key(agenda).await?;
        let json = serde_json::to_vec(labels).unwrap_or_default();
        Ok(Some(self.protect.seal(
            &key,
            &json,
            "motives",
            "labels",
            motive.as_str(),
        )))
    }

    /// The per-language labels of an agenda's motives that have some.
    pub async fn motive_translations(
        &self,
        view: &AgendaView,
    ) -> AppResult<HashMap<MotiveId, BTreeMap<String, String>>> {
        let mut out = HashMap::new();
        if view.motive_translations.is_empty() {
            return Ok(out);
        }
        let key = self.agenda_key(&view.agenda).await?;
        for (id, ct) in &view.motive_translations {
            let json = self
                .protect
                .open_string(&key, ct, "motives", "labels", id.as_str())?;
            let labels: BTreeMap<String, String> = serde_json::from_str(&json).map_err(|_| {
                AppError::Store(careslot_store::StoreError::Internal(
                    "unreadable motive translations".into(),
                ))
            })?;
            out.insert(id.clone(), labels);
        }
        Ok(out)
    }

    /// A motive's label in language `lang` (a code) when the practice gave one, else its
    /// default label.
    pub async fn motive_label_in(
        &self,
        view: &AgendaView,
        motive: &MotiveId,
        lang: &str,
    ) -> AppResult<Option<String>> {
        if let Some(label) = self
            .motive_translations(view)
            .await?
            .get(motive)
            .and_then(|t| t.get(lang))
        {
            return Ok(Some(label.clone()));
        }
        Ok(self.motive_labels(view).await?.get(motive).cloned())
    }

    /// Display labels of an agenda's motives (sealed in storage under the agenda's key).
    pub async fn motive_labels(&self, view: &AgendaView) -> AppResult<HashMap<MotiveId, String>> {
        let key = self.agenda_key(&view.agenda).await?;
        let mut out = HashMap::new();
        for (id, ct) in &view.motive_labels {
            out.insert(
                id.clone(),
                self.protect
                    .open_string(&key, ct, "motives", "label", id.as_str())?,
            );
        }
        Ok(out)
    }
}

/// What a public practitioner page shows about one agenda.
pub struct PublicAgenda {
    pub view: std::sync::Arc<AgendaView>,
    pub practitioner: Practitioner,
    pub place: Place,
    /// Labels of the motives (empty when the key service is unreachable).
    pub labels: HashMap<MotiveId, String>,
    /// Labels the practice gave per language (`de` → label), for the motives that have some.
    pub translations: HashMap<MotiveId, BTreeMap<String, String>>,
}

impl PublicAgenda {
    /// A motive's label in language `lang` (a code: `fr`, `en`, `de`, `it`), else its
    /// default label.
    pub fn label(&self, motive: &MotiveId, lang: &str) -> Option<&str> {
        self.translations
            .get(motive)
            .and_then(|t| t.get(lang))
            .or_else(|| self.labels.get(motive))
            .map(String::as_str)
    }
}

impl Scheduling {
    pub async fn public_agenda(&self, agenda: &AgendaId) -> AppResult<PublicAgenda> {
        let view = self.view(agenda).await?;
        let practitioner = self
            .store
            .practitioner(&view.agenda.practitioner_id)
            .await?
            .ok_or(AppError::NotFound("agenda"))?;
        let place = self
            .store
            .place(&view.agenda.place_id)
            .await?
            .ok_or(AppError::NotFound("agenda"))?;
        let labels = match self.motive_labels(&view).await {
            Ok(l) => l,
            Err(AppError::KeyService) => HashMap::new(),
            Err(e) => return Err(e),
        };
        let translations = match self.motive_translations(&view).await {
            Ok(t) => t,
            Err(AppError::KeyService) => HashMap::new(),
            Err(e) => return Err(e),
        };
        Ok(PublicAgenda {
            view,
            practitioner,
            place,
            labels,
            translations,
        })
    }
}

/// An absence of `agenda` from the request's fields, with its optional reason (trimmed, at
/// most 500 characters).
fn parse_absence<'r>(
    agenda: &AgendaId,
    start: &str,
    end: &str,
    reason: Option<&'r str>,
) -> AppResult<(Absence, Option<&'r str>)> {
    let absence = Absence::parse(
        AbsenceId::new(),
        agenda.clone(),
        parse_instant("start", start)?,
        parse_instant("end", end)?,
    )?;
    let reason = match reason.map(str::trim) {
        Some(r) if r.chars().count() > 500 => {
            return Err(DomainError::new("reason", "must be at most 500 characters").into())
        }
        Some("") | None => None,
        Some(r) => Some(r),
    };
    Ok((absence, reason))
}
