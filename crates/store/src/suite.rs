//! The behaviour suite every backend must pass. Each backend's tests call [`run`] with a
//! fresh store; every case builds its own practitioner and agenda, so cases don't interfere.

mod agenda_feeds;
mod batches;
mod care_series;
mod credentials;
mod directory;
mod documents;
mod floors;
mod operators;
mod photos;
mod second_factor;
mod series_keys;
mod single_groups;
mod snapshots;
mod stock_policy;
mod verification;
mod visits;

use crate::*;
use jiff::{Timestamp, ToSpan};
use std::sync::Arc;

/// Runs every case, in order, against `store`.
pub async fn run(store: Arc<dyn Store>) {
    accounts_and_sessions(&*store).await;
    practitioner_configuration(&*store).await;
    exclusive_reservations(&*store).await;
    pooled_capacity(&*store).await;
    holds_expire(&*store).await;
    idempotency(&*store).await;
    moving(&*store).await;
    resizing(&*store).await;
    listings(&*store).await;
    retention(&*store).await;
    no_shows(&*store).await;
    pooled_no_shows(&*store).await;
    visits::visit_steps(&*store).await;
    care_series::care_series(&*store).await;
    claiming_holds(&*store).await;
    editing_configuration(&*store).await;
    relatives(&*store).await;
    phone_patients(&*store).await;
    assistants_by_invitation(&*store).await;
    imported_sites(&*store).await;
    payments(&*store).await;
    front_door(&*store).await;
    prescriptions(store.clone()).await;
    audit_chain(store.clone()).await;
    racing_for_one_slot(store.clone(), 1).await;
    racing_for_one_slot(store.clone(), 3).await;
    documents::documents(store.clone()).await;
    outbox_refused_booking_queues_nothing(&*store).await;
    outbox_intents(&*store).await;
    outbox_cancel_and_move(&*store).await;
    outbox_dead_letters(&*store).await;
    outbox_erasure(&*store).await;
    outbox_about_someone_else(&*store).await;
    outbox_concurrent_claims(store.clone()).await;
    batches::confirmation_batches(store.clone()).await;
    password_resets(&*store).await;
    account_settings(&*store).await;
    verification::verification(&*store).await;
    second_factor::second_factor(&*store).await;
    reminder_delays(&*store).await;
    credentials::credentials(&*store).await;
    operators::operators(&*store).await;
    slot_alerts(&*store).await;
    directory::directory(&*store).await;
    directory::merging(&*store).await;
    stock_policy::stock_policy(store.clone()).await;
    series_keys::series_keys(store.clone()).await;
    series_keys::series_keys_in_groups(store.clone()).await;
    series_keys::held_series_booked_in_groups(store.clone()).await;
    single_groups::singles_in_groups(store.clone()).await;
    agenda_feeds::agenda_feeds(&*store).await;
    photos::photos(&*store).await;
    snapshots::bulk_snapshots(&*store).await;
    floors::slot_floors(&*store).await;
    // Operations (issue 16); closing stays last: the store refuses writes afterwards.
    operations_counts(&*store).await;
    closing(&*store).await;
}

/// What `/metrics` reads: the outbox's rows by state (as differences, other cases leave
/// rows behind) and the size of every group the booking writer commits.
async fn operations_counts(store: &dyn Store) {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let committed = Arc::new(AtomicUsize::new(0));
    let seen = committed.clone();
    store.observe_group_commits(Arc::new(move |n| {
        seen.fetch_add(n, Ordering::SeqCst);
    }));
    let f = fixture(store, 30, 1).await;
    let patient = new_account(store, Role::Patient).await;
    store
        .reserve(&reserve_req(&f, &patient.id, t0() + 300.hours(), None))
        .await
        .unwrap();
    if store.writer_queue_depth().is_some() {
        assert!(
            committed.load(Ordering::SeqCst) >= 1,
            "the booking was seen in a committed group"
        );
    }

    let at = t0() + 20_000.hours();
    let before = store.outbox_depth(at).await.unwrap();
    let due = outbox_message(
        &patient.id,
        &format!("depth-due:{}", patient.id),
        at - 1.hours(),
    );
    let later = outbox_message(
        &patient.id,
        &format!("depth-later:{}", patient.id),
        at + 1.hours(),
    );
    let dead = outbox_message(
        &patient.id,
        &format!("depth-dead:{}", patient.id),
        at - 1.hours(),
    );
    store
        .enqueue(&queue(vec![due.clone(), later.clone(), dead.clone()]))
        .await
        .unwrap();
    assert!(store
        .dead_letter(&dead.id, "permanent: test", at)
        .await
        .unwrap());
    let after = store.outbox_depth(at).await.unwrap();
    assert_eq!(after.queued - before.queued, 2, "{before:?} {after:?}");
    assert_eq!(after.due - before.due, 1, "{before:?} {after:?}");
    assert_eq!(after.dead - before.dead, 1, "{before:?} {after:?}");
    for m in [&due, &later, &dead] {
        store.complete_message(&m.id).await.unwrap();
    }
    assert_eq!(store.outbox_depth(at).await.unwrap(), before);
}

/// Shutdown: what was booked before `close` is kept; a booking after it is refused as
/// `Unavailable` (the client retries on another node), never lost silently.
async fn closing(store: &dyn Store) {
    let f = fixture(store, 30, 1).await;
    let patient = new_account(store, Role::Patient).await;
    let kept = store
        .reserve(&reserve_req(&f, &patient.id, t0() + 400.hours(), None))
        .await
        .unwrap()
        .reservation;
    store.close().await;
    match store
        .reserve(&reserve_req(&f, &patient.id, t0() + 401.hours(), None))
        .await
    {
        Err(StoreError::Unavailable(_)) => {}
        other => panic!("a booking after close must be Unavailable, got {other:?}"),
    }
    assert_eq!(kept.agenda_id, f.agenda.id);
}

async fn password_resets(store: &dyn Store) {
    let a = new_account(store, Role::Patient).await;
    let session = NewSession {
        token_hash: format!("session-of-{}", a.id),
        account_id: a.id.clone(),
        created_at: t0(),
        expires_at: t0() + 24.hours(),
        mfa_pending: false,
        device: None,
    };
    store.create_session(&session).await.unwrap();
    let reset = |hash: &str| PasswordReset {
        token_hash: hash.to_owned(),
        account_id: a.id.clone(),
        expires_at: t0() + 30.minutes(),
        created_at: t0(),
    };
    let mail = outbox_message(&a.id, &format!("password-reset:{}", a.id), t0());
    store
        .create_password_reset(&reset("h1"), &queue(vec![mail]))
        .await
        .unwrap();
    store
        .create_password_reset(&reset("h2"), &OutboxWrite::default())
        .await
        .unwrap();
    assert_eq!(store.outbox_of(&a.id).await.unwrap().len(), 1);
    // Expired: nothing changes.
    assert_eq!(
        store
            .consume_password_reset("h1", "new-hash", t0() + 30.minutes())
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        store
            .consume_password_reset("nope", "new-hash", t0())
            .await
            .unwrap(),
        None
    );
    assert!(store
        .session_account(&session.token_hash, t0())
        .await
        .unwrap()
        .is_some());
    // In time: the password changes, every session and every other token goes.
    assert_eq!(
        store
            .consume_password_reset("h1", "new-hash", t0() + 29.minutes())
            .await
            .unwrap(),
        Some(a.id.clone())
    );
    assert!(store
        .session_account(&session.token_hash, t0())
        .await
        .unwrap()
        .is_none());
    let secret = store
        .account_candidates(bidx(a.id.as_str()) & 0xff)
        .await
        .unwrap()
        .into_iter()
        .find(|c| c.record.id == a.id)
        .unwrap();
    assert_eq!(secret.password_hash, "new-hash");
    // Single use, and the other token went with it.
    for hash in ["h1", "h2"] {
        assert_eq!(
            store
                .consume_password_reset(hash, "again", t0())
                .await
                .unwrap(),
            None
        );
    }
    for m in store.outbox_of(&a.id).await.unwrap() {
        store.complete_message(&m.id).await.unwrap();
    }
}

fn outbox_message(account: &AccountId, key: &str, at: Timestamp) -> NewOutboxMessage {
    let id = uuid::Uuid::now_v7().to_string();
    NewOutboxMessage {
        payload: OutboxPayload::Sealed(fake_ct("payload", &id)),
        id,
        channel: OutboxChannel::Email,
        dedupe_key: key.to_owned(),
        account_id: account.clone(),
        subject_account_id: None,
        available_at: at,
        created_at: at,
    }
}

fn queue(messages: Vec<NewOutboxMessage>) -> OutboxWrite {
    OutboxWrite {
        delete_pending: vec![],
        enqueue: messages,
        notices: vec![],
        webhooks: vec![],
    }
}

async fn outbox_refused_booking_queues_nothing(store: &dyn Store) {
    let f = fixture(store, 30, 1).await;
    let patient = new_account(store, Role::Patient).await;
    let other = new_account(store, Role::Patient).await;
    let start = t0() + 72.hours();
    let mut first = reserve_req(&f, &patient.id, start, None);
    first.outbox = queue(vec![outbox_message(
        &patient.id,
        &format!("confirm:{}", first.id),
        t0(),
    )]);
    store.reserve(&first).await.expect("first booking");
    // Same place, another patient: refused, and its confirmation with it.
    let mut second = reserve_req(&f, &other.id, start, None);
    second.outbox = queue(vec![outbox_message(
        &other.id,
        &format!("confirm:{}", second.id),
        t0(),
    )]);
    let refused = store.reserve(&second).await;
    assert!(
        matches!(refused, Err(StoreError::Conflict(ConflictKind::SlotTaken))),
        "{refused:?}"
    );
    assert_eq!(store.outbox_of(&patient.id).await.unwrap().len(), 1);
    assert!(store.outbox_of(&other.id).await.unwrap().is_empty());
    // A hold queues nothing; booking it queues its confirmation in the same transaction.
    let hold = store
        .reserve(&reserve_req(
            &f,
            &other.id,
            start + 2.hours(),
            Some(t0() + 10.minutes()),
        ))
        .await
        .unwrap()
        .reservation;
    let mut book = book_hold_req(&hold.id, t0() + 1.minutes());
    book.outbox = queue(vec![outbox_message(
        &other.id,
        &format!("confirm:{}", hold.id),
        t0(),
    )]);
    store.book_hold(&book).await.expect("book hold");
    let queued = store.outbox_of(&other.id).await.unwrap();
    assert_eq!(queued.len(), 1);
    assert_eq!(queued[0].dedupe_key, format!("confirm:{}", hold.id));
    // A replayed dedupe key is not queued twice.
    store
        .enqueue(&queue(vec![outbox_message(
            &other.id,
            &format!("confirm:{}", hold.id),
            t0(),
        )]))
        .await
        .unwrap();
    assert_eq!(store.outbox_of(&other.id).await.unwrap().len(), 1);
    for m in store
        .outbox_of(&patient.id)
        .await
        .unwrap()
        .into_iter()
        .chain(queued)
    {
        assert!(store.complete_message(&m.id).await.unwrap());
    }
}

/// An intent (no payload) is written in the booking's transaction and read back as queued;
/// a refused booking leaves none; claiming returns it with its appointment and start.
async fn outbox_intents(store: &dyn Store) {
    let f = fixture(store, 30, 1).await;
    let patient = new_account(store, Role::Patient).await;
    let other = new_account(store, Role::Patient).await;
    let start = t0() + 80.hours();
    let intent = |who: &AccountId, req: &ReserveRequest, kind: IntentKind, key: String| {
        NewOutboxMessage::intent(kind, who.clone(), req.id.clone(), start, key, t0(), t0())
    };
    let mut req = reserve_req(&f, &patient.id, start, None);
    req.outbox = queue(vec![intent(
        &patient.id,
        &req,
        IntentKind::Confirmation,
        format!("confirm:{}", req.id),
    )]);
    store.reserve(&req).await.expect("booking");
    let mut refused = reserve_req(&f, &other.id, start, None);
    refused.outbox = queue(vec![intent(
        &other.id,
        &refused,
        IntentKind::Confirmation,
        format!("confirm:{}", refused.id),
    )]);
    assert!(store.reserve(&refused).await.is_err());
    assert!(store.outbox_of(&other.id).await.unwrap().is_empty());
    let queued = store.outbox_of(&patient.id).await.unwrap();
    assert_eq!(queued.len(), 1);
    assert_eq!(queued[0].channel, OutboxChannel::Email);
    assert_eq!(
        queued[0].payload,
        OutboxPayload::Intent(MessageIntent {
            kind: IntentKind::Confirmation,
            reservation_id: req.id.clone(),
            start,
            previous_start: None,
        })
    );
    // An SMS reminder goes out on the SMS channel; a move notice keeps its former start.
    let mut sms = intent(
        &patient.id,
        &req,
        IntentKind::SmsReminder,
        format!("reminder-sms:{}", req.id),
    );
    sms.available_at = start - 24.hours();
    let mut moved = intent(
        &patient.id,
        &req,
        IntentKind::Moved,
        format!("moved:{}:1", req.id),
    );
    if let OutboxPayload::Intent(i) = &mut moved.payload {
        i.previous_start = Some(start - 1.hours());
    }
    store.enqueue(&queue(vec![sms, moved])).await.unwrap();
    let all = store.outbox_of(&patient.id).await.unwrap();
    assert_eq!(all.len(), 3);
    let moved = all
        .iter()
        .find(|r| r.dedupe_key.starts_with("moved:"))
        .expect("move notice");
    assert!(matches!(
        &moved.payload,
        OutboxPayload::Intent(MessageIntent { kind: IntentKind::Moved, previous_start: Some(p), .. })
            if *p == start - 1.hours()
    ));
    let sms = all
        .iter()
        .find(|r| r.dedupe_key.starts_with("reminder-sms:"))
        .expect("SMS reminder");
    assert_eq!(sms.channel, OutboxChannel::Sms);
    assert_eq!(sms.available_at, start - 24.hours());
    finish(store, &all).await;
    assert!(store.outbox_of(&patient.id).await.unwrap().is_empty());
}

/// Ends claimed or listed rows as delivered: ordinary ones by id, batched ones by settling
/// their batch.
async fn finish(store: &dyn Store, rows: &[OutboxRow]) {
    for r in rows {
        match &r.batch {
            None => {
                store.complete_message(&r.id).await.unwrap();
            }
            Some(batch) => store.settle_batch(batch, &[]).await.unwrap(),
        }
    }
}

async fn outbox_cancel_and_move(store: &dyn Store) {
    let f = fixture(store, 30, 1).await;
    let patient = new_account(store, Role::Patient).await;
    let start = t0() + 100.hours();
    let mut req = reserve_req(&f, &patient.id, start, None);
    let reminder = format!("reminder72:{}", req.id);
    req.outbox = queue(vec![outbox_message(
        &patient.id,
        &reminder,
        start - 72.hours(),
    )]);
    let booked = store.reserve(&req).await.unwrap().reservation;
    // Moving replaces the reminder in the move's transaction.
    let moved_reminder = outbox_message(&patient.id, &reminder, start - 71.hours());
    let moved_id = moved_reminder.id.clone();
    store
        .move_with(
            &booked.id,
            &f.motive.id,
            start + 1.hours(),
            t0(),
            &OutboxWrite {
                delete_pending: vec![reminder.clone()],
                enqueue: vec![moved_reminder],
                notices: vec![],
                webhooks: vec![],
            },
        )
        .await
        .unwrap();
    let queued = store.outbox_of(&patient.id).await.unwrap();
    assert_eq!(queued.len(), 1);
    assert_eq!(queued[0].id, moved_id);
    // A refused move changes nothing in the outbox.
    let other = store
        .reserve(&reserve_req(&f, &patient.id, start + 3.hours(), None))
        .await
        .unwrap()
        .reservation;
    let refused = store
        .move_with(
            &other.id,
            &f.motive.id,
            start + 1.hours(),
            t0(),
            &OutboxWrite {
                delete_pending: vec![reminder.clone()],
                enqueue: vec![],
                notices: vec![],
                webhooks: vec![],
            },
        )
        .await;
    assert!(refused.is_err());
    assert_eq!(store.outbox_of(&patient.id).await.unwrap().len(), 1);
    // Cancelling deletes the pending reminder and queues the notice.
    let notice = outbox_message(&patient.id, &format!("cancel:{}", booked.id), t0());
    let notice_id = notice.id.clone();
    store
        .cancel_with(
            &booked.id,
            t0(),
            &OutboxWrite {
                delete_pending: vec![reminder.clone()],
                enqueue: vec![notice.clone()],
                notices: vec![],
                webhooks: vec![],
            },
        )
        .await
        .unwrap()
        .expect("cancelled");
    let queued = store.outbox_of(&patient.id).await.unwrap();
    assert_eq!(queued.len(), 1);
    assert_eq!(queued[0].id, notice_id);
    // Cancelling again cancels nothing and queues nothing.
    let again = store
        .cancel_with(
            &booked.id,
            t0(),
            &queue(vec![outbox_message(&patient.id, "x", t0())]),
        )
        .await
        .unwrap();
    assert!(again.is_none());
    assert_eq!(store.outbox_of(&patient.id).await.unwrap().len(), 1);
    assert_eq!(store.delete_pending(&[notice.dedupe_key]).await.unwrap(), 1);
}

async fn outbox_dead_letters(store: &dyn Store) {
    let patient = new_account(store, Role::Patient).await;
    // Far in the past of every other case's rows: only this one is due.
    let now: Timestamp = "2001-01-01T00:00:00Z".parse().unwrap();
    let m = outbox_message(&patient.id, &format!("test:dead:{}", patient.id), now);
    store.enqueue(&queue(vec![m.clone()])).await.unwrap();
    let lease = jiff::SignedDuration::from_secs(30);
    let max_attempts = 3;
    let mut at = now;
    for attempt in 1..=max_attempts {
        let claimed = store.claim_due(at, lease, 10).await.unwrap();
        assert_eq!(claimed.len(), 1, "attempt {attempt}");
        assert_eq!(claimed[0].id, m.id);
        assert_eq!(claimed[0].attempts, attempt);
        // Leased: another claim in the lease gets nothing.
        assert!(store
            .claim_due(at + 1.seconds(), lease, 10)
            .await
            .unwrap()
            .is_empty());
        if attempt < max_attempts {
            at += 1.minutes();
            assert!(store
                .reschedule_message(&m.id, at, "transient: connection refused")
                .await
                .unwrap());
            // Not due before its time.
            assert!(store
                .claim_due(at - 1.seconds(), lease, 10)
                .await
                .unwrap()
                .is_empty());
        } else {
            assert!(store
                .dead_letter(&m.id, "transient: connection refused", at)
                .await
                .unwrap());
        }
    }
    // Dead: never claimed again, listed for the operator.
    assert!(store
        .claim_due(at + 1000.hours(), lease, 10)
        .await
        .unwrap()
        .iter()
        .all(|r| r.id != m.id));
    let dead = store.dead_letters(100).await.unwrap();
    let row = dead.iter().find(|r| r.id == m.id).expect("listed");
    assert_eq!(row.attempts, max_attempts);
    assert!(row.dead_at.is_some());
    assert_eq!(
        row.last_error.as_deref(),
        Some("transient: connection refused")
    );
    // The operator retries it: due again, attempts reset.
    assert!(store.retry_dead_letter(&m.id, at).await.unwrap());
    assert!(!store.retry_dead_letter(&m.id, at).await.unwrap());
    let claimed = store.claim_due(at, lease, 10).await.unwrap();
    let row = claimed
        .iter()
        .find(|r| r.id == m.id)
        .expect("claimed again");
    assert_eq!(row.attempts, 1);
    assert!(store.complete_message(&m.id).await.unwrap());
    assert!(!store.complete_message(&m.id).await.unwrap());
    assert!(store.outbox_of(&patient.id).await.unwrap().is_empty());
}

/// Issue 14 part C: a message about a patient queued to the practice goes when the patient is
/// erased; the desk's notices ride in the change's transaction; the practice's email setting
/// defaults to on.
async fn outbox_about_someone_else(store: &dyn Store) {
    let f = fixture(store, 30, 1).await;
    let patient = new_account(store, Role::Patient).await;
    let booked = store
        .reserve(&reserve_req(&f, &patient.id, t0() + 300.hours(), None))
        .await
        .unwrap()
        .reservation;
    let mut to_practice = outbox_message(
        &f.practitioner.account_id,
        &format!("cancelled:{}", booked.id),
        t0(),
    );
    to_practice.subject_account_id = Some(patient.id.clone());
    let unrelated = outbox_message(&f.practitioner.account_id, "unrelated:1", t0());
    let mut w = queue(vec![to_practice, unrelated.clone()]);
    w.notices.push(PracticeNotice {
        id: uuid::Uuid::now_v7().to_string(),
        practitioner_id: f.practitioner.id.clone(),
        reservation_id: booked.id.clone(),
        kind: NoticeKind::Cancelled,
        start: booked.start,
        previous_start: None,
        created_at: t0(),
    });
    store
        .cancel_with(&booked.id, t0(), &w)
        .await
        .unwrap()
        .expect("cancelled");
    let notices = store
        .practice_notices(&f.practitioner.id, 10)
        .await
        .unwrap();
    assert_eq!(notices.len(), 1);
    assert_eq!(notices[0].reservation_id, booked.id);
    assert_eq!(notices[0].kind, NoticeKind::Cancelled);
    let queued = store.outbox_of(&f.practitioner.account_id).await.unwrap();
    assert_eq!(queued.len(), 2);
    assert!(queued
        .iter()
        .any(|r| r.subject_account_id.as_ref() == Some(&patient.id)));
    store
        .erase_account(&patient.id, std::slice::from_ref(&booked.id))
        .await
        .unwrap();
    let left = store.outbox_of(&f.practitioner.account_id).await.unwrap();
    assert_eq!(left.len(), 1, "{left:?}");
    assert_eq!(left[0].id, unrelated.id);
    store.complete_message(&unrelated.id).await.unwrap();
    // The practice's email on patients' changes: on unless turned off.
    assert!(store
        .practice_emails_patient_changes(&f.practitioner.id)
        .await
        .unwrap());
    assert!(store
        .set_practice_emails_patient_changes(&f.practitioner.id, false)
        .await
        .unwrap());
    assert!(!store
        .practice_emails_patient_changes(&f.practitioner.id)
        .await
        .unwrap());
    assert!(!store
        .set_practice_emails_patient_changes(&PractitionerId::new(), false)
        .await
        .unwrap());
}

async fn outbox_erasure(store: &dyn Store) {
    let f = fixture(store, 30, 1).await;
    let patient = new_account(store, Role::Patient).await;
    let mut req = reserve_req(&f, &patient.id, t0() + 200.hours(), None);
    req.outbox = queue(vec![
        outbox_message(&patient.id, &format!("confirm:{}", req.id), t0()),
        outbox_message(
            &patient.id,
            &format!("reminder72:{}", req.id),
            t0() + 128.hours(),
        ),
    ]);
    let booked = store.reserve(&req).await.unwrap().reservation;
    assert_eq!(store.outbox_of(&patient.id).await.unwrap().len(), 2);
    store
        .erase_account(&patient.id, std::slice::from_ref(&booked.id))
        .await
        .unwrap();
    assert!(store.outbox_of(&patient.id).await.unwrap().is_empty());
    // Nothing of theirs can be claimed any more.
    let claimed = store
        .claim_due(
            t0() + 1000.hours(),
            jiff::SignedDuration::from_secs(30),
            1000,
        )
        .await
        .unwrap();
    assert!(claimed.iter().all(|r| r.account_id != patient.id));
    finish(store, &claimed).await;
}

async fn outbox_concurrent_claims(store: Arc<dyn Store>) {
    let patient = new_account(&*store, Role::Patient).await;
    let now: Timestamp = "2002-01-01T00:00:00Z".parse().unwrap();
    let n = 300;
    let messages: Vec<NewOutboxMessage> = (0..n)
        .map(|i| outbox_message(&patient.id, &format!("test:race:{}:{i}", patient.id), now))
        .collect();
    store.enqueue(&queue(messages.clone())).await.unwrap();
    let lease = jiff::SignedDuration::from_secs(300);
    let claimer = |store: Arc<dyn Store>| async move {
        let mut mine = Vec::new();
        loop {
            let rows = store.claim_due(now, lease, 7).await.unwrap();
            if rows.is_empty() {
                return mine;
            }
            mine.extend(rows.into_iter().map(|r| r.id));
        }
    };
    let (a, b) = tokio::join!(
        tokio::spawn(claimer(store.clone())),
        tokio::spawn(claimer(store.clone()))
    );
    let (a, b) = (a.unwrap(), b.unwrap());
    let mut all: Vec<String> = a.iter().chain(b.iter()).cloned().collect();
    let total = all.len();
    all.sort();
    all.dedup();
    assert_eq!(all.len(), total, "a row was claimed twice");
    for m in &messages {
        assert!(all.binary_search(&m.id).is_ok(), "{} never claimed", m.id);
    }
    for id in &all {
        store.complete_message(id).await.unwrap();
    }
}

/// The suite's "now": a Monday morning, far enough ahead for every slot it books.
pub fn t0() -> Timestamp {
    "2030-01-07T08:00:00Z"
        .parse()
        .unwrap_or(Timestamp::UNIX_EPOCH)
}

/// The store never interprets ciphertexts: the suite uses recognisable bytes.
fn fake_ct(what: &str, id: &str) -> Vec<u8> {
    format!("ct:{what}:{id}").into_bytes()
}

/// A deterministic stand-in for a blind index: the store only compares integers.
fn bidx(id: &str) -> i64 {
    id.bytes()
        .fold(0i64, |h, b| (h * 31 + i64::from(b)) & 0xffff)
}

fn account_record(role: Role) -> AccountRecord {
    let id = AccountId::new();
    AccountRecord {
        role,
        created_at: t0(),
        wrapped_key: format!("vault:v1:{id}"),
        email_ct: fake_ct("email", id.as_str()),
        name_ct: fake_ct("name", id.as_str()),
        phone_ct: None,
        birth_date_ct: Some(fake_ct("birth", id.as_str())),
        managed_by: None,
        id,
    }
}

fn new_account_req(record: &AccountRecord) -> NewAccount {
    NewAccount {
        email_bidx: bidx(record.id.as_str()) & 0xff,
        email_uniq: format!("uniq-{}", record.id),
        record: record.clone(),
        password_hash: "not-a-real-hash".into(),
    }
}

/// A new account of `role`, stored.
pub async fn new_account(store: &dyn Store, role: Role) -> AccountRecord {
    let record = account_record(role);
    store
        .create_account(&new_account_req(&record))
        .await
        .expect("create account");
    record
}

pub struct Fixture {
    pub practitioner: Practitioner,
    pub agenda: Agenda,
    pub motive: Motive,
}

/// A practitioner with one agenda and one motive of `duration` minutes and `capacity`.
pub async fn fixture(store: &dyn Store, duration: i64, capacity: i64) -> Fixture {
    let account = new_account(store, Role::Practitioner).await;
    let practitioner = store
        .upsert_practitioner(&Practitioner {
            id: PractitionerId::new(),
            account_id: account.id.clone(),
            name: "Dr Suite".into(),
            specialty: Specialty::GeneralPractitioner,
            languages: vec!["fr".into(), "en".into()],
            bio: None,
        })
        .await
        .expect("practitioner");
    let place = Place {
        id: PlaceId::new(),
        practitioner_id: practitioner.id.clone(),
        name: "Cabinet".into(),
        address: "1 rue de la Paix".into(),
        postcode: "75002".into(),
        city: "Paris".into(),
        country: Country::France,
        lat: 48.8686,
        lon: 2.3314,
        timezone: "Europe/Paris".into(),
    };
    store.create_place(&place).await.expect("place");
    let agenda = Agenda {
        id: AgendaId::new(),
        practitioner_id: practitioner.id.clone(),
        place_id: place.id.clone(),
        timezone: "Europe/Paris".into(),
        holidays: Some(Country::France),
        wrapped_key: "vault:v1:agenda".into(),
    };
    store.create_agenda(&agenda).await.expect("agenda");
    let motive = Motive::parse(
        MotiveId::new(),
        agenda.id.clone(),
        "Consultation",
        duration,
        capacity,
        MotivePolicy::default(),
    )
    .expect("motive");
    store
        .create_motive(&motive, b"sealed label")
        .await
        .expect("motive");
    Fixture {
        practitioner,
        agenda,
        motive,
    }
}

/// A booking (or, with `hold`, a hold) of `patient` at `start` in the fixture's agenda.
pub fn reserve_req(
    f: &Fixture,
    patient: &AccountId,
    start: Timestamp,
    hold: Option<Timestamp>,
) -> ReserveRequest {
    let id = ReservationId::new();
    ReserveRequest {
        motive_ct: fake_ct("motive", id.as_str()),
        patient_ct: fake_ct("patient", patient.as_str()),
        patient_bidx: bidx(patient.as_str()),
        note_ct: None,
        relative_ct: None,
        id,
        agenda_id: f.agenda.id.clone(),
        motive_id: f.motive.id.clone(),
        start,
        day: None,
        hold_until: hold,
        idempotency: None,
        now: t0(),
        outbox: OutboxWrite::default(),
    }
}

fn book_hold_req(hold: &ReservationId, now: Timestamp) -> BookHoldRequest {
    BookHoldRequest {
        hold_id: hold.clone(),
        note_ct: None,
        relative_ct: None,
        idempotency: None,
        now,
        outbox: OutboxWrite::default(),
    }
}

async fn accounts_and_sessions(store: &dyn Store) {
    let a = new_account(store, Role::Patient).await;
    let dup = store
        .create_account(&NewAccount {
            record: AccountRecord {
                id: AccountId::new(),
                ..a.clone()
            },
            password_hash: "x".into(),
            email_bidx: 1,
            email_uniq: format!("uniq-{}", a.id),
        })
        .await;
    assert!(
        matches!(dup, Err(StoreError::Conflict(ConflictKind::EmailTaken))),
        "{dup:?}"
    );
    let candidates = store
        .account_candidates(bidx(a.id.as_str()) & 0xff)
        .await
        .unwrap();
    let found = candidates
        .iter()
        .find(|c| c.record.id == a.id)
        .expect("by blind index");
    assert_eq!(found.record, a);
    assert_eq!(found.password_hash, "not-a-real-hash");
    assert_eq!(store.account(&a.id).await.unwrap(), Some(a.clone()));
    // Read by ids in one go: unknown ids are left out; more ids than one statement takes.
    // Any bytes cross intact, a phone present or absent (SQLite packs these reads).
    let b = AccountRecord {
        phone_ct: Some(vec![0, 0xff, b'"', b'\n', b'\\']),
        birth_date_ct: None,
        ..account_record(Role::Practitioner)
    };
    store.create_account(&new_account_req(&b)).await.unwrap();
    let mut ids: Vec<AccountId> = (0..1200).map(|_| AccountId::new()).collect();
    ids.insert(3, a.id.clone());
    ids.push(b.id.clone());
    let mut many = store.accounts(&ids).await.unwrap();
    many.sort_by(|x, y| x.id.as_str().cmp(y.id.as_str()));
    let mut want = vec![a.clone(), b.clone()];
    want.sort_by(|x, y| x.id.as_str().cmp(y.id.as_str()));
    assert_eq!(many, want);
    assert!(store.accounts(&[]).await.unwrap().is_empty());

    store
        .create_session(&NewSession {
            token_hash: format!("hash-{}", a.id),
            account_id: a.id.clone(),
            created_at: t0(),
            expires_at: t0() + 1.hour(),
            mfa_pending: false,
            device: None,
        })
        .await
        .unwrap();
    let hash = format!("hash-{}", a.id);
    assert_eq!(
        store.session_account(&hash, t0()).await.unwrap(),
        Some(a.clone())
    );
    assert_eq!(
        store
            .session_account(&hash, t0() + 2.hours())
            .await
            .unwrap(),
        None
    );
    assert_eq!(store.session_account("unknown", t0()).await.unwrap(), None);
    let row = store
        .session(&hash, t0())
        .await
        .unwrap()
        .expect("live session");
    assert_eq!((row.account, row.last_used_at), (a.clone(), t0()));
    store
        .touch_session(&hash, t0() + 5.minutes())
        .await
        .unwrap();
    let row = store
        .session(&hash, t0())
        .await
        .unwrap()
        .expect("live session");
    assert_eq!(row.last_used_at, t0() + 5.minutes());
    assert_eq!(row.expires_at, t0() + 1.hour());

    // Settings are written once; a second writer gets the first value.
    assert_eq!(store.setting("suite.k").await.unwrap(), None);
    assert_eq!(
        store.insert_setting("suite.k", "first").await.unwrap(),
        "first"
    );
    assert_eq!(
        store.insert_setting("suite.k", "second").await.unwrap(),
        "first"
    );
    assert_eq!(
        store.setting("suite.k").await.unwrap().as_deref(),
        Some("first")
    );
}

async fn practitioner_configuration(store: &dyn Store) {
    let f = fixture(store, 20, 1).await;
    // Upsert keeps the id and changes the profile.
    let mut p = f.practitioner.clone();
    p.name = "Dr Renamed".into();
    p.id = PractitionerId::new();
    let updated = store.upsert_practitioner(&p).await.unwrap();
    assert_eq!(updated.id, f.practitioner.id);
    assert_eq!(updated.name, "Dr Renamed");
    assert_eq!(
        store
            .practitioner_by_account(&p.account_id)
            .await
            .unwrap()
            .map(|p| p.name),
        Some("Dr Renamed".into())
    );

    let rule = OpeningRule::parse(
        RuleId::new(),
        f.agenda.id.clone(),
        WeekdaySet::parse(&[1, 2, 3]).unwrap(),
        jiff::civil::time(8, 0, 0, 0),
        jiff::civil::time(12, 30, 0, 0),
        vec![f.motive.id.clone()],
        Some(jiff::civil::date(2030, 1, 1)),
        None,
    )
    .unwrap();
    store.create_rule(&rule).await.unwrap();
    // A rule naming a motive of another agenda is refused and stores nothing.
    let other = fixture(store, 15, 1).await;
    let bad = OpeningRule::parse(
        RuleId::new(),
        f.agenda.id.clone(),
        WeekdaySet::parse(&[4]).unwrap(),
        jiff::civil::time(8, 0, 0, 0),
        jiff::civil::time(9, 0, 0, 0),
        vec![other.motive.id.clone()],
        None,
        None,
    )
    .unwrap();
    assert!(matches!(
        store.create_rule(&bad).await,
        Err(StoreError::NotFound)
    ));

    let absence = Absence::parse(
        AbsenceId::new(),
        f.agenda.id.clone(),
        t0(),
        t0() + 2.hours(),
    )
    .unwrap();
    store
        .create_absence(&absence, Some("training"))
        .await
        .unwrap();
    let past = Absence::parse(
        AbsenceId::new(),
        f.agenda.id.clone(),
        t0() - 5.hours(),
        t0() - 4.hours(),
    )
    .unwrap();
    store.create_absence(&past, None).await.unwrap();

    let snap = store
        .agenda_snapshot(&f.agenda.id, t0())
        .await
        .unwrap()
        .expect("snapshot");
    assert_eq!(snap.agenda, f.agenda);
    let unlabelled = Motive {
        name: String::new(),
        ..f.motive.clone()
    };
    assert_eq!(snap.motives, vec![unlabelled]);
    assert_eq!(snap.rules, vec![rule]);
    assert_eq!(
        snap.absences,
        vec![absence],
        "only absences that end after now"
    );
    assert!(snap.reservations.is_empty());
    assert!(store
        .agenda_snapshot(&AgendaId::new(), t0())
        .await
        .unwrap()
        .is_none());

    let dir = store.directory_of(&f.practitioner.id).await.unwrap();
    assert_eq!(dir.len(), 1);
    assert_eq!(dir[0].agenda_id, f.agenda.id);
    assert_eq!(dir[0].name, "Dr Renamed");
    assert_eq!(dir[0].place.city, "Paris");
    assert!(store.directory().await.unwrap().len() >= 2);
}

async fn exclusive_reservations(store: &dyn Store) {
    let f = fixture(store, 30, 1).await;
    let alice = new_account(store, Role::Patient).await;
    let bob = new_account(store, Role::Patient).await;
    let start = t0() + 24.hours();
    let booked = store
        .reserve(&reserve_req(&f, &alice.id, start, None))
        .await
        .unwrap();
    assert_eq!(booked.reservation.status, ReservationStatus::Booked);
    assert_eq!(booked.reservation.end, start + 30.minutes());
    assert!(!booked.replayed);

    // Same start, and an overlapping start, are refused.
    for s in [start, start + 15.minutes(), start - 15.minutes()] {
        let r = store.reserve(&reserve_req(&f, &bob.id, s, None)).await;
        assert!(
            matches!(r, Err(StoreError::Conflict(ConflictKind::SlotTaken))),
            "{s}: {r:?}"
        );
    }
    // Back to back is fine.
    store
        .reserve(&reserve_req(&f, &bob.id, start + 30.minutes(), None))
        .await
        .unwrap();
    // Unknown motive for this agenda.
    let mut wrong = reserve_req(&f, &bob.id, start + 2.hours(), None);
    wrong.motive_id = MotiveId::new();
    assert!(matches!(
        store.reserve(&wrong).await,
        Err(StoreError::NotFound)
    ));

    // Cancel frees the place at once.
    let cancelled = store
        .cancel(&booked.reservation.id, t0())
        .await
        .unwrap()
        .expect("live");
    assert_eq!(cancelled.status, ReservationStatus::Cancelled);
    assert!(
        store
            .cancel(&booked.reservation.id, t0())
            .await
            .unwrap()
            .is_none(),
        "second cancel is a no-op"
    );
    store
        .reserve(&reserve_req(&f, &bob.id, start, None))
        .await
        .unwrap();

    let snap = store
        .agenda_snapshot(&f.agenda.id, t0())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(snap.reservations.len(), 2);
    assert!(snap.reservations.iter().all(|r| !r.pooled));
}

async fn pooled_capacity(store: &dyn Store) {
    let f = fixture(store, 10, 3).await;
    let start = t0() + 24.hours();
    let mut ids = Vec::new();
    for _ in 0..3 {
        let p = new_account(store, Role::Patient).await;
        ids.push(
            store
                .reserve(&reserve_req(&f, &p.id, start, None))
                .await
                .unwrap()
                .reservation
                .id,
        );
    }
    let late = new_account(store, Role::Patient).await;
    let r = store.reserve(&reserve_req(&f, &late.id, start, None)).await;
    assert!(
        matches!(
            r,
            Err(StoreError::Conflict(ConflictKind::CapacityExhausted))
        ),
        "{r:?}"
    );
    // A pool never overlaps a different pool.
    let r = store
        .reserve(&reserve_req(&f, &late.id, start + 5.minutes(), None))
        .await;
    assert!(matches!(r, Err(StoreError::Conflict(_))), "{r:?}");
    store.cancel(&ids[0], t0()).await.unwrap();
    store
        .reserve(&reserve_req(&f, &late.id, start, None))
        .await
        .unwrap();
    let snap = store
        .agenda_snapshot(&f.agenda.id, t0())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(snap.reservations.len(), 3);
    assert!(snap
        .reservations
        .iter()
        .all(|r| r.pooled && r.start == start));
}

async fn holds_expire(store: &dyn Store) {
    let f = fixture(store, 20, 1).await;
    let alice = new_account(store, Role::Patient).await;
    let bob = new_account(store, Role::Patient).await;
    let start = t0() + 24.hours();
    let hold = store
        .reserve(&reserve_req(&f, &alice.id, start, Some(t0() + 5.minutes())))
        .await
        .unwrap()
        .reservation;
    assert_eq!(hold.status, ReservationStatus::Held);
    assert_eq!(hold.expires_at, Some(t0() + 5.minutes()));
    // While held, nobody else gets it.
    let r = store.reserve(&reserve_req(&f, &bob.id, start, None)).await;
    assert!(
        matches!(r, Err(StoreError::Conflict(ConflictKind::SlotTaken))),
        "{r:?}"
    );
    // Someone else cannot book alice's hold.
    assert!(matches!(
        store
            .book_hold(&book_hold_req(&ReservationId::new(), t0()))
            .await,
        Err(StoreError::NotFound)
    ));
    // After expiry, bob gets the place and alice's hold is dead.
    let mut later = reserve_req(&f, &bob.id, start, None);
    later.now = t0() + 6.minutes();
    store.reserve(&later).await.unwrap();
    let r = store
        .book_hold(&book_hold_req(&hold.id, t0() + 6.minutes()))
        .await;
    assert!(matches!(r, Err(StoreError::HoldExpired)), "{r:?}");

    // A live hold becomes an appointment.
    let start2 = start + 1.hour();
    let hold2 = store
        .reserve(&reserve_req(
            &f,
            &alice.id,
            start2,
            Some(t0() + 5.minutes()),
        ))
        .await
        .unwrap()
        .reservation;
    let mut book = book_hold_req(&hold2.id, t0() + 1.minutes());
    book.note_ct = Some(b"sealed note".to_vec());
    book.relative_ct = Some(b"sealed relative".to_vec());
    let booked = store.book_hold(&book).await.unwrap().reservation;
    assert_eq!(booked.id, hold2.id);
    assert_eq!(booked.note_ct.as_deref(), Some(&b"sealed note"[..]));
    assert_eq!(booked.relative_ct.as_deref(), Some(&b"sealed relative"[..]));
    assert_eq!(booked.status, ReservationStatus::Booked);
    assert_eq!(booked.expires_at, None);
    let again = store
        .book_hold(&book_hold_req(&hold2.id, t0() + 1.minutes()))
        .await;
    assert!(
        matches!(again, Err(StoreError::Conflict(ConflictKind::NotLive))),
        "{again:?}"
    );

    // Expired pooled holds give their place back too.
    let pf = fixture(store, 10, 2).await;
    let mut h = reserve_req(&pf, &alice.id, start, Some(t0() + 1.minutes()));
    h.motive_id = pf.motive.id.clone();
    store.reserve(&h).await.unwrap();
    store
        .reserve(&reserve_req(&pf, &bob.id, start, None))
        .await
        .unwrap();
    let carol = new_account(store, Role::Patient).await;
    let mut c = reserve_req(&pf, &carol.id, start, None);
    assert!(
        store.reserve(&c).await.is_err(),
        "pool full while the hold lives"
    );
    c.now = t0() + 2.minutes();
    c.id = ReservationId::new();
    store.reserve(&c).await.unwrap();
}

async fn idempotency(store: &dyn Store) {
    let f = fixture(store, 15, 1).await;
    let alice = new_account(store, Role::Patient).await;
    let start = t0() + (2 * 24).hours();
    let key_hash = format!("k-{}", alice.id);
    let idem = Idempotency {
        key_hash: key_hash.clone(),
        request_hash: "h1".into(),
    };
    let mut req = reserve_req(&f, &alice.id, start, None);
    req.idempotency = Some(idem.clone());
    let first = store.reserve(&req).await.unwrap();
    let mut again = req.clone();
    again.id = ReservationId::new();
    let second = store.reserve(&again).await.unwrap();
    assert!(second.replayed);
    assert_eq!(second.reservation.id, first.reservation.id);
    let mut other = again.clone();
    other.idempotency = Some(Idempotency {
        key_hash: key_hash.clone(),
        request_hash: "h2".into(),
    });
    assert!(matches!(
        store.reserve(&other).await,
        Err(StoreError::IdempotencyMismatch)
    ));
    let (hash, row) = store
        .find_idempotent(&key_hash)
        .await
        .unwrap()
        .expect("recorded");
    assert_eq!((hash.as_str(), &row.id), ("h1", &first.reservation.id));
    assert!(store.find_idempotent("never-used").await.unwrap().is_none());
    let bob = new_account(store, Role::Patient).await;
    let mut bobs = reserve_req(&f, &bob.id, start + 1.hour(), None);
    bobs.idempotency = Some(Idempotency {
        key_hash: format!("k-{}", bob.id),
        request_hash: "h1".into(),
    });
    assert!(!store.reserve(&bobs).await.unwrap().replayed);
    let mine = store
        .reservations_by_patient_index(bidx(alice.id.as_str()))
        .await
        .unwrap();
    assert_eq!(
        mine.iter()
            .filter(|r| r.patient_ct == Some(fake_ct("patient", alice.id.as_str())))
            .count(),
        1
    );
}

/// An appointment's own length: the overlap rule covers the new end (nothing changes when
/// refused), a shorter one frees the rest, the length goes with a move, pooled places keep
/// the pool's.
async fn resizing(store: &dyn Store) {
    let f = fixture(store, 30, 1).await;
    let alice = new_account(store, Role::Patient).await;
    let bob = new_account(store, Role::Patient).await;
    let start = t0() + 24.hours();
    let a = store
        .reserve(&reserve_req(&f, &alice.id, start, None))
        .await
        .unwrap()
        .reservation;
    store
        .reserve(&reserve_req(&f, &bob.id, start + 1.hour(), None))
        .await
        .unwrap();
    let none = OutboxWrite::default();
    // Into bob's time: refused by the database, alice untouched.
    let r = store.resize_with(&a.id, 90, t0(), &none).await;
    assert!(
        matches!(r, Err(StoreError::Conflict(ConflictKind::SlotTaken))),
        "{r:?}"
    );
    assert_eq!(store.reservation(&a.id).await.unwrap(), Some(a.clone()));
    // Up to bob's start: fine; the covered time cannot be booked.
    let long = store.resize_with(&a.id, 60, t0(), &none).await.unwrap();
    assert_eq!((long.start, long.end), (start, start + 1.hour()));
    let r = store
        .reserve(&reserve_req(&f, &bob.id, start + 30.minutes(), None))
        .await;
    assert!(
        matches!(r, Err(StoreError::Conflict(ConflictKind::SlotTaken))),
        "{r:?}"
    );
    // The length goes with a move.
    let moved = store
        .move_reservation(&a.id, &f.motive.id, start + 3.hours(), t0())
        .await
        .unwrap();
    assert_eq!(moved.end, start + 4.hours());
    // Shorter: the rest is free again.
    let short = store.resize_with(&a.id, 15, t0(), &none).await.unwrap();
    assert_eq!(short.end, start + 3.hours() + 15.minutes());
    store
        .reserve(&reserve_req(
            &f,
            &bob.id,
            start + 3.hours() + 30.minutes(),
            None,
        ))
        .await
        .unwrap();
    // Not live, unknown, pooled: refused.
    store.cancel(&a.id, t0()).await.unwrap();
    let r = store.resize_with(&a.id, 30, t0(), &none).await;
    assert!(
        matches!(r, Err(StoreError::Conflict(ConflictKind::NotLive))),
        "{r:?}"
    );
    assert!(matches!(
        store
            .resize_with(&ReservationId::new(), 30, t0(), &none)
            .await,
        Err(StoreError::NotFound)
    ));
    let pf = fixture(store, 10, 2).await;
    let p = store
        .reserve(&reserve_req(&pf, &alice.id, start, None))
        .await
        .unwrap()
        .reservation;
    let r = store.resize_with(&p.id, 20, t0(), &none).await;
    assert!(
        matches!(
            r,
            Err(StoreError::Conflict(ConflictKind::CapacityExhausted))
        ),
        "{r:?}"
    );
}

async fn moving(store: &dyn Store) {
    let f = fixture(store, 30, 1).await;
    let alice = new_account(store, Role::Patient).await;
    let bob = new_account(store, Role::Patient).await;
    let start = t0() + 24.hours();
    let a = store
        .reserve(&reserve_req(&f, &alice.id, start, None))
        .await
        .unwrap()
        .reservation;
    let b = store
        .reserve(&reserve_req(&f, &bob.id, start + 1.hour(), None))
        .await
        .unwrap()
        .reservation;
    // Onto bob: refused, alice untouched.
    let r = store
        .move_reservation(&a.id, &f.motive.id, start + 45.minutes(), t0())
        .await;
    assert!(
        matches!(r, Err(StoreError::Conflict(ConflictKind::SlotTaken))),
        "{r:?}"
    );
    assert_eq!(store.reservation(&a.id).await.unwrap(), Some(a.clone()));
    // Overlapping its own old time is fine.
    let moved = store
        .move_reservation(&a.id, &f.motive.id, start + 15.minutes(), t0())
        .await
        .unwrap();
    assert_eq!(
        (moved.id.clone(), moved.start, moved.end),
        (a.id.clone(), start + 15.minutes(), start + 45.minutes())
    );
    // The old place is free again.
    store
        .reserve(&reserve_req(&f, &bob.id, start - 15.minutes(), None))
        .await
        .unwrap();
    store.cancel(&b.id, t0()).await.unwrap();
    let r = store
        .move_reservation(&b.id, &f.motive.id, start + 3.hours(), t0())
        .await;
    assert!(
        matches!(r, Err(StoreError::Conflict(ConflictKind::NotLive))),
        "{r:?}"
    );
    assert!(matches!(
        store
            .move_reservation(&ReservationId::new(), &f.motive.id, start, t0())
            .await,
        Err(StoreError::NotFound)
    ));

    // Pooled: moving releases the old place and takes a new one.
    let pf = fixture(store, 10, 2).await;
    let p1 = store
        .reserve(&reserve_req(&pf, &alice.id, start, None))
        .await
        .unwrap()
        .reservation;
    store
        .reserve(&reserve_req(&pf, &bob.id, start + 10.minutes(), None))
        .await
        .unwrap();
    let carol = new_account(store, Role::Patient).await;
    store
        .reserve(&reserve_req(&pf, &carol.id, start + 10.minutes(), None))
        .await
        .unwrap();
    let r = store
        .move_reservation(&p1.id, &pf.motive.id, start + 10.minutes(), t0())
        .await;
    assert!(
        matches!(
            r,
            Err(StoreError::Conflict(ConflictKind::CapacityExhausted))
        ),
        "{r:?}"
    );
    store
        .move_reservation(&p1.id, &pf.motive.id, start + 20.minutes(), t0())
        .await
        .unwrap();
    let dave = new_account(store, Role::Patient).await;
    store
        .reserve(&reserve_req(&pf, &dave.id, start, None))
        .await
        .unwrap();
    let erin = new_account(store, Role::Patient).await;
    store
        .reserve(&reserve_req(&pf, &erin.id, start, None))
        .await
        .unwrap();
}

async fn listings(store: &dyn Store) {
    let f = fixture(store, 30, 1).await;
    let alice = new_account(store, Role::Patient).await;
    let start = t0() + (3 * 24).hours();
    let alice_bidx = bidx(alice.id.as_str());
    assert!(store
        .practitioner_reservations_by_patient_index(alice_bidx, &f.practitioner.id)
        .await
        .unwrap()
        .is_empty());
    let mut booked = reserve_req(&f, &alice.id, start, None);
    booked.note_ct = Some(b"sealed note".to_vec());
    booked.relative_ct = Some(b"sealed relative".to_vec());
    let a = store.reserve(&booked).await.unwrap().reservation;
    assert_eq!(a.note_ct.as_deref(), Some(&b"sealed note"[..]));
    assert_eq!(a.relative_ct.as_deref(), Some(&b"sealed relative"[..]));
    assert_eq!(a.motive_ct, booked.motive_ct);
    let h = store
        .reserve(&reserve_req(
            &f,
            &alice.id,
            start + 1.hour(),
            Some(t0() + 5.minutes()),
        ))
        .await
        .unwrap()
        .reservation;
    let known = store
        .practitioner_reservations_by_patient_index(alice_bidx, &f.practitioner.id)
        .await
        .unwrap();
    assert_eq!(
        known.iter().map(|r| &r.id).collect::<Vec<_>>(),
        vec![&a.id],
        "holds do not make a known patient"
    );
    let other = fixture(store, 30, 1).await;
    assert!(store
        .practitioner_reservations_by_patient_index(alice_bidx, &other.practitioner.id)
        .await
        .unwrap()
        .is_empty());
    let mine: Vec<ReservationId> = store
        .reservations_by_patient_index(alice_bidx)
        .await
        .unwrap()
        .into_iter()
        .filter(|r| r.patient_ct == Some(fake_ct("patient", alice.id.as_str())))
        .map(|r| r.id)
        .collect();
    assert_eq!(mine, vec![a.id.clone(), h.id.clone()]);
    let day = store
        .agenda_appointments(&f.agenda.id, start - 1.hour(), start + 24.hours())
        .await
        .unwrap();
    // Every field as written (SQLite packs this read).
    assert_eq!(day, vec![a.clone()], "holds are not appointments");
    assert!(store
        .agenda_appointments(&f.agenda.id, start + 1.minutes(), start + 24.hours())
        .await
        .unwrap()
        .is_empty());

    // Erasure: the account goes, its appointments stay without identity.
    store
        .create_session(&NewSession {
            token_hash: format!("erase-{}", alice.id),
            account_id: alice.id.clone(),
            created_at: t0(),
            expires_at: t0() + 1.hour(),
            mfa_pending: false,
            device: None,
        })
        .await
        .unwrap();
    store
        .erase_account(&alice.id, &[a.id.clone(), h.id.clone()])
        .await
        .unwrap();
    assert_eq!(store.account(&alice.id).await.unwrap(), None);
    assert_eq!(
        store
            .session_account(&format!("erase-{}", alice.id), t0())
            .await
            .unwrap(),
        None
    );
    let kept = store
        .reservation(&a.id)
        .await
        .unwrap()
        .expect("appointment stays");
    assert_eq!(
        (kept.status, kept.patient_ct, kept.note_ct, kept.relative_ct),
        (ReservationStatus::Booked, None, None, None)
    );
    assert!(store
        .reservations_by_patient_index(alice_bidx)
        .await
        .unwrap()
        .iter()
        .all(|r| r.id != a.id));
    let snap = store
        .agenda_snapshot(&f.agenda.id, t0())
        .await
        .unwrap()
        .unwrap();
    assert!(
        snap.reservations.iter().any(|r| r.start == start),
        "the agenda stays consistent"
    );
    assert_eq!(
        snap.motive_labels,
        vec![(f.motive.id.clone(), b"sealed label".to_vec())]
    );
    assert!(
        snap.motives.iter().all(|m| m.name.is_empty()),
        "labels stay sealed"
    );
}

/// Retention strips links of old appointments at agendas of one specialty only.
async fn retention(store: &dyn Store) {
    let f = fixture(store, 10, 1).await;
    let p = new_account(store, Role::Patient).await;
    let start = t0() + 24.hours();
    let mut req = reserve_req(&f, &p.id, start, None);
    req.relative_ct = Some(b"sealed relative".to_vec());
    let r = store.reserve(&req).await.unwrap().reservation;
    let stripped = store
        .strip_patient_links(Specialty::GeneralPractitioner, start + 2.hours())
        .await
        .unwrap();
    assert!(stripped >= 1);
    let kept = store.reservation(&r.id).await.unwrap().unwrap();
    assert_eq!((kept.patient_ct, kept.relative_ct), (None, None));
    let vf = fixture(store, 10, 1).await;
    let mut vp = vf.practitioner.clone();
    vp.specialty = Specialty::VaccinationCenter;
    store.upsert_practitioner(&vp).await.unwrap();
    let v = store
        .reserve(&reserve_req(&vf, &p.id, start, None))
        .await
        .unwrap()
        .reservation;
    assert_eq!(
        store
            .strip_patient_links(Specialty::VaccinationCenter, start)
            .await
            .unwrap(),
        0,
        "not ended yet"
    );
    assert_eq!(
        store
            .strip_patient_links(Specialty::VaccinationCenter, start + 1.hour())
            .await
            .unwrap(),
        1
    );
    assert_eq!(
        store.reservation(&v.id).await.unwrap().unwrap().patient_ct,
        None
    );
}

/// A no-show gives the place back; undoing it takes the place again like a booking would.
async fn no_shows(store: &dyn Store) {
    let f = fixture(store, 30, 1).await;
    let alice = new_account(store, Role::Patient).await;
    let bob = new_account(store, Role::Patient).await;
    let carol = new_account(store, Role::Patient).await;
    let start = t0() + 24.hours();
    let a = store
        .reserve(&reserve_req(&f, &alice.id, start, None))
        .await
        .unwrap()
        .reservation;
    let missed = store
        .set_no_show(&a.id, true, t0())
        .await
        .unwrap()
        .expect("booked");
    assert_eq!(missed.status, ReservationStatus::NoShow);
    assert_eq!(
        store.reservation(&a.id).await.unwrap(),
        Some(missed.clone())
    );
    assert!(
        store
            .set_no_show(&a.id, true, t0())
            .await
            .unwrap()
            .is_none(),
        "already a no-show"
    );
    let day = store
        .agenda_appointments(&f.agenda.id, start, start + 1.hour())
        .await
        .unwrap();
    assert_eq!(
        day.iter().map(|r| (&r.id, r.status)).collect::<Vec<_>>(),
        vec![(&a.id, ReservationStatus::NoShow)],
        "a no-show stays in the day's list"
    );
    let snap = store
        .agenda_snapshot(&f.agenda.id, t0())
        .await
        .unwrap()
        .unwrap();
    assert!(snap.reservations.is_empty(), "a no-show occupies nothing");

    // The place went to bob: undoing alice's no-show is refused and changes nothing.
    let b = store
        .reserve(&reserve_req(&f, &bob.id, start + 15.minutes(), None))
        .await
        .unwrap()
        .reservation;
    let r = store.set_no_show(&a.id, false, t0()).await;
    assert!(
        matches!(r, Err(StoreError::Conflict(ConflictKind::SlotTaken))),
        "{r:?}"
    );
    assert_eq!(store.reservation(&a.id).await.unwrap(), Some(missed));
    store.cancel(&b.id, t0()).await.unwrap();

    // A live hold blocks the undo too; once expired, it no longer does.
    store
        .reserve(&reserve_req(&f, &carol.id, start, Some(t0() + 5.minutes())))
        .await
        .unwrap();
    let r = store.set_no_show(&a.id, false, t0() + 1.minutes()).await;
    assert!(
        matches!(r, Err(StoreError::Conflict(ConflictKind::SlotTaken))),
        "{r:?}"
    );
    let back = store
        .set_no_show(&a.id, false, t0() + 6.minutes())
        .await
        .unwrap()
        .expect("a no-show");
    assert_eq!(
        (back.id.clone(), back.status, back.start, back.end),
        (a.id.clone(), ReservationStatus::Booked, a.start, a.end)
    );
    assert!(
        store
            .set_no_show(&a.id, false, t0())
            .await
            .unwrap()
            .is_none(),
        "already booked"
    );
    // Booked again, it occupies its time.
    let r = store.reserve(&reserve_req(&f, &bob.id, start, None)).await;
    assert!(
        matches!(r, Err(StoreError::Conflict(ConflictKind::SlotTaken))),
        "{r:?}"
    );
    // Only booked appointments can be missed.
    assert!(store
        .set_no_show(&b.id, true, t0())
        .await
        .unwrap()
        .is_none());
    assert!(store
        .set_no_show(&ReservationId::new(), true, t0())
        .await
        .unwrap()
        .is_none());
}

/// A pooled no-show gives its place back to the pool; undoing it needs a free place.
async fn pooled_no_shows(store: &dyn Store) {
    let f = fixture(store, 10, 2).await;
    let start = t0() + 24.hours();
    let mut booked = Vec::new();
    for _ in 0..2 {
        let p = new_account(store, Role::Patient).await;
        booked.push(
            store
                .reserve(&reserve_req(&f, &p.id, start, None))
                .await
                .unwrap()
                .reservation
                .id,
        );
    }
    let late = new_account(store, Role::Patient).await;
    let full = store.reserve(&reserve_req(&f, &late.id, start, None)).await;
    assert!(
        matches!(
            full,
            Err(StoreError::Conflict(ConflictKind::CapacityExhausted))
        ),
        "{full:?}"
    );
    store
        .set_no_show(&booked[0], true, t0())
        .await
        .unwrap()
        .expect("booked");
    let late_booking = store
        .reserve(&reserve_req(&f, &late.id, start, None))
        .await
        .unwrap()
        .reservation;
    let r = store.set_no_show(&booked[0], false, t0()).await;
    assert!(
        matches!(
            r,
            Err(StoreError::Conflict(ConflictKind::CapacityExhausted))
        ),
        "{r:?}"
    );
    assert_eq!(
        store
            .reservation(&booked[0])
            .await
            .unwrap()
            .map(|r| r.status),
        Some(ReservationStatus::NoShow)
    );
    store.cancel(&late_booking.id, t0()).await.unwrap();
    store
        .set_no_show(&booked[0], false, t0())
        .await
        .unwrap()
        .expect("a no-show");
    // The counter followed: the pool is full again, and the snapshot agrees.
    let again = new_account(store, Role::Patient).await;
    let r = store
        .reserve(&reserve_req(&f, &again.id, start, None))
        .await;
    assert!(
        matches!(
            r,
            Err(StoreError::Conflict(ConflictKind::CapacityExhausted))
        ),
        "{r:?}"
    );
    let snap = store
        .agenda_snapshot(&f.agenda.id, t0())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(snap.reservations.len(), 2);
}

/// A guest's hold passes to the patient who signs in, while it lives.
async fn claiming_holds(store: &dyn Store) {
    let f = fixture(store, 20, 1).await;
    let guest = new_account(store, Role::Patient).await;
    let alice = new_account(store, Role::Patient).await;
    let start = t0() + 24.hours();
    let hold = store
        .reserve(&reserve_req(&f, &guest.id, start, Some(t0() + 5.minutes())))
        .await
        .unwrap()
        .reservation;
    let alice_ct = fake_ct("patient", alice.id.as_str());
    let alice_bidx = bidx(alice.id.as_str());
    let claimed = store
        .claim_hold(&hold.id, &alice_ct, alice_bidx, t0() + 1.minutes())
        .await
        .unwrap()
        .expect("live hold");
    assert_eq!(
        (
            claimed.status,
            claimed.expires_at,
            claimed.patient_ct.clone()
        ),
        (
            ReservationStatus::Held,
            hold.expires_at,
            Some(alice_ct.clone())
        )
    );
    assert!(store
        .reservations_by_patient_index(alice_bidx)
        .await
        .unwrap()
        .iter()
        .any(|r| r.id == hold.id));
    // Expired: nothing changes.
    let guest_ct = fake_ct("patient", guest.id.as_str());
    assert!(store
        .claim_hold(&hold.id, &guest_ct, 1, t0() + 5.minutes())
        .await
        .unwrap()
        .is_none());
    assert_eq!(
        store.reservation(&hold.id).await.unwrap(),
        Some(claimed.clone())
    );
    // Only holds: not an appointment, not an unknown id.
    let booked = store
        .reserve(&reserve_req(&f, &guest.id, start + 1.hour(), None))
        .await
        .unwrap()
        .reservation;
    assert!(store
        .claim_hold(&booked.id, &alice_ct, alice_bidx, t0())
        .await
        .unwrap()
        .is_none());
    assert!(store
        .claim_hold(&ReservationId::new(), &alice_ct, alice_bidx, t0())
        .await
        .unwrap()
        .is_none());
}

/// Motives, opening hours and absences change only within their own agenda.
async fn editing_configuration(store: &dyn Store) {
    let f = fixture(store, 20, 1).await;
    let other = fixture(store, 20, 1).await;
    assert_eq!(
        store.practitioner(&f.practitioner.id).await.unwrap(),
        Some(f.practitioner.clone())
    );
    assert_eq!(
        store.practitioner(&PractitionerId::new()).await.unwrap(),
        None
    );

    // A new label, duration and policy; the capacity asked for is ignored (pools depend on
    // it). Appointments keep the times they were booked with.
    let policy = MotivePolicy {
        teleconsultation: true,
        new_patients_only: true,
        bookable_online: false,
        min_notice_min: 120,
        max_horizon_days: 30,
    };
    let edited = Motive::parse(
        f.motive.id.clone(),
        f.agenda.id.clone(),
        "Renamed",
        45,
        3,
        policy.clone(),
    )
    .unwrap();
    assert!(store
        .update_motive(&edited, b"sealed new label", Some(b"sealed translations"))
        .await
        .unwrap());
    let snap = store
        .agenda_snapshot(&f.agenda.id, t0())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        snap.motives,
        vec![Motive {
            name: String::new(),
            policy: policy.clone(),
            duration: edited.duration,
            ..f.motive.clone()
        }]
    );
    assert_eq!(
        snap.motive_labels,
        vec![(f.motive.id.clone(), b"sealed new label".to_vec())]
    );
    // The per-language labels go with it, and go away with the next edit that has none.
    assert_eq!(
        snap.motive_translations,
        vec![(f.motive.id.clone(), b"sealed translations".to_vec())]
    );
    assert!(store
        .update_motive(&edited, b"sealed new label", None)
        .await
        .unwrap());
    let snap = store
        .agenda_snapshot(&f.agenda.id, t0())
        .await
        .unwrap()
        .unwrap();
    assert!(snap.motive_translations.is_empty());
    // Another agenda's motive is out of reach.
    let foreign = Motive {
        agenda_id: f.agenda.id.clone(),
        ..other.motive.clone()
    };
    assert!(!store
        .update_motive(&foreign, b"hijack", None)
        .await
        .unwrap());
    let other_snap = store
        .agenda_snapshot(&other.agenda.id, t0())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        other_snap.motive_labels,
        vec![(other.motive.id.clone(), b"sealed label".to_vec())]
    );

    let rule = OpeningRule::parse(
        RuleId::new(),
        f.agenda.id.clone(),
        WeekdaySet::parse(&[1, 2]).unwrap(),
        jiff::civil::time(9, 0, 0, 0),
        jiff::civil::time(12, 0, 0, 0),
        vec![f.motive.id.clone()],
        None,
        None,
    )
    .unwrap();
    store.create_rule(&rule).await.unwrap();
    let absence = Absence::parse(
        AbsenceId::new(),
        f.agenda.id.clone(),
        t0() + 1.hour(),
        t0() + 2.hours(),
    )
    .unwrap();
    store.create_absence(&absence, None).await.unwrap();
    assert!(!store.delete_rule(&other.agenda.id, &rule.id).await.unwrap());
    assert!(!store
        .delete_absence(&other.agenda.id, &absence.id)
        .await
        .unwrap());
    let snap = store
        .agenda_snapshot(&f.agenda.id, t0())
        .await
        .unwrap()
        .unwrap();
    assert_eq!((snap.rules.len(), snap.absences.len()), (1, 1));
    assert!(store.delete_rule(&f.agenda.id, &rule.id).await.unwrap());
    assert!(store
        .delete_absence(&f.agenda.id, &absence.id)
        .await
        .unwrap());
    assert!(!store.delete_rule(&f.agenda.id, &rule.id).await.unwrap());
    assert!(!store
        .delete_absence(&f.agenda.id, &absence.id)
        .await
        .unwrap());
    let snap = store
        .agenda_snapshot(&f.agenda.id, t0())
        .await
        .unwrap()
        .unwrap();
    assert!(snap.rules.is_empty() && snap.absences.is_empty());
    // The motive the rule named is still there.
    assert_eq!(snap.motives.len(), 1);
}

/// Relatives belong to one account and go with it.
async fn relatives(store: &dyn Store) {
    let alice = new_account(store, Role::Patient).await;
    let bob = new_account(store, Role::Patient).await;
    let relative = |account: &AccountRecord, minutes: i64| {
        let id = RelativeId::new();
        RelativeRecord {
            account_id: account.id.clone(),
            created_at: t0() + minutes.minutes(),
            name_ct: fake_ct("relative", id.as_str()),
            birth_date_ct: (minutes % 2 == 0).then(|| fake_ct("born", id.as_str())),
            id,
        }
    };
    let (a1, a2, b1) = (relative(&alice, 1), relative(&alice, 2), relative(&bob, 3));
    for r in [&a1, &a2, &b1] {
        store.create_relative(r).await.unwrap();
    }
    assert_eq!(
        store.relatives(&alice.id).await.unwrap(),
        vec![a1.clone(), a2.clone()]
    );
    assert_eq!(store.relatives(&bob.id).await.unwrap(), vec![b1.clone()]);
    assert!(matches!(
        store.create_relative(&a1).await,
        Err(StoreError::Conflict(ConflictKind::Duplicate))
    ));
    let orphan = RelativeRecord {
        id: RelativeId::new(),
        account_id: AccountId::new(),
        ..a1.clone()
    };
    assert!(matches!(
        store.create_relative(&orphan).await,
        Err(StoreError::NotFound)
    ));

    assert!(
        !store.delete_relative(&bob.id, &a1.id).await.unwrap(),
        "not bob's"
    );
    assert!(store.delete_relative(&alice.id, &a1.id).await.unwrap());
    assert!(!store.delete_relative(&alice.id, &a1.id).await.unwrap());
    assert_eq!(store.relatives(&alice.id).await.unwrap(), vec![a2]);

    store.erase_account(&alice.id, &[]).await.unwrap();
    assert!(store.relatives(&alice.id).await.unwrap().is_empty());
    assert_eq!(store.relatives(&bob.id).await.unwrap(), vec![b1]);
}

/// A practice's record of a patient who booked by phone.
async fn phone_patients(store: &dyn Store) {
    let f = fixture(store, 20, 1).await;
    let mut record = account_record(Role::Patient);
    record.managed_by = Some(f.practitioner.id.clone());
    store
        .create_account(&new_account_req(&record))
        .await
        .unwrap();
    assert_eq!(store.account(&record.id).await.unwrap(), Some(record));
}

/// Invitations are single-use and expire; an assistant belongs to one practitioner.
async fn assistants_by_invitation(store: &dyn Store) {
    let f = fixture(store, 20, 1).await;
    let other = fixture(store, 20, 1).await;
    let invite = |token: &str, hours: i64| NewInvitation {
        token_hash: format!("{token}-{}", f.practitioner.id),
        practitioner_id: f.practitioner.id.clone(),
        created_at: t0(),
        expires_at: t0() + hours.hours(),
    };
    let first = invite("first", 48);
    store.create_invitation(&first).await.unwrap();
    assert!(matches!(
        store.create_invitation(&first).await,
        Err(StoreError::Conflict(ConflictKind::Duplicate))
    ));
    assert!(matches!(
        store
            .create_invitation(&NewInvitation {
                token_hash: format!("ghost-{}", f.practitioner.id),
                practitioner_id: PractitionerId::new(),
                ..first.clone()
            })
            .await,
        Err(StoreError::NotFound)
    ));

    // Only an assistant's account can be created this way; the invitation stays unused.
    let patient = account_record(Role::Patient);
    assert!(store
        .accept_invitation(&first.token_hash, &new_account_req(&patient), t0())
        .await
        .is_err());
    assert_eq!(store.account(&patient.id).await.unwrap(), None);

    // An email already in use: refused, and the invitation can still be used.
    let taken = new_account(store, Role::Patient).await;
    let clash = account_record(Role::Assistant);
    let mut clash_req = new_account_req(&clash);
    clash_req.email_uniq = format!("uniq-{}", taken.id);
    let r = store
        .accept_invitation(&first.token_hash, &clash_req, t0())
        .await;
    assert!(
        matches!(r, Err(StoreError::Conflict(ConflictKind::EmailTaken))),
        "{r:?}"
    );
    assert_eq!(store.account(&clash.id).await.unwrap(), None);

    let anna = account_record(Role::Assistant);
    assert_eq!(
        store
            .accept_invitation(&first.token_hash, &new_account_req(&anna), t0())
            .await
            .unwrap(),
        f.practitioner.id
    );
    assert_eq!(store.account(&anna.id).await.unwrap(), Some(anna.clone()));
    assert_eq!(
        store.assistant_of(&anna.id).await.unwrap(),
        Some(f.practitioner.id.clone())
    );
    assert_eq!(
        store.assistants(&f.practitioner.id).await.unwrap(),
        vec![anna.clone()]
    );
    assert!(store
        .assistants(&other.practitioner.id)
        .await
        .unwrap()
        .is_empty());

    // Used once: a second account gets nothing and is not created.
    let late = account_record(Role::Assistant);
    let r = store
        .accept_invitation(&first.token_hash, &new_account_req(&late), t0())
        .await;
    assert!(matches!(r, Err(StoreError::NotFound)), "{r:?}");
    assert_eq!(store.account(&late.id).await.unwrap(), None);
    // Expired or unknown: the same.
    let short = invite("short", 1);
    store.create_invitation(&short).await.unwrap();
    let r = store
        .accept_invitation(&short.token_hash, &new_account_req(&late), t0() + 1.hours())
        .await;
    assert!(matches!(r, Err(StoreError::NotFound)), "{r:?}");
    let r = store
        .accept_invitation("unknown", &new_account_req(&late), t0())
        .await;
    assert!(matches!(r, Err(StoreError::NotFound)), "{r:?}");
    assert_eq!(store.account(&late.id).await.unwrap(), None);
    // Before expiry it works.
    let bea = account_record(Role::Assistant);
    store
        .accept_invitation(
            &short.token_hash,
            &new_account_req(&bea),
            t0() + 59.minutes(),
        )
        .await
        .unwrap();
    assert_eq!(store.assistants(&f.practitioner.id).await.unwrap().len(), 2);

    // Removal: only by their practitioner; the account and its sessions go.
    store
        .create_session(&NewSession {
            token_hash: format!("assistant-{}", anna.id),
            account_id: anna.id.clone(),
            created_at: t0(),
            expires_at: t0() + 1.hour(),
            mfa_pending: false,
            device: None,
        })
        .await
        .unwrap();
    assert!(!store
        .remove_assistant(&other.practitioner.id, &anna.id)
        .await
        .unwrap());
    assert!(!store
        .remove_assistant(&f.practitioner.id, &taken.id)
        .await
        .unwrap());
    assert!(!store
        .remove_assistant(&f.practitioner.id, &f.practitioner.account_id)
        .await
        .unwrap());
    assert!(store.account(&anna.id).await.unwrap().is_some());
    // A message still queued for her (the outbox has no foreign keys) goes with her account.
    store
        .enqueue(&queue(vec![outbox_message(
            &anna.id,
            &format!("welcome:{}", anna.id),
            t0(),
        )]))
        .await
        .unwrap();
    assert_eq!(store.outbox_of(&anna.id).await.unwrap().len(), 1);
    assert!(store
        .remove_assistant(&f.practitioner.id, &anna.id)
        .await
        .unwrap());
    assert_eq!(store.account(&anna.id).await.unwrap(), None);
    assert!(store.outbox_of(&anna.id).await.unwrap().is_empty());
    assert_eq!(store.assistant_of(&anna.id).await.unwrap(), None);
    assert_eq!(
        store
            .session_account(&format!("assistant-{}", anna.id), t0())
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        store.assistants(&f.practitioner.id).await.unwrap(),
        vec![bea]
    );
    assert!(!store
        .remove_assistant(&f.practitioner.id, &anna.id)
        .await
        .unwrap());
    assert!(store
        .account(&f.practitioner.account_id)
        .await
        .unwrap()
        .is_some());
}

/// The audit chain: appends link each MAC to the previous one, also under concurrency.
async fn audit_chain(store: Arc<dyn Store>) {
    let mac: Arc<AuditMac> = Arc::new(|prev: &str, row: &AuditRow| {
        format!(
            "{}|{}|{}|{}|{}",
            prev.len(),
            row.seq,
            row.at.as_second(),
            row.subject_bidx,
            row.entry_ct.len()
        )
    });
    let before = store.audit_rows(0, 1_000_000).await.unwrap().len();
    let tasks: Vec<_> = (0..8)
        .map(|i| {
            let store = store.clone();
            let mac = mac.clone();
            tokio::spawn(async move {
                let entries = vec![
                    NewAuditEntry {
                        at: t0(),
                        subject_bidx: 7,
                        entry_ct: vec![i; 3],
                    },
                    NewAuditEntry {
                        at: t0(),
                        subject_bidx: 8,
                        entry_ct: vec![i; 4],
                    },
                ];
                store.append_audit(&entries, &*mac).await
            })
        })
        .collect();
    for t in futures::future::join_all(tasks).await {
        t.expect("task").expect("append");
    }
    // One page's worth of reads at once: more rows than one INSERT statement carries.
    let many: Vec<NewAuditEntry> = (0..450)
        .map(|i| NewAuditEntry {
            at: t0(),
            subject_bidx: 9,
            entry_ct: vec![1; 1 + i % 7],
        })
        .collect();
    store.append_audit(&many, &*mac).await.unwrap();
    // One entry naming many patients (a page listing them; the patients are indexed
    // below), then an entry about one patient.
    store
        .append_audit(
            &[
                NewAuditEntry {
                    at: t0(),
                    subject_bidx: AUDIT_MANY_SUBJECTS,
                    entry_ct: vec![2; 5],
                },
                NewAuditEntry {
                    at: t0(),
                    subject_bidx: 10,
                    entry_ct: vec![3; 5],
                },
            ],
            &*mac,
        )
        .await
        .unwrap();
    let rows = store.audit_rows(0, 1_000_000).await.unwrap();
    assert_eq!(rows.len(), before + 16 + 450 + 2);
    let batch = &rows[rows.len() - 2];
    assert_eq!(batch.subject_bidx, AUDIT_MANY_SUBJECTS);
    // Not indexed yet: nothing beside the log, and every patient's read returns the entry
    // (the caller opens it to see whether it names them).
    let end = rows.len() as i64;
    let before_index = store.audit_subjects(batch.seq - 1, end).await.unwrap();
    assert!(before_index.indexed_to < batch.seq, "{before_index:?}");
    assert_eq!(before_index.named, vec![]);
    for patient in [8, 1_234, 99_999] {
        let found = store.audit_rows_for_subject(patient).await.unwrap();
        assert_eq!(found.last().map(|r| r.seq), Some(batch.seq), "{patient}");
    }
    let backlog = store.audit_unindexed(10).await.unwrap();
    assert_eq!(backlog.indexed_to, before_index.indexed_to);
    assert_eq!(backlog.up_to, end, "up to the log's end");
    assert_eq!(backlog.entries.last().map(|r| r.seq), Some(batch.seq));
    assert!(backlog
        .entries
        .iter()
        .all(|r| r.subject_bidx == AUDIT_MANY_SUBJECTS));
    // The indexer adds the patients the entry names: more than one statement and one
    // transaction carry, unordered, one named twice.
    let mut named: Vec<(i64, i64)> = (0..2_500)
        .rev()
        .chain([8])
        .map(|s| (batch.seq, s))
        .collect();
    assert!(
        !store
            .index_audit_subjects(backlog.indexed_to - 1, end, &mut named.clone())
            .await
            .unwrap(),
        "a watermark that moved meanwhile is not moved"
    );
    // Rows above the watermark (an index partly built): found once, and not relied on.
    let partial = store.audit_subjects(batch.seq - 1, end).await.unwrap();
    assert_eq!(partial.indexed_to, before_index.indexed_to);
    assert_eq!(partial.named.len(), 2_500);
    for patient in [8, 99_999] {
        let found = store.audit_rows_for_subject(patient).await.unwrap();
        assert_eq!(
            found.iter().filter(|r| r.seq == batch.seq).count(),
            1,
            "{patient}"
        );
    }
    assert!(store
        .index_audit_subjects(backlog.indexed_to, end, &mut named)
        .await
        .unwrap());
    assert!(
        !store
            .index_audit_subjects(backlog.indexed_to, end, &mut named)
            .await
            .unwrap(),
        "indexed once"
    );
    let listed = store.audit_subjects(batch.seq - 1, end).await.unwrap();
    assert_eq!(listed.indexed_to, end);
    assert_eq!(listed.named.len(), 2_500, "each patient once");
    assert!(listed.named.iter().all(|(seq, _)| *seq == batch.seq));
    assert!(listed.named.windows(2).all(|w| w[0] < w[1]), "in order");
    assert_eq!(
        store
            .audit_subjects(batch.seq, 1_000_000)
            .await
            .unwrap()
            .named,
        vec![],
        "the entry after it names no one beside the log"
    );
    let backlog = store.audit_unindexed(10).await.unwrap();
    assert_eq!((backlog.indexed_to, backlog.up_to), (end, end));
    assert_eq!(backlog.entries, vec![]);
    // A patient finds their own entries and the many-patient one, in log order, once.
    let of_8 = store.audit_rows_for_subject(8).await.unwrap();
    assert_eq!(of_8.len(), 9);
    assert_eq!(of_8.last().map(|r| r.seq), Some(batch.seq));
    assert!(of_8.windows(2).all(|w| w[0].seq < w[1].seq));
    assert_eq!(store.audit_rows_for_subject(1_234).await.unwrap().len(), 1);
    assert_eq!(
        store.audit_rows_for_subject(99_999).await.unwrap(),
        vec![],
        "indexed: only the patients it names find it"
    );
    let mut prev = String::new();
    for (i, r) in rows.iter().enumerate() {
        assert_eq!(r.seq, i as i64 + 1, "gapless sequence");
        assert_eq!(r.mac, mac(&prev, r), "each MAC chains to the previous row");
        prev = r.mac.clone();
    }
    assert_eq!(
        store
            .audit_rows(rows.len() as i64 - 2, 10)
            .await
            .unwrap()
            .len(),
        2
    );

    // Rotation bookkeeping: every wrapped key is listed and can be replaced.
    let keys = store.wrapped_keys().await.unwrap();
    let agenda = keys
        .iter()
        .find(|k| k.owner == KeyOwner::Agenda)
        .expect("an agenda key")
        .clone();
    let replaced = WrappedKeyRow {
        wrapped: "vault:v2:new".into(),
        ..agenda.clone()
    };
    store.set_wrapped_key(&replaced).await.unwrap();
    assert!(store.wrapped_keys().await.unwrap().contains(&replaced));
    assert!(keys.iter().any(|k| k.owner == KeyOwner::Account));
    assert!(keys.iter().any(|k| k.owner == KeyOwner::Setting));
}

/// N tasks race for one start of a motive with `capacity`: exactly `capacity` win, the
/// others get a conflict, and what is stored never exceeds the capacity.
async fn racing_for_one_slot(store: Arc<dyn Store>, capacity: i64) {
    let f = Arc::new(fixture(&*store, 15, capacity).await);
    let start = t0() + (4 * 24).hours();
    let mut patients = Vec::new();
    for _ in 0..40 {
        patients.push(new_account(&*store, Role::Patient).await.id);
    }
    let tasks: Vec<_> = patients
        .into_iter()
        .map(|p| {
            let store = store.clone();
            let f = f.clone();
            tokio::spawn(async move { store.reserve(&reserve_req(&f, &p, start, None)).await })
        })
        .collect();
    let mut won = 0;
    for t in futures::future::join_all(tasks).await {
        match t.expect("task") {
            Ok(_) => won += 1,
            Err(StoreError::Conflict(_)) => {}
            Err(e) => panic!("unexpected error under contention: {e:?}"),
        }
    }
    assert_eq!(won, capacity, "exactly {capacity} must win");
    let snap = store
        .agenda_snapshot(&f.agenda.id, t0())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(snap.reservations.len() as i64, capacity);
}

/// `careslot import`: a site is written whole in one transaction and recorded under its
/// source key; an update renames, moves, adds motives and replaces rules without touching
/// appointments; a write that fails changes nothing.
async fn imported_sites(store: &dyn Store) {
    let key = format!("suite-site-{}", AccountId::new());
    let account = account_record(Role::Practitioner);
    let practitioner = Practitioner {
        id: PractitionerId::new(),
        account_id: account.id.clone(),
        name: "Centre de vaccination de la Suite".into(),
        specialty: Specialty::VaccinationCenter,
        languages: vec![],
        bio: None,
    };
    let place = Place {
        id: PlaceId::new(),
        practitioner_id: practitioner.id.clone(),
        name: practitioner.name.clone(),
        address: "1 place de la Mairie".into(),
        postcode: "01000".into(),
        city: "Bourg-en-Bresse".into(),
        country: Country::France,
        lat: 46.2,
        lon: 5.22,
        timezone: "Europe/Paris".into(),
    };
    let agenda = Agenda {
        id: AgendaId::new(),
        practitioner_id: practitioner.id.clone(),
        place_id: place.id.clone(),
        timezone: "Europe/Paris".into(),
        holidays: None,
        wrapped_key: "vault:v1:agenda".into(),
    };
    let motive = |name: &str| {
        Motive::parse(
            MotiveId::new(),
            agenda.id.clone(),
            name,
            5,
            2,
            MotivePolicy::default(),
        )
        .expect("motive")
    };
    let (dose1, dose2) = (motive("Comirnaty 1"), motive("Comirnaty 2"));
    let rule = |days: &[i64], from: (i8, i8), to: (i8, i8), motives: Vec<MotiveId>| {
        OpeningRule::parse(
            RuleId::new(),
            agenda.id.clone(),
            WeekdaySet::parse(days).expect("days"),
            jiff::civil::Time::new(from.0, from.1, 0, 0).expect("time"),
            jiff::civil::Time::new(to.0, to.1, 0, 0).expect("time"),
            motives,
            None,
            None,
        )
        .expect("rule")
    };
    let both = vec![dose1.id.clone(), dose2.id.clone()];
    let first = SiteWrite {
        public: SitePublic {
            gid: Some("1693".into()),
            internal_id: None,
            phone: Some("+33 4 72 00 00 00".into()),
        },
        source_key: key.clone(),
        content_hash: "hash-1".into(),
        now: t0(),
        account: Some(new_account_req(&account)),
        practitioner: practitioner.clone(),
        place: Some(place.clone()),
        agenda: Some(agenda.clone()),
        motives: vec![
            (dose1.clone(), fake_ct("label", dose1.id.as_str())),
            (dose2.clone(), fake_ct("label", dose2.id.as_str())),
        ],
        vaccines: vec![
            MotiveVaccine {
                motive_id: dose1.id.clone(),
                product: VaccineProduct::Comirnaty,
                dose: Dose::First,
                next: Some(dose2.id.clone()),
            },
            MotiveVaccine {
                motive_id: dose2.id.clone(),
                product: VaccineProduct::Comirnaty,
                dose: Dose::Second,
                next: None,
            },
        ],
        rules: Some(vec![rule(&[1, 2, 3, 4, 5], (9, 0), (17, 0), both.clone())]),
    };
    store.write_imported_site(&first).await.expect("import");
    let find = |all: Vec<ImportedSite>| all.into_iter().find(|s| s.source_key == key);
    let row = find(store.imported_sites().await.unwrap()).expect("recorded");
    assert_eq!(row.content_hash, "hash-1");
    assert_eq!(row.account_id, account.id);
    assert_eq!(row.practitioner_id, practitioner.id);
    assert_eq!(row.place_id.as_ref(), Some(&place.id));
    assert_eq!(row.agenda_id.as_ref(), Some(&agenda.id));
    assert_eq!((row.imported_at, row.updated_at), (t0(), t0()));
    assert_eq!(row.public, first.public);
    assert!(store.account(&account.id).await.unwrap().is_some());
    let snap = store
        .agenda_snapshot(&agenda.id, t0())
        .await
        .unwrap()
        .expect("agenda");
    assert_eq!(snap.motives.len(), 2);
    assert_eq!(snap.rules.len(), 1);
    assert_eq!(snap.rules[0].motive_ids.len(), 2);
    assert_eq!(snap.vaccines.len(), 2);
    assert!(store
        .directory_of(&practitioner.id)
        .await
        .unwrap()
        .iter()
        .any(|d| d.agenda_id == agenda.id));

    // A patient books; the site is then updated.
    let patient = new_account(store, Role::Patient).await;
    let site = Fixture {
        practitioner: practitioner.clone(),
        agenda: agenda.clone(),
        motive: dose1.clone(),
    };
    let booked = store
        .reserve(&reserve_req(&site, &patient.id, t0() + 24.hours(), None))
        .await
        .unwrap()
        .reservation;

    let dose1_vaxzevria = motive("Vaxzevria 1");
    let later = t0() + 1.hours();
    let renamed = Practitioner {
        name: "Centre de vaccination (nouveau nom)".into(),
        ..practitioner.clone()
    };
    let moved = Place {
        address: "2 avenue de la Gare".into(),
        lat: 46.21,
        lon: 5.23,
        ..place.clone()
    };
    let second = SiteWrite {
        content_hash: "hash-2".into(),
        // The phone left the source: it is dropped; an id appeared.
        public: SitePublic {
            gid: Some("1693".into()),
            internal_id: Some("258785".into()),
            phone: None,
        },
        now: later,
        account: None,
        practitioner: renamed.clone(),
        place: Some(moved.clone()),
        motives: vec![(
            dose1_vaxzevria.clone(),
            fake_ct("label", dose1_vaxzevria.id.as_str()),
        )],
        vaccines: vec![MotiveVaccine {
            motive_id: dose1_vaxzevria.id.clone(),
            product: VaccineProduct::Vaxzevria,
            dose: Dose::First,
            next: None,
        }],
        rules: Some(vec![
            rule(&[1, 3], (8, 30), (12, 0), both.clone()),
            rule(&[6], (9, 0), (13, 0), vec![dose1_vaxzevria.id.clone()]),
        ]),
        ..first.clone()
    };
    store.write_imported_site(&second).await.expect("update");
    let row = find(store.imported_sites().await.unwrap()).expect("recorded");
    assert_eq!(row.content_hash, "hash-2");
    assert_eq!((row.imported_at, row.updated_at), (t0(), later));
    assert_eq!(row.public, second.public);
    assert_eq!(
        store
            .practitioner(&practitioner.id)
            .await
            .unwrap()
            .unwrap()
            .name,
        renamed.name
    );
    assert_eq!(store.place(&place.id).await.unwrap().unwrap(), moved);
    let snap = store
        .agenda_snapshot(&agenda.id, t0())
        .await
        .unwrap()
        .expect("agenda");
    assert_eq!(snap.motives.len(), 3, "motives are added, never removed");
    assert_eq!(snap.rules.len(), 2, "rules are replaced");
    assert_eq!(snap.vaccines.len(), 3);
    let kept = store.reservation(&booked.id).await.unwrap().expect("kept");
    assert_eq!(kept.status, ReservationStatus::Booked);

    // A rule naming another agenda's motive: refused, and nothing of the write remains.
    let other = fixture(store, 10, 1).await;
    let bad = SiteWrite {
        content_hash: "hash-3".into(),
        motives: vec![],
        vaccines: vec![],
        practitioner: Practitioner {
            name: "Never written".into(),
            ..practitioner.clone()
        },
        rules: Some(vec![rule(&[2], (10, 0), (11, 0), vec![other.motive.id])]),
        ..second.clone()
    };
    assert!(matches!(
        store.write_imported_site(&bad).await,
        Err(StoreError::NotFound)
    ));
    let row = find(store.imported_sites().await.unwrap()).expect("recorded");
    assert_eq!(row.content_hash, "hash-2");
    assert_eq!(
        store
            .practitioner(&practitioner.id)
            .await
            .unwrap()
            .unwrap()
            .name,
        renamed.name
    );
    let snap = store
        .agenda_snapshot(&agenda.id, t0())
        .await
        .unwrap()
        .expect("agenda");
    assert_eq!(snap.rules.len(), 2);

    // A site that could not be located: account and profile only.
    let lost = account_record(Role::Practitioner);
    let lost_key = format!("{key}-lost");
    store
        .write_imported_site(&SiteWrite {
            source_key: lost_key.clone(),
            content_hash: "hash-lost".into(),
            public: SitePublic::default(),
            now: t0(),
            account: Some(new_account_req(&lost)),
            practitioner: Practitioner {
                id: PractitionerId::new(),
                account_id: lost.id.clone(),
                name: "Pharmacie sans adresse".into(),
                specialty: Specialty::VaccinationCenter,
                languages: vec![],
                bio: None,
            },
            place: None,
            agenda: None,
            motives: vec![],
            vaccines: vec![],
            rules: None,
        })
        .await
        .expect("import without place");
    let row = store
        .imported_sites()
        .await
        .unwrap()
        .into_iter()
        .find(|s| s.source_key == lost_key)
        .expect("recorded");
    assert_eq!((row.place_id, row.agenda_id), (None, None));
}

// --- payments (teleconsultation fees) --------------------------------------------------------

fn payment_row(
    f: &Fixture,
    id: &ReservationId,
    status: PaymentStatus,
    intent: Option<&str>,
) -> PaymentRow {
    PaymentRow {
        reservation_id: id.clone(),
        agenda_id: f.agenda.id.clone(),
        provider: if status == PaymentStatus::AtPractice {
            "practice"
        } else {
            "stripe"
        }
        .into(),
        intent_id: intent.map(str::to_owned),
        amount_cents: 2500,
        currency: "EUR".into(),
        status,
        created_at: t0(),
        updated_at: t0(),
    }
}

async fn payments(store: &dyn Store) {
    let f = fixture(store, 20, 1).await;
    let patient = new_account(store, Role::Patient).await;
    // Fees: only on a teleconsultation motive of the agenda.
    let fee = Fee {
        amount_cents: 2500,
        currency: "EUR".into(),
    };
    let r = store
        .set_motive_fee(&f.agenda.id, &f.motive.id, Some(&fee))
        .await;
    assert!(matches!(r, Err(StoreError::NotFound)), "{r:?}");
    let video = Motive::parse(
        MotiveId::new(),
        f.agenda.id.clone(),
        "Vidéo",
        15,
        1,
        MotivePolicy {
            teleconsultation: true,
            ..MotivePolicy::default()
        },
    )
    .unwrap();
    store.create_motive(&video, b"sealed").await.unwrap();
    store
        .set_motive_fee(&f.agenda.id, &video.id, Some(&fee))
        .await
        .unwrap();
    let other = fixture(store, 20, 1).await;
    let r = store
        .set_motive_fee(&other.agenda.id, &video.id, Some(&fee))
        .await;
    assert!(matches!(r, Err(StoreError::NotFound)), "{r:?}");
    let dearer = Fee {
        amount_cents: 3000,
        ..fee.clone()
    };
    store
        .set_motive_fee(&f.agenda.id, &video.id, Some(&dearer))
        .await
        .unwrap();
    assert_eq!(
        store.motive_fees(&f.agenda.id).await.unwrap(),
        vec![MotiveFee {
            motive_id: video.id.clone(),
            fee: dearer.clone()
        }]
    );
    // The database keeps fees on teleconsultations: the motive cannot turn in-person first.
    let in_person = Motive {
        policy: MotivePolicy::default(),
        ..video.clone()
    };
    assert!(store
        .update_motive(&in_person, b"sealed", None)
        .await
        .is_err());
    store
        .set_motive_fee(&f.agenda.id, &video.id, None)
        .await
        .unwrap();
    assert!(store
        .update_motive(&in_person, b"sealed", None)
        .await
        .unwrap());
    assert!(store.motive_fees(&f.agenda.id).await.unwrap().is_empty());

    // One payment per appointment; status moves only from the states named.
    let start = t0() + 24.hours();
    let booked = store
        .reserve(&reserve_req(&f, &patient.id, start, None))
        .await
        .unwrap()
        .reservation;
    let pending = payment_row(&f, &booked.id, PaymentStatus::Pending, None);
    store.insert_payment(&pending).await.unwrap();
    let dup = store.insert_payment(&pending).await;
    assert!(
        matches!(dup, Err(StoreError::Conflict(ConflictKind::Duplicate))),
        "{dup:?}"
    );
    let authorise = PaymentTransition {
        reservation_id: &booked.id,
        from: &[PaymentStatus::Pending],
        to: PaymentStatus::Authorised,
        intent_id: Some("pi_suite_1"),
        now: t0() + 1.minutes(),
    };
    let row = store.transition_payment(&authorise).await.unwrap().unwrap();
    assert_eq!(row.status, PaymentStatus::Authorised);
    assert_eq!(row.intent_id.as_deref(), Some("pi_suite_1"));
    assert_eq!(row.updated_at, t0() + 1.minutes());
    assert_eq!(store.transition_payment(&authorise).await.unwrap(), None);
    assert_eq!(
        store.payment_by_intent("pi_suite_1").await.unwrap(),
        Some(row.clone())
    );
    assert_eq!(store.payment(&booked.id).await.unwrap(), Some(row.clone()));

    // CHECKs: an authorised payment names its intent; statuses and providers are known;
    // intent ids are unique.
    let later = store
        .reserve(&reserve_req(&f, &patient.id, start + 2.hours(), None))
        .await
        .unwrap()
        .reservation;
    assert!(store
        .insert_payment(&payment_row(&f, &later.id, PaymentStatus::Authorised, None))
        .await
        .is_err());
    assert!(store
        .insert_payment(&payment_row(
            &f,
            &later.id,
            PaymentStatus::Authorised,
            Some("pi_suite_1")
        ))
        .await
        .is_err());
    assert!(store
        .insert_payment(&PaymentRow {
            provider: "stripe".into(),
            ..payment_row(&f, &later.id, PaymentStatus::AtPractice, None)
        })
        .await
        .is_err());
    store
        .insert_payment(&payment_row(&f, &later.id, PaymentStatus::AtPractice, None))
        .await
        .unwrap();

    // To settle: booked and ended (capture), or no longer live (release); nothing before.
    let end = booked.end;
    let open = store
        .payments_to_settle(end - 1.seconds(), 10)
        .await
        .unwrap();
    assert!(
        open.iter().all(|o| o.payment.agenda_id != f.agenda.id),
        "{open:?}"
    );
    let open: Vec<_> = store
        .payments_to_settle(end, 10)
        .await
        .unwrap()
        .into_iter()
        .filter(|o| o.payment.agenda_id == f.agenda.id)
        .collect();
    assert_eq!(open.len(), 1);
    assert_eq!(open[0].reservation_status, ReservationStatus::Booked);
    assert_eq!(open[0].reservation_end, end);
    store.cancel(&booked.id, t0() + 2.minutes()).await.unwrap();
    let open: Vec<_> = store
        .payments_to_settle(t0(), 10)
        .await
        .unwrap()
        .into_iter()
        .filter(|o| o.payment.agenda_id == f.agenda.id)
        .collect();
    assert_eq!(open.len(), 1);
    assert_eq!(open[0].reservation_status, ReservationStatus::Cancelled);
    store
        .transition_payment(&PaymentTransition {
            reservation_id: &booked.id,
            from: &[PaymentStatus::Authorised],
            to: PaymentStatus::Released,
            intent_id: None,
            now: t0() + 3.minutes(),
        })
        .await
        .unwrap()
        .unwrap();
    assert!(store
        .payments_to_settle(end, 10)
        .await
        .unwrap()
        .iter()
        .all(|o| o.payment.agenda_id != f.agenda.id));

    // Webhook events: recorded once.
    assert!(!store
        .payment_event_seen("stripe", "evt_suite")
        .await
        .unwrap());
    assert!(store
        .record_payment_event("stripe", "evt_suite", t0())
        .await
        .unwrap());
    assert!(!store
        .record_payment_event("stripe", "evt_suite", t0())
        .await
        .unwrap());
    assert!(store
        .payment_event_seen("stripe", "evt_suite")
        .await
        .unwrap());

    // A hold ended now stops counting as soon as holds are expired.
    let hold = store
        .reserve(&reserve_req(
            &f,
            &patient.id,
            start + 4.hours(),
            Some(t0() + 5.minutes()),
        ))
        .await
        .unwrap()
        .reservation;
    assert!(store
        .expire_hold_now(&hold.id, t0() + 1.minutes())
        .await
        .unwrap());
    assert!(!store
        .expire_hold_now(&hold.id, t0() + 1.minutes())
        .await
        .unwrap());
    store.expire_holds(t0() + 1.minutes()).await.unwrap();
    let row = store.reservation(&hold.id).await.unwrap().unwrap();
    assert_eq!(row.status, ReservationStatus::Expired);
}

// --- prescriptions ---

fn signing_key_record(practitioner: &PractitionerId, fill: u8) -> SigningKeyRecord {
    let id = uuid_like(fill);
    SigningKeyRecord {
        wrapped_key: format!("vault:v1:signer-{id}"),
        private_ct: fake_ct("private", &id),
        id,
        practitioner_id: practitioner.clone(),
        algorithm: "Ed25519".into(),
        public_key: vec![fill; 32],
        created_at: t0(),
        retired_at: None,
    }
}

fn uuid_like(fill: u8) -> String {
    format!("{}-{fill}", ReservationId::new())
}

/// Signing keys (one in use per practitioner, even when first uses race), prescriptions
/// stored and listed by appointment, dispensing at most once even under a race, and the
/// signing keys' data keys visible to rotation.
async fn prescriptions(store: Arc<dyn Store>) {
    let f = fixture(&*store, 30, 1).await;
    let patient = new_account(&*store, Role::Patient).await;
    let appt = store
        .reserve(&reserve_req(&f, &patient.id, t0() + 48.hours(), None))
        .await
        .unwrap()
        .reservation;

    assert_eq!(
        store.current_signing_key(&f.practitioner.id).await.unwrap(),
        None
    );
    // Two first uses racing: one key wins and both get it.
    let (k1, k2) = (
        signing_key_record(&f.practitioner.id, 1),
        signing_key_record(&f.practitioner.id, 2),
    );
    let (a, b) = tokio::join!(store.insert_signing_key(&k1), store.insert_signing_key(&k2));
    let (a, b) = (a.unwrap(), b.unwrap());
    assert_eq!(a, b);
    assert_eq!(
        store.signing_keys(&f.practitioner.id).await.unwrap(),
        vec![a.clone()]
    );
    assert_eq!(
        store.current_signing_key(&f.practitioner.id).await.unwrap(),
        Some(a.clone())
    );
    assert_eq!(store.signing_key(&a.id).await.unwrap(), Some(a.clone()));
    assert_eq!(store.signing_key("no-such-key").await.unwrap(), None);
    // The public key must be 32 bytes (a CHECK constraint, not only the app).
    let other = fixture(&*store, 30, 1).await;
    let mut short = signing_key_record(&other.practitioner.id, 3);
    short.public_key = vec![1; 31];
    assert!(store.insert_signing_key(&short).await.is_err());

    let rx = |n: u8| PrescriptionRecord {
        id: uuid_like(n),
        reservation_id: appt.id.clone(),
        practitioner_id: f.practitioner.id.clone(),
        key_id: a.id.clone(),
        issued_at: t0() + i64::from(n).seconds(),
        payload_ct: fake_ct("payload", &n.to_string()),
        signature: vec![n; 64],
        capability_hash: format!("cap-hash-{}", uuid_like(n)),
        capability_ct: fake_ct("capability", &n.to_string()),
        dispensed_at: None,
    };
    let (first, second) = (rx(1), rx(2));
    store.insert_prescription(&second).await.unwrap();
    store.insert_prescription(&first).await.unwrap();
    assert_eq!(
        store.prescriptions_of(&appt.id).await.unwrap(),
        vec![first.clone(), second.clone()]
    );
    assert_eq!(
        store.prescription(&first.id).await.unwrap(),
        Some(first.clone())
    );
    assert_eq!(store.prescription("nope").await.unwrap(), None);
    // Capability hashes are unique; signatures are 64 bytes; the appointment must exist.
    let mut dup = rx(3);
    dup.capability_hash = first.capability_hash.clone();
    assert!(matches!(
        store.insert_prescription(&dup).await,
        Err(StoreError::Conflict(ConflictKind::Duplicate))
    ));
    let mut bad_sig = rx(4);
    bad_sig.signature = vec![0; 63];
    assert!(store.insert_prescription(&bad_sig).await.is_err());
    let mut orphan = rx(5);
    orphan.reservation_id = ReservationId::new();
    assert!(matches!(
        store.insert_prescription(&orphan).await,
        Err(StoreError::NotFound)
    ));

    // Dispensing: exactly one of several racing pharmacists wins; later attempts refused.
    let at = t0() + 3.hours();
    let racers = (0..4).map(|_| {
        let store = store.clone();
        let id = first.id.clone();
        tokio::spawn(async move { store.dispense_prescription(&id, at).await.unwrap() })
    });
    let mut wins = 0;
    for r in racers {
        if r.await.unwrap() {
            wins += 1;
        }
    }
    assert_eq!(wins, 1);
    assert!(!store
        .dispense_prescription(&first.id, at + 1.hours())
        .await
        .unwrap());
    assert!(!store.dispense_prescription("nope", at).await.unwrap());
    let stored = store.prescription(&first.id).await.unwrap().unwrap();
    assert_eq!(stored.dispensed_at, Some(at));
    assert_eq!(
        store
            .prescription(&second.id)
            .await
            .unwrap()
            .unwrap()
            .dispensed_at,
        None
    );

    // Rotation sees the signing key's wrapped data key and can rewrap it.
    let row = store
        .wrapped_keys()
        .await
        .unwrap()
        .into_iter()
        .find(|k| k.owner == KeyOwner::SigningKey && k.id == a.id)
        .expect("signing key listed for rotation");
    store
        .set_wrapped_key(&WrappedKeyRow {
            wrapped: "vault:v2:rewrapped".into(),
            ..row
        })
        .await
        .unwrap();
    assert_eq!(
        store.signing_key(&a.id).await.unwrap().unwrap().wrapped_key,
        "vault:v2:rewrapped"
    );
}

/// Session revocation and the throttling counters.
async fn front_door(store: &dyn Store) {
    let a = new_account(store, Role::Practitioner).await;
    for i in 0..2 {
        store
            .create_session(&NewSession {
                token_hash: format!("door-{i}-{}", a.id),
                account_id: a.id.clone(),
                created_at: t0(),
                expires_at: t0() + 1.hour(),
                mfa_pending: false,
                device: None,
            })
            .await
            .unwrap();
    }
    let first = format!("door-0-{}", a.id);
    assert!(store.delete_session(&first).await.unwrap());
    assert!(!store.delete_session(&first).await.unwrap());
    assert_eq!(store.session(&first, t0()).await.unwrap(), None);
    assert_eq!(store.delete_account_sessions(&a.id).await.unwrap(), 1);
    assert_eq!(
        store
            .session(&format!("door-1-{}", a.id), t0())
            .await
            .unwrap(),
        None
    );

    let key = format!("suite:{}", a.id);
    let long_ago = t0() - 1.hour();
    for n in 1..=3 {
        assert_eq!(
            store.throttle_failure(&key, t0(), long_ago).await.unwrap(),
            n
        );
    }
    assert_eq!(
        store.throttle_blocked_until(&[&key], t0()).await.unwrap(),
        None
    );
    store
        .throttle_block(&key, t0() + 60.seconds())
        .await
        .unwrap();
    // A shorter block never shortens a longer one.
    store
        .throttle_block(&key, t0() + 10.seconds())
        .await
        .unwrap();
    assert_eq!(
        store
            .throttle_blocked_until(&["suite:other", &key], t0())
            .await
            .unwrap(),
        Some(t0() + 60.seconds())
    );
    assert_eq!(
        store
            .throttle_blocked_until(&[&key], t0() + 60.seconds())
            .await
            .unwrap(),
        None
    );
    // Failures older than the window are forgotten.
    let later = t0() + 2.hours();
    assert_eq!(
        store
            .throttle_failure(&key, later, t0() + 1.hour())
            .await
            .unwrap(),
        1
    );
    // Concurrent failures are all counted.
    let racers = (0..8).map(|_| store.throttle_failure(&key, later, t0() + 1.hour()));
    let counts = futures::future::join_all(racers).await;
    let mut counts: Vec<u32> = counts.into_iter().map(|c| c.unwrap()).collect();
    counts.sort_unstable();
    assert_eq!(counts, (2..=9).collect::<Vec<u32>>());
    store.throttle_reset(&key).await.unwrap();
    assert_eq!(
        store.throttle_failure(&key, later, long_ago).await.unwrap(),
        1
    );
    assert_eq!(store.throttle_purge(later + 1.seconds()).await.unwrap(), 1);
}

async fn account_settings(store: &dyn Store) {
    let a = new_account(store, Role::Patient).await;
    assert_eq!(
        store.account_settings(&a.id).await.unwrap(),
        AccountSettings::default()
    );
    let chosen = AccountSettings {
        lang: "de".into(),
        email_verified_at: Some(t0()),
        phone_verified_at: Some(t0() + 1.minute()),
        reminders_email: false,
        reminders_sms: true,
        show_motive: true,
        email_pending: false,
    };
    store.put_account_settings(&a.id, &chosen).await.unwrap();
    assert_eq!(store.account_settings(&a.id).await.unwrap(), chosen);
    let changed = AccountSettings {
        phone_verified_at: None,
        reminders_sms: false,
        ..chosen
    };
    store.put_account_settings(&a.id, &changed).await.unwrap();
    assert_eq!(store.account_settings(&a.id).await.unwrap(), changed);
    // The database refuses a language messages cannot be written in.
    let bad = AccountSettings {
        lang: "xx".into(),
        ..AccountSettings::default()
    };
    assert!(store.put_account_settings(&a.id, &bad).await.is_err());
    let missing = store
        .put_account_settings(&AccountId::new(), &AccountSettings::default())
        .await;
    assert!(matches!(missing, Err(StoreError::NotFound)), "{missing:?}");
    // Erasure takes the settings with the account.
    store.erase_account(&a.id, &[]).await.unwrap();
    assert_eq!(
        store.account_settings(&a.id).await.unwrap(),
        AccountSettings::default()
    );
}

/// Issue 14 (reminders on a clock): per-practice delays, defaults when unset, bounded by the
/// database, only for an existing practitioner.
async fn reminder_delays(store: &dyn Store) {
    let f = fixture(store, 30, 1).await;
    let p = &f.practitioner.id;
    assert_eq!(
        store.reminder_delays(p).await.unwrap(),
        ReminderDelays::default()
    );
    let chosen = ReminderDelays {
        email_hours_before: 48,
        sms_hours_before: 0,
    };
    store.put_reminder_delays(p, &chosen, t0()).await.unwrap();
    assert_eq!(store.reminder_delays(p).await.unwrap(), chosen);
    let again = ReminderDelays {
        email_hours_before: 0,
        sms_hours_before: 2,
    };
    store.put_reminder_delays(p, &again, t0()).await.unwrap();
    assert_eq!(store.reminder_delays(p).await.unwrap(), again);
    // The database refuses a delay beyond two weeks, and leaves the row as it was.
    let too_long = ReminderDelays {
        email_hours_before: MAX_REMINDER_HOURS + 1,
        sms_hours_before: 24,
    };
    assert!(store.put_reminder_delays(p, &too_long, t0()).await.is_err());
    assert_eq!(store.reminder_delays(p).await.unwrap(), again);
    let missing = store
        .put_reminder_delays(&PractitionerId::new(), &chosen, t0())
        .await;
    assert!(matches!(missing, Err(StoreError::NotFound)), "{missing:?}");
}

/// Issue 14 (earlier-slot alerts): a cancellation in a watched agenda leaves one freed place;
/// claims are leased; candidates come in subscription order and respect `before`; the offer's
/// hold keeps the place from everyone else; the place is due again when the hold lapses and
/// goes to the next subscriber; booking the hold consumes the alert; erasure removes alerts.
async fn slot_alerts(store: &dyn Store) {
    let f = fixture(store, 30, 1).await;
    let x = new_account(store, Role::Patient).await;
    let start = t0() + 50.hours();
    let lease = jiff::SignedDuration::from_mins(1);
    // Nobody watches the agenda yet: a cancellation leaves nothing to offer.
    let r = store
        .reserve(&reserve_req(&f, &x.id, start, None))
        .await
        .unwrap()
        .reservation;
    store.cancel(&r.id, t0()).await.unwrap();
    assert!(store
        .claim_freed_place(t0(), lease)
        .await
        .unwrap()
        .is_none());

    let (a, b, c) = (
        new_account(store, Role::Patient).await,
        new_account(store, Role::Patient).await,
        new_account(store, Role::Patient).await,
    );
    let alert = |who: &AccountRecord, n: i64, before: Option<Timestamp>| SlotAlert {
        id: format!("alert-{}-{n}", f.agenda.id),
        account_id: who.id.clone(),
        agenda_id: f.agenda.id.clone(),
        motive_ct: fake_ct("alert-motive", who.id.as_str()),
        before,
        created_at: t0() + n.seconds(),
    };
    let (alert_a, alert_b) = (alert(&a, 1, None), alert(&b, 2, None));
    // C only wants places starting before `start`: not this one.
    let alert_c = alert(&c, 3, Some(start));
    for al in [&alert_c, &alert_b, &alert_a] {
        store.create_slot_alert(al).await.unwrap();
    }
    assert_eq!(
        store.slot_alerts_of(&a.id).await.unwrap(),
        vec![alert_a.clone()]
    );

    let r = store
        .reserve(&reserve_req(&f, &x.id, start, None))
        .await
        .unwrap()
        .reservation;
    store.cancel(&r.id, t0()).await.unwrap();
    let place = store
        .claim_freed_place(t0(), lease)
        .await
        .unwrap()
        .expect("a freed place");
    assert_eq!((place.start, place.end), (start, start + 30.minutes()));
    // Leased: another worker gets nothing meanwhile.
    assert!(store
        .claim_freed_place(t0(), lease)
        .await
        .unwrap()
        .is_none());
    let ids = |v: Vec<SlotAlert>| v.into_iter().map(|a| a.id).collect::<Vec<_>>();
    assert_eq!(
        ids(store.slot_alert_candidates(&place).await.unwrap()),
        vec![alert_a.id.clone(), alert_b.id.clone()]
    );

    // Offered to A: the hold keeps the place from everyone else.
    let hold_a = reserve_req(&f, &a.id, start, Some(t0() + 15.minutes()));
    store
        .offer_freed_place(&place, &alert_a.id, &hold_a, &OutboxWrite::default())
        .await
        .unwrap();
    assert!(store
        .reserve(&reserve_req(&f, &x.id, start, None))
        .await
        .is_err());
    let offers = store.slot_offers_of(&a.id, t0()).await.unwrap();
    assert_eq!(offers.len(), 1);
    assert_eq!(offers[0].hold_id, hold_a.id);
    assert_eq!(offers[0].expires_at, t0() + 15.minutes());
    assert!(store.slot_offers_of(&b.id, t0()).await.unwrap().is_empty());

    // Due again only when A's hold lapses; then B is next.
    assert!(store
        .claim_freed_place(t0() + 14.minutes(), lease)
        .await
        .unwrap()
        .is_none());
    let later = t0() + 15.minutes();
    let place = store
        .claim_freed_place(later, lease)
        .await
        .unwrap()
        .expect("due again");
    assert_eq!(
        ids(store.slot_alert_candidates(&place).await.unwrap()),
        vec![alert_b.id.clone()]
    );
    let mut hold_b = reserve_req(&f, &b.id, start, Some(later + 15.minutes()));
    hold_b.now = later;
    store
        .offer_freed_place(&place, &alert_b.id, &hold_b, &OutboxWrite::default())
        .await
        .unwrap();
    assert!(store.slot_offers_of(&a.id, later).await.unwrap().is_empty());

    // Booking B's hold consumes B's alert and forgets the place; A's alert stays.
    store
        .book_hold(&book_hold_req(&hold_b.id, later + 1.minute()))
        .await
        .unwrap();
    assert!(store.slot_alerts_of(&b.id).await.unwrap().is_empty());
    assert_eq!(store.slot_alerts_of(&a.id).await.unwrap().len(), 1);
    assert!(store
        .claim_freed_place(later + 1.hour(), lease)
        .await
        .unwrap()
        .is_none());

    // Only its owner deletes an alert; erasure removes the rest.
    assert!(!store.delete_slot_alert(&b.id, &alert_a.id).await.unwrap());
    assert!(store.delete_slot_alert(&a.id, &alert_a.id).await.unwrap());
    store.erase_account(&c.id, &[]).await.unwrap();
    assert!(store.slot_alerts_of(&c.id).await.unwrap().is_empty());
}
