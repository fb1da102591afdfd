//! One-shot messages carried across a redirect. The cookie holds only a catalogue key from
//! this list, never text, so nothing a visitor sends is ever displayed back.

const KEYS: &[&str] = &[
    "flash.slot_taken",
    "flash.hold_expired",
    "flash.cancelled",
    "flash.moved",
    "flash.signed_in",
    "flash.signed_out",
    "flash.relative_added",
    "flash.relative_removed",
    "flash.saved",
    "flash.booked_for_patient",
    "flash.no_show",
    "flash.no_show_undone",
    "flash.status_set",
    "flash.status_refused",
    "flash.invite_used",
    "flash.welcome_assistant",
    "flash.account_erased",
    "flash.new_patients_only",
    "flash.page_live",
    "flash.no_second_dose",
    "flash.vaccination_refused",
    "flash.queue_admitted",
    "flash.rx_issued",
    "flash.rx_invalid",
    "flash.rx_dispensed",
    "flash.password_reset",
    "flash.mfa_removed",
    "flash.session_revoked",
    "flash.reason_required",
    "flash.decision_conflict",
    "flash.grid_moved",
    "flash.grid_resized",
    "flash.patients_merged",
    "flash.series_booked",
    "flash.series_cancelled",
    "flash.series_moved",
    "flash.rights_saved",
    "flash.org_joined",
    "flash.org_left",
];

pub fn lookup(key: &str) -> Option<&'static str> {
    KEYS.iter().copied().find(|k| *k == key)
}
