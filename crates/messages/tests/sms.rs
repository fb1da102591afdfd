//! The SMS channel against a local stand-in that speaks the shape of Twilio's Messages API.

mod support;

use std::time::Duration;

use careslot_messages::{
    compose, Appointment, Channel, Content, Lang, Recipient, SendError, Site, SmsChannel, SmsConfig,
};
use support::{closed_port, SmsStandIn, FROM, INVALID_TO, SID, TOKEN};

fn config(base_url: String) -> SmsConfig {
    SmsConfig {
        base_url,
        account_sid: SID.into(),
        auth_token: TOKEN.into(),
        from: FROM.into(),
        timeout: Duration::from_secs(10),
    }
}

fn reminder(to: &str) -> careslot_messages::Message {
    let a = Appointment {
        id: "0190b5e0-7c3a-7d2e-9f00-0000000000bb".into(),
        start: "2026-06-02T07:15:00Z".parse().unwrap(),
        end: "2026-06-02T07:30:00Z".parse().unwrap(),
        time_zone: "Europe/Paris".into(),
        practitioner: "Dr Martin".into(),
        place: "Cabinet".into(),
        address: String::new(),
        motive: Some("Consultation psychiatrique".into()),
        show_motive: true,
        sequence: 0,
    };
    compose(
        &Site::new("https://careslot.test"),
        &Content::Reminder(a),
        Recipient::Phone(to.into()),
        Lang::Fr,
        "2026-05-30T07:15:00Z".parse().unwrap(),
    )
    .unwrap()
}

#[tokio::test]
async fn an_sms_is_sent_once_per_id() {
    let provider = SmsStandIn::start().await;
    let channel = SmsChannel::new(config(provider.base_url())).unwrap();
    let m = reminder("+33612345678");
    channel.send(&m).await.unwrap();
    // A retry after a lost answer: the provider recognises the idempotency token.
    channel.send(&m).await.unwrap();
    let sent = provider.accepted();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].to, "+33612345678");
    assert_eq!(sent[0].from, FROM);
    assert_eq!(sent[0].token, m.id);
    assert_eq!(
        sent[0].body,
        "careslot : rappel de votre rendez-vous le mardi 2 juin 2026 à 09:15. \
         Détails ou annulation : https://careslot.test/appointments/0190b5e0-7c3a-7d2e-9f00-0000000000bb"
    );
    assert!(
        !sent[0].body.contains("psychiatrique"),
        "no motive in SMS even when opted in"
    );
    assert_eq!(*provider.state.requests.lock().unwrap(), 2);
}

#[tokio::test]
async fn a_number_the_provider_refuses_is_permanent() {
    let provider = SmsStandIn::start().await;
    let channel = SmsChannel::new(config(provider.base_url())).unwrap();
    let err = channel.send(&reminder(INVALID_TO)).await.unwrap_err();
    match &err {
        SendError::Permanent(reason) => assert!(reason.contains("21211"), "{reason}"),
        other => panic!("expected permanent, got {other:?}"),
    }
    assert!(provider.accepted().is_empty());
}

#[tokio::test]
async fn a_provider_outage_is_transient() {
    let provider = SmsStandIn::start().await;
    let channel = SmsChannel::new(config(provider.base_url())).unwrap();
    *provider.state.down.lock().unwrap() = true;
    let m = reminder("+33612345678");
    let err = channel.send(&m).await.unwrap_err();
    assert!(err.is_transient(), "{err:?}");
    assert!(err.reason().contains("503"), "{err:?}");
    *provider.state.down.lock().unwrap() = false;
    channel.send(&m).await.unwrap();
    assert_eq!(provider.accepted().len(), 1);
}

#[tokio::test]
async fn bad_numbers_and_bodies_never_reach_the_provider() {
    let provider = SmsStandIn::start().await;
    let channel = SmsChannel::new(config(provider.base_url())).unwrap();
    for to in ["0612345678", "+33 6 12 34 56 78", "+0612345678"] {
        assert!(
            channel
                .send(&reminder(to))
                .await
                .unwrap_err()
                .is_permanent(),
            "{to}"
        );
    }
    let mut long = reminder("+33612345678");
    long.text = "x".repeat(1601);
    assert!(channel.send(&long).await.unwrap_err().is_permanent());
    let mut email = reminder("+33612345678");
    email.recipient = Recipient::Email("a@example.org".into());
    assert!(channel.send(&email).await.unwrap_err().is_permanent());
    assert_eq!(*provider.state.requests.lock().unwrap(), 0);
}

#[tokio::test]
async fn wrong_credentials_and_no_provider_are_transient() {
    let provider = SmsStandIn::start().await;
    let mut cfg = config(provider.base_url());
    cfg.auth_token = "wrong".into();
    let channel = SmsChannel::new(cfg).unwrap();
    let err = channel.send(&reminder("+33612345678")).await.unwrap_err();
    assert!(
        err.is_transient() && err.reason().contains("20003"),
        "{err:?}"
    );

    let channel = SmsChannel::new(config(format!("http://127.0.0.1:{}", closed_port()))).unwrap();
    assert!(channel
        .send(&reminder("+33612345678"))
        .await
        .unwrap_err()
        .is_transient());

    let mut cfg = config(provider.base_url());
    cfg.from = "not a sender!".into();
    assert!(SmsChannel::new(cfg).is_err());
}
