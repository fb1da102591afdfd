//! The campaign's numbers: per centre and day (capacity, stock, booked, no-shows), totals
//! for the operator, and the appointment export for the health authority — pseudonymised
//! unless this installation lets the operator see identities.

use super::{AppError, AppResult, Caller, Vaccination};
use careslot_core::time::{format_instant, parse_date_range};
use careslot_domain::*;
use careslot_store::*;
use jiff::civil::Date;
use std::collections::{BTreeMap, BTreeSet};

/// One product on one day at one centre.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DayReport {
    pub day: Date,
    pub product: VaccineProduct,
    /// Places the opening hours give that day (slot starts × lines).
    pub capacity: u32,
    /// The day's doses: its own stock, else the policy's, else 0.
    pub doses: u32,
    /// The doses the centre set for that day itself, overriding the policy.
    pub explicit: Option<u32>,
    /// The centre's default doses per day of this product.
    pub policy: Option<u32>,
    pub booked: u32,
    pub no_shows: u32,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProductTotals {
    pub doses: u64,
    pub booked: u64,
    pub no_shows: u64,
}

#[derive(Debug, Clone, Default)]
pub struct CampaignTotals {
    pub centres: usize,
    pub products: BTreeMap<VaccineProduct, ProductTotals>,
}

/// The export's reader as the access log names it: `actor` is `operator:token` or
/// `operator:<account id>` (who asked for the export; an account got here with its second
/// factor).
fn operator(actor: &str) -> Caller {
    Caller {
        id: AccountId(actor.to_owned()),
        role: Role::Operator,
        second_factor: true,
    }
}

impl Vaccination {
    /// Capacity, stock, booked and no-shows per product and local day of one of the
    /// caller's vaccination agendas.
    pub async fn vaccination_days(
        &self,
        caller: &Caller,
        agenda: &AgendaId,
        from: &str,
        to: &str,
    ) -> AppResult<Vec<DayReport>> {
        let (_, agenda) = self.own_agenda(caller, agenda).await?;
        let (from, to) = parse_date_range(from, to, 92)?;
        let view = self.view(&agenda.id).await?;
        let stored = self
            .store
            .vaccination_days(Some(&agenda.id), from, to)
            .await?;
        let mut products: Vec<VaccineProduct> = view.vaccines.iter().map(|v| v.product).collect();
        products.sort();
        products.dedup();
        let mut out = Vec::new();
        let mut day = from;
        while day <= to {
            for product in &products {
                // Motives of one product share their lines (same pools): distinct starts
                // times the lines.
                let mut starts = BTreeSet::new();
                let mut lines = 1;
                for v in view.vaccines.iter().filter(|v| v.product == *product) {
                    if let Some(m) = view.motive(&v.motive_id) {
                        lines = lines.max(m.capacity);
                        // The day's hours as if seen from its start: no notice, no horizon.
                        let mut any = m.clone();
                        any.policy.min_notice_min = 0;
                        any.policy.max_horizon_days = 3650;
                        let seen_from = careslot_core::time::local_midnight(day, &view.tz)?;
                        for s in
                            view.calendar
                                .slots(&any, &Occupancy::default(), day, day, seen_from)
                        {
                            starts.insert(s.start);
                        }
                    }
                }
                if lines > 1 {
                    lines = view.lines_on(day).unwrap_or(lines);
                }
                let row = stored
                    .iter()
                    .find(|s| s.product == *product && s.day == day);
                let policy = view.policy(*product);
                let explicit = row.filter(|r| r.explicit).map(|r| r.doses);
                out.push(DayReport {
                    day,
                    product: *product,
                    capacity: u32::try_from(starts.len())
                        .unwrap_or(u32::MAX)
                        .saturating_mul(lines),
                    doses: row.map_or(policy.unwrap_or(0), |r| r.doses),
                    explicit,
                    policy,
                    booked: row.map_or(0, |r| r.booked),
                    no_shows: row.map_or(0, |r| r.no_shows),
                });
            }
            match day.tomorrow() {
                Ok(d) => day = d,
                Err(_) => break,
            }
        }
        Ok(out)
    }

    /// Stock, booked doses and no-shows over the whole campaign, per product.
    pub async fn campaign_totals(&self) -> AppResult<CampaignTotals> {
        let rows = self
            .store
            .vaccination_days(None, Date::constant(2000, 1, 1), Date::constant(2200, 1, 1))
            .await?;
        let mut totals = CampaignTotals::default();
        let mut centres = BTreeSet::new();
        for r in rows {
            centres.insert(r.agenda_id.clone());
            let t = totals.products.entry(r.product).or_default();
            t.doses += u64::from(r.doses);
            t.booked += u64::from(r.booked);
            t.no_shows += u64::from(r.no_shows);
        }
        totals.centres = centres.len();
        Ok(totals)
    }

    /// Vaccination appointments of local (Europe/Paris) days `[from, to]` as CSV. Patients
    /// appear as a stable pseudonym (a keyed hash: the same person has the same pseudonym
    /// in every export, nobody can reverse it) unless `identities` is asked for and this
    /// installation allows it; every identity read is audited under `actor` (the operator
    /// who exports: `operator:token` or `operator:<account id>`).
    pub async fn vaccination_export(
        &self,
        from: &str,
        to: &str,
        identities: bool,
        actor: &str,
    ) -> AppResult<String> {
        if identities && !self.config.operator_identities {
            return Err(AppError::Forbidden(
                "this installation exports pseudonymised records only",
            ));
        }
        let (from, to) = parse_date_range(from, to, 366)?;
        let tz = jiff::tz::TimeZone::get("Europe/Paris")
            .map_err(|_| AppError::BadRequest("time zone".into()))?;
        let (start, end) = careslot_core::time::local_days(from, to, &tz)?;
        let records = self.store.vaccination_records(start, end).await?;
        let mut w = csv::Writer::from_writer(Vec::new());
        let mut header = vec![
            "appointment_id",
            "centre_id",
            "centre",
            "postcode",
            "city",
            "start",
            "product",
            "dose",
            "status",
            "patient",
        ];
        if identities {
            header.extend(["name", "birth_date"]);
        }
        w.write_record(&header)
            .map_err(|e| AppError::BadRequest(e.to_string()))?;
        let reader = operator(actor);
        for r in records {
            let a = self.open_reservation(r.reservation).await?;
            let place_tz = jiff::tz::TimeZone::get(&r.place.timezone).unwrap_or(tz.clone());
            let patient = match &a.patient {
                Some(p) => self
                    .protect
                    .keyed_hash("export.patient", p.as_str().as_bytes()),
                None => String::new(),
            };
            let mut rec = vec![
                a.row.id.to_string(),
                r.place.id.to_string(),
                r.place.name.clone(),
                r.place.postcode.clone(),
                r.place.city.clone(),
                format_instant(a.row.start, &place_tz),
                r.product.code().to_owned(),
                r.dose.to_string(),
                a.row.status.as_str().to_owned(),
                patient.chars().take(20).collect(),
            ];
            if identities {
                let (name, birth) = match &a.patient {
                    Some(p) => match self.store.account(p).await? {
                        Some(acc) => match self.open_identity(&acc).await {
                            Ok(i) => {
                                self.audit(&reader, &[(p.clone(), "operator.export")])
                                    .await?;
                                (i.name, i.birth_date.unwrap_or_default())
                            }
                            Err(AppError::NotFound(_)) => (String::new(), String::new()),
                            Err(e) => return Err(e),
                        },
                        None => (String::new(), String::new()),
                    },
                    None => (String::new(), String::new()),
                };
                rec.push(name);
                rec.push(birth);
            }
            w.write_record(&rec)
                .map_err(|e| AppError::BadRequest(e.to_string()))?;
        }
        let bytes = w
            .into_inner()
            .map_err(|_| AppError::BadRequest("export failed".into()))?;
        String::from_utf8(bytes).map_err(|_| AppError::BadRequest("export failed".into()))
    }
}
