//! Request and response bodies of the vaccination and campaign endpoints.

use careslot_scheduling::api::dto::*;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

// --- vaccination ---------------------------------------------------------------------------

#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DoseChoiceBody {
    pub agenda_id: String,
    pub motive_id: String,
    /// RFC 3339 start of the chosen slot.
    pub start: String,
}

/// `dose1` + `dose2` (a two-dose vaccine), `dose1` alone (single dose), `dose2` alone with
/// `previous_dose_date` (first dose received elsewhere), or `booster` with
/// `previous_dose_date`.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct VaccinationBookingBody {
    pub dose1: Option<DoseChoiceBody>,
    pub dose2: Option<DoseChoiceBody>,
    pub booster: Option<DoseChoiceBody>,
    /// `YYYY-MM-DD`
    pub previous_dose_date: Option<String>,
    /// For eligibility: `YYYY-MM-DD` (default: the account's birth date).
    pub birth_date: Option<String>,
    /// For eligibility: declared groups such as `health-professional`.
    #[serde(default)]
    pub priority_groups: Vec<String>,
    /// Book the doses held by `POST /api/v1/vaccination/holds` (give nothing else then).
    pub hold_id: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct VaccinationBookingResult {
    pub appointments: Vec<AppointmentBody>,
}

/// Doses held together for the patient while they confirm.
#[derive(Debug, Serialize, ToSchema)]
pub struct VaccinationHoldResult {
    /// Give it as `hold_id` to `POST /api/v1/vaccination/bookings`.
    pub id: String,
    pub expires_at: String,
    pub appointments: Vec<AppointmentBody>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SecondDoseQuery {
    pub agenda_id: String,
    /// The dose-1 motive.
    pub motive_id: String,
    /// The chosen dose-1 start.
    pub start: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ProtocolBody {
    pub product: String,
    pub name: String,
    pub version: u32,
    pub effective_from: String,
    pub doses: u8,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub second_dose: Option<WindowBody>,
    pub booster_min_days: u32,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct WindowBody {
    pub min_days: u32,
    pub max_days: u32,
}

impl From<&careslot_domain::Protocol> for ProtocolBody {
    fn from(p: &careslot_domain::Protocol) -> Self {
        Self {
            product: p.product.code().to_owned(),
            name: p.product.name().to_owned(),
            version: p.version,
            effective_from: p.effective_from.to_string(),
            doses: p.doses,
            second_dose: p
                .second_dose
                .map(|(min_days, max_days)| WindowBody { min_days, max_days }),
            booster_min_days: p.booster_min_days,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ProtocolsBody {
    pub protocols: Vec<ProtocolBody>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StockBody {
    pub product: String,
    /// Local date `YYYY-MM-DD` of the centre.
    pub day: String,
    pub doses: i64,
}

/// A centre's default doses per day of a product: every day without a stock of its own
/// (set through `PUT /agendas/{agenda_id}/stock`) offers this many doses.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StockPolicyBody {
    pub product: String,
    /// Doses per day, 0 to 1000000; `null` removes the policy (days without their own stock
    /// then have no dose). Lowering it never cancels a booking: a day that already booked
    /// more keeps them and offers no more.
    #[schema(minimum = 0, maximum = 1000000)]
    pub doses: Option<i64>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct StockRowBody {
    pub agenda_id: String,
    pub product: String,
    pub day: String,
    pub doses: u32,
    pub booked: u32,
}

impl From<&careslot_store::StockRow> for StockRowBody {
    fn from(s: &careslot_store::StockRow) -> Self {
        Self {
            agenda_id: s.agenda_id.to_string(),
            product: s.product.code().to_owned(),
            day: s.day.to_string(),
            doses: s.doses,
            booked: s.used,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PhaseBody {
    pub id: String,
    pub name: String,
    pub everyone: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub min_age: Option<u32>,
    pub priority_groups: Vec<String>,
    pub opened_at: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub closed_at: Option<String>,
}

impl From<&careslot_domain::Phase> for PhaseBody {
    fn from(p: &careslot_domain::Phase) -> Self {
        Self {
            id: p.id.clone(),
            name: p.name.clone(),
            everyone: p.everyone,
            min_age: p.min_age,
            priority_groups: p.priority_groups.clone(),
            opened_at: p.opened_at.to_string(),
            closed_at: p.closed_at.map(|t| t.to_string()),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct EligibilityBody {
    /// Who may book now, in words.
    pub summary: String,
    pub open_phases: Vec<PhaseBody>,
    /// Slots starting within this many hours are open to everyone (0: off).
    pub chronodose_hours: u32,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewPhaseBody {
    pub name: String,
    #[serde(default)]
    pub everyone: bool,
    pub min_age: Option<i64>,
    #[serde(default)]
    pub priority_groups: Vec<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChronodoseBody {
    /// 0 closes; 24 to 48 opens slots starting within that many hours to everyone.
    pub hours: i64,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewProtocolBody {
    pub product: String,
    /// `YYYY-MM-DD`: bookings from this day on use the new version.
    pub effective_from: String,
    pub second_dose: Option<NewWindowBody>,
    pub booster_min_days: i64,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewWindowBody {
    pub min_days: i64,
    pub max_days: i64,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DaysQuery {
    pub from: String,
    pub to: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DayReportBody {
    pub day: String,
    pub product: String,
    /// Places the opening hours give (slot starts × lines).
    pub capacity: u32,
    /// The day's doses: its own stock, else the policy's.
    pub doses: u32,
    /// The doses set for this day, overriding the policy (absent: the policy applies).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub explicit: Option<u32>,
    /// The centre's default doses per day of this product, if it has set one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub policy: Option<u32>,
    pub booked: u32,
    pub no_shows: u32,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DaysBody {
    pub days: Vec<DayReportBody>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ProductTotalsBody {
    pub product: String,
    pub doses: u64,
    pub booked: u64,
    pub no_shows: u64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TotalsBody {
    pub centres: usize,
    pub products: Vec<ProductTotalsBody>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ExportQuery {
    pub from: String,
    pub to: String,
    /// Names and birth dates instead of pseudonyms (only where the installation allows it).
    #[serde(default)]
    pub identities: bool,
}

#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LinesBody {
    /// Local date `YYYY-MM-DD` of the centre.
    pub day: String,
    /// Parallel lines that day (capacity of the agenda's pooled motives), 1 to 1000.
    pub lines: i64,
}
