//! The application services of every feature under one path, for the binary and the tests.

pub use crate::app::{App, AppConfig};
pub use careslot_consultation::{
    clean_file_name, sniff, Consultation, DocumentFile, DocumentInfo, DocumentsConfig,
    IssuedPrescription, PrescriptionView, PublishedKey, Verification, VideoSession,
};
pub use careslot_core::{
    AccessEntry, AppError, AppResult, AuditVerdict, Caller, Core, PaymentFailure,
};
pub use careslot_identity::{
    AccountView, Accounts, EmailConfirmed, Identity, Invitation, Invitee, NewIdentity,
    ProfileUpdate, Relative, SignedIn,
};
pub use careslot_scheduling::{
    is_valid_guest_id, parse_fee, Appointment, BookingDetails, BookingInput, DeskAppointment,
    DeskPatient, GridLane, GridPatient, Holder, MotiveChanges, NewMotive, NewPlace, NewRule,
    Participation, ProfileInput, PublicAgenda, Scheduling, SettleReport, Side, SlotQuery,
    LABEL_LANGS,
};
pub use careslot_vaccination::{
    CampaignTotals, DayReport, DoseChoice, Eligibility, NewPhase, ProductTotals, Vaccination,
    VaccinationRequest, VaccineSpec, CHRONODOSE_SETTING,
};
