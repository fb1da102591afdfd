//! A message for every event that concerns a person (issue 14, part C), end to end over real
//! HTTP on SQLite and PostgreSQL, delivered to a real SMTP server (aiosmtpd): a patient's
//! move and cancellation reach the practice desk's list (and the practice's email, which the
//! practice may turn off); a no-show, a signed prescription, a shared document each send one
//! message to the right person in their language, with no health data in the subject; a
//! vaccination series sends one confirmation with both dates and a reminder per dose; a
//! teleconsultation queues its video link for when the room opens; erasing a patient deletes
//! the practice's queued notice about them; a dead letter is listed and retried through the
//! operator API, then delivered; the demo mailbox exists only in demo mode.

mod common;
#[path = "common/smtp.rs"]
mod smtp;

use careslot_core::Caller;
use careslot_domain::AccountId;
use careslot_messages::{Channel, FileChannel, RetryPolicy, SmtpChannel};
use careslot_server::outbox::MessagesConfig;
use careslot_server::services::{App, AppConfig};
use careslot_store::{AccountSettings, Role};
use common::host::{find, host_bytes};
use common::{app_configured, new_location, open_custody, serve_app, Backend, TestServer};
use jiff::{SignedDuration, Timestamp};
use reqwest::multipart::{Form, Part};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use smtp::{closed_port, parse_ics, summary, SmtpSink};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

const PUBLIC_URL: &str = "https://careslot.example";
const WITHIN: Duration = Duration::from_secs(30);
const DRUG: &str = "Amoxicilline 500 mg";

fn fast_retry(max_attempts: u32) -> RetryPolicy {
    RetryPolicy {
        base: SignedDuration::from_millis(100),
        cap: SignedDuration::from_millis(300),
        floor: SignedDuration::from_millis(50),
        max_attempts,
    }
}

fn smtp_to(url: &str) -> Option<Arc<dyn Channel>> {
    Some(Arc::new(
        SmtpChannel::from_url(url, "careslot <no-reply@careslot.test>").expect("smtp channel"),
    ))
}

struct Setup {
    channel: Option<Arc<dyn Channel>>,
    max_attempts: u32,
    operator: Option<Arc<careslot_vault::SecretToken>>,
    demo_mailbox: Option<PathBuf>,
}

impl Default for Setup {
    fn default() -> Self {
        Setup {
            channel: None,
            max_attempts: 10_000,
            operator: None,
            demo_mailbox: None,
        }
    }
}

async fn server(backend: Backend, setup: Setup) -> (TestServer, App, common::DataLocation) {
    let loc = new_location(backend).await;
    let custody = open_custody(&loc).await;
    let config = AppConfig {
        public_url: Some(PUBLIC_URL.to_owned()),
        messages: MessagesConfig {
            channel: setup.channel,
            retry: fast_retry(setup.max_attempts),
            poll: Duration::from_millis(100),
            ..Default::default()
        },
        operator_token: setup.operator,
        demo_mailbox: setup.demo_mailbox,
        ..AppConfig::default()
    };
    let app = app_configured(&loc, custody, config).await;
    (serve_app(app.clone()).await, app, loc)
}

/// Registers a patient with this email, in `lang`, and logs in: (token, account id).
async fn patient(
    app: &App,
    srv: &TestServer,
    email: &str,
    name: &str,
    lang: &str,
) -> (String, String) {
    let (s, acc) = srv
        .post(
            "/api/v1/accounts",
            None,
            json!({"email": email, "password": "correct horse battery", "name": name, "role": "patient"}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{acc}");
    let id = acc["id"].as_str().expect("id").to_owned();
    app.store
        .put_account_settings(
            &AccountId(id.clone()),
            &AccountSettings {
                lang: lang.to_owned(),
                ..AccountSettings::default()
            },
        )
        .await
        .expect("settings");
    let (s, session) = srv
        .post(
            "/api/v1/sessions",
            None,
            json!({"email": email, "password": "correct horse battery"}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{session}");
    (session["token"].as_str().expect("token").to_owned(), id)
}

/// The practitioner behind a practice's token: (caller, email).
async fn practitioner(srv: &TestServer, token: &str) -> (Caller, String) {
    let (s, me) = srv.get("/api/v1/me", Some(token)).await;
    assert_eq!(s, StatusCode::OK, "{me}");
    (
        Caller {
            id: AccountId(me["id"].as_str().expect("id").to_owned()),
            role: Role::Practitioner,
            second_factor: true,
        },
        me["email"].as_str().expect("email").to_owned(),
    )
}

fn starts(slots: &[Value]) -> Vec<String> {
    slots
        .iter()
        .map(|s| s["start"].as_str().expect("start").to_owned())
        .collect()
}

async fn book(srv: &TestServer, token: &str, agenda: &str, motive: &str, start: &str) -> String {
    let (s, booked) = srv
        .post(
            "/api/v1/appointments",
            Some(token),
            json!({"agenda_id": agenda, "motive_id": motive, "start": start}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{booked}");
    booked["id"].as_str().expect("id").to_owned()
}

fn text_part(m: &Value) -> String {
    m["parts"]
        .as_array()
        .expect("parts")
        .iter()
        .find(|p| p["type"] == "text/plain")
        .and_then(|p| p["text"].as_str())
        .expect("text part")
        .to_owned()
}

fn ics_parts(m: &Value) -> Vec<String> {
    m["parts"]
        .as_array()
        .expect("parts")
        .iter()
        .filter(|p| p["type"] == "text/calendar")
        .filter_map(|p| p["text"].as_str().map(str::to_owned))
        .collect()
}

/// A page's HTML, signed in with `session` when given.
async fn page(srv: &TestServer, path: &str, session: Option<&str>) -> String {
    let mut req = srv.client.get(format!("{}{path}", srv.base));
    if let Some(t) = session {
        req = req.header("Cookie", format!("careslot_session={t}"));
    }
    let r = req.send().await.expect("page");
    assert_eq!(r.status(), StatusCode::OK, "{path}");
    r.text().await.expect("html")
}

/// The `n`th message received (0-based), waiting for it.
async fn nth(sink: &SmtpSink, n: usize) -> Value {
    let got = sink.wait_for(n + 1, WITHIN).await;
    summary(&got[n])
}

/// Nothing due is left in `account`'s outbox: every message that could go went.
async fn nothing_due(app: &App, account: &str) {
    let deadline = tokio::time::Instant::now() + WITHIN;
    loop {
        let rows = app
            .store
            .outbox_of(&AccountId(account.to_owned()))
            .await
            .expect("outbox");
        if rows
            .iter()
            .all(|r| r.available_at > Timestamp::now() && r.attempts == 0)
        {
            return;
        }
        assert!(tokio::time::Instant::now() < deadline, "{rows:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn patient_changes_reach_the_desk_and_the_practice_email_is_optional(backend: Backend) {
    let sink = SmtpSink::start();
    sink.hide_sign_up_mail();
    let (srv, app, _loc) = server(
        backend,
        Setup {
            channel: smtp_to(&sink.url()),
            ..Setup::default()
        },
    )
    .await;
    let practice = srv.practice("Dr Desk", 30, 1).await;
    let (desk, practice_email) = practitioner(&srv, &practice.token).await;
    let email = format!("pat-{}@example.test", common::uuid_like());
    let (token, patient_id) = patient(&app, &srv, &email, "Hannelore Brückner", "de").await;
    let slots = starts(&srv.slots(&practice).await);
    let id = book(
        &srv,
        &token,
        &practice.agenda_id,
        &practice.motive_id,
        &slots[1],
    )
    .await;
    let m = nth(&sink, 0).await;
    assert_eq!(m["to"], email.as_str());
    assert_eq!(m["content_language"], "de", "{m}");

    // The patient moves: a notice to the patient, and an entry in the desk's list.
    let (s, body) = srv
        .post(
            &format!("/api/v1/appointments/{id}/move"),
            Some(&token),
            json!({"start": slots[3]}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{body}");
    let m = nth(&sink, 1).await;
    assert_eq!(m["to"], email.as_str());
    // Then cancels: the practice gets the email (default on) and the desk a second entry.
    let (s, body) = srv
        .post(
            &format!("/api/v1/appointments/{id}/cancel"),
            Some(&token),
            json!({}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{body}");
    let m = nth(&sink, 2).await;
    assert_eq!(m["to"], practice_email.as_str());
    assert!(text_part(&m).contains("Hannelore Brückner"));
    assert!(!m["subject"].as_str().unwrap_or("").contains("Brückner"));
    let notices = app.scheduling.desk_notices(&desk).await.expect("notices");
    assert_eq!(notices.len(), 2, "{notices:?}");
    assert!(notices[0].is_cancellation(), "newest first");
    assert!(!notices[1].is_cancellation());
    assert_eq!(
        notices[0].patient_name.as_deref(),
        Some("Hannelore Brückner")
    );
    assert_eq!(notices[0].notice.reservation_id.as_str(), id);
    // The page shows them to the practice (and to nobody else).
    let page = page(&srv, "/pro/notifications", Some(&practice.token)).await;
    assert!(page.contains("Hannelore Brückner"), "{page}");
    assert!(page.contains(&format!("/pro/appointments/{id}")));

    // The practice turns the email off: the next cancellation is only in the list.
    app.scheduling
        .set_practice_email_on_changes(&desk, false)
        .await
        .expect("setting");
    let second = book(
        &srv,
        &token,
        &practice.agenda_id,
        &practice.motive_id,
        &slots[5],
    )
    .await;
    nth(&sink, 3).await;
    let (s, body) = srv
        .post(
            &format!("/api/v1/appointments/{second}/cancel"),
            Some(&token),
            json!({}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{body}");
    let deadline = tokio::time::Instant::now() + WITHIN;
    while app
        .scheduling
        .desk_notices(&desk)
        .await
        .expect("notices")
        .len()
        < 3
    {
        assert!(tokio::time::Instant::now() < deadline);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    nothing_due(&app, desk.id.as_str()).await;
    nothing_due(&app, &patient_id).await;
    assert!(app
        .store
        .outbox_of(&desk.id)
        .await
        .expect("outbox")
        .is_empty());
    // Exactly one message per event: confirmation, move, practice email, confirmation.
    assert_eq!(sink.messages().len(), 4);
    srv.stop().await;
}

async fn no_show_prescription_and_documents_send_one_message_each(backend: Backend) {
    let sink = SmtpSink::start();
    sink.hide_sign_up_mail();
    let (srv, app, _loc) = server(
        backend,
        Setup {
            channel: smtp_to(&sink.url()),
            ..Setup::default()
        },
    )
    .await;
    let practice = srv.practice("Dr Events", 30, 1).await;
    let (desk, practice_email) = practitioner(&srv, &practice.token).await;
    let email = format!("pat-{}@example.test", common::uuid_like());
    let (token, patient_id) = patient(&app, &srv, &email, "Giulia Ferrante", "it").await;
    let slots = starts(&srv.slots(&practice).await);
    let id = book(
        &srv,
        &token,
        &practice.agenda_id,
        &practice.motive_id,
        &slots[2],
    )
    .await;
    nth(&sink, 0).await;

    // A prescription: one message to the patient, in Italian, that names no drug.
    let (s, rx) = srv
        .post(
            &format!("/api/v1/appointments/{id}/prescriptions"),
            Some(&practice.token),
            json!({"medications": [{"name": DRUG, "dosage": "1 gélule 3 fois par jour", "duration": "7 jours"}],
                   "instructions": "Revoir si fièvre"}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{rx}");
    let m = nth(&sink, 1).await;
    assert_eq!(m["to"], email.as_str());
    assert_eq!(m["content_language"], "it");
    let subject = m["subject"].as_str().unwrap_or("").to_owned();
    let text = text_part(&m);
    for needle in [DRUG, "Amoxicilline", "fièvre", "ricetta"] {
        assert!(
            !subject.to_lowercase().contains(&needle.to_lowercase()),
            "{subject}"
        );
    }
    assert!(
        !text.contains("Amoxicilline") && !text.contains("fièvre"),
        "{text}"
    );
    assert!(text.contains("ricetta"), "{text}");
    assert!(
        text.contains(&format!("{PUBLIC_URL}/appointments/{id}")),
        "{text}"
    );

    // A document from the patient: one message to the practitioner, without the file name.
    let pdf = b"%PDF-1.7\n% secret-scan-results\n1 0 obj\n<< /Type /Catalog >>\nendobj\n".to_vec();
    let upload = |who: String, name: &'static str| {
        let part = Part::bytes(pdf.clone())
            .file_name(name)
            .mime_str("application/pdf")
            .expect("mime");
        srv.client
            .post(format!("{}/api/v1/appointments/{id}/documents", srv.base))
            .bearer_auth(who)
            .multipart(Form::new().part("file", part))
            .send()
    };
    let r = upload(token.clone(), "irm-cerveau-resultats.pdf")
        .await
        .expect("upload");
    assert_eq!(r.status(), StatusCode::CREATED);
    let m = nth(&sink, 2).await;
    assert_eq!(m["to"], practice_email.as_str());
    let all = format!("{} {}", m["subject"], text_part(&m));
    assert!(!all.contains("irm") && !all.contains("cerveau"), "{all}");
    assert!(
        all.contains(&format!("{PUBLIC_URL}/pro/appointments/{id}")),
        "{all}"
    );
    // From the practice: one message to the patient.
    let r = upload(practice.token.clone(), "compte-rendu-psychiatrie.pdf")
        .await
        .expect("upload");
    assert_eq!(r.status(), StatusCode::CREATED);
    let m = nth(&sink, 3).await;
    assert_eq!(m["to"], email.as_str());
    assert_eq!(m["content_language"], "it");
    let all = format!("{} {}", m["subject"], text_part(&m));
    assert!(
        !all.contains("psychiatrie") && !all.contains("compte-rendu"),
        "{all}"
    );

    // A no-show, once the appointment has started (the store moves it into the past; the
    // service then records the no-show as the desk would): one neutral message.
    let started = Timestamp::now() - SignedDuration::from_mins(10);
    let started =
        Timestamp::from_second(started.as_second() - started.as_second() % 60).expect("instant");
    app.store
        .move_reservation(
            &careslot_domain::ReservationId(id.clone()),
            &careslot_domain::MotiveId(practice.motive_id.clone()),
            started,
            Timestamp::now(),
        )
        .await
        .expect("moved into the past");
    app.scheduling
        .agendas
        .invalidate(&careslot_domain::AgendaId(practice.agenda_id.clone()));
    app.scheduling
        .set_no_show(&desk, &id, true)
        .await
        .expect("no-show");
    let m = nth(&sink, 4).await;
    assert_eq!(m["to"], email.as_str());
    assert_eq!(m["content_language"], "it");
    assert!(!m["subject"].as_str().unwrap_or("").contains("Consultation"));
    // Undoing it sends nothing; nothing is left to send.
    app.scheduling
        .set_no_show(&desk, &id, false)
        .await
        .expect("undo");
    nothing_due(&app, &patient_id).await;
    nothing_due(&app, desk.id.as_str()).await;
    assert_eq!(sink.messages().len(), 5);
    srv.stop().await;
}

async fn vaccination_series_one_confirmation_and_a_reminder_per_dose(backend: Backend) {
    let sink = SmtpSink::start();
    sink.hide_sign_up_mail();
    let (srv, app, _loc) = server(
        backend,
        Setup {
            channel: smtp_to(&sink.url()),
            ..Setup::default()
        },
    )
    .await;
    let (ctoken, _) = srv.account("practitioner", "Centre Vaccination").await;
    let t = Some(ctoken.as_str());
    let (s, _) = srv
        .call(
            Method::PUT,
            "/api/v1/practitioner/profile",
            t,
            Some(json!({"name": "Centre de vaccination Test", "specialty": "vaccination-center"})),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    let (_, place) = srv
        .post("/api/v1/places", t, json!({"name": "Centre", "address": "1 place Bellecour", "postcode": "69002", "city": "Lyon",
              "country": "FR", "lat": 45.7578, "lon": 4.8320, "timezone": "Europe/Paris"}))
        .await;
    let (_, agenda) = srv
        .post(
            "/api/v1/agendas",
            t,
            json!({"place_id": place["id"], "holidays": null}),
        )
        .await;
    let agenda = agenda["id"].as_str().expect("agenda").to_owned();
    let (_, d2) = srv
        .post(&format!("/api/v1/agendas/{agenda}/motives"), t,
              json!({"name": "Comirnaty dose 2", "duration_min": 10, "capacity": 2, "vaccine": {"product": "comirnaty", "dose": 2}}))
        .await;
    let dose2 = d2["id"].as_str().expect("dose 2").to_owned();
    let (_, d1) = srv
        .post(&format!("/api/v1/agendas/{agenda}/motives"), t,
              json!({"name": "Comirnaty dose 1", "duration_min": 10, "capacity": 2,
                     "vaccine": {"product": "comirnaty", "dose": 1, "next_dose": {"motive_id": dose2, "min_days": 21, "max_days": 42}}}))
        .await;
    let dose1 = d1["id"].as_str().expect("dose 1").to_owned();
    let (s, _) = srv
        .post(&format!("/api/v1/agendas/{agenda}/opening-rules"), t,
              json!({"weekdays": [1,2,3,4,5,6,7], "start": "08:00", "end": "18:00", "motive_ids": [dose1, dose2]}))
        .await;
    assert_eq!(s, StatusCode::CREATED);
    let paris = jiff::tz::TimeZone::get("Europe/Paris").expect("tz");
    let day = |n: i64| {
        jiff::Zoned::now()
            .with_time_zone(paris.clone())
            .date()
            .checked_add(jiff::Span::new().days(n))
            .expect("date")
            .to_string()
    };
    for d in 1..=45 {
        let (s, body) = srv
            .call(
                Method::PUT,
                &format!("/api/v1/agendas/{agenda}/stock"),
                t,
                Some(json!({"product": "comirnaty", "day": day(d), "doses": 10})),
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{body}");
    }
    let (_, first) = srv
        .get(
            &format!(
                "/api/v1/agendas/{agenda}/slots?motive_id={dose1}&from={}&to={}",
                day(5),
                day(5)
            ),
            None,
        )
        .await;
    let d1_start = first["slots"][0]["start"]
        .as_str()
        .expect("slot")
        .to_owned();
    let (_, second) = srv
        .get(
            &format!(
            "/api/v1/vaccination/second-dose-slots?agenda_id={agenda}&motive_id={dose1}&start={}",
            d1_start.replace('+', "%2B").replace(':', "%3A")
        ),
            None,
        )
        .await;
    let d2_start = second["slots"][0]["start"]
        .as_str()
        .expect("slot")
        .to_owned();
    let email = format!("vac-{}@example.test", common::uuid_like());
    let (token, patient_id) = patient(&app, &srv, &email, "Anne Vaccinée", "fr").await;
    let (s, booked) = srv
        .post(
            "/api/v1/vaccination/bookings",
            Some(&token),
            json!({"dose1": {"agenda_id": agenda, "motive_id": dose1, "start": d1_start},
                     "dose2": {"agenda_id": agenda, "motive_id": dose2, "start": d2_start}}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{booked}");
    let ids: Vec<String> = booked["appointments"]
        .as_array()
        .expect("appointments")
        .iter()
        .map(|a| a["id"].as_str().expect("id").to_owned())
        .collect();
    assert_eq!(ids.len(), 2);

    // ONE confirmation naming both dates, with one calendar file per dose.
    let m = nth(&sink, 0).await;
    assert_eq!(m["to"], email.as_str());
    let text = text_part(&m);
    let hhmm = |s: &str| {
        let z = s
            .parse::<Timestamp>()
            .expect("instant")
            .to_zoned(paris.clone());
        format!("{:02}:{:02}", z.hour(), z.minute())
    };
    assert!(
        text.contains(&hhmm(&d1_start)) && text.contains(&hhmm(&d2_start)),
        "{text}"
    );
    assert!(!m["subject"].as_str().unwrap_or("").contains("Comirnaty"));
    assert!(
        !text.contains("Comirnaty"),
        "no product name unless opted in: {text}"
    );
    let ics = ics_parts(&m);
    assert_eq!(ics.len(), 2, "one .ics per dose");
    for ((cal, id), start) in ics.iter().zip(&ids).zip([&d1_start, &d2_start]) {
        assert!(cal.contains(&format!("UID:{id}@")), "{cal}");
        let read = parse_ics(cal);
        assert!(read["alarms"].as_u64().unwrap_or(0) >= 1, "{read}");
        let at: Timestamp = start.parse().expect("instant");
        assert_eq!(read["start"], at.as_second(), "{read}");
    }
    // A reminder before each dose, dose 2's included, waits in the queue.
    let rows = app
        .store
        .outbox_of(&AccountId(patient_id.clone()))
        .await
        .expect("outbox");
    for (id, start) in ids.iter().zip([&d1_start, &d2_start]) {
        let due = start.parse::<Timestamp>().expect("instant") - SignedDuration::from_hours(72);
        let reminder = rows
            .iter()
            .find(|r| r.dedupe_key == format!("reminder72:{id}"))
            .unwrap_or_else(|| panic!("no reminder for {id}: {rows:?}"));
        assert_eq!(reminder.available_at.as_second(), due.as_second());
    }
    nothing_due(&app, &patient_id).await;
    assert_eq!(sink.messages().len(), 1, "one confirmation for the series");

    // A held series sends nothing while held, the same one confirmation once booked, and
    // nothing more when its booking is asked for again.
    let slot = |body: &Value| body["slots"][0]["start"].as_str().expect("slot").to_owned();
    let (_, later) = srv
        .get(
            &format!(
                "/api/v1/agendas/{agenda}/slots?motive_id={dose1}&from={}&to={}",
                day(6),
                day(6)
            ),
            None,
        )
        .await;
    let h1 = slot(&later);
    let (_, second) = srv
        .get(
            &format!(
                "/api/v1/vaccination/second-dose-slots?agenda_id={agenda}&motive_id={dose1}&start={}",
                h1.replace('+', "%2B").replace(':', "%3A")
            ),
            None,
        )
        .await;
    let h2 = slot(&second);
    let (s, held) = srv
        .post(
            "/api/v1/vaccination/holds",
            Some(&token),
            json!({"dose1": {"agenda_id": agenda, "motive_id": dose1, "start": h1},
                   "dose2": {"agenda_id": agenda, "motive_id": dose2, "start": h2}}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{held}");
    let hold = held["id"].as_str().expect("hold id").to_owned();
    nothing_due(&app, &patient_id).await;
    assert_eq!(sink.messages().len(), 1, "a hold sends nothing");
    for _ in 0..2 {
        let (s, body) = srv
            .post(
                "/api/v1/vaccination/bookings",
                Some(&token),
                json!({"hold_id": hold}),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{body}");
    }
    let m = nth(&sink, 1).await;
    assert_eq!(m["to"], email.as_str());
    let text = text_part(&m);
    assert!(
        text.contains(&hhmm(&h1)) && text.contains(&hhmm(&h2)),
        "{text}"
    );
    assert_eq!(ics_parts(&m).len(), 2, "one .ics per held dose");
    nothing_due(&app, &patient_id).await;
    assert_eq!(
        sink.messages().len(),
        2,
        "one confirmation for the held series, none for asking again"
    );

    // Cancelling dose 1 cancels dose 2: neither reminder stays behind.
    let (s, body) = srv
        .post(
            &format!("/api/v1/appointments/{}/cancel", ids[0]),
            Some(&token),
            json!({}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{body}");
    let rows = app
        .store
        .outbox_of(&AccountId(patient_id.clone()))
        .await
        .expect("outbox");
    let keys: Vec<&str> = rows.iter().map(|r| r.dedupe_key.as_str()).collect();
    for id in &ids {
        assert!(
            !keys.contains(&format!("reminder72:{id}").as_str()),
            "{keys:?}"
        );
    }
    // The held series' reminders stay: it was not cancelled.
    assert_eq!(
        keys.iter().filter(|k| k.starts_with("reminder72:")).count(),
        2,
        "{keys:?}"
    );
    srv.stop().await;
}

async fn teleconsultation_link_waits_for_the_room(backend: Backend) {
    // No channel: the link stays queued, as it would until the room opens.
    let (srv, app, _loc) = server(backend, Setup::default()).await;
    let practice = srv.practice("Dr Video", 30, 1).await;
    let (s, motive) = srv
        .post(
            &format!("/api/v1/agendas/{}/motives", practice.agenda_id),
            Some(&practice.token),
            json!({"name": "Téléconsultation", "duration_min": 30, "teleconsultation": true}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{motive}");
    let tele = motive["id"].as_str().expect("id").to_owned();
    let (s, rule) = srv
        .post(
            &format!("/api/v1/agendas/{}/opening-rules", practice.agenda_id),
            Some(&practice.token),
            json!({"weekdays": [1,2,3,4,5,6,7], "start": "19:00", "end": "21:00", "motive_ids": [tele]}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{rule}");
    let from = jiff::Zoned::now().date();
    let to = from.checked_add(jiff::Span::new().days(7)).expect("date");
    let (_, slots) = srv
        .get(
            &format!(
                "/api/v1/agendas/{}/slots?motive_id={tele}&from={from}&to={to}",
                practice.agenda_id
            ),
            None,
        )
        .await;
    let slots = starts(slots["slots"].as_array().expect("slots"));
    let email = format!("video-{}@example.test", common::uuid_like());
    let (token, patient_id) = patient(&app, &srv, &email, "Patient Vidéo", "en").await;
    let id = book(
        &srv,
        &token,
        &practice.agenda_id,
        &tele,
        &slots[slots.len() - 1],
    )
    .await;
    let start: Timestamp = slots[slots.len() - 1].parse().expect("instant");
    let account = AccountId(patient_id.clone());
    let rows = app.store.outbox_of(&account).await.expect("outbox");
    let link = rows
        .iter()
        .find(|r| r.dedupe_key == format!("video:{id}"))
        .expect("the video link is queued");
    assert_eq!(
        link.available_at.as_second(),
        (start - SignedDuration::from_mins(15)).as_second(),
        "due when the room opens"
    );
    // Cancelling drops it with the reminder.
    let (s, _) = srv
        .post(
            &format!("/api/v1/appointments/{id}/cancel"),
            Some(&token),
            json!({}),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    let rows = app.store.outbox_of(&account).await.expect("outbox");
    assert!(
        rows.iter()
            .all(|r| !r.dedupe_key.ends_with(id.as_str()) || r.dedupe_key.starts_with("confirm:")),
        "{rows:?}"
    );
    srv.stop().await;
}

async fn erasing_the_patient_deletes_the_practice_notice_about_them(backend: Backend) {
    // No channel: messages stay queued, as during an outage.
    let (srv, app, loc) = server(backend, Setup::default()).await;
    let practice = srv.practice("Dr Forgetter", 30, 1).await;
    let (desk, _) = practitioner(&srv, &practice.token).await;
    let email = "wilhelmina.oosterhuis@example.test";
    let name = "Wilhelmina Oosterhuis";
    let (token, patient_id) = patient(&app, &srv, email, name, "fr").await;
    let slots = starts(&srv.slots(&practice).await);
    let id = book(
        &srv,
        &token,
        &practice.agenda_id,
        &practice.motive_id,
        &slots[0],
    )
    .await;
    let (s, _) = srv
        .post(
            &format!("/api/v1/appointments/{id}/cancel"),
            Some(&token),
            json!({}),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    // Queued under the PRACTICE's key, about the patient.
    let about: Vec<_> = app
        .store
        .outbox_of(&desk.id)
        .await
        .expect("outbox")
        .into_iter()
        .filter(|r| r.subject_account_id.as_ref().map(|a| a.as_str()) == Some(patient_id.as_str()))
        .collect();
    assert_eq!(about.len(), 1, "{about:?}");
    let scan = |bytes: &[u8]| {
        assert!(
            find(bytes, b"Dr Forgetter"),
            "the scan must see public data"
        );
        for needle in [email, name, "Oosterhuis", "Wilhelmina"] {
            assert!(
                !find(bytes, needle.as_bytes()),
                "{needle:?} in clear on the host"
            );
        }
    };
    scan(&host_bytes(&loc));
    let (s, _) = srv
        .call(Method::DELETE, "/api/v1/me", Some(&token), None)
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    assert!(
        app.store
            .outbox_of(&desk.id)
            .await
            .expect("outbox")
            .iter()
            .all(|r| r.subject_account_id.as_ref().map(|a| a.as_str())
                != Some(patient_id.as_str())),
        "the notice naming the patient is gone"
    );
    assert!(app
        .store
        .outbox_of(&AccountId(patient_id))
        .await
        .expect("outbox")
        .is_empty());
    // The desk's list keeps the event, without a name.
    let notices = app.scheduling.desk_notices(&desk).await.expect("notices");
    assert_eq!(notices.len(), 1);
    assert_eq!(notices[0].patient_name, None);
    scan(&host_bytes(&loc));
    srv.stop().await;
}

async fn dead_letter_listed_retried_and_delivered(backend: Backend) {
    let port = closed_port();
    let token = Arc::new(careslot_vault::SecretToken::generate());
    let operator = token.expose().to_owned();
    let (srv, app, _loc) = server(
        backend,
        Setup {
            channel: smtp_to(&format!("smtp://127.0.0.1:{port}")),
            // Two failed attempts and the message is parked.
            max_attempts: 2,
            operator: Some(token),
            ..Setup::default()
        },
    )
    .await;
    let practice = srv.practice("Dr Dead", 30, 1).await;
    let email = format!("dead-{}@example.test", common::uuid_like());
    let (patient_token, patient_id) = patient(&app, &srv, &email, "Patient Parked", "fr").await;
    let slots = starts(&srv.slots(&practice).await);
    let id = book(
        &srv,
        &patient_token,
        &practice.agenda_id,
        &practice.motive_id,
        &slots[0],
    )
    .await;
    let op = Some(operator.as_str());
    // Not without the operator token.
    let (s, _) = srv
        .get("/api/v1/operator/outbox/dead", Some(&patient_token))
        .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    let deadline = tokio::time::Instant::now() + WITHIN;
    let dead = loop {
        let (s, body) = srv.get("/api/v1/operator/outbox/dead", op).await;
        assert_eq!(s, StatusCode::OK, "{body}");
        let list = body["dead_letters"].as_array().expect("list").clone();
        if let Some(d) = list.into_iter().find(|d| d["kind"] == "confirm") {
            break d;
        }
        assert!(tokio::time::Instant::now() < deadline, "no dead letter");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(dead["channel"], "email");
    assert_eq!(dead["attempts"], 2);
    assert!(
        dead["last_error"]
            .as_str()
            .unwrap_or("")
            .starts_with("transient"),
        "{dead}"
    );
    let shown = dead.to_string();
    assert!(
        !shown.contains(&email) && !shown.contains(&id),
        "no address, no ids: {shown}"
    );
    // Unknown ids are 404.
    let (s, _) = srv
        .post(
            "/api/v1/operator/outbox/no-such-message/retry",
            op,
            json!({}),
        )
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    // The SMTP server is back; the operator retries: delivered once.
    let sink = SmtpSink::start_on(port);
    sink.hide_sign_up_mail();
    let (s, body) = srv
        .call(
            Method::POST,
            &format!(
                "/api/v1/operator/outbox/{}/retry",
                dead["id"].as_str().expect("id")
            ),
            op,
            None,
        )
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT, "{body}");
    let m = nth(&sink, 0).await;
    assert_eq!(m["to"], email.as_str());
    // The sign-ups' verification mails died too while the server was down: retry-all puts
    // them back and answers how many.
    let (s, body) = srv
        .post("/api/v1/operator/outbox/dead/retry", op, json!({}))
        .await;
    assert_eq!(s, StatusCode::OK, "{body}");
    assert!(body["retried"].as_u64().unwrap_or(0) >= 1, "{body}");
    nothing_due(&app, &patient_id).await;
    let (_, body) = srv.get("/api/v1/operator/outbox/dead", op).await;
    assert!(
        body["dead_letters"].as_array().expect("list").is_empty(),
        "{body}"
    );
    // Nothing left to put back.
    let (s, body) = srv
        .post("/api/v1/operator/outbox/dead/retry", op, json!({}))
        .await;
    assert_eq!(s, StatusCode::OK, "{body}");
    assert_eq!(body["retried"], 0);
    let (_, doc) = srv.get("/api/v1/openapi.json", None).await;
    assert!(doc["paths"]["/api/v1/operator/outbox/dead"]["get"].is_object());
    assert!(doc["paths"]["/api/v1/operator/outbox/{id}/retry"]["post"].is_object());
    assert_eq!(sink.messages().len(), 1);
    srv.stop().await;
}

async fn demo_mailbox_only_in_demo_mode(backend: Backend) {
    // Not in demo mode: the page does not exist.
    let (srv, _app, _loc) = server(backend, Setup::default()).await;
    for path in [
        "/demo/mailbox",
        "/demo/mailbox/0190b5e0-7c3a-7d2e-9f00-00000000abcd",
    ] {
        let r = srv
            .client
            .get(format!("{}{path}", srv.base))
            .send()
            .await
            .expect("page");
        assert_eq!(r.status(), StatusCode::NOT_FOUND, "{path}");
    }
    srv.stop().await;

    // Demo mode: the file channel writes the messages, the mailbox shows them.
    let dir = tempfile::tempdir().expect("tempdir");
    let files: Arc<dyn Channel> =
        Arc::new(FileChannel::new(dir.path(), "careslot <no-reply@careslot.test>").expect("files"));
    let (srv, app, _loc) = server(
        backend,
        Setup {
            channel: Some(files),
            demo_mailbox: Some(dir.path().to_path_buf()),
            ..Setup::default()
        },
    )
    .await;
    let email = format!("demo-{}@example.test", common::uuid_like());
    patient(&app, &srv, &email, "Demo Newcomer", "fr").await;
    let (s, _) = srv
        .post("/api/v1/password-resets", None, json!({"email": email}))
        .await;
    assert_eq!(s, StatusCode::ACCEPTED);
    // Two messages: the sign-up's verification link, then the reset link.
    let deadline = tokio::time::Instant::now() + WITHIN;
    let list = loop {
        let page = page(&srv, "/demo/mailbox", None).await;
        if page.matches("href=\"/demo/mailbox/").count() >= 2 {
            break page;
        }
        assert!(tokio::time::Instant::now() < deadline, "{page}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let marker = format!("href=\"{PUBLIC_URL}/password-reset?token=");
    let mut shown = Vec::new();
    for (at, _) in list.match_indices("href=\"/demo/mailbox/") {
        let at = at + "href=\"".len();
        let href: String = list[at..].chars().take_while(|c| *c != '"').collect();
        shown.push(page(&srv, &href, None).await);
    }
    assert!(
        shown.iter().any(|m| m.contains(&marker)),
        "the reset link is clickable: {shown:?}"
    );
    let home = page(&srv, "/", None).await;
    assert!(
        home.contains("href=\"/demo/mailbox\""),
        "the home page links to it"
    );
    srv.stop().await;
}

async fn absence_cancels_what_it_covers_and_tells_each_patient(backend: Backend) {
    let sink = SmtpSink::start();
    sink.hide_sign_up_mail();
    let (srv, app, _loc) = server(
        backend,
        Setup {
            channel: smtp_to(&sink.url()),
            ..Setup::default()
        },
    )
    .await;
    let practice = srv.practice("Dr Away", 30, 1).await;
    let slots = starts(&srv.slots(&practice).await);
    let mut patients = vec![];
    for (n, (lang, start)) in [
        ("en", &slots[1]),
        ("de", &slots[2]),
        ("fr", &slots[slots.len() - 1]),
    ]
    .into_iter()
    .enumerate()
    {
        let email = format!("away{n}-{}@example.test", common::uuid_like());
        let (token, id) = patient(&app, &srv, &email, &format!("Patient Away {n}"), lang).await;
        let appt = book(
            &srv,
            &token,
            &practice.agenda_id,
            &practice.motive_id,
            start,
        )
        .await;
        patients.push((email, id, appt, lang));
    }
    sink.wait_for(3, WITHIN).await;
    // Without the flag an absence cancels nothing (the contract's behaviour).
    let last: Timestamp = slots[slots.len() - 1].parse().expect("instant");
    let (s, body) = srv
        .post(
            &format!("/api/v1/agendas/{}/absences", practice.agenda_id),
            Some(&practice.token),
            json!({"start": last.to_string(), "end": (last + SignedDuration::from_mins(30)).to_string()}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{body}");
    assert!(body.get("cancelled_appointments").is_none(), "{body}");
    // With it: the first two appointments are covered, cancelled, and each patient told.
    let from: Timestamp = slots[1].parse().expect("instant");
    let to: Timestamp =
        slots[2].parse::<Timestamp>().expect("instant") + SignedDuration::from_mins(30);
    let (s, body) = srv
        .post(
            &format!("/api/v1/agendas/{}/absences", practice.agenda_id),
            Some(&practice.token),
            json!({"start": from.to_string(), "end": to.to_string(), "reason": "Congrès", "cancel_appointments": true}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{body}");
    let mut cancelled: Vec<String> = body["cancelled_appointments"]
        .as_array()
        .expect("cancelled")
        .iter()
        .map(|v| v.as_str().expect("id").to_owned())
        .collect();
    cancelled.sort();
    let mut expected = vec![patients[0].2.clone(), patients[1].2.clone()];
    expected.sort();
    assert_eq!(cancelled, expected);
    let got = sink.wait_for(5, WITHIN).await;
    let notices: Vec<Value> = got[3..].iter().map(|p| summary(p)).collect();
    for (email, _, appt, lang) in &patients[..2] {
        let m = notices
            .iter()
            .find(|m| m["to"] == email.as_str())
            .unwrap_or_else(|| panic!("no notice to {email}: {notices:?}"));
        assert_eq!(m["content_language"], *lang);
        assert!(text_part(m).contains(&format!("{PUBLIC_URL}/appointments/{appt}")));
        assert!(!m["subject"].as_str().unwrap_or("").contains("Congrès"));
    }
    // Their places and reminders are gone; the third patient keeps the appointment.
    for (_, id, appt, _) in &patients[..2] {
        let rows = app
            .store
            .outbox_of(&AccountId(id.clone()))
            .await
            .expect("outbox");
        assert!(
            rows.iter()
                .all(|r| r.dedupe_key != format!("reminder72:{appt}")),
            "{rows:?}"
        );
    }
    let (_, mine) = srv
        .get(
            &format!(
                "/api/v1/agendas/{}/appointments?from={}&to={}",
                practice.agenda_id,
                jiff::Zoned::now().date(),
                jiff::Zoned::now()
                    .date()
                    .checked_add(jiff::Span::new().days(8))
                    .expect("date")
            ),
            Some(&practice.token),
        )
        .await;
    let status = |id: &str| {
        mine["appointments"]
            .as_array()
            .expect("appointments")
            .iter()
            .find(|a| a["id"] == id)
            .map(|a| a["status"].as_str().unwrap_or("").to_owned())
            .unwrap_or_default()
    };
    assert_eq!(status(&patients[0].2), "cancelled");
    assert_eq!(status(&patients[1].2), "cancelled");
    assert_eq!(status(&patients[2].2), "booked");
    for (_, id, _, _) in &patients {
        nothing_due(&app, id).await;
    }
    assert_eq!(sink.messages().len(), 5);
    srv.stop().await;
}

on_both_backends!(
    absence_cancels_what_it_covers_and_tells_each_patient,
    patient_changes_reach_the_desk_and_the_practice_email_is_optional,
    no_show_prescription_and_documents_send_one_message_each,
    vaccination_series_one_confirmation_and_a_reminder_per_dose,
    teleconsultation_link_waits_for_the_room,
    erasing_the_patient_deletes_the_practice_notice_about_them,
    dead_letter_listed_retried_and_delivered,
    demo_mailbox_only_in_demo_mode,
);
