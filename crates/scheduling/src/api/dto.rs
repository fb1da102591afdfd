//! Request and response bodies of the public API v1 (see shared/api-v1.md). Inputs refuse
//! unknown fields so a typo never silently drops a setting.

use crate::Appointment;
use careslot_core::time::format_instant;
use careslot_domain::*;
use careslot_store::{Agenda, Place, PlaceAccess, Practitioner, PractitionerFacts};
use jiff::tz::TimeZone;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProfileBody {
    pub name: String,
    /// A code from `GET /api/v1/specialties`.
    pub specialty: String,
    #[serde(default)]
    pub languages: Vec<String>,
    pub bio: Option<String>,
    /// Whether new patients are taken; absent keeps the current answer (default true).
    pub accepts_new_patients: Option<bool>,
    /// `sector-1`, `sector-2` or `non-contracted` (France); `""` clears it; absent keeps it.
    pub fee_sector: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PractitionerBody {
    pub id: String,
    pub name: String,
    pub specialty: String,
    pub languages: Vec<String>,
    pub bio: Option<String>,
    pub accepts_new_patients: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fee_sector: Option<String>,
}

impl PractitionerBody {
    pub fn new(p: &Practitioner, facts: &PractitionerFacts) -> Self {
        Self {
            id: p.id.to_string(),
            name: p.name.clone(),
            specialty: p.specialty.code().to_owned(),
            languages: p.languages.clone(),
            bio: p.bio.clone(),
            accepts_new_patients: facts.accepts_new_patients,
            fee_sector: facts.fee_sector.map(|f| f.code().to_owned()),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SpecialtyBody {
    pub code: &'static str,
    pub name: &'static str,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SpecialtiesBody {
    pub specialties: Vec<SpecialtyBody>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewPlaceBody {
    pub name: String,
    pub address: String,
    pub postcode: String,
    pub city: String,
    /// ISO 3166-1 alpha-2: FR, DE or IT.
    pub country: String,
    pub lat: f64,
    pub lon: f64,
    /// IANA zone, e.g. Europe/Paris.
    pub timezone: String,
    /// Default false.
    pub wheelchair_access: Option<bool>,
    /// Floor, lift, entrance, parking, transport (at most 2000 characters).
    pub access_details: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PlaceBody {
    pub id: String,
    pub name: String,
    pub address: String,
    pub postcode: String,
    pub city: String,
    pub country: String,
    pub lat: f64,
    pub lon: f64,
    pub timezone: String,
    pub wheelchair_access: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub access_details: Option<String>,
}

/// How a place can be reached.
#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PlaceAccessBody {
    pub wheelchair_access: bool,
    /// Floor, lift, entrance, parking, transport (at most 2000 characters); absent or empty
    /// clears it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access_details: Option<String>,
}

impl PlaceBody {
    pub fn new(p: &Place, access: &PlaceAccess) -> Self {
        Self {
            wheelchair_access: access.wheelchair_access,
            access_details: access.details.clone(),
            id: p.id.to_string(),
            name: p.name.clone(),
            address: p.address.clone(),
            postcode: p.postcode.clone(),
            city: p.city.clone(),
            country: p.country.code().to_owned(),
            lat: p.lat,
            lon: p.lon,
            timezone: p.timezone.clone(),
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewAgendaBody {
    pub place_id: String,
    /// Country whose public holidays close the agenda; defaults to the place's country,
    /// `null` keeps the agenda open on public holidays.
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>)]
    pub holidays: Option<Option<String>>,
}

/// Tells "absent" (outer None) from "null" (Some(None)).
fn double_option<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<Option<Option<String>>, D::Error> {
    Option::<String>::deserialize(d).map(Some)
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AgendaBody {
    pub id: String,
    pub place_id: String,
    pub practitioner_id: String,
    pub timezone: String,
    pub holidays: Option<String>,
}

impl From<&Agenda> for AgendaBody {
    fn from(a: &Agenda) -> Self {
        Self {
            id: a.id.to_string(),
            place_id: a.place_id.to_string(),
            practitioner_id: a.practitioner_id.to_string(),
            timezone: a.timezone.clone(),
            holidays: a.holidays.map(|c| c.code().to_owned()),
        }
    }
}

fn one() -> i64 {
    1
}
fn yes() -> bool {
    true
}
fn ninety() -> i64 {
    90
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewMotiveBody {
    pub name: String,
    pub duration_min: i64,
    /// Parallel places for the same start (vaccination lines).
    #[serde(default = "one")]
    pub capacity: i64,
    #[serde(default)]
    pub teleconsultation: bool,
    #[serde(default)]
    pub new_patients_only: bool,
    #[serde(default = "yes")]
    pub bookable_online: bool,
    #[serde(default)]
    pub min_notice_min: i64,
    #[serde(default = "ninety")]
    pub max_horizon_days: i64,
    /// Makes it a vaccination motive (see the Vaccination section).
    #[serde(default)]
    pub vaccine: Option<NewVaccineBody>,
    /// Online fee of a teleconsultation motive (422 on other motives). Absent: none.
    #[serde(default)]
    pub fee: Option<NewFeeBody>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewVaccineBody {
    /// comirnaty | spikevax | vaxzevria | jcovden
    pub product: String,
    /// 1, 2, or 3 for a booster.
    pub dose: i64,
    pub next_dose: Option<NewNextDoseBody>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewNextDoseBody {
    pub motive_id: String,
    /// Informative: the interval comes from the product's protocol version in force; a value
    /// that differs from it is refused (422).
    pub min_days: Option<i64>,
    pub max_days: Option<i64>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct VaccineBody {
    pub product: String,
    pub dose: u8,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_dose: Option<NextDoseBody>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct NextDoseBody {
    pub motive_id: String,
    pub min_days: u32,
    pub max_days: u32,
}

impl VaccineBody {
    pub fn new(
        v: &careslot_store::MotiveVaccine,
        protocols: &[careslot_domain::Protocol],
        today: jiff::civil::Date,
    ) -> Self {
        let window = careslot_domain::vaccine::protocol_on(protocols, v.product, today)
            .and_then(|p| p.second_dose);
        Self {
            product: v.product.code().to_owned(),
            dose: v.dose.number(),
            next_dose: match (&v.next, window) {
                (Some(m), Some((min, max))) => Some(NextDoseBody {
                    motive_id: m.to_string(),
                    min_days: min,
                    max_days: max,
                }),
                _ => None,
            },
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MotiveBody {
    pub id: String,
    pub agenda_id: String,
    pub name: String,
    pub duration_min: u32,
    pub capacity: u32,
    pub teleconsultation: bool,
    pub new_patients_only: bool,
    pub bookable_online: bool,
    pub min_notice_min: u32,
    pub max_horizon_days: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vaccine: Option<VaccineBody>,
    /// The online fee of a teleconsultation motive, when it has one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fee: Option<FeeBody>,
}

impl From<&Motive> for MotiveBody {
    fn from(m: &Motive) -> Self {
        Self {
            id: m.id.to_string(),
            agenda_id: m.agenda_id.to_string(),
            name: m.name.clone(),
            duration_min: m.duration.get(),
            capacity: m.capacity,
            teleconsultation: m.policy.teleconsultation,
            new_patients_only: m.policy.new_patients_only,
            bookable_online: m.policy.bookable_online,
            min_notice_min: m.policy.min_notice_min,
            max_horizon_days: m.policy.max_horizon_days,
            vaccine: None,
            fee: None,
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewRuleBody {
    /// ISO weekdays, 1 = Monday … 7 = Sunday.
    pub weekdays: Vec<i64>,
    /// Local time HH:MM.
    pub start: String,
    /// Local time HH:MM, after start.
    pub end: String,
    pub motive_ids: Vec<String>,
    /// First local date the rule applies (inclusive).
    pub valid_from: Option<String>,
    /// Last local date the rule applies (inclusive).
    pub valid_until: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RuleBody {
    pub id: String,
    pub agenda_id: String,
    pub weekdays: Vec<u8>,
    pub start: String,
    pub end: String,
    pub motive_ids: Vec<String>,
    pub valid_from: Option<String>,
    pub valid_until: Option<String>,
}

impl From<&OpeningRule> for RuleBody {
    fn from(r: &OpeningRule) -> Self {
        Self {
            id: r.id.to_string(),
            agenda_id: r.agenda_id.to_string(),
            weekdays: r.weekdays.iter().collect(),
            start: r.start.strftime("%H:%M").to_string(),
            end: r.end.strftime("%H:%M").to_string(),
            motive_ids: r.motive_ids.iter().map(ToString::to_string).collect(),
            valid_from: r.valid_from.map(|d| d.to_string()),
            valid_until: r.valid_until.map(|d| d.to_string()),
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewAbsenceBody {
    /// RFC 3339 instant with offset.
    pub start: String,
    pub end: String,
    pub reason: Option<String>,
    /// Also cancel the booked appointments the absence covers; each patient is told.
    /// Default false.
    pub cancel_appointments: Option<bool>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AbsenceBody {
    pub id: String,
    pub agenda_id: String,
    pub start: String,
    pub end: String,
    /// The appointments the absence cancelled (with `cancel_appointments`); omitted when none.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub cancelled_appointments: Vec<String>,
}

impl AbsenceBody {
    pub fn new(a: &Absence, tz: &TimeZone) -> Self {
        Self {
            id: a.id.to_string(),
            agenda_id: a.agenda_id.to_string(),
            start: format_instant(a.start, tz),
            end: format_instant(a.end, tz),
            cancelled_appointments: vec![],
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AppointmentBody {
    pub id: String,
    pub agenda_id: String,
    pub motive_id: String,
    /// RFC 3339 in the place's local offset.
    pub start: String,
    pub end: String,
    /// booked | cancelled | no_show
    pub status: String,
    /// The patient's note to the practitioner, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// Set when the appointment is for one of the patient's relatives.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub relative_id: Option<String>,
    /// The payment of a teleconsultation with a fee.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub payment: Option<PaymentBody>,
    /// Where the visit stands, as the practice set it: booked | arrived | in_consultation |
    /// done | no_show | cancelled (`status` keeps its meaning: an arrived patient's
    /// appointment is still `booked` there).
    pub visit_status: String,
    /// When `visit_status` was set (RFC 3339, the place's offset); null for booked and
    /// cancelled.
    pub visit_status_at: Option<String>,
}

impl AppointmentBody {
    pub fn new(a: &Appointment, tz: &TimeZone) -> Self {
        let r = &a.row;
        Self {
            id: r.id.to_string(),
            agenda_id: r.agenda_id.to_string(),
            motive_id: a.motive_id.to_string(),
            start: format_instant(r.start, tz),
            end: format_instant(r.end, tz),
            status: r.status.as_str().to_owned(),
            note: a.note.clone(),
            relative_id: a.relative.as_ref().map(ToString::to_string),
            payment: None,
            visit_status: match r.status {
                careslot_store::ReservationStatus::Booked => r.visit_step().as_str(),
                other => other.as_str(),
            }
            .to_owned(),
            visit_status_at: r.visit_step_at().map(|t| format_instant(t, tz)),
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct VisitStatusInput {
    /// booked (undoes a mistaken status) | arrived | in_consultation | done | no_show
    pub status: String,
}

/// One day's figures of an agenda.
#[derive(Debug, Serialize, ToSchema)]
pub struct DayCountsBody {
    /// Local date YYYY-MM-DD.
    pub date: String,
    /// Appointments in force that day, whatever their visit status.
    pub booked: u32,
    /// Of those, marked arrived or further (in consultation, done).
    pub arrived: u32,
    pub in_consultation: u32,
    pub done: u32,
    pub no_show: u32,
    pub cancelled: u32,
}

impl From<&crate::DayCounts> for DayCountsBody {
    fn from(c: &crate::DayCounts) -> Self {
        Self {
            date: c.date.to_string(),
            booked: c.booked,
            arrived: c.arrived,
            in_consultation: c.in_consultation,
            done: c.done,
            no_show: c.no_show,
            cancelled: c.cancelled,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AppointmentsBody {
    pub appointments: Vec<AppointmentBody>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PatientRef {
    pub id: Option<String>,
    pub name: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AgendaAppointmentBody {
    #[serde(flatten)]
    pub appointment: AppointmentBody,
    pub patient: PatientRef,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AgendaAppointmentsBody {
    pub appointments: Vec<AgendaAppointmentBody>,
    /// Each local day of the range with its figures.
    pub days: Vec<DayCountsBody>,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct RangeQuery {
    /// Local date YYYY-MM-DD.
    pub from: String,
    /// Local date YYYY-MM-DD, inclusive.
    pub to: String,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct SlotsQuery {
    pub motive_id: String,
    pub from: String,
    pub to: String,
    /// `compact` asks for [`CompactSlotsBody`]; absent or `full`: the contract's answer.
    #[serde(default)]
    pub format: SlotFormat,
}

/// How a slot list is written.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum SlotFormat {
    #[default]
    Full,
    Compact,
}

/// Slots of one local date, offset and length, in order.
#[derive(Debug, Serialize, ToSchema)]
pub struct SlotGroupBody {
    /// Local date `YYYY-MM-DD`.
    pub date: String,
    /// UTC offset of every start in the group, `+HH:MM`.
    pub offset: String,
    /// Every slot's length, in seconds.
    pub length_s: i64,
    /// Local start times `HH:MM` (`HH:MM:SS` when not on a whole minute).
    pub times: Vec<String>,
    /// Places left at each start (same order as `times`).
    pub remaining: Vec<u32>,
}

/// The compact slot list (`format=compact`): starts grouped by day, no end per slot.
#[derive(Debug, Serialize, ToSchema)]
pub struct CompactSlotsBody {
    pub groups: Vec<SlotGroupBody>,
}

/// A slot list, as asked: the contract's (default) or the compact one.
#[derive(Debug, Serialize, ToSchema)]
#[serde(untagged)]
pub enum SlotsAnswerBody {
    Full(SlotsBody),
    Compact(CompactSlotsBody),
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SlotBody {
    pub start: String,
    pub end: String,
    pub remaining: u32,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SlotsBody {
    pub slots: Vec<SlotBody>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SecondDoseSlotsBody {
    /// The dose-2 motive to book.
    pub motive_id: String,
    pub slots: Vec<SlotBody>,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct SearchParams {
    pub specialty: Option<String>,
    /// Free text: specialty words in any of the four languages, name words, a place, or
    /// all of them ("dentiste dupont", "Dentiste / paris 11"); accents, case and small typos
    /// do not matter.
    pub q: Option<String>,
    /// Any form of place: commune, district ("Paris 11e", "Lyon 3e"), postcode or its start.
    pub city: Option<String>,
    pub lat: Option<f64>,
    pub lon: Option<f64>,
    /// Default 20 km when lat/lon are given.
    pub radius_km: Option<f64>,
    /// Default 20, at most 100.
    pub limit: Option<usize>,
    /// `earliest` (default), `nearest` (or its older name `distance`; needs lat and lon) or
    /// `relevance` (waiting time and distance weighed together).
    pub sort: Option<String>,
    /// Results to skip (pagination); with `limit`. Not with `page`.
    pub offset: Option<usize>,
    /// Page number from 1, of `limit` results each. Not with `offset`.
    pub page: Option<usize>,
    /// Only agendas offering a teleconsultation bookable online.
    pub teleconsultation: Option<bool>,
    /// Only practitioners taking new patients.
    pub new_patients: Option<bool>,
    /// Only places with wheelchair access.
    pub wheelchair: Option<bool>,
    /// Comma-separated language codes; practitioners speaking at least one.
    pub languages: Option<String>,
    /// Comma-separated fee sectors (`sector-1`, `sector-2`, `non-contracted`); any of them.
    pub fee_sector: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SearchPlaceBody {
    pub id: String,
    pub name: String,
    pub address: String,
    pub postcode: String,
    pub city: String,
    pub lat: f64,
    pub lon: f64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SearchResultBody {
    pub practitioner_id: String,
    pub name: String,
    pub specialty: String,
    pub agenda_id: String,
    pub place: SearchPlaceBody,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub distance_km: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_slot: Option<String>,
    /// A teleconsultation motive is bookable online.
    pub teleconsultation: bool,
    pub accepts_new_patients: bool,
    /// `sector-1`, `sector-2` or `non-contracted`, when stated.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fee_sector: Option<String>,
    pub wheelchair_access: bool,
    /// Language codes spoken.
    pub languages: Vec<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SearchBody {
    pub results: Vec<SearchResultBody>,
    /// Results matching in all, on every page.
    pub total: usize,
    /// Results skipped before these.
    pub offset: usize,
    pub limit: usize,
    /// Only when `results` is empty and there is something to suggest.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub suggestions: Option<SearchSuggestionsBody>,
}

/// What to try when a search finds nobody.
#[derive(Debug, Serialize, ToSchema)]
pub struct SearchSuggestionsBody {
    /// The query with its unknown words replaced by the closest known ones (folded), when
    /// that finds someone.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub q: Option<String>,
    /// Specialties close to a word that matched nothing.
    pub specialties: Vec<SpecialtyBody>,
    /// The nearest towns with practitioners matching the rest of the query, nearest first.
    pub places: Vec<SuggestedPlaceBody>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SuggestedPlaceBody {
    /// Usable as `city`.
    pub city: String,
    pub postcode: String,
    pub lat: f64,
    pub lon: f64,
    /// From the place asked for (or the point given).
    pub distance_km: f64,
    /// Practitioners there matching the rest of the query.
    pub count: usize,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PublicMotiveBody {
    pub id: String,
    /// `null` while the key service cannot be reached (labels are stored encrypted).
    pub name: Option<String>,
    /// The label the practice gave in some of the pages' languages (`fr`, `en`, `de`,
    /// `it` → label); `name` is the one for the others. Absent when there are none.
    #[serde(skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub labels: std::collections::BTreeMap<String, String>,
    pub duration_min: u32,
    pub capacity: u32,
    pub teleconsultation: bool,
    pub new_patients_only: bool,
    /// Set for a vaccination motive.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vaccine: Option<VaccineBody>,
    /// The fee of a teleconsultation paid online (or at the practice), when it has one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fee: Option<FeeBody>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PublicAgendaBody {
    pub id: String,
    pub practitioner_id: String,
    pub timezone: String,
    /// Motives bookable online.
    pub motives: Vec<PublicMotiveBody>,
}

#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewHoldBody {
    pub agenda_id: String,
    pub motive_id: String,
    /// RFC 3339 instant with offset.
    pub start: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct HoldBody {
    pub id: String,
    pub agenda_id: String,
    pub motive_id: String,
    pub start: String,
    pub end: String,
    pub expires_at: String,
}

/// Either `{agenda_id, motive_id, start}` or `{hold_id}`.
#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewAppointmentBody {
    pub agenda_id: Option<String>,
    pub motive_id: Option<String>,
    pub start: Option<String>,
    pub hold_id: Option<String>,
    /// Optional message to the practitioner, stored encrypted.
    pub note: Option<String>,
    /// Book for one of the caller's relatives (see the web app's account page); absent: for
    /// the caller.
    pub relative_id: Option<String>,
    /// Pays a teleconsultation's fee online: a Stripe PaymentMethod id (`pm_…`, produced by
    /// Stripe.js in a browser; `pm_card_visa` in test mode). Required when the motive has a
    /// fee and the installation takes payments online; ignored otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payment_method: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MoveBody {
    /// New start, RFC 3339 with offset.
    pub start: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct HealthBody {
    pub status: &'static str,
}

// --- payments (teleconsultation fees) ------------------------------------------------------

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewFeeBody {
    /// In cents, 50 to 100000.
    pub amount_cents: i64,
    /// ISO 4217; only `EUR` for now (the default).
    pub currency: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct FeeBody {
    pub amount_cents: i64,
    pub currency: String,
}

impl From<&careslot_store::Fee> for FeeBody {
    fn from(f: &careslot_store::Fee) -> Self {
        Self {
            amount_cents: f.amount_cents,
            currency: f.currency.clone(),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PaymentBody {
    /// pending | authorised | captured | released | failed | pay_at_practice
    pub status: String,
    pub amount_cents: i64,
    pub currency: String,
}

impl From<&careslot_store::PaymentRow> for PaymentBody {
    fn from(p: &careslot_store::PaymentRow) -> Self {
        Self {
            status: p.status.as_str().to_owned(),
            amount_cents: p.amount_cents,
            currency: p.currency.clone(),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct WebhookAckBody {
    pub received: bool,
}
