//! Confirmation batches (issue 14): a group commit queues its bookings' confirmations as one
//! row. Each confirmation reads back as the message it stands for (stable id and key, its
//! appointment and start); erasure takes a patient's out of the batch; two claimers never get
//! the same batch; settling deletes the batch and queues, as ordinary messages, only the
//! confirmations that failed, with their attempts and error.

use super::*;

pub(super) async fn confirmation_batches(store: Arc<dyn Store>) {
    let f = fixture(&*store, 30, 1).await;
    // Far in the past of every other case's rows: only this case's batches are due.
    let now: Timestamp = "2003-01-01T00:00:00Z".parse().unwrap();
    let lease = jiff::SignedDuration::from_secs(300);
    let before = store.outbox_depth(now).await.unwrap();
    let mut patients = Vec::new();
    let mut bookings = Vec::new();
    let mut message_ids = Vec::new();
    for i in 0..6 {
        let p = new_account(&*store, Role::Patient).await;
        let start = t0() + (300 + i).hours();
        let mut req = reserve_req(&f, &p.id, start, None);
        req.now = now;
        req.outbox = queue(vec![NewOutboxMessage::intent(
            IntentKind::Confirmation,
            p.id.clone(),
            req.id.clone(),
            start,
            confirmation_key(&req.id),
            now,
            now,
        )]);
        message_ids.push(req.outbox.enqueue[0].id.clone());
        patients.push(p);
        bookings.push(req);
    }
    // Booked at once: the group commit may put several in one batch.
    let booked = futures::future::join_all(bookings.iter().map(|r| store.reserve(r))).await;
    let booked: Vec<ReservationRow> = booked
        .into_iter()
        .map(|b| b.expect("booking").reservation)
        .collect();
    for ((p, r), message) in patients.iter().zip(&booked).zip(&message_ids) {
        let queued = store.outbox_of(&p.id).await.unwrap();
        assert_eq!(queued.len(), 1, "{queued:?}");
        let q = &queued[0];
        assert!(
            q.batch.is_some(),
            "a booking's confirmation rides in a batch"
        );
        assert_eq!(
            &q.id, message,
            "the message keeps the id it was queued with"
        );
        assert_eq!(q.dedupe_key, confirmation_key(&r.id));
        assert_eq!(q.channel, OutboxChannel::Email);
        assert_eq!(
            q.payload,
            OutboxPayload::Intent(MessageIntent {
                kind: IntentKind::Confirmation,
                reservation_id: r.id.clone(),
                start: r.start,
                previous_start: None,
            })
        );
    }
    let queued = store.outbox_depth(now).await.unwrap();
    assert_eq!(queued.queued - before.queued, 6);
    assert_eq!(queued.due - before.due, 6);

    // Erasure takes the patient's confirmation out of its batch, and only theirs.
    let (erased, erased_booking) = (&patients[1], &booked[1]);
    store
        .erase_account(&erased.id, std::slice::from_ref(&erased_booking.id))
        .await
        .unwrap();
    assert!(store.outbox_of(&erased.id).await.unwrap().is_empty());
    assert_eq!(store.outbox_of(&patients[0].id).await.unwrap().len(), 1);
    assert_eq!(
        store.outbox_depth(now).await.unwrap().queued - before.queued,
        5
    );

    // Two claimers, one batch at a time each: every confirmation claimed once.
    let claimer = |store: Arc<dyn Store>| async move {
        let mut mine = Vec::new();
        loop {
            let rows = store.claim_due(now, lease, 1).await.unwrap();
            if rows.is_empty() {
                return mine;
            }
            mine.extend(rows);
        }
    };
    let (a, b) = tokio::join!(
        tokio::spawn(claimer(store.clone())),
        tokio::spawn(claimer(store.clone()))
    );
    // (Only batches are this case's: an ordinary row left due by another case is not.)
    let claimed: Vec<OutboxRow> = a
        .unwrap()
        .into_iter()
        .chain(b.unwrap())
        .filter(|r| r.batch.is_some())
        .collect();
    let mut ids: Vec<&str> = claimed.iter().map(|r| r.id.as_str()).collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), claimed.len(), "a confirmation was claimed twice");
    assert_eq!(claimed.len(), 5);
    assert!(claimed
        .iter()
        .all(|r| r.attempts == 1 && r.locked_until.is_some()));
    assert!(claimed.iter().all(|r| r.account_id != erased.id));
    // Leased: nothing more to claim while the lease runs.
    assert!(store.claim_due(now, lease, 100).await.unwrap().is_empty());

    // The first patient's failed for now; every other one went.
    let failed = claimed
        .iter()
        .find(|r| r.account_id == patients[0].id)
        .expect("claimed");
    let retry_at = now + 1.minutes();
    let mut batches: Vec<&str> = claimed.iter().filter_map(|r| r.batch.as_deref()).collect();
    batches.sort_unstable();
    batches.dedup();
    for batch in batches {
        let requeue: Vec<OutboxRow> = claimed
            .iter()
            .filter(|r| r.batch.as_deref() == Some(batch) && r.id == failed.id)
            .map(|r| OutboxRow {
                available_at: retry_at,
                locked_until: None,
                last_error: Some("transient: connection refused".into()),
                batch: None,
                ..r.clone()
            })
            .collect();
        store.settle_batch(batch, &requeue).await.unwrap();
    }
    for p in &patients[2..] {
        assert!(store.outbox_of(&p.id).await.unwrap().is_empty());
    }
    let left = store.outbox_of(&patients[0].id).await.unwrap();
    assert_eq!(left.len(), 1);
    assert_eq!(left[0].batch, None);
    assert_eq!(
        left[0].id, failed.id,
        "the same message id on the next attempt"
    );
    assert_eq!(left[0].attempts, 1);
    assert_eq!(left[0].available_at, retry_at);
    assert_eq!(
        left[0].last_error.as_deref(),
        Some("transient: connection refused")
    );
    // Due again at its time, as an ordinary message.
    assert!(store.claim_due(now, lease, 100).await.unwrap().is_empty());
    let again = store.claim_due(retry_at, lease, 100).await.unwrap();
    let again: Vec<&OutboxRow> = again.iter().filter(|r| r.id == failed.id).collect();
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].attempts, 2);
    assert!(store.complete_message(&failed.id).await.unwrap());
    assert_eq!(store.outbox_depth(now).await.unwrap(), before);
}
