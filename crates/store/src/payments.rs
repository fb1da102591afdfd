//! Storage models of teleconsultation payments: motive fees, payments and the webhook
//! events already processed.

use careslot_domain::{AgendaId, MotiveId, ReservationId};
use jiff::Timestamp;

/// A motive's online fee, in the currency's minor unit (cents).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fee {
    pub amount_cents: i64,
    /// ISO 4217, upper case (`EUR`).
    pub currency: String,
}

/// Where a payment stands. Moves only forward: `Pending` → `Authorised` → `Captured` or
/// `Released`; `Failed` when the provider refused; `AtPractice` is final from the start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PaymentStatus {
    /// Recorded before the provider is asked (so that a crash leaves a trace).
    Pending,
    /// The card is authorised (funds held), not charged yet.
    Authorised,
    /// Charged, after the consultation.
    Captured,
    /// The authorisation was cancelled; nothing is charged.
    Released,
    /// The provider refused (declined card) or the capture failed.
    Failed,
    /// No online payment: the fee is paid at the practice.
    AtPractice,
}

impl PaymentStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            PaymentStatus::Pending => "pending",
            PaymentStatus::Authorised => "authorised",
            PaymentStatus::Captured => "captured",
            PaymentStatus::Released => "released",
            PaymentStatus::Failed => "failed",
            PaymentStatus::AtPractice => "pay_at_practice",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "pending" => PaymentStatus::Pending,
            "authorised" => PaymentStatus::Authorised,
            "captured" => PaymentStatus::Captured,
            "released" => PaymentStatus::Released,
            "failed" => PaymentStatus::Failed,
            "pay_at_practice" => PaymentStatus::AtPractice,
            _ => return None,
        })
    }

    /// Captured, released and pay-at-practice never change again.
    pub fn is_final(self) -> bool {
        matches!(
            self,
            PaymentStatus::Captured | PaymentStatus::Released | PaymentStatus::AtPractice
        )
    }
}

/// The payment of one appointment (its reservation id).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PaymentRow {
    pub reservation_id: ReservationId,
    pub agenda_id: AgendaId,
    /// `stripe` or `practice`.
    pub provider: String,
    /// The provider's id of the payment (Stripe: `pi_…`), once known.
    pub intent_id: Option<String>,
    pub amount_cents: i64,
    pub currency: String,
    pub status: PaymentStatus,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// A status change applied only if the payment is in one of `from` (conditional update).
#[derive(Debug, Clone)]
pub struct PaymentTransition<'a> {
    pub reservation_id: &'a ReservationId,
    pub from: &'a [PaymentStatus],
    pub to: PaymentStatus,
    /// Set the provider's id (kept when `None`).
    pub intent_id: Option<&'a str>,
    pub now: Timestamp,
}

/// A payment that may need settling, with what its appointment has become.
#[derive(Debug, Clone)]
pub struct OpenPayment {
    pub payment: PaymentRow,
    pub reservation_status: crate::ReservationStatus,
    pub reservation_end: Timestamp,
    pub hold_expires_at: Option<Timestamp>,
}

/// A motive's fee as listed for an agenda.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MotiveFee {
    pub motive_id: MotiveId,
    pub fee: Fee,
}
