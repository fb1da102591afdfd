//! Mass vaccination: vaccine motives, dose stock, and series booking — dose 1 with its dose 2
//! in one transaction, a second dose alone after a first received elsewhere, or a booster.
//! The interval comes from the product's protocol version in force on the day of booking;
//! every dose consumes one dose of its day's stock, and the store books all or none.

use super::{AppError, AppResult, Appointment, Caller, Core, Vaccination};
use careslot_core::availability::AgendaView;
use careslot_core::time::{parse_date, parse_instant};
use careslot_domain::availability::Unavailable;
use careslot_domain::vaccine::protocol_on;
use careslot_domain::*;
use careslot_store::*;
use jiff::civil::Date;
use jiff::Timestamp;
use std::sync::Arc;

/// A chosen slot for one dose.
#[derive(Debug, Clone)]
pub struct DoseChoice {
    pub agenda_id: String,
    pub motive_id: String,
    pub start: String,
}

/// The dose-2 motive of a centre and the local dates where dose 2 may go.
pub struct SecondDoseWindow {
    pub view: Arc<AgendaView>,
    pub motive: Motive,
    pub from: jiff::civil::Date,
    pub to: jiff::civil::Date,
}

/// What a keyed booking books: a held series (its id), or doses (booked directly).
#[derive(Debug, Clone)]
pub enum SeriesInput {
    Hold(String),
    Doses(Box<VaccinationRequest>),
}

/// What a patient asks for: dose 1 and dose 2 together; a dose 2 alone with the date of a
/// dose 1 received elsewhere; a single-dose vaccine; or a booster after the last dose.
#[derive(Debug, Clone, Default)]
pub struct VaccinationRequest {
    pub dose1: Option<DoseChoice>,
    pub dose2: Option<DoseChoice>,
    pub booster: Option<DoseChoice>,
    /// Date of the previous dose received elsewhere (for a dose 2 alone or a booster).
    pub previous_dose_date: Option<String>,
    /// For eligibility: a birth date (else the account's), and declared priority groups.
    pub birth_date: Option<String>,
    pub priority_groups: Vec<String>,
}

struct Chosen {
    view: Arc<AgendaView>,
    motive: Motive,
    vaccine: MotiveVaccine,
    start: Timestamp,
    day: Date,
}

fn unavailable(reason: Unavailable, dose: &str) -> AppError {
    match reason {
        Unavailable::Full => {
            AppError::Conflict("slot-taken", format!("the {dose} time is no longer free"))
        }
        _ => AppError::Conflict(
            "not-a-slot",
            format!("the {dose} time is not a bookable slot"),
        ),
    }
}

/// A number of doses as the centre may give it.
fn doses_of(doses: i64) -> Result<u32, DomainError> {
    u32::try_from(doses)
        .ok()
        .filter(|d| *d <= 1_000_000)
        .ok_or_else(|| DomainError::new("doses", "must be between 0 and 1000000"))
}

fn rule(msg: impl Into<String>) -> AppError {
    AppError::Rule(msg.into())
}

impl Vaccination {
    /// A new version of a product's protocol; existing appointments keep theirs.
    pub async fn add_protocol(
        &self,
        product: &str,
        effective_from: &str,
        second_dose: Option<(i64, i64)>,
        booster_min_days: i64,
    ) -> AppResult<Protocol> {
        let product = VaccineProduct::parse(product)?;
        let from = parse_date("effective_from", effective_from)?;
        let version = self
            .store
            .protocols()
            .await?
            .iter()
            .filter(|p| p.product == product)
            .map(|p| p.version)
            .max()
            .unwrap_or(0)
            + 1;
        let p = Protocol::parse(product, version, from, second_dose, booster_min_days)?;
        self.store.add_protocol(&p, Timestamp::now()).await?;
        self.protocols.forget();
        Ok(p)
    }

    /// Sets the doses an agenda has for a product on a local day (practice staff).
    pub async fn set_stock(
        &self,
        caller: &Caller,
        agenda: &AgendaId,
        product: &str,
        day: &str,
        doses: i64,
    ) -> AppResult<StockRow> {
        let (_, agenda) = self.own_agenda(caller, agenda).await?;
        let product = VaccineProduct::parse(product)?;
        let day = parse_date("day", day)?;
        let doses = doses_of(doses)?;
        let out = self.store.set_stock(&agenda.id, product, day, doses).await;
        self.agendas.invalidate(&agenda.id);
        Ok(out?)
    }

    /// Sets (or with `None` removes) the centre's default doses per day of a product
    /// (practice staff). Days from today on that took the old policy follow the new one, but
    /// a day never drops below what it has booked: those bookings stay, the day is full.
    pub async fn set_stock_policy(
        &self,
        caller: &Caller,
        agenda: &AgendaId,
        product: &str,
        doses: Option<i64>,
    ) -> AppResult<Option<u32>> {
        let (_, agenda) = self.own_agenda(caller, agenda).await?;
        let product = VaccineProduct::parse(product)?;
        let doses = doses.map(doses_of).transpose()?;
        let today = self.today_of(&agenda)?;
        let out = self
            .store
            .set_stock_policies(
                &[StockPolicy {
                    agenda_id: agenda.id.clone(),
                    product,
                    doses,
                }],
                today,
            )
            .await;
        self.agendas.invalidate(&agenda.id);
        out?;
        Ok(doses)
    }

    /// Saves a week of the stock editor at once, all days or none (practice staff): `Some`
    /// overrides the policy for that day (0 closes it), `None` gives it back to the policy.
    /// Conflict(StockBelowBooked) when a day would get fewer doses than it has booked.
    pub async fn set_stock_days(
        &self,
        caller: &Caller,
        agenda: &AgendaId,
        days: &[(String, String, Option<i64>)],
    ) -> AppResult<()> {
        let (_, agenda) = self.own_agenda(caller, agenda).await?;
        let mut parsed = Vec::with_capacity(days.len());
        for (product, day, doses) in days {
            parsed.push(StockDay {
                product: VaccineProduct::parse(product)?,
                day: parse_date("day", day)?,
                doses: doses.map(doses_of).transpose()?,
            });
        }
        let out = self.store.set_stock_days(&agenda.id, &parsed).await;
        self.agendas.invalidate(&agenda.id);
        Ok(out?)
    }

    /// The agenda's local today.
    fn today_of(&self, agenda: &Agenda) -> AppResult<Date> {
        let tz = careslot_core::time::parse_zone(&agenda.timezone)?;
        Ok(Timestamp::now().to_zoned(tz).date())
    }

    /// Sets how many lines an agenda runs on one local day (practice staff): the capacity of
    /// its pooled motives that day. Refused below what is already booked at some time.
    pub async fn set_lines(
        &self,
        caller: &Caller,
        agenda: &AgendaId,
        day: &str,
        lines: i64,
    ) -> AppResult<u32> {
        let (_, agenda) = self.own_agenda(caller, agenda).await?;
        let day = parse_date("day", day)?;
        let lines = u32::try_from(lines)
            .ok()
            .filter(|l| (1..=1000).contains(l))
            .ok_or_else(|| DomainError::new("lines", "must be between 1 and 1000"))?;
        let tz = careslot_core::time::parse_zone(&agenda.timezone)?;
        let (start, end) = careslot_core::time::local_days(day, day, &tz)?;
        let out = self
            .store
            .set_lines(&agenda.id, day, start, end, lines)
            .await;
        self.agendas.invalidate(&agenda.id);
        match out {
            Ok(()) => Ok(lines),
            Err(StoreError::Conflict(_)) => Err(AppError::Conflict(
                "lines-below-booked",
                "some time of that day already has more appointments than this many lines".into(),
            )),
            Err(e) => Err(e.into()),
        }
    }

    async fn chosen(&self, c: &DoseChoice, which: &str, now: Timestamp) -> AppResult<Chosen> {
        let view = self.view(&AgendaId(c.agenda_id.clone())).await?;
        let motive = view
            .motive(&MotiveId(c.motive_id.clone()))
            .filter(|m| m.policy.bookable_online)
            .ok_or(AppError::NotFound("motive"))?
            .clone();
        let vaccine = view
            .vaccine(&motive.id)
            .cloned()
            .ok_or_else(|| rule(format!("the {which} motive is not a vaccination")))?;
        let start = parse_instant("start", &c.start)?;
        view.check_start(&motive, start, now)
            .map_err(|r| unavailable(r, which))?;
        let day = start.to_zoned(view.tz.clone()).date();
        if view.doses_left(vaccine.product, day) == 0 {
            return Err(StoreError::Conflict(ConflictKind::StockExhausted).into());
        }
        Ok(Chosen {
            view,
            motive,
            vaccine,
            start,
            day,
        })
    }

    /// Dose-2 slots at the same centre inside the protocol's window after a dose-1 start.
    pub async fn second_dose_slots(
        &self,
        agenda: &str,
        dose1_motive: &str,
        dose1_start: &str,
    ) -> AppResult<(Arc<AgendaView>, Motive, Vec<Slot>)> {
        let w = self
            .second_dose_window(agenda, dose1_motive, dose1_start)
            .await?;
        let slots = w.view.slots(&w.motive, w.from, w.to, Timestamp::now());
        Ok((w.view, w.motive, slots))
    }

    /// Where dose 2 goes after a dose-1 start: the centre's dose-2 motive and the local
    /// dates of the protocol's window.
    pub async fn second_dose_window(
        &self,
        agenda: &str,
        dose1_motive: &str,
        dose1_start: &str,
    ) -> AppResult<SecondDoseWindow> {
        let view = self.view(&AgendaId(agenda.to_owned())).await?;
        let first = view
            .vaccine(&MotiveId(dose1_motive.to_owned()))
            .filter(|v| v.dose == Dose::First)
            .ok_or(AppError::NotFound("motive"))?;
        let start = parse_instant("start", dose1_start)?;
        let today = Timestamp::now().to_zoned(view.tz.clone()).date();
        let protocols = self.protocols_in_force().await?;
        let p = protocol_on(&protocols, first.product, today)
            .ok_or_else(|| rule("no protocol is in force for this vaccine"))?;
        let (min, max) = p
            .second_dose
            .ok_or_else(|| rule("this vaccine is given in a single dose"))?;
        let next = first
            .next
            .as_ref()
            .and_then(|m| view.motive(m))
            .ok_or(AppError::NotFound("second-dose motive"))?
            .clone();
        let d1 = start.to_zoned(view.tz.clone()).date();
        let from = d1
            .checked_add(jiff::Span::new().days(i64::from(min)))
            .map_err(|_| rule("date out of range"))?;
        let to = d1
            .checked_add(jiff::Span::new().days(i64::from(max)))
            .map_err(|_| rule("date out of range"))?;
        Ok(SecondDoseWindow {
            view,
            motive: next,
            from,
            to,
        })
    }

    /// Books the doses of a request together: all or none.
    pub async fn book_vaccination(
        &self,
        caller: &Caller,
        req: VaccinationRequest,
    ) -> AppResult<Vec<Appointment>> {
        let out = self.reserve_vaccination(caller, req, None, None).await;
        count_booking(&self.metrics, out.as_ref().map(|_| ()));
        Ok(out?.1)
    }

    /// Holds the doses of a request together (all or none) for the hold time: the places
    /// and the doses are kept for this patient while they confirm. Returns the series id
    /// (the hold's id) and the held doses.
    pub async fn hold_vaccination(
        &self,
        caller: &Caller,
        req: VaccinationRequest,
    ) -> AppResult<(String, Timestamp, Vec<Appointment>)> {
        let until = Timestamp::now()
            .checked_add(self.config.hold_ttl)
            .map_err(|_| AppError::BadRequest("hold expiry out of range".into()))?;
        let (series, held) = self
            .reserve_vaccination(caller, req, Some(until), None)
            .await?;
        Ok((series, until, held))
    }

    /// Books under the client's `Idempotency-Key` (`request`: the request as sent, compared
    /// as a keyed hash): the key is tied to one series (the hold's, or the doses booked
    /// here), and booking a series again answers the same appointments, so a retry after an
    /// unknown outcome (a lost answer, a 503, a node that died) books once. The same key with
    /// another request is refused (422).
    pub async fn book_vaccination_keyed(
        &self,
        caller: &Caller,
        input: SeriesInput,
        key: &str,
        request: &[u8],
    ) -> AppResult<Vec<Appointment>> {
        Core::require_role(caller, Role::Patient)?;
        let key_hash = self.protect.keyed_hash(
            "idempotency.key",
            format!("{}\0vaccination\0{key}", caller.id).as_bytes(),
        );
        let request_hash = self.protect.keyed_hash("idempotency.request", request);
        let req = match input {
            // The request names its hold: the key is recorded in the booking's own
            // transaction (no read before, no commit of its own), and the same request
            // again names the same hold, which answers the same appointments.
            SeriesInput::Hold(id) => {
                let key = careslot_store::SeriesKey {
                    key_hash,
                    request_hash,
                };
                return self.book_held_series(caller, &id, Some(key)).await;
            }
            SeriesInput::Doses(req) => req,
        };
        // Booked directly, the key recorded in the doses' own transaction (no read before,
        // no hold): the same request again answers the series the key names.
        let key = careslot_store::SeriesKey {
            key_hash,
            request_hash,
        };
        let out = self
            .reserve_vaccination(caller, *req, None, Some(key.clone()))
            .await;
        let e = match out {
            Ok((_, booked)) => {
                count_booking(&self.metrics, Ok(()));
                return Ok(booked);
            }
            Err(e @ AppError::Store(StoreError::IdempotencyMismatch)) => return Err(e),
            Err(e) => e,
        };
        // Refused before the store looked at the key (the slot or the dose the first try
        // took now shows as taken, a slot now past): if the key was recorded, it decides.
        match self.store.series_key(&key.key_hash).await {
            Ok(Some((hash, _))) if hash != key.request_hash => {
                Err(StoreError::IdempotencyMismatch.into())
            }
            // Counted there, as any booking of a series.
            Ok(Some((_, series))) => self.book_vaccination_hold(caller, &series).await,
            Ok(None) | Err(_) => {
                count_booking(&self.metrics, Err(&e));
                Err(e)
            }
        }
    }

    /// Books a held series of the caller's: every dose or none.
    pub async fn book_vaccination_hold(
        &self,
        caller: &Caller,
        series_id: &str,
    ) -> AppResult<Vec<Appointment>> {
        self.book_held_series(caller, series_id, None).await
    }

    /// [`Self::book_vaccination_hold`], recording the client's key with the booking.
    async fn book_held_series(
        &self,
        caller: &Caller,
        series_id: &str,
        key: Option<careslot_store::SeriesKey>,
    ) -> AppResult<Vec<Appointment>> {
        Core::require_role(caller, Role::Patient)?;
        if series_id.is_empty() || series_id.len() > 64 {
            return Err(AppError::NotFound("hold"));
        }
        let patient_bidx = self.protect.patient_index(&caller.id);
        // The store queues the series' confirmation when the doses go from held to booked:
        // nothing is read or composed before the booking.
        let confirm_to = self.confirmation_recipient(&caller.id);
        let rows = self
            .store
            .book_series_hold(&BookSeriesRequest {
                series_id: series_id.to_owned(),
                patient_bidx,
                now: Timestamp::now(),
                confirm_to: confirm_to.clone(),
                key,
            })
            .await
            .map_err(AppError::from);
        count_booking(&self.metrics, rows.as_ref().map(|_| ()));
        let rows = rows.map_err(|e| match e {
            AppError::Store(StoreError::NotFound) => AppError::NotFound("hold"),
            e => e,
        })?;
        if confirm_to.is_some() {
            self.wake_messages();
        }
        for r in &rows {
            self.agendas.booked(r);
        }
        let mut booked = Vec::with_capacity(rows.len());
        for row in rows {
            booked.push(self.open_reservation(row).await?);
        }
        Ok(booked)
    }

    /// Holds (`hold_until`) or books the doses of a request; `key`: the client's key for
    /// doses booked directly, recorded with them.
    async fn reserve_vaccination(
        &self,
        caller: &Caller,
        req: VaccinationRequest,
        hold_until: Option<Timestamp>,
        key: Option<careslot_store::SeriesKey>,
    ) -> AppResult<(String, Vec<Appointment>)> {
        Core::require_role(caller, Role::Patient)?;
        let now = Timestamp::now();
        let protocols = self.protocols_in_force().await?;
        let previous = req
            .previous_dose_date
            .as_deref()
            .map(|d| parse_date("previous_dose_date", d))
            .transpose()?;
        let mut doses: Vec<Chosen> = Vec::new();
        let version;
        match (&req.dose1, &req.dose2, &req.booster) {
            (Some(d1), d2, None) => {
                let first = self.chosen(d1, "first dose", now).await?;
                if first.vaccine.dose != Dose::First {
                    return Err(rule("the dose1 motive does not give a first dose"));
                }
                let today = now.to_zoned(first.view.tz.clone()).date();
                let p = protocol_on(&protocols, first.vaccine.product, today)
                    .ok_or_else(|| rule("no protocol is in force for this vaccine"))?;
                version = p.version;
                match (p.second_dose, d2) {
                    (None, None) => doses.push(first),
                    (None, Some(_)) => return Err(rule("this vaccine is given in a single dose: book the first dose alone")),
                    (Some(_), None) => return Err(rule("this vaccine needs two doses: choose the second dose too")),
                    (Some((min, max)), Some(d2)) => {
                        let second = self.chosen(d2, "second dose", now).await?;
                        self.check_second(&first, &second, first.day, min, max)?;
                        doses.push(first);
                        doses.push(second);
                    }
                }
            }
            (None, Some(d2), None) => {
                let second = self.chosen(d2, "second dose", now).await?;
                let received = previous.ok_or_else(|| {
                    DomainError::new("previous_dose_date", "give the date of the first dose received elsewhere")
                })?;
                let today = now.to_zoned(second.view.tz.clone()).date();
                let p = protocol_on(&protocols, second.vaccine.product, today)
                    .ok_or_else(|| rule("no protocol is in force for this vaccine"))?;
                let (min, max) = p.second_dose.ok_or_else(|| rule("this vaccine is given in a single dose"))?;
                if second.vaccine.dose != Dose::Second {
                    return Err(rule("the dose2 motive does not give a second dose"));
                }
                version = p.version;
                let days = (second.day - received).get_days();
                if days < min as i32 || days > max as i32 {
                    return Err(rule(format!(
                        "the second dose must be {min} to {max} days after the first one; this one would be {days} days after"
                    )));
                }
                doses.push(second);
            }
            (None, None, Some(b)) => {
                let booster = self.chosen(b, "booster", now).await?;
                if booster.vaccine.dose != Dose::Booster {
                    return Err(rule("the booster motive does not give a booster dose"));
                }
                let last = previous.ok_or_else(|| {
                    DomainError::new("previous_dose_date", "give the date of the last dose received")
                })?;
                let today = now.to_zoned(booster.view.tz.clone()).date();
                let p = protocol_on(&protocols, booster.vaccine.product, today)
                    .ok_or_else(|| rule("no protocol is in force for this vaccine"))?;
                version = p.version;
                let days = (booster.day - last).get_days();
                if days < p.booster_min_days as i32 {
                    return Err(rule(format!(
                        "a booster can be given {} days after the last dose at the earliest; this one would be {days} days after",
                        p.booster_min_days
                    )));
                }
                doses.push(booster);
            }
            _ => {
                return Err(DomainError::new(
                    "body",
                    "give dose1 (and dose2 for a two-dose vaccine), or dose2 with previous_dose_date, or booster with previous_dose_date",
                )
                .into())
            }
        }
        // Eligibility is for starting a series; a dose 2 or booster completes one.
        if let Some(first) = doses.first().filter(|d| d.vaccine.dose == Dose::First) {
            let today = now.to_zoned(first.view.tz.clone()).date();
            let starts: Vec<Timestamp> = doses.iter().map(|d| d.start).collect();
            self.check_eligible(
                caller,
                req.birth_date.as_deref(),
                &req.priority_groups,
                &starts,
                today,
            )
            .await?;
        }
        let mut series = Vec::with_capacity(doses.len());
        for d in &doses {
            let mut r = self
                .sealed_request(&caller.id, &d.view, d.motive.id.clone(), d.start, None)
                .await?;
            r.hold_until = hold_until;
            series.push(SeriesDose {
                reservation: r,
                product: d.vaccine.product,
                day: d.day,
            });
        }
        let series_id = ReservationId::new().to_string();
        // A booked series sends one confirmation naming every dose (and each dose's
        // reminders), queued with the doses on the first dose's request.
        if hold_until.is_none() {
            if let Some(first) = series.first_mut() {
                let r = &mut first.reservation;
                r.outbox = self.series_confirmation(&caller.id, &r.id, r.start);
            }
        }
        let outbox = series
            .first()
            .map(|d| d.reservation.outbox.clone())
            .unwrap_or_default();
        // Only a key naming a series still held (see `SeriesRequest::confirm_to`) needs it.
        let confirm_to = key
            .as_ref()
            .and_then(|_| self.confirmation_recipient(&caller.id));
        let req = SeriesRequest {
            id: series_id,
            protocol_version: version,
            doses: series,
            now,
            key,
            confirm_to,
        };
        let out = self.store.reserve_series(&req).await;
        let out = match out {
            Ok(out) => out,
            Err(e) => {
                // Refused: what the view showed as free may not be (another node's booking,
                // an expired hold): let the next read look at the database.
                for d in &doses {
                    self.agendas.invalidate(&d.view.agenda.id);
                }
                return Err(e.into());
            }
        };
        let rows = out.rows;
        if out.replayed {
            // The doses an earlier request with this key booked: nothing new is occupied.
            if req.confirm_to.is_some() {
                self.wake_messages();
            }
            for r in &rows {
                self.agendas.booked(r);
            }
        } else {
            self.wake_outbox(&outbox);
            for ((row, dose), d) in rows.iter().zip(&req.doses).zip(&doses) {
                self.agendas
                    .reserved(row, d.motive.capacity > 1, Some((dose.product, dose.day)));
            }
        }
        let mut booked = Vec::new();
        for row in rows {
            booked.push(self.open_reservation(row).await?);
        }
        Ok((req.id, booked))
    }

    fn check_second(
        &self,
        first: &Chosen,
        second: &Chosen,
        d1: Date,
        min: u32,
        max: u32,
    ) -> AppResult<()> {
        if second.vaccine.dose != Dose::Second || second.vaccine.product != first.vaccine.product {
            return Err(rule(
                "the second dose must be a second dose of the same vaccine",
            ));
        }
        if second.view.agenda.place_id != first.view.agenda.place_id {
            return Err(rule("both doses are given at the same centre"));
        }
        let days = (second.day - d1).get_days();
        if days < min as i32 || days > max as i32 {
            return Err(rule(format!(
                "the second dose must be {min} to {max} days after the first one; this one would be {days} days after"
            )));
        }
        Ok(())
    }
}

/// A vaccination booking's outcome in the metrics: booked, or refused for want of a place or
/// a dose.
fn count_booking(metrics: &careslot_core::observe::Metrics, out: Result<(), &AppError>) {
    use careslot_core::observe::BookingKind::Vaccination;
    match out {
        Ok(()) => metrics.booked(Vaccination),
        Err(AppError::Store(StoreError::Conflict(_)) | AppError::Conflict("slot-taken", _)) => {
            metrics.booking_conflict(Vaccination)
        }
        Err(_) => {}
    }
}
