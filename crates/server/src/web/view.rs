//! Shapes the pages display: slot buttons grouped by local day, result cards, labels.
//! Pure functions of views and language, shared by several pages.

use super::i18n::Lang;
use careslot_core::availability::AgendaView;
use careslot_domain::availability::Slot;
use careslot_domain::{Motive, Specialty};
use careslot_store::ReservationStatus;
use jiff::civil::Date;
use jiff::tz::TimeZone;
use jiff::Timestamp;

pub struct SlotButton {
    /// RFC 3339 instant, the value posted back.
    pub start: String,
    pub label: String,
    /// e.g. "lundi 23 novembre 2026 à 14:30", for screen readers.
    pub long: String,
}

pub struct DayColumn {
    pub label: String,
    /// The local date (`YYYY-MM-DD`).
    pub date: String,
    pub slots: Vec<SlotButton>,
    /// Slots beyond the ones shown.
    pub more: usize,
    /// Where "+N" leads: a page showing every time of that day (empty: plain text).
    pub more_href: String,
    /// What "+N" says to screen readers, e.g. "5 more times on Mon 7 Dec".
    pub more_label: String,
}

pub fn instant_rfc3339(t: Timestamp, tz: &TimeZone) -> String {
    careslot_core::time::format_instant(t, tz)
}

pub fn slot_button(lang: Lang, s: &Slot, tz: &TimeZone) -> SlotButton {
    let z = s.start.to_zoned(tz.clone());
    SlotButton {
        start: instant_rfc3339(s.start, tz),
        label: lang.time(&z),
        long: lang.date_time(&z),
    }
}

/// Slots grouped into one column per local date from `from` for `days` days, at most
/// `per_day` buttons each (0: no limit).
pub fn day_columns(
    lang: Lang,
    slots: &[Slot],
    tz: &TimeZone,
    from: Date,
    days: i16,
    per_day: usize,
) -> Vec<DayColumn> {
    let mut cols: Vec<DayColumn> = Vec::new();
    let mut date = from;
    for _ in 0..days {
        let mut col = DayColumn {
            label: lang.short_date(date),
            date: date.to_string(),
            slots: Vec::new(),
            more: 0,
            more_href: String::new(),
            more_label: String::new(),
        };
        for s in slots
            .iter()
            .filter(|s| s.start.to_zoned(tz.clone()).date() == date)
        {
            if per_day == 0 || col.slots.len() < per_day {
                col.slots.push(slot_button(lang, s, tz));
            } else {
                col.more += 1;
            }
        }
        cols.push(col);
        match date.tomorrow() {
            Ok(d) => date = d,
            Err(_) => break,
        }
    }
    cols
}

/// Whether the web pages offer a motive: bookable online, and for vaccination the first
/// dose (its second dose is chosen with it; boosters and second doses alone go through the
/// API for now).
pub fn listed(view: &AgendaView, m: &Motive) -> bool {
    m.policy.bookable_online
        && view
            .vaccine(&m.id)
            .is_none_or(|v| v.dose == careslot_domain::Dose::First)
}

/// A vaccination first dose: its slots lead to the choice of the second dose.
pub fn is_vaccination(view: &AgendaView, m: &Motive) -> bool {
    view.vaccine(&m.id).is_some()
}

/// The motive a page shows first: the one asked for if listed, else the first listed. At a
/// vaccination centre (`centre`), a vaccine's first dose comes before any other motive, so
/// its slots lead to the series with its second dose rather than to a generic motive.
pub fn pick_motive<'v>(
    view: &'v AgendaView,
    wanted: Option<&str>,
    centre: bool,
) -> Option<&'v Motive> {
    let online = || view.motives.iter().filter(|m| listed(view, m));
    let series = || {
        online()
            .filter(|m| view.vaccine(&m.id).is_some_and(|v| v.next.is_some()))
            .chain(online().filter(|m| is_vaccination(view, m)))
            .next()
    };
    wanted
        .and_then(|w| online().find(|m| m.id.as_str() == w))
        .or_else(|| if centre { series() } else { None })
        .or_else(|| online().next())
}

/// A motive's label in the visitor's language when the practice gave one, else its default
/// label.
pub fn motive_label(lang: Lang, public: &crate::services::PublicAgenda, m: &Motive) -> String {
    public
        .label(&m.id, lang.code())
        .map(str::to_owned)
        .unwrap_or_else(|| lang.tf("motive.unnamed", &[("min", &m.duration.get().to_string())]))
}

pub fn specialty_label(lang: Lang, s: Specialty) -> &'static str {
    lang.t(&format!("specialty.{}", s.code()))
}

/// "1,2 km" / "1.2 km"; metres under one kilometre.
pub fn distance(lang: Lang, km: f64) -> String {
    if km < 1.0 {
        return format!("{} m", ((km * 1000.0) / 10.0).round() * 10.0);
    }
    let s = format!("{km:.1}");
    match lang {
        Lang::En => format!("{s} km"),
        _ => format!("{} km", s.replace('.', ",")),
    }
}

/// The catalogue key naming a reservation's status.
/// A notice in minutes as people say it: "2 h", "1 h 30 min", "45 min".
pub fn notice_label(lang: Lang, minutes: u32) -> String {
    let (h, m) = (minutes / 60, minutes % 60);
    match (h, m) {
        (0, m) => lang.tf("duration.min", &[("m", &m.to_string())]),
        (h, 0) => lang.tf("duration.h", &[("h", &h.to_string())]),
        (h, m) => lang.tf(
            "duration.h_min",
            &[("h", &h.to_string()), ("m", &m.to_string())],
        ),
    }
}

pub fn status_key(s: careslot_store::ReservationStatus) -> &'static str {
    use careslot_store::ReservationStatus::*;
    match s {
        Held => "status.held",
        Booked => "status.booked",
        Cancelled => "status.cancelled",
        Expired => "status.expired",
        NoShow => "status.no_show",
    }
}

/// An appointment or hold as every page describes it.
pub struct Summary {
    pub id: String,
    pub agenda_id: String,
    pub motive_id: String,
    pub practitioner: String,
    pub specialty: &'static str,
    pub place: String,
    pub address: String,
    pub motive: String,
    pub video: bool,
    pub when: String,
    /// RFC 3339 start, for forms.
    pub start: String,
    /// Local date of the start (`YYYY-MM-DD`), for "see that week" links.
    pub date: String,
    pub status: &'static str,
    pub upcoming: bool,
    /// Past or cancelled: offer to book the same practitioner and motive again.
    pub book_again: bool,
    /// Who it is for when not the patient: a relative's name.
    pub for_whom: Option<String>,
    /// The hold's expiry in whole seconds, rounded up: the page's countdown must not end
    /// before the server stops taking the hold's Confirm.
    pub expires_epoch: i64,
    pub expires_label: String,
}

impl crate::web::context::Ctx {
    /// Describes an appointment; `relatives` names the patient's relatives.
    pub async fn summary(
        &self,
        a: &crate::services::Appointment,
        relatives: &[crate::services::Relative],
    ) -> crate::services::AppResult<Summary> {
        let lang = self.lang;
        let public = self.app.public_agenda(&a.row.agenda_id).await?;
        let v = &public.view;
        let z = a.row.start.to_zoned(v.tz.clone());
        let motive = v.motive(&a.motive_id);
        let status_key = status_key(a.row.status);
        let expires = a.row.expires_at;
        Ok(Summary {
            id: a.row.id.to_string(),
            agenda_id: a.row.agenda_id.to_string(),
            motive_id: a.motive_id.to_string(),
            practitioner: public.practitioner.name.clone(),
            specialty: specialty_label(lang, public.practitioner.specialty),
            place: public.place.name.clone(),
            address: format!(
                "{}, {} {}",
                public.place.address, public.place.postcode, public.place.city
            ),
            motive: motive
                .map(|m| motive_label(lang, &public, m))
                .unwrap_or_default(),
            video: motive.is_some_and(|m| m.policy.teleconsultation),
            when: lang.date_time(&z),
            start: instant_rfc3339(a.row.start, &v.tz),
            date: z.date().to_string(),
            status: lang.t(status_key),
            upcoming: a.row.start > Timestamp::now(),
            book_again: match a.row.status {
                ReservationStatus::Cancelled | ReservationStatus::NoShow => true,
                ReservationStatus::Booked => a.row.start <= Timestamp::now(),
                ReservationStatus::Held | ReservationStatus::Expired => false,
            },
            for_whom: a.relative.as_ref().map(|r| {
                relatives
                    .iter()
                    .find(|x| &x.id == r)
                    .map(|x| x.name.clone())
                    .unwrap_or_else(|| lang.t("booking.removed_relative").to_owned())
            }),
            expires_epoch: expires
                .map(|e| e.as_second() + i64::from(e.subsec_nanosecond() > 0))
                .unwrap_or(0),
            expires_label: expires
                .map(|e| lang.time(&e.to_zoned(v.tz.clone())))
                .unwrap_or_default(),
        })
    }
}
