//! The SMTP channel against a real SMTP server (aiosmtpd from PyPI, started by the test).

mod support;

use careslot_messages::{
    compose, Appointment, Channel, Content, Lang, Message, Recipient, SendError, Site, SmtpChannel,
};
use jiff::Timestamp;
use serde_json::Value;
use support::{closed_port, summary, SmtpSink};

const FROM: &str = "careslot <no-reply@careslot.test>";

fn site() -> Site {
    let mut s = Site::new("https://careslot.test");
    s.unsubscribe_url = Some("https://careslot.test/account#reminders".into());
    s
}

fn appointment() -> Appointment {
    Appointment {
        id: "0190b5e0-7c3a-7d2e-9f00-0000000000aa".into(),
        start: "2026-10-25T09:00:00Z".parse().unwrap(),
        end: "2026-10-25T09:20:00Z".parse().unwrap(),
        time_zone: "Europe/Berlin".into(),
        practitioner: "Dr. Jürgen Weiß".into(),
        place: "Praxis am Markt".into(),
        address: "Marktplatz 1\n10115 Berlin".into(),
        motive: Some("Impfung".into()),
        show_motive: false,
        sequence: 0,
    }
}

fn message(content: Content, to: &str, lang: Lang) -> Message {
    let now: Timestamp = "2026-10-01T10:00:00Z".parse().unwrap();
    compose(&site(), &content, Recipient::Email(to.into()), lang, now).unwrap()
}

fn parts_of_type<'a>(s: &'a Value, ty: &str) -> Vec<&'a Value> {
    s["parts"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["type"] == ty)
        .collect()
}

#[tokio::test]
async fn a_confirmation_with_its_calendar_reaches_the_server() {
    let sink = SmtpSink::start();
    let channel = SmtpChannel::from_url(&sink.url(), FROM).unwrap();
    let m = message(
        Content::BookingConfirmation(appointment()),
        "Anna Schmidt <anna@example.org>",
        Lang::De,
    );
    channel.send(&m).await.unwrap();

    let stored = sink.messages();
    assert_eq!(stored.len(), 1);
    let s = summary(&stored[0]);
    assert_eq!(s["message_id"], format!("<{}@careslot.test>", m.id));
    assert_eq!(s["from"], "careslot <no-reply@careslot.test>");
    assert_eq!(s["to"], "Anna Schmidt <anna@example.org>");
    assert_eq!(s["content_language"], "de");
    // 09:00 UTC on the day Berlin leaves summer time is 10:00 local.
    assert_eq!(
        s["subject"],
        "Termin bestätigt: Sonntag, 25. Oktober 2026 um 10:00"
    );
    assert_eq!(
        s["list_unsubscribe"],
        Value::Null,
        "a confirmation is essential"
    );
    assert_eq!(s["content_type"], "multipart/mixed");
    assert_eq!(parts_of_type(&s, "multipart/alternative").len(), 1);

    let text = parts_of_type(&s, "text/plain");
    assert_eq!(text.len(), 1);
    let text = text[0]["text"].as_str().unwrap();
    assert!(text.contains("Ihr Termin ist bestätigt."), "{text}");
    assert!(text.contains("Dr. Jürgen Weiß"));
    assert!(
        text.contains("https://careslot.test/appointments/0190b5e0-7c3a-7d2e-9f00-0000000000aa")
    );
    assert!(
        !text.contains("Impfung"),
        "the motive stays out without opt-in"
    );

    let html = parts_of_type(&s, "text/html");
    assert_eq!(html.len(), 1);
    let html = html[0]["text"].as_str().unwrap();
    assert!(html.contains("<html lang=\"de\">"));
    assert!(html.contains("Ihr Termin ist bestätigt."));

    let ics = parts_of_type(&s, "text/calendar");
    assert_eq!(ics.len(), 1);
    assert_eq!(ics[0]["params"]["method"], "PUBLISH");
    assert_eq!(ics[0]["filename"], "rendez-vous.ics");
    let ics = ics[0]["text"].as_str().unwrap();
    assert!(ics.contains("UID:0190b5e0-7c3a-7d2e-9f00-0000000000aa@careslot.test\r\n"));
    assert!(ics.contains("DTSTART:20261025T090000Z\r\n"));
    assert!(ics.contains("BEGIN:VALARM\r\nACTION:DISPLAY\r\nTRIGGER:-PT2H\r\n"));
}

#[tokio::test]
async fn reminders_carry_list_unsubscribe_and_languages_differ() {
    let sink = SmtpSink::start();
    let channel = SmtpChannel::from_url(&sink.url(), FROM).unwrap();
    for (lang, to) in [(Lang::Fr, "fr@example.org"), (Lang::It, "it@example.org")] {
        let m = message(Content::Reminder(appointment()), to, lang);
        channel.send(&m).await.unwrap();
    }
    let stored = sink.messages();
    assert_eq!(stored.len(), 2);
    let fr = summary(&stored[0]);
    let it = summary(&stored[1]);
    assert_eq!(fr["content_language"], "fr");
    assert_eq!(
        fr["subject"],
        "Rappel : rendez-vous le dimanche 25 octobre 2026 à 10:00"
    );
    assert_eq!(it["content_language"], "it");
    assert_eq!(
        it["subject"],
        "Promemoria: appuntamento il domenica 25 ottobre 2026 alle 10:00"
    );
    assert_eq!(
        fr["list_unsubscribe"],
        "<https://careslot.test/account#reminders>"
    );
    assert_eq!(
        fr["content_type"], "multipart/alternative",
        "no attachment on reminders"
    );
}

#[tokio::test]
async fn a_server_that_is_down_is_a_transient_failure() {
    let url = format!("smtp://127.0.0.1:{}", closed_port());
    let channel = SmtpChannel::from_url(&url, FROM).unwrap();
    let m = message(
        Content::PasswordReset {
            link: "https://careslot.test/reset?t=1".into(),
            valid_minutes: 30,
        },
        "anna@example.org",
        Lang::En,
    );
    let err = channel.send(&m).await.unwrap_err();
    assert!(matches!(err, SendError::Transient(_)), "{err:?}");
}

#[tokio::test]
async fn replies_decide_permanent_or_transient() {
    let sink = SmtpSink::start();
    let channel = SmtpChannel::from_url(&sink.url(), FROM).unwrap();
    let reset = |to: &str| {
        message(
            Content::EmailVerification {
                link: "https://careslot.test/verify?t=1".into(),
            },
            to,
            Lang::Fr,
        )
    };
    let err = channel
        .send(&reset("reject-me@example.org"))
        .await
        .unwrap_err();
    assert!(err.is_permanent(), "550 is permanent: {err:?}");
    let err = channel.send(&reset("later@example.org")).await.unwrap_err();
    assert!(err.is_transient(), "451 is transient: {err:?}");
    // The pooled connection is still usable after refusals.
    channel.send(&reset("ok@example.org")).await.unwrap();
    assert_eq!(sink.messages().len(), 1);
}

#[tokio::test]
async fn addresses_that_cannot_be_mail_are_permanent_without_a_server() {
    let channel =
        SmtpChannel::from_url(&format!("smtp://127.0.0.1:{}", closed_port()), FROM).unwrap();
    let mut m = message(
        Content::EmailVerification {
            link: "https://careslot.test/verify?t=1".into(),
        },
        "anna@example.org",
        Lang::Fr,
    );
    m.recipient = Recipient::Email("not an address".into());
    assert!(channel.send(&m).await.unwrap_err().is_permanent());
    m.recipient = Recipient::Phone("+33612345678".into());
    assert!(channel.send(&m).await.unwrap_err().is_permanent());
}
