//! Teleconsultation payments against the real server, on SQLite and PostgreSQL, with a
//! local stand-in for Stripe (tests/common/stripe_standin.rs): the card is authorised at
//! booking (manual capture, idempotency key), captured once the consultation has ended,
//! released when the practice cancels; a declined card books nothing; webhooks that are
//! replayed, forged or stale are refused; "pay at the practice" calls no provider.

mod common;
#[path = "common/stripe_standin.rs"]
mod stripe_standin;

use careslot_scheduling::payments::{signature, Payments, Stripe, StripeConfig};
use careslot_server::services::{App, AppConfig, Caller, DeskPatient};
use careslot_vault::SecretToken;
use common::{
    app_configured, new_location, open_custody, serve_app, Backend, DataLocation, TestServer,
};
use jiff::Timestamp;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use stripe_standin::{signature_header, StripeStandin, WEBHOOK_SECRET};

const FEE: i64 = 2500;

fn stripe_config(standin: &StripeStandin) -> AppConfig {
    let stripe = Stripe::new(StripeConfig {
        api_base: standin.base.clone(),
        secret_key: SecretToken::new(stripe_standin::SECRET_KEY).expect("key"),
        webhook_secret: SecretToken::new(WEBHOOK_SECRET).expect("secret"),
        tolerance_s: signature::DEFAULT_TOLERANCE_S,
    })
    .expect("stripe");
    AppConfig {
        payments: Payments::new(stripe),
        ..AppConfig::default()
    }
}

struct Setup {
    server: TestServer,
    app: App,
    _loc: DataLocation,
    /// Practitioner token, agenda, teleconsultation motive with a fee.
    practice: common::Practice,
    patient: String,
}

async fn setup(backend: Backend, config: AppConfig) -> Setup {
    let loc = new_location(backend).await;
    let custody = open_custody(&loc).await;
    let app = app_configured(&loc, custody, config).await;
    let server = serve_app(app.clone()).await;
    let mut practice = server.practice("Dr Vidéo", 20, 1).await;
    let t = Some(practice.token.as_str());
    let (s, motive) = server
        .post(
            &format!("/api/v1/agendas/{}/motives", practice.agenda_id),
            t,
            json!({"name": "Téléconsultation", "duration_min": 15, "teleconsultation": true,
                   "fee": {"amount_cents": FEE, "currency": "EUR"}}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{motive}");
    assert_eq!(
        motive["fee"],
        json!({"amount_cents": FEE, "currency": "EUR"})
    );
    let motive_id = motive["id"].as_str().expect("id").to_owned();
    let (s, rule) = server
        .post(
            &format!("/api/v1/agendas/{}/opening-rules", practice.agenda_id),
            t,
            json!({"weekdays": [1, 2, 3, 4, 5, 6, 7], "start": "08:00", "end": "18:00", "motive_ids": [motive_id]}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{rule}");
    practice.motive_id = motive_id;
    let (patient, _) = server.account("patient", "Camille Martin").await;
    Setup {
        server,
        app,
        _loc: loc,
        practice,
        patient,
    }
}

impl Setup {
    /// A free slot of the teleconsultation motive, `nth` in the week's list.
    async fn slot(&self, nth: usize) -> Value {
        let slots = self.server.slots(&self.practice).await;
        assert!(slots.len() > nth, "not enough slots");
        slots[nth].clone()
    }

    async fn book(&self, slot: &Value, payment_method: Option<&str>) -> (StatusCode, Value) {
        let mut body = json!({"agenda_id": self.practice.agenda_id, "motive_id": self.practice.motive_id, "start": slot["start"]});
        if let Some(pm) = payment_method {
            body["payment_method"] = json!(pm);
        }
        self.server
            .post("/api/v1/appointments", Some(&self.patient), body)
            .await
    }

    async fn my_appointments(&self) -> Vec<Value> {
        let (s, body) = self
            .server
            .get("/api/v1/appointments", Some(&self.patient))
            .await;
        assert_eq!(s, StatusCode::OK, "{body}");
        body["appointments"].as_array().expect("list").clone()
    }

    fn webhook_url(&self) -> String {
        format!("{}/api/v1/payments/stripe/webhook", self.server.base)
    }
}

fn instant(v: &Value) -> Timestamp {
    v.as_str().expect("instant").parse().expect("RFC 3339")
}

/// The stand-in's only intent for an appointment (its metadata names it).
fn intent_of(standin: &StripeStandin, appointment: &str) -> Value {
    let found = standin.intents_for(appointment);
    assert_eq!(found.len(), 1, "one intent for {appointment}: {found:?}");
    found[0].clone()
}

async fn authorise_then_capture_after_the_consultation(backend: Backend) {
    let standin = StripeStandin::start().await;
    let t = setup(backend, stripe_config(&standin)).await;
    let slot = t.slot(0).await;

    // The public agenda shows the fee.
    let (s, agenda) = t
        .server
        .get(&format!("/api/v1/agendas/{}", t.practice.agenda_id), None)
        .await;
    assert_eq!(s, StatusCode::OK);
    let m = agenda["motives"]
        .as_array()
        .expect("motives")
        .iter()
        .find(|m| m["id"] == t.practice.motive_id.as_str())
        .expect("motive");
    assert_eq!(m["fee"]["amount_cents"], FEE);

    // Without a card: 422 naming the field, nothing booked.
    let (s, p) = t.book(&slot, None).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{p}");
    assert!(
        p["detail"]
            .as_str()
            .expect("detail")
            .contains("payment_method"),
        "{p}"
    );
    assert!(standin.requests().is_empty());

    // Booked with a card (and an Idempotency-Key): authorised, not captured.
    let body = json!({"agenda_id": t.practice.agenda_id, "motive_id": t.practice.motive_id, "start": slot["start"], "payment_method": "pm_card_visa"});
    let send = || {
        t.server
            .client
            .post(format!("{}/api/v1/appointments", t.server.base))
            .bearer_auth(&t.patient)
            .header("Idempotency-Key", "booking-1")
            .json(&body)
            .send()
    };
    let resp = send().await.expect("book");
    assert_eq!(resp.status(), StatusCode::CREATED);
    let a: Value = resp.json().await.expect("json");
    assert_eq!(
        a["payment"],
        json!({"status": "authorised", "amount_cents": FEE, "currency": "EUR"})
    );
    let id = a["id"].as_str().expect("id").to_owned();

    let creates: Vec<_> = standin
        .requests()
        .into_iter()
        .filter(|r| r.path == "/v1/payment_intents")
        .collect();
    assert_eq!(creates.len(), 1);
    let c = &creates[0];
    assert_eq!(c.param("capture_method"), Some("manual"));
    assert_eq!(c.param("confirm"), Some("true"));
    assert_eq!(c.param("amount"), Some("2500"));
    assert_eq!(c.param("currency"), Some("eur"));
    assert_eq!(c.param("payment_method"), Some("pm_card_visa"));
    assert_eq!(c.param("metadata[appointment_id]"), Some(id.as_str()));
    let key = c.idempotency_key.clone().expect("Idempotency-Key sent");
    assert!(
        key.starts_with(&format!("careslot-authorise-{id}")),
        "{key}"
    );
    let intent = intent_of(&standin, &id);
    assert_eq!(intent["status"], "requires_capture");
    assert_eq!(intent["amount_capturable"], FEE);

    // The client's retry books nothing new and authorises nothing new.
    let resp = send().await.expect("retry");
    assert_eq!(resp.status(), StatusCode::CREATED);
    let again: Value = resp.json().await.expect("json");
    assert_eq!(again["id"], id.as_str());
    assert_eq!(
        standin
            .requests()
            .iter()
            .filter(|r| r.path == "/v1/payment_intents")
            .count(),
        1
    );

    // Before the end of the slot the sweep leaves it alone.
    let end = instant(&a["end"]);
    let r = t
        .app
        .settle_payments(Timestamp::now())
        .await
        .expect("sweep");
    assert_eq!(r.captured, 0);
    assert_eq!(
        t.my_appointments().await[0]["payment"]["status"],
        "authorised"
    );

    // After the consultation: captured, once.
    let after = end
        .checked_add(jiff::SignedDuration::from_secs(1))
        .expect("time");
    let r = t.app.settle_payments(after).await.expect("sweep");
    assert_eq!(r.captured, 1, "{r:?}");
    let intent = intent_of(&standin, &id);
    assert_eq!(intent["status"], "succeeded");
    assert_eq!(intent["amount_received"], FEE);
    let mine = t.my_appointments().await;
    assert_eq!(mine[0]["payment"]["status"], "captured");
    let r = t.app.settle_payments(after).await.expect("sweep");
    assert_eq!(r.captured, 0);
    let captures: Vec<_> = standin
        .requests()
        .into_iter()
        .filter(|r| r.path.ends_with("/capture"))
        .collect();
    assert_eq!(captures.len(), 1);
    assert_eq!(
        captures[0].idempotency_key.as_deref(),
        Some(format!("careslot-capture-{id}").as_str())
    );

    // Stripe's events for this intent are accepted once each; a replay is refused.
    let events = standin.events_for(intent["id"].as_str().expect("pi"));
    assert_eq!(
        events
            .iter()
            .map(|e| e["type"].as_str().unwrap_or(""))
            .collect::<Vec<_>>(),
        [
            "payment_intent.amount_capturable_updated",
            "payment_intent.succeeded"
        ]
    );
    for e in &events {
        let (s, v) = standin.deliver(&t.webhook_url(), e).await;
        assert_eq!(s, 200, "{v}");
    }
    let (s, v) = standin.deliver(&t.webhook_url(), &events[1]).await;
    assert_eq!(s, 400, "{v}");
    assert_eq!(v["type"], "https://careslot.eu/problems/webhook-replayed");
    // The late "authorised" event did not move the captured payment back.
    assert_eq!(
        t.my_appointments().await[0]["payment"]["status"],
        "captured"
    );
}

async fn forged_and_stale_webhooks_are_refused(backend: Backend) {
    let standin = StripeStandin::start().await;
    let t = setup(backend, stripe_config(&standin)).await;
    let slot = t.slot(0).await;
    let (s, a) = t.book(&slot, Some("pm_card_visa")).await;
    assert_eq!(s, StatusCode::CREATED, "{a}");
    let id = a["id"].as_str().expect("id");
    let intent = intent_of(&standin, id);
    // A forged "canceled" event: the state must not move.
    let mut forged = intent.clone();
    forged["status"] = json!("canceled");
    let event = json!({"id": "evt_forged_1", "object": "event", "type": "payment_intent.canceled",
                       "created": Timestamp::now().as_second(), "data": {"object": forged}});
    let body = serde_json::to_vec(&event).expect("json");
    let now = Timestamp::now().as_second();
    let url = t.webhook_url();

    let (s, v) = standin
        .post_webhook(
            &url,
            &body,
            &signature_header("whsec_not_the_secret", now, &body),
        )
        .await;
    assert_eq!(s, 400, "{v}");
    assert_eq!(v["type"], "https://careslot.eu/problems/webhook-signature");
    // Signed for another body.
    let (s, _) = standin
        .post_webhook(&url, &body, &signature_header(WEBHOOK_SECRET, now, b"{}"))
        .await;
    assert_eq!(s, 400);
    // No signature at all.
    let resp = t
        .server
        .client
        .post(&url)
        .body(body.clone())
        .send()
        .await
        .expect("post");
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    // Correctly signed, ten minutes ago: stale.
    let old = now - 600;
    let (s, v) = standin
        .post_webhook(&url, &body, &signature_header(WEBHOOK_SECRET, old, &body))
        .await;
    assert_eq!(s, 400, "{v}");
    assert_eq!(v["type"], "https://careslot.eu/problems/webhook-stale");
    assert_eq!(
        t.my_appointments().await[0]["payment"]["status"],
        "authorised"
    );

    // The same event, genuinely signed now, is processed once and then refused as a replay.
    let (s, v) = standin
        .post_webhook(&url, &body, &signature_header(WEBHOOK_SECRET, now, &body))
        .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(
        t.my_appointments().await[0]["payment"]["status"],
        "released"
    );
    let (s, v) = standin
        .post_webhook(&url, &body, &signature_header(WEBHOOK_SECRET, now, &body))
        .await;
    assert_eq!(s, 400, "{v}");
    assert_eq!(v["type"], "https://careslot.eu/problems/webhook-replayed");
}

async fn practitioner_cancellation_releases_the_card(backend: Backend) {
    let standin = StripeStandin::start().await;
    let t = setup(backend, stripe_config(&standin)).await;
    let slot = t.slot(0).await;
    let (s, a) = t.book(&slot, Some("pm_card_visa")).await;
    assert_eq!(s, StatusCode::CREATED, "{a}");
    let id = a["id"].as_str().expect("id");
    let path = format!("/api/v1/practice/appointments/{id}/cancel");
    // The practice's agenda shows the payment.
    let day = &slot["start"].as_str().expect("start")[..10];
    let (s, list) = t
        .server
        .get(
            &format!(
                "/api/v1/agendas/{}/appointments?from={day}&to={day}",
                t.practice.agenda_id
            ),
            Some(&t.practice.token),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{list}");
    let row = list["appointments"]
        .as_array()
        .expect("list")
        .iter()
        .find(|r| r["id"] == id)
        .expect("row");
    assert_eq!(row["payment"]["status"], "authorised");

    // Nobody else may cancel it this way: another practice sees nothing, the patient is told.
    let other = t.server.practice("Dr Autre", 20, 1).await;
    let (s, _) = t.server.post(&path, Some(&other.token), json!({})).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, _) = t.server.post(&path, Some(&t.patient), json!({})).await;
    assert_eq!(s, StatusCode::FORBIDDEN);

    let (s, c) = t
        .server
        .post(&path, Some(&t.practice.token), json!({}))
        .await;
    assert_eq!(s, StatusCode::OK, "{c}");
    assert_eq!(c["status"], "cancelled");
    assert_eq!(c["payment"]["status"], "released");
    let intent = intent_of(&standin, id);
    assert_eq!(intent["status"], "canceled");
    assert_eq!(intent["amount_received"], 0);
    let cancels: Vec<_> = standin
        .requests()
        .into_iter()
        .filter(|r| r.path.ends_with("/cancel"))
        .collect();
    assert_eq!(cancels.len(), 1);
    assert_eq!(
        cancels[0].idempotency_key.as_deref(),
        Some(format!("careslot-release-{id}").as_str())
    );
    // The place is free again, and nothing is captured later.
    assert!(t
        .server
        .slots(&t.practice)
        .await
        .iter()
        .any(|s| s["start"] == slot["start"]));
    let end = instant(&a["end"])
        .checked_add(jiff::SignedDuration::from_hours(1))
        .expect("t");
    let r = t.app.settle_payments(end).await.expect("sweep");
    assert_eq!((r.captured, r.released), (0, 0));
    assert!(standin
        .requests()
        .iter()
        .all(|r| !r.path.ends_with("/capture")));

    // The patient cancelling their own appointment releases it too.
    let slot2 = t.slot(1).await;
    let (s, b) = t.book(&slot2, Some("pm_card_mastercard")).await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    let id2 = b["id"].as_str().expect("id");
    let (s, c) = t
        .server
        .post(
            &format!("/api/v1/appointments/{id2}/cancel"),
            Some(&t.patient),
            json!({}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{c}");
    assert_eq!(c["payment"]["status"], "released");
    assert_eq!(intent_of(&standin, id2)["status"], "canceled");
}

async fn declined_card_books_nothing(backend: Backend) {
    let standin = StripeStandin::start().await;
    let t = setup(backend, stripe_config(&standin)).await;
    let slot = t.slot(0).await;
    let (s, p) = t.book(&slot, Some("pm_card_chargeDeclined")).await;
    assert_eq!(s, StatusCode::PAYMENT_REQUIRED, "{p}");
    assert_eq!(p["type"], "https://careslot.eu/problems/payment-declined");
    assert!(t.my_appointments().await.is_empty());
    // The slot was given back at once.
    assert!(t
        .server
        .slots(&t.practice)
        .await
        .iter()
        .any(|s| s["start"] == slot["start"]));
    // A card that needs 3-D Secure cannot be confirmed here: refused, its intent cancelled.
    let (s, p) = t.book(&slot, Some("pm_card_authenticationRequired")).await;
    assert_eq!(s, StatusCode::PAYMENT_REQUIRED, "{p}");
    assert!(t.my_appointments().await.is_empty());
    let cancelled: Vec<_> = standin
        .requests()
        .into_iter()
        .filter(|r| r.path.ends_with("/cancel"))
        .collect();
    assert_eq!(cancelled.len(), 1);
    // And another card books it.
    let (s, a) = t.book(&slot, Some("pm_card_visa")).await;
    assert_eq!(s, StatusCode::CREATED, "{a}");
    assert_eq!(a["payment"]["status"], "authorised");
}

async fn pay_at_the_practice_is_the_default(backend: Backend) {
    let standin = StripeStandin::start().await;
    let t = setup(backend, AppConfig::default()).await;
    let slot = t.slot(0).await;
    let (s, a) = t.book(&slot, None).await;
    assert_eq!(s, StatusCode::CREATED, "{a}");
    assert_eq!(
        a["payment"],
        json!({"status": "pay_at_practice", "amount_cents": FEE, "currency": "EUR"})
    );
    assert!(standin.requests().is_empty(), "no provider call");
    let r = t
        .app
        .settle_payments(Timestamp::now())
        .await
        .expect("sweep");
    assert_eq!(r, Default::default());
    // Booked by the practice on the phone: paid at the practice too.
    let (_, me) = t.server.get("/api/v1/me", Some(&t.practice.token)).await;
    let desk = Caller {
        id: careslot_domain::AccountId(me["id"].as_str().expect("id").to_owned()),
        role: careslot_store::Role::Practitioner,
        second_factor: true,
    };
    let slot2 = t.slot(1).await;
    let phoned = t
        .app
        .desk_book(
            &desk,
            &careslot_domain::AgendaId(t.practice.agenda_id.clone()),
            &t.practice.motive_id,
            slot2["start"].as_str().expect("start"),
            DeskPatient::New {
                name: "Marcel Téléphone",
                phone: "+33 6 12 34 56 78",
                birth_date: None,
            },
            None,
        )
        .await
        .expect("desk booking");
    let p = t
        .app
        .payment_of(&phoned.row.id)
        .await
        .expect("payment")
        .expect("row");
    assert_eq!(p.status, careslot_store::PaymentStatus::AtPractice);
    assert_eq!(p.amount_cents, FEE);
    assert!(standin.requests().is_empty(), "no provider call");
    // The OpenAPI document describes the payment endpoints.
    let (s, doc) = t.server.get("/api/v1/openapi.json", None).await;
    assert_eq!(s, StatusCode::OK);
    for (path, method) in [
        ("/api/v1/agendas/{agenda_id}/motives/{motive_id}/fee", "put"),
        (
            "/api/v1/agendas/{agenda_id}/motives/{motive_id}/fee",
            "delete",
        ),
        ("/api/v1/practice/appointments/{id}/cancel", "post"),
        ("/api/v1/payments/stripe/webhook", "post"),
    ] {
        assert!(
            doc["paths"][path][method].is_object(),
            "{method} {path} missing from OpenAPI"
        );
    }
    assert!(doc["components"]["schemas"]["PaymentBody"].is_object());
    // A call without the signature header is malformed whatever the provider...
    let (s, _) = t
        .server
        .call(
            Method::POST,
            "/api/v1/payments/stripe/webhook",
            None,
            Some(json!({})),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    // ...and a signed one finds no webhook endpoint without Stripe.
    let s = t
        .server
        .client
        .post(format!("{}/api/v1/payments/stripe/webhook", t.server.base))
        .header("Stripe-Signature", "t=1,v1=00")
        .json(&json!({}))
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(s, StatusCode::NOT_FOUND);
}

async fn fees_only_on_teleconsultations(backend: Backend) {
    let t = setup(backend, AppConfig::default()).await;
    let tok = Some(t.practice.token.as_str());
    let agenda = &t.practice.agenda_id;
    let (s, p) = t
        .server
        .post(
            &format!("/api/v1/agendas/{agenda}/motives"),
            tok,
            json!({"name": "Au cabinet", "duration_min": 20, "fee": {"amount_cents": 3000}}),
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{p}");
    assert!(
        p["detail"].as_str().expect("detail").starts_with("fee"),
        "{p}"
    );
    let (s, p) = t.server.post(&format!("/api/v1/agendas/{agenda}/motives"), tok,
        json!({"name": "Vidéo", "duration_min": 20, "teleconsultation": true, "fee": {"amount_cents": 10, "currency": "EUR"}})).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{p}");
    // PUT and DELETE on the existing motives.
    let in_person = {
        let (s, agenda_body) = t
            .server
            .get(&format!("/api/v1/agendas/{agenda}"), None)
            .await;
        assert_eq!(s, StatusCode::OK);
        agenda_body["motives"]
            .as_array()
            .expect("m")
            .iter()
            .find(|m| m["teleconsultation"] == false)
            .expect("in person")["id"]
            .as_str()
            .expect("id")
            .to_owned()
    };
    let (s, _) = t
        .server
        .call(
            Method::PUT,
            &format!("/api/v1/agendas/{agenda}/motives/{in_person}/fee"),
            tok,
            Some(json!({"amount_cents": 3000})),
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    let tele = &t.practice.motive_id;
    let (s, f) = t
        .server
        .call(
            Method::PUT,
            &format!("/api/v1/agendas/{agenda}/motives/{tele}/fee"),
            tok,
            Some(json!({"amount_cents": 3000, "currency": "eur"})),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{f}");
    assert_eq!(f, json!({"amount_cents": 3000, "currency": "EUR"}));
    let (s, _) = t
        .server
        .call(
            Method::PUT,
            &format!("/api/v1/agendas/{agenda}/motives/{tele}/fee"),
            Some(&t.patient),
            Some(json!({"amount_cents": 3000})),
        )
        .await;
    assert!(
        s == StatusCode::FORBIDDEN || s == StatusCode::NOT_FOUND,
        "{s}"
    );
    let (s, _) = t
        .server
        .call(
            Method::DELETE,
            &format!("/api/v1/agendas/{agenda}/motives/{tele}/fee"),
            tok,
            None,
        )
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    // Without a fee, a teleconsultation books with no payment at all.
    let slot = t.slot(0).await;
    let (s, a) = t.book(&slot, None).await;
    assert_eq!(s, StatusCode::CREATED, "{a}");
    assert!(a.get("payment").is_none(), "{a}");
}

/// careslot authorised a card and then lost track of it (a crash between the provider's
/// answer and our record, say): the provider's "authorised" event arrives for a hold that
/// never became an appointment, and the authorisation is cancelled.
async fn an_orphan_authorisation_is_released_by_its_webhook(backend: Backend) {
    let standin = StripeStandin::start().await;
    let t = setup(backend, stripe_config(&standin)).await;
    let slot = t.slot(0).await;
    let (s, hold) = t
        .server
        .post(
            "/api/v1/holds",
            Some(&t.patient),
            json!({"agenda_id": t.practice.agenda_id, "motive_id": t.practice.motive_id, "start": slot["start"]}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{hold}");
    let hold_id = hold["id"].as_str().expect("id");
    // What careslot records before asking the provider…
    let now = Timestamp::now();
    t.app
        .store
        .insert_payment(&careslot_store::PaymentRow {
            reservation_id: careslot_domain::ReservationId(hold_id.to_owned()),
            agenda_id: careslot_domain::AgendaId(t.practice.agenda_id.clone()),
            provider: "stripe".into(),
            intent_id: None,
            amount_cents: FEE,
            currency: "EUR".into(),
            status: careslot_store::PaymentStatus::Pending,
            created_at: now,
            updated_at: now,
        })
        .await
        .expect("pending payment");
    // …the authorisation the provider made, whose answer never came back…
    let resp = t
        .server
        .client
        .post(format!("{}/v1/payment_intents", standin.base))
        .bearer_auth(stripe_standin::SECRET_KEY)
        .header("Idempotency-Key", format!("lost-{hold_id}"))
        .form(&[
            ("amount", "2500"),
            ("currency", "eur"),
            ("capture_method", "manual"),
            ("confirm", "true"),
            ("payment_method", "pm_card_visa"),
            ("metadata[appointment_id]", hold_id),
        ])
        .send()
        .await
        .expect("create");
    assert_eq!(resp.status(), StatusCode::OK);
    // …and the hold that expired without a booking.
    t.app
        .store
        .expire_hold_now(
            &careslot_domain::ReservationId(hold_id.to_owned()),
            Timestamp::now(),
        )
        .await
        .expect("expire");
    t.app
        .store
        .expire_holds(Timestamp::now())
        .await
        .expect("expire");

    let intent = intent_of(&standin, hold_id);
    assert_eq!(intent["status"], "requires_capture");
    let events = standin.events_for(intent["id"].as_str().expect("pi"));
    let (s, v) = standin.deliver(&t.webhook_url(), &events[0]).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(intent_of(&standin, hold_id)["status"], "canceled");
    let p = t
        .app
        .payment_of(&careslot_domain::ReservationId(hold_id.to_owned()))
        .await
        .expect("payment")
        .expect("row");
    assert_eq!(p.status, careslot_store::PaymentStatus::Released);
    assert_eq!(p.intent_id.as_deref(), intent["id"].as_str());
}

on_both_backends!(
    authorise_then_capture_after_the_consultation,
    forged_and_stale_webhooks_are_refused,
    practitioner_cancellation_releases_the_card,
    declined_card_books_nothing,
    pay_at_the_practice_is_the_default,
    fees_only_on_teleconsultations,
    an_orphan_authorisation_is_released_by_its_webhook,
);
