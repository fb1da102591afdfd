//! From what happened to a rendered [`Message`]: subject, plain text and HTML from the askama
//! templates (email) or one short text (SMS), in the recipient's language and the place's time
//! zone, with the `.ics` attached to confirmations and moves.
//!
//! Health data stays out of subjects and SMS: no motive, no practitioner, no patient name
//! there. The motive appears in an email body only when the patient opted in (`show_motive`).

use askama::Template;
use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};

use crate::i18n::Lang;
use crate::ics::{IcsAlarm, IcsEvent};
use crate::message::{Attachment, Kind, Message, Recipient};

/// Installation-wide settings the messages need.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Site {
    /// Base of the links, without a trailing slash (`https://careslot.example`).
    pub public_url: String,
    /// Where a recipient turns reminders off; put in non-essential mail (body and
    /// `List-Unsubscribe`).
    pub unsubscribe_url: Option<String>,
    /// The `.ics` alarm: this long before the start.
    pub alarm_before: SignedDuration,
}

impl Site {
    pub fn new(public_url: impl Into<String>) -> Site {
        let url: String = public_url.into();
        Site {
            public_url: url.trim_end_matches('/').to_owned(),
            unsubscribe_url: None,
            alarm_before: SignedDuration::from_hours(2),
        }
    }

    /// `{public_url}/appointments/{id}`.
    pub fn appointment_url(&self, appointment_id: &str) -> String {
        format!("{}/appointments/{}", self.public_url, appointment_id)
    }

    /// Host part of the public URL, for calendar UIDs.
    fn host(&self) -> String {
        url::Url::parse(&self.public_url)
            .ok()
            .and_then(|u| u.host_str().map(str::to_owned))
            .unwrap_or_else(|| "careslot.invalid".to_owned())
    }
}

/// An appointment as the messages show it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Appointment {
    pub id: String,
    pub start: Timestamp,
    pub end: Timestamp,
    /// The place's IANA zone (`Europe/Paris`); every time is written in it.
    pub time_zone: String,
    pub practitioner: String,
    /// Name of the practice or place.
    pub place: String,
    /// Postal address, lines separated by `\n`.
    pub address: String,
    /// The visit reason: health data.
    pub motive: Option<String>,
    /// The patient opted in to seeing the motive in emails and the calendar event.
    pub show_motive: bool,
    /// Version of the appointment for the calendar (raise it on each move).
    pub sequence: u32,
}

/// What the message is about, with what it needs to say.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Content {
    BookingConfirmation(Appointment),
    /// To the patient: the practice cancelled.
    CancelledByPractice(Appointment),
    /// To the practice: the patient cancelled.
    CancelledByPatient {
        appointment: Appointment,
        patient: String,
    },
    Moved {
        appointment: Appointment,
        previous_start: Timestamp,
    },
    Reminder(Appointment),
    PasswordReset {
        link: String,
        valid_minutes: u32,
    },
    EmailVerification {
        link: String,
    },
    /// Sign-up with an address that already has an account.
    AccountExists {
        sign_in_link: String,
        reset_link: String,
    },
    AssistantInvitation {
        practice: String,
        inviter: String,
        link: String,
        valid_days: u32,
    },
    /// A practitioner invited into an organisation (a group practice) by one of its members:
    /// the link makes the invitee a member, sharing the practice's agendas and assistants.
    ColleagueInvitation {
        organisation: String,
        inviter: String,
        link: String,
        valid_days: u32,
    },
    /// A new operator account (platform staff): the link sets its password (and works once).
    OperatorInvitation {
        link: String,
        valid_days: u32,
    },
    /// To the new address of an email change: the link that makes it the account's.
    EmailChange {
        link: String,
    },
    /// To the old address once a change is done; `reset_link` in case it was not the owner.
    EmailChanged {
        reset_link: String,
    },
    /// After a password change from the account page.
    PasswordChanged {
        reset_link: String,
    },
    /// The code that finishes an instant sign-up (email; no health data).
    SignupCode {
        code: String,
        valid_minutes: u32,
    },
    /// The code proving a phone number: SMS only, no health data.
    PhoneCode {
        code: String,
        valid_minutes: u32,
    },
    /// An earlier place opened and is held for the patient until they confirm (`link`) or
    /// `valid_minutes` pass.
    SlotOffer {
        appointment: Appointment,
        link: String,
        valid_minutes: u32,
    },
    // --- issue 14, part C: a message for every event ---
    /// To the patient: the practice recorded that they did not come (neutral wording).
    NoShow(Appointment),
    /// To the patient: a prescription was signed on the appointment (never its content).
    PrescriptionAvailable(Appointment),
    /// To the other party of the appointment: a document was added (never its name); `link`
    /// is the page where they see it.
    DocumentAdded {
        appointment: Appointment,
        link: String,
    },
    /// A teleconsultation's video room is open; `link` is the video page.
    VideoReady {
        appointment: Appointment,
        link: String,
    },
    /// Both doses of a vaccination series in one message, one `.ics` per dose.
    SeriesConfirmation {
        first: Appointment,
        second: Appointment,
    },
    /// A series of appointments the practice booked (recurring care): every date in one
    /// message, one `.ics` per appointment. Never empty (the first is the one named).
    CareSeriesConfirmation(Vec<Appointment>),
    /// To the patient: the practice cancelled these appointments of a series, in one
    /// message. Never empty.
    CareSeriesCancelled(Vec<Appointment>),
    /// To the patient: the practice moved these appointments of a series (their new times),
    /// in one message with one `.ics` per appointment. Never empty.
    CareSeriesMoved(Vec<Appointment>),
}

impl Content {
    pub fn kind(&self) -> Kind {
        match self {
            Content::BookingConfirmation(_) => Kind::BookingConfirmation,
            Content::CancelledByPractice(_) | Content::CareSeriesCancelled(_) => {
                Kind::CancelledByPractice
            }
            Content::CancelledByPatient { .. } => Kind::CancelledByPatient,
            Content::Moved { .. } | Content::CareSeriesMoved(_) => Kind::Moved,
            Content::Reminder(_) => Kind::Reminder,
            Content::PasswordReset { .. } => Kind::PasswordReset,
            Content::EmailVerification { .. } => Kind::EmailVerification,
            Content::AccountExists { .. } => Kind::AccountExists,
            Content::AssistantInvitation { .. } => Kind::AssistantInvitation,
            Content::ColleagueInvitation { .. } => Kind::ColleagueInvitation,
            Content::OperatorInvitation { .. } => Kind::OperatorInvitation,
            Content::EmailChange { .. } => Kind::EmailChange,
            Content::EmailChanged { .. } => Kind::EmailChanged,
            Content::PasswordChanged { .. } => Kind::PasswordChanged,
            Content::PhoneCode { .. } => Kind::PhoneCode,
            Content::SignupCode { .. } => Kind::SignupCode,
            Content::SlotOffer { .. } => Kind::SlotOffer,
            Content::NoShow(_) => Kind::NoShow,
            Content::PrescriptionAvailable(_) => Kind::PrescriptionAvailable,
            Content::DocumentAdded { .. } => Kind::DocumentAdded,
            Content::VideoReady { .. } => Kind::VideoReady,
            Content::SeriesConfirmation { .. } | Content::CareSeriesConfirmation(_) => {
                Kind::SeriesConfirmation
            }
        }
    }

    fn appointment(&self) -> Option<&Appointment> {
        match self {
            Content::BookingConfirmation(a)
            | Content::CancelledByPractice(a)
            | Content::Reminder(a)
            | Content::CancelledByPatient { appointment: a, .. }
            | Content::Moved { appointment: a, .. }
            | Content::SlotOffer { appointment: a, .. }
            | Content::NoShow(a)
            | Content::PrescriptionAvailable(a)
            | Content::DocumentAdded { appointment: a, .. }
            | Content::VideoReady { appointment: a, .. }
            | Content::SeriesConfirmation { first: a, .. } => Some(a),
            Content::CareSeriesConfirmation(all)
            | Content::CareSeriesCancelled(all)
            | Content::CareSeriesMoved(all) => all.first(),
            _ => None,
        }
    }

    fn key(&self) -> &'static str {
        match self {
            Content::CareSeriesConfirmation(_) => return "care_series",
            Content::CareSeriesCancelled(_) => return "care_series_cancelled",
            Content::CareSeriesMoved(_) => return "care_series_moved",
            _ => {}
        }
        match self.kind() {
            Kind::BookingConfirmation => "booking",
            Kind::CancelledByPractice => "cancel_practice",
            Kind::CancelledByPatient => "cancel_patient",
            Kind::Moved => "moved",
            Kind::Reminder => "reminder",
            Kind::PasswordReset => "password_reset",
            Kind::EmailVerification => "email_verification",
            Kind::AccountExists => "account_exists",
            Kind::AssistantInvitation => "invitation",
            Kind::ColleagueInvitation => "colleague_invitation",
            Kind::OperatorInvitation => "operator_invitation",
            Kind::EmailChange => "email_change",
            Kind::EmailChanged => "email_changed",
            Kind::PasswordChanged => "password_changed",
            Kind::PhoneCode => "phone_code",
            Kind::SignupCode => "signup_code",
            Kind::SlotOffer => "slot_offer",
            Kind::NoShow => "no_show",
            Kind::PrescriptionAvailable => "prescription",
            Kind::DocumentAdded => "document",
            Kind::VideoReady => "video",
            Kind::SeriesConfirmation => "series",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ComposeError {
    #[error("unknown time zone {0:?}")]
    TimeZone(String),
    #[error("{0:?} messages are not sent by SMS")]
    NoSms(Kind),
    #[error("{0:?} messages are sent by SMS only")]
    SmsOnly(Kind),
    #[error("template: {0}")]
    Template(String),
}

/// Everything the two email templates show, already translated.
struct View {
    lang: &'static str,
    subject: String,
    greeting: String,
    intro: String,
    /// (label, value); values may hold several lines.
    details: Vec<(String, String)>,
    /// (label, url) of the main button.
    action: Option<(String, String)>,
    /// (text, url) of a secondary link.
    secondary: Option<(String, String)>,
    notes: Vec<String>,
    fallback: String,
    signature: String,
    footer: String,
    unsubscribe: Option<(String, String)>,
}

#[derive(Template)]
#[template(path = "email.html")]
struct HtmlEmail<'a> {
    v: &'a View,
}

#[derive(Template)]
#[template(path = "email.txt")]
struct TextEmail<'a> {
    v: &'a View,
}

/// Renders `content` for `recipient` in `lang`. `now` stamps the calendar event. The message
/// gets a fresh id; store it with the outbox row and never re-render on retry.
pub fn compose(
    site: &Site,
    content: &Content,
    recipient: Recipient,
    lang: Lang,
    now: Timestamp,
) -> Result<Message, ComposeError> {
    let kind = content.kind();
    let key = content.key();
    let when = match content.appointment() {
        Some(a) => Some(local_time(lang, a.start, &a.time_zone)?),
        None => None,
    };
    let when_str = when.clone().unwrap_or_default();
    let unsubscribe_url = if kind.is_essential() {
        None
    } else {
        site.unsubscribe_url.clone()
    };

    if let Content::PhoneCode {
        code,
        valid_minutes,
    } = content
    {
        if !matches!(recipient, Recipient::Phone(_)) {
            return Err(ComposeError::SmsOnly(kind));
        }
        let minutes = valid_minutes.to_string();
        let text = lang.tf("phone_code.sms", &[("code", code), ("minutes", &minutes)]);
        return Ok(Message {
            id: Message::new_id(),
            recipient,
            lang,
            kind,
            subject: String::new(),
            text,
            html: None,
            attachments: vec![],
            unsubscribe_url,
        });
    }
    if let Recipient::Phone(_) = recipient {
        let Some(a) = content.appointment() else {
            return Err(ComposeError::NoSms(kind));
        };
        let link = match content {
            Content::SlotOffer { link, .. } => link.clone(),
            _ => site.appointment_url(&a.id),
        };
        let text = lang.tf(
            &format!("{key}.sms"),
            &[("when", &when_str), ("link", &link)],
        );
        return Ok(Message {
            id: Message::new_id(),
            recipient,
            lang,
            kind,
            subject: String::new(),
            text,
            html: None,
            attachments: vec![],
            unsubscribe_url,
        });
    }

    let subject = match content {
        Content::AssistantInvitation { practice, .. } => {
            lang.tf("invitation.subject", &[("practice", practice)])
        }
        Content::ColleagueInvitation { organisation, .. } => lang.tf(
            "colleague_invitation.subject",
            &[("organisation", organisation)],
        ),
        _ => lang.tf(&format!("{key}.subject"), &[("when", &when_str)]),
    };
    let mut view = View {
        lang: lang.code(),
        subject: subject.clone(),
        greeting: lang.t("common.greeting").to_owned(),
        intro: String::new(),
        details: vec![],
        action: None,
        secondary: None,
        notes: vec![],
        fallback: lang.t("common.link_fallback").to_owned(),
        signature: lang.t("common.signature").to_owned(),
        footer: lang.t("common.essential").to_owned(),
        unsubscribe: unsubscribe_url
            .clone()
            .map(|u| (lang.t("common.unsubscribe").to_owned(), u)),
    };
    let mut attachments = vec![];

    match content {
        Content::PasswordReset {
            link,
            valid_minutes,
        } => {
            let minutes = valid_minutes.to_string();
            view.intro = lang.tf("password_reset.intro", &[("minutes", &minutes)]);
            view.action = Some((lang.t("password_reset.action").to_owned(), link.clone()));
            view.notes.push(lang.t("common.ignore").to_owned());
        }
        Content::EmailVerification { link } => {
            view.intro = lang.t("email_verification.intro").to_owned();
            view.action = Some((lang.t("email_verification.action").to_owned(), link.clone()));
            view.notes.push(lang.t("common.ignore").to_owned());
        }
        Content::AccountExists {
            sign_in_link,
            reset_link,
        } => {
            view.intro = lang.t("account_exists.intro").to_owned();
            view.action = Some((
                lang.t("account_exists.action").to_owned(),
                sign_in_link.clone(),
            ));
            view.secondary = Some((
                lang.t("account_exists.forgot").to_owned(),
                reset_link.clone(),
            ));
            view.notes.push(lang.t("common.ignore").to_owned());
        }
        Content::AssistantInvitation {
            practice,
            inviter,
            link,
            valid_days,
        } => invitation(
            &mut view,
            lang,
            "invitation",
            ("practice", practice),
            inviter,
            link,
            *valid_days,
        ),
        Content::ColleagueInvitation {
            organisation,
            inviter,
            link,
            valid_days,
        } => invitation(
            &mut view,
            lang,
            "colleague_invitation",
            ("organisation", organisation),
            inviter,
            link,
            *valid_days,
        ),
        Content::OperatorInvitation { link, valid_days } => {
            let days = valid_days.to_string();
            view.intro = lang.tf("operator_invitation.intro", &[("days", &days)]);
            view.action = Some((
                lang.t("operator_invitation.action").to_owned(),
                link.clone(),
            ));
            view.notes
                .push(lang.t("operator_invitation.mfa").to_owned());
            view.notes.push(lang.t("common.ignore").to_owned());
        }
        Content::EmailChange { link } => {
            view.intro = lang.t("email_change.intro").to_owned();
            view.action = Some((lang.t("email_change.action").to_owned(), link.clone()));
            view.notes.push(lang.t("common.ignore").to_owned());
        }
        Content::EmailChanged { reset_link } | Content::PasswordChanged { reset_link } => {
            view.intro = lang.t(&format!("{key}.intro")).to_owned();
            view.action = Some((
                lang.t("security.reset_action").to_owned(),
                reset_link.clone(),
            ));
        }
        Content::SignupCode {
            code,
            valid_minutes,
        } => {
            let minutes = valid_minutes.to_string();
            view.intro = lang.tf("signup_code.intro", &[("minutes", &minutes)]);
            view.details
                .push((lang.t("signup_code.label").to_owned(), code.clone()));
            view.notes.push(lang.t("common.ignore").to_owned());
        }
        // Returned above: an SMS.
        Content::PhoneCode { .. } => return Err(ComposeError::SmsOnly(kind)),
        Content::SlotOffer {
            appointment: a,
            link,
            valid_minutes,
        } => {
            let minutes = valid_minutes.to_string();
            view.intro = lang.tf("slot_offer.intro", &[("minutes", &minutes)]);
            view.details
                .push((lang.t("common.when").to_owned(), when_str.clone()));
            view.details
                .push((lang.t("common.with").to_owned(), a.practitioner.clone()));
            view.details
                .push((lang.t("common.where").to_owned(), a.place.clone()));
            view.action = Some((lang.t("slot_offer.action").to_owned(), link.clone()));
            view.notes.push(lang.t("slot_offer.ignore").to_owned());
        }
        Content::CareSeriesConfirmation(all)
        | Content::CareSeriesCancelled(all)
        | Content::CareSeriesMoved(all) => {
            view.intro = lang.t(&format!("{key}.intro")).to_owned();
            for (n, a) in all.iter().enumerate() {
                let at = local_time(lang, a.start, &a.time_zone)?;
                let label = lang.tf("care_series.nth", &[("n", &(n + 1).to_string())]);
                view.details.push((label, at));
            }
            if let Some(a) = all.first() {
                view.details
                    .push((lang.t("common.with").to_owned(), a.practitioner.clone()));
                let place = if a.address.trim().is_empty() {
                    a.place.clone()
                } else {
                    format!("{}\n{}", a.place, a.address)
                };
                view.details
                    .push((lang.t("common.where").to_owned(), place));
                if a.show_motive {
                    if let Some(motive) = &a.motive {
                        view.details
                            .push((lang.t("common.motive").to_owned(), motive.clone()));
                    }
                }
                view.action = Some((
                    lang.t("common.view").to_owned(),
                    site.appointment_url(&a.id),
                ));
            }
            // One calendar file per appointment: each keeps its own UID and alarm (a moved
            // one its raised sequence, so the calendar replaces the event). None for a
            // cancellation.
            let to_calendar: &[Appointment] = match content {
                Content::CareSeriesCancelled(_) => &[],
                _ => all,
            };
            if !to_calendar.is_empty() {
                view.notes.push(lang.t("common.ics_hint").to_owned());
            }
            for (n, a) in to_calendar.iter().enumerate() {
                let ics = appointment_event(site, a, lang, now).to_ics();
                attachments.push(Attachment::ics(format!("appointment-{}.ics", n + 1), ics));
            }
        }
        Content::BookingConfirmation(a)
        | Content::CancelledByPractice(a)
        | Content::Reminder(a)
        | Content::CancelledByPatient { appointment: a, .. }
        | Content::Moved { appointment: a, .. }
        | Content::NoShow(a)
        | Content::PrescriptionAvailable(a)
        | Content::DocumentAdded { appointment: a, .. }
        | Content::VideoReady { appointment: a, .. }
        | Content::SeriesConfirmation { first: a, .. } => {
            view.intro = match content {
                Content::CancelledByPatient { patient, .. } => {
                    lang.tf("cancel_patient.intro", &[("patient", patient)])
                }
                Content::Moved { previous_start, .. } => {
                    let previous = local_time(lang, *previous_start, &a.time_zone)?;
                    lang.tf("moved.intro", &[("previous", &previous)])
                }
                _ => lang.t(&format!("{key}.intro")).to_owned(),
            };
            if let Content::SeriesConfirmation { second, .. } = content {
                let later = local_time(lang, second.start, &second.time_zone)?;
                view.details
                    .push((lang.t("series.dose1").to_owned(), when_str.clone()));
                view.details
                    .push((lang.t("series.dose2").to_owned(), later));
            } else {
                view.details
                    .push((lang.t("common.when").to_owned(), when_str.clone()));
            }
            view.details
                .push((lang.t("common.with").to_owned(), a.practitioner.clone()));
            let place = if a.address.trim().is_empty() {
                a.place.clone()
            } else {
                format!("{}\n{}", a.place, a.address)
            };
            view.details
                .push((lang.t("common.where").to_owned(), place));
            if a.show_motive {
                if let Some(motive) = &a.motive {
                    view.details
                        .push((lang.t("common.motive").to_owned(), motive.clone()));
                }
            }
            view.action = Some(match content {
                Content::DocumentAdded { link, .. } => {
                    (lang.t("document.action").to_owned(), link.clone())
                }
                Content::VideoReady { link, .. } => {
                    (lang.t("video.action").to_owned(), link.clone())
                }
                _ => (
                    lang.t("common.view").to_owned(),
                    site.appointment_url(&a.id),
                ),
            });
            if matches!(kind, Kind::BookingConfirmation | Kind::Moved) {
                view.notes.push(lang.t("common.ics_hint").to_owned());
                let ics = appointment_event(site, a, lang, now).to_ics();
                attachments.push(Attachment::ics("rendez-vous.ics", ics));
            }
            if let Content::SeriesConfirmation { second, .. } = content {
                // One calendar file per dose: each keeps its own UID and alarm.
                view.notes.push(lang.t("common.ics_hint").to_owned());
                for (n, dose) in [(1, a), (2, second)] {
                    let ics = appointment_event(site, dose, lang, now).to_ics();
                    attachments.push(Attachment::ics(format!("dose-{n}.ics"), ics));
                }
            }
        }
    }

    let html = HtmlEmail { v: &view }
        .render()
        .map_err(|e| ComposeError::Template(e.to_string()))?;
    let text = TextEmail { v: &view }
        .render()
        .map_err(|e| ComposeError::Template(e.to_string()))?;
    Ok(Message {
        id: Message::new_id(),
        recipient,
        lang,
        kind,
        subject,
        text,
        html: Some(html),
        attachments,
        unsubscribe_url,
    })
}

/// The calendar event of an appointment: UID `{id}@{host}`, summary the practitioner (and the
/// motive only when opted in), the place as location, an alarm `site.alarm_before` ahead.
pub fn appointment_event(site: &Site, a: &Appointment, lang: Lang, now: Timestamp) -> IcsEvent {
    let mut summary = lang.tf("ics.summary", &[("practitioner", &a.practitioner)]);
    if a.show_motive {
        if let Some(motive) = &a.motive {
            summary = format!("{summary} – {motive}");
        }
    }
    let location = if a.address.trim().is_empty() {
        a.place.clone()
    } else {
        format!("{}, {}", a.place, a.address.replace('\n', ", "))
    };
    let url = site.appointment_url(&a.id);
    IcsEvent {
        uid: format!("{}@{}", a.id, site.host()),
        sequence: a.sequence,
        stamp: now,
        start: a.start,
        end: a.end,
        summary,
        location: Some(location),
        description: Some(url.clone()),
        url: Some(url),
        alarm: Some(IcsAlarm {
            before: site.alarm_before,
            description: lang.tf("ics.alarm", &[("practitioner", &a.practitioner)]),
        }),
        cancelled: false,
    }
}

/// One appointment of a practice's agenda feed (issue 18 point 6), as the practice's calendar
/// shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgendaEntry {
    pub id: String,
    pub start: Timestamp,
    pub end: Timestamp,
    /// The motive's label, or the patient's name and the motive when the practice turned
    /// names on: nothing else about the patient.
    pub summary: String,
    pub location: String,
    /// Raised by every change of the appointment (a move, a cancellation).
    pub sequence: u32,
    pub cancelled: bool,
}

/// The calendar event of an agenda feed's appointment: UID `agenda-{id}@{host}` (stable across
/// moves, and apart from the patient's event of the same appointment), the place as location,
/// a link to the appointment's desk page, no alarm (the practice's calendar app has its own).
pub fn agenda_event(site: &Site, a: &AgendaEntry, now: Timestamp) -> IcsEvent {
    let url = format!("{}/pro/appointments/{}", site.public_url, a.id);
    IcsEvent {
        uid: format!("agenda-{}@{}", a.id, site.host()),
        sequence: a.sequence,
        stamp: now,
        start: a.start,
        end: a.end,
        summary: a.summary.clone(),
        location: Some(a.location.clone()).filter(|l| !l.trim().is_empty()),
        description: Some(url.clone()),
        url: Some(url),
        alarm: None,
        cancelled: a.cancelled,
    }
}

/// The body of an invitation (catalogue keys under `key`): who invites into what (`to`,
/// the name of its placeholder and its value), the link and how long it is valid.
fn invitation(
    view: &mut View,
    lang: Lang,
    key: &str,
    to: (&str, &str),
    inviter: &str,
    link: &str,
    valid_days: u32,
) {
    let days = valid_days.to_string();
    view.intro = lang.tf(
        &format!("{key}.intro"),
        &[("inviter", inviter), to, ("days", &days)],
    );
    view.action = Some((lang.t(&format!("{key}.action")).to_owned(), link.to_owned()));
    view.notes.push(lang.t("common.ignore").to_owned());
}

fn local_time(lang: Lang, at: Timestamp, zone: &str) -> Result<String, ComposeError> {
    let tz = TimeZone::get(zone).map_err(|_| ComposeError::TimeZone(zone.to_owned()))?;
    Ok(lang.date_time(&at.to_zoned(tz)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn site() -> Site {
        let mut s = Site::new("https://careslot.example/");
        s.unsubscribe_url = Some("https://careslot.example/account#reminders".into());
        s
    }

    fn appointment(show_motive: bool) -> Appointment {
        Appointment {
            id: "0190b5e0-7c3a-7d2e-9f00-00000000abcd".into(),
            // 29 March 2026: the night Paris moves to summer time.
            start: "2026-03-29T12:30:00Z".parse().unwrap(),
            end: "2026-03-29T12:50:00Z".parse().unwrap(),
            time_zone: "Europe/Paris".into(),
            practitioner: "Dr Zoé Martin".into(),
            place: "Cabinet Saint-Éloi".into(),
            address: "12, rue de la Paix\n75002 Paris".into(),
            motive: Some("Suivi dépression".into()),
            show_motive,
            sequence: 0,
        }
    }

    fn all_contents(show_motive: bool) -> Vec<Content> {
        let a = appointment(show_motive);
        vec![
            Content::BookingConfirmation(a.clone()),
            Content::CancelledByPractice(a.clone()),
            Content::CancelledByPatient {
                appointment: a.clone(),
                patient: "Jean Dupont".into(),
            },
            Content::Moved {
                appointment: a.clone(),
                previous_start: "2026-03-27T08:00:00Z".parse().unwrap(),
            },
            Content::Reminder(a.clone()),
            Content::PasswordReset {
                link: "https://careslot.example/reset?token=abc".into(),
                valid_minutes: 30,
            },
            Content::EmailVerification {
                link: "https://careslot.example/verify?token=def".into(),
            },
            Content::AccountExists {
                sign_in_link: "https://careslot.example/signin".into(),
                reset_link: "https://careslot.example/forgot".into(),
            },
            Content::AssistantInvitation {
                practice: "Cabinet Saint-Éloi".into(),
                inviter: "Dr Zoé Martin".into(),
                link: "https://careslot.example/invitations/xyz".into(),
                valid_days: 7,
            },
            Content::ColleagueInvitation {
                organisation: "Maison de santé du Parc".into(),
                inviter: "Dr Zoé Martin".into(),
                link: "https://careslot.example/pro/organisation/join?token=xyz".into(),
                valid_days: 7,
            },
            Content::OperatorInvitation {
                link: "https://careslot.example/password-reset?token=op".into(),
                valid_days: 3,
            },
            Content::EmailChange {
                link: "https://careslot.example/email-verifications?token=ghi".into(),
            },
            Content::EmailChanged {
                reset_link: "https://careslot.example/password-reset".into(),
            },
            Content::PasswordChanged {
                reset_link: "https://careslot.example/password-reset".into(),
            },
            Content::NoShow(a.clone()),
            Content::PrescriptionAvailable(a.clone()),
            Content::DocumentAdded {
                appointment: a.clone(),
                link: "https://careslot.example/appointments/x/documents".into(),
            },
            Content::VideoReady {
                appointment: a.clone(),
                link: "https://careslot.example/appointments/x/video".into(),
            },
            Content::CareSeriesConfirmation(vec![
                a.clone(),
                Appointment {
                    id: "0190b5e0-7c3a-7d2e-9f00-00000000dcbb".into(),
                    start: "2026-04-23T12:30:00Z".parse().unwrap(),
                    end: "2026-04-23T12:50:00Z".parse().unwrap(),
                    ..a.clone()
                },
            ]),
            Content::SeriesConfirmation {
                first: a.clone(),
                second: Appointment {
                    id: "0190b5e0-7c3a-7d2e-9f00-00000000dcba".into(),
                    start: "2026-04-26T12:30:00Z".parse().unwrap(),
                    end: "2026-04-26T12:50:00Z".parse().unwrap(),
                    ..a.clone()
                },
            },
        ]
    }

    fn now() -> Timestamp {
        "2026-03-01T08:00:00Z".parse().unwrap()
    }

    #[test]
    fn every_kind_renders_in_every_language() {
        let email = Recipient::Email("anna@example.org".into());
        for lang in Lang::ALL {
            for content in all_contents(false) {
                let m = compose(&site(), &content, email.clone(), lang, now()).unwrap();
                assert_eq!(m.kind, content.kind());
                assert_eq!(m.lang, lang);
                let html = m.html.as_deref().unwrap();
                assert!(html.contains(&format!("<html lang=\"{}\">", lang.code())));
                for part in [&m.subject, &m.text, html] {
                    assert!(!part.contains("{"), "placeholder left in {part}");
                    assert!(
                        !part.contains(".subject") && !part.contains(".intro"),
                        "{part}"
                    );
                }
                assert!(!m.subject.is_empty());
                assert!(m.text.contains(lang.t("common.signature")));
            }
        }
    }

    #[test]
    fn times_in_the_place_zone_and_link_to_the_appointment() {
        let c = Content::BookingConfirmation(appointment(false));
        let m = compose(
            &site(),
            &c,
            Recipient::Email("a@example.org".into()),
            Lang::Fr,
            now(),
        )
        .unwrap();
        // 12:30 UTC is 14:30 in Paris once summer time started that same night.
        assert_eq!(
            m.subject,
            "Rendez-vous confirmé : dimanche 29 mars 2026 à 14:30"
        );
        let link = "https://careslot.example/appointments/0190b5e0-7c3a-7d2e-9f00-00000000abcd";
        assert!(m.text.contains(link));
        assert!(m.html.as_deref().unwrap().contains(link));
        assert!(m.text.contains("  12, rue de la Paix\n  75002 Paris\n"));
        assert_eq!(m.attachments.len(), 1);
        assert!(m.attachments[0].mime.starts_with("text/calendar"));
        assert!(m.unsubscribe_url.is_none(), "a confirmation is essential");

        let moved = Content::Moved {
            appointment: appointment(false),
            previous_start: "2026-03-27T08:00:00Z".parse().unwrap(),
        };
        let m = compose(
            &site(),
            &moved,
            Recipient::Email("a@example.org".into()),
            Lang::De,
            now(),
        )
        .unwrap();
        assert!(
            m.text.contains("Freitag, 27. März 2026 um 09:00"),
            "{}",
            m.text
        );
        assert_eq!(m.attachments.len(), 1);
    }

    #[test]
    fn motive_only_in_the_body_and_only_when_opted_in() {
        for lang in Lang::ALL {
            for show in [false, true] {
                for content in all_contents(show) {
                    let email = compose(
                        &site(),
                        &content,
                        Recipient::Email("a@example.org".into()),
                        lang,
                        now(),
                    )
                    .unwrap();
                    assert!(!email.subject.contains("dépression"));
                    assert!(
                        !email.subject.contains("Zoé"),
                        "no practitioner in subjects"
                    );
                    assert_eq!(
                        email.text.contains("dépression"),
                        show && content.appointment().is_some()
                    );
                    let ics = email
                        .attachments
                        .iter()
                        .map(|a| String::from_utf8_lossy(&a.bytes).replace("\r\n ", ""))
                        .collect::<String>();
                    if !show {
                        assert!(!ics.contains("dépression"));
                    }
                    if content.appointment().is_some() {
                        let sms = compose(
                            &site(),
                            &content,
                            Recipient::Phone("+33612345678".into()),
                            lang,
                            now(),
                        )
                        .unwrap();
                        assert!(!sms.text.contains("dépression"));
                        assert!(!sms.text.contains("Zoé"));
                        assert!(!sms.text.contains("Dupont"));
                        assert!(sms.html.is_none() && sms.attachments.is_empty());
                        assert!(crate::sms::check_body(&sms.text).is_ok());
                        assert!(sms.text.contains("/appointments/"));
                    }
                }
            }
        }
    }

    #[test]
    fn account_messages_are_not_sms() {
        let c = Content::EmailVerification { link: "x".into() };
        let e = compose(
            &site(),
            &c,
            Recipient::Phone("+33612345678".into()),
            Lang::En,
            now(),
        );
        assert_eq!(e.unwrap_err(), ComposeError::NoSms(Kind::EmailVerification));
    }

    #[test]
    fn phone_codes_are_short_sms_only_and_essential() {
        let c = Content::PhoneCode {
            code: "042137".into(),
            valid_minutes: 10,
        };
        for lang in Lang::ALL {
            let sms = compose(
                &site(),
                &c,
                Recipient::Phone("+33612345678".into()),
                lang,
                now(),
            )
            .unwrap();
            assert!(sms.text.contains("042137") && sms.text.contains("10"));
            assert!(crate::sms::check_body(&sms.text).is_ok(), "{}", sms.text);
            assert!(sms.html.is_none() && sms.unsubscribe_url.is_none());
        }
        let e = compose(
            &site(),
            &c,
            Recipient::Email("a@example.org".into()),
            Lang::Fr,
            now(),
        );
        assert_eq!(e.unwrap_err(), ComposeError::SmsOnly(Kind::PhoneCode));
    }

    #[test]
    fn signup_codes_are_mailed_in_every_language_with_the_code_in_the_body_only() {
        let c = Content::SignupCode {
            code: "042137".into(),
            valid_minutes: 15,
        };
        for lang in Lang::ALL {
            let m = compose(
                &site(),
                &c,
                Recipient::Email("a@example.org".into()),
                lang,
                now(),
            )
            .unwrap();
            assert!(m.text.contains("\n  042137\n"), "{}", m.text);
            assert!(m.text.contains("15"), "{}", m.text);
            assert!(!m.subject.contains("042137") && !m.subject.is_empty());
            assert!(m.unsubscribe_url.is_none());
        }
    }

    #[test]
    fn account_messages_have_no_unsubscribe_link() {
        for c in all_contents(false) {
            if c.appointment().is_none() {
                let m = compose(
                    &site(),
                    &c,
                    Recipient::Email("a@example.org".into()),
                    Lang::De,
                    now(),
                )
                .unwrap();
                assert!(m.unsubscribe_url.is_none(), "{:?}", m.kind);
                assert!(!m.text.contains("#reminders"), "{:?}", m.kind);
            }
        }
    }

    #[test]
    fn reminders_carry_the_unsubscribe_link() {
        let c = Content::Reminder(appointment(false));
        let m = compose(
            &site(),
            &c,
            Recipient::Email("a@example.org".into()),
            Lang::It,
            now(),
        )
        .unwrap();
        let url = "https://careslot.example/account#reminders";
        assert_eq!(m.unsubscribe_url.as_deref(), Some(url));
        assert!(m.text.contains(url));
        assert!(m
            .html
            .unwrap()
            .contains("https://careslot.example/account#reminders"));
    }

    #[test]
    fn html_escapes_what_people_typed() {
        let mut a = appointment(false);
        a.practitioner = "Dr <script>alert(1)</script>".into();
        let m = compose(
            &site(),
            &Content::CancelledByPatient {
                appointment: a,
                patient: "Bob & <b>Co</b>".into(),
            },
            Recipient::Email("a@example.org".into()),
            Lang::En,
            now(),
        )
        .unwrap();
        let html = m.html.unwrap();
        assert!(!html.contains("<script>"));
        assert!(!html.contains("<b>Co</b>"));
        assert!(m.text.contains("Bob & <b>Co</b> cancelled"));
    }

    #[test]
    fn unknown_zone_is_an_error() {
        let mut a = appointment(false);
        a.time_zone = "Mars/Olympus".into();
        let e = compose(
            &site(),
            &Content::Reminder(a),
            Recipient::Email("a@example.org".into()),
            Lang::En,
            now(),
        );
        assert_eq!(
            e.unwrap_err(),
            ComposeError::TimeZone("Mars/Olympus".into())
        );
    }

    #[test]
    fn every_catalog_key_is_known_to_the_code() {
        // Keys built at run time ("{key}.subject"…) plus the fixed ones must all exist.
        let keys: std::collections::HashSet<&str> = crate::i18n::catalog_keys().collect();
        for c in all_contents(false) {
            let k = c.key();
            assert!(keys.contains(format!("{k}.subject").as_str()), "{k}");
            assert!(keys.contains(format!("{k}.intro").as_str()), "{k}");
            if c.appointment().is_some() {
                assert!(keys.contains(format!("{k}.sms").as_str()), "{k}");
            }
        }
    }

    #[test]
    fn calendar_event_of_an_appointment() {
        let ev = appointment_event(&site(), &appointment(true), Lang::En, now());
        assert_eq!(
            ev.uid,
            "0190b5e0-7c3a-7d2e-9f00-00000000abcd@careslot.example"
        );
        assert_eq!(
            ev.summary,
            "Appointment with Dr Zoé Martin – Suivi dépression"
        );
        assert_eq!(
            ev.location.as_deref(),
            Some("Cabinet Saint-Éloi, 12, rue de la Paix, 75002 Paris")
        );
        assert_eq!(ev.alarm.unwrap().before, SignedDuration::from_hours(2));
        let ev = appointment_event(&site(), &appointment(false), Lang::En, now());
        assert_eq!(ev.summary, "Appointment with Dr Zoé Martin");
    }
}
