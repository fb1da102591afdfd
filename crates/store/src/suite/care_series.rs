//! Recurring care (issue 18, point 5): a series is booked all or none through the overlap
//! rule (a taken date names itself and leaves nothing behind, message included); cancelling
//! the series leaves past occurrences alone; one occurrence moved or cancelled stays in
//! the series and the others are untouched.

use super::*;

fn series_req(
    f: &Fixture,
    by: &AccountId,
    patient: &AccountId,
    starts: &[Timestamp],
) -> CareSeriesRequest {
    CareSeriesRequest {
        id: uuid::Uuid::now_v7().to_string(),
        agenda_id: f.agenda.id.clone(),
        created_by: by.clone(),
        rule: "weekly:1:tue,thu:count=4".into(),
        occurrences: starts
            .iter()
            .map(|s| reserve_req(f, patient, *s, None))
            .collect(),
        now: t0(),
        outbox: queue(vec![outbox_message(
            patient,
            &format!("series:{}", uuid::Uuid::now_v7()),
            t0(),
        )]),
    }
}

pub(super) async fn care_series(store: &dyn Store) {
    let f = fixture(store, 30, 1).await;
    let desk = new_account(store, Role::Practitioner).await;
    let alice = new_account(store, Role::Patient).await;
    let bob = new_account(store, Role::Patient).await;
    // Tuesday and Thursday of two weeks.
    let starts: Vec<Timestamp> = [24, 72, 192, 240]
        .iter()
        .map(|h| t0() + (*h as i64).hours())
        .collect();

    // Bob holds the third date: the whole series is refused, naming that date only.
    store
        .reserve(&reserve_req(&f, &bob.id, starts[2] + 15.minutes(), None))
        .await
        .unwrap();
    let refused = series_req(&f, &desk.id, &alice.id, &starts);
    match store.book_care_series(&refused).await.unwrap() {
        CareSeriesOutcome::Conflicts(c) => assert_eq!(c, vec![2]),
        other => panic!("expected conflicts, got {other:?}"),
    }
    assert!(store.care_series(&refused.id).await.unwrap().is_none());
    for o in &refused.occurrences {
        assert!(
            store.reservation(&o.id).await.unwrap().is_none(),
            "nothing left behind"
        );
    }
    assert!(
        store.outbox_of(&alice.id).await.unwrap().is_empty(),
        "a refused series sends nothing"
    );

    // Skipping that date, the series books, with its one message.
    let kept = [starts[0], starts[1], starts[3]];
    let req = series_req(&f, &desk.id, &alice.id, &kept);
    let rows = match store.book_care_series(&req).await.unwrap() {
        CareSeriesOutcome::Booked(rows) => rows,
        other => panic!("expected a booked series, got {other:?}"),
    };
    assert_eq!(rows.len(), 3);
    assert!(rows.iter().all(|r| r.status == ReservationStatus::Booked));
    assert_eq!(store.outbox_of(&alice.id).await.unwrap().len(), 1);
    let series = store.care_series(&req.id).await.unwrap().expect("series");
    assert_eq!(
        (
            series.agenda_id.clone(),
            series.created_by.clone(),
            series.rule.as_str()
        ),
        (
            f.agenda.id.clone(),
            desk.id.clone(),
            "weekly:1:tue,thu:count=4"
        )
    );
    assert_eq!(
        series
            .occurrences
            .iter()
            .map(|r| r.start)
            .collect::<Vec<_>>(),
        kept.to_vec()
    );
    assert_eq!(
        store
            .care_series_of(&rows[1].id)
            .await
            .unwrap()
            .map(|s| s.id),
        Some(req.id.clone())
    );
    // The overlap rule still holds against a series' occurrence.
    assert!(matches!(
        store
            .reserve(&reserve_req(&f, &bob.id, kept[0], None))
            .await,
        Err(StoreError::Conflict(ConflictKind::SlotTaken))
    ));

    // One occurrence moved stays in the series; the others keep their times.
    let moved_to = kept[1] + 2.hours();
    let moved = store
        .move_reservation(&rows[1].id, &f.motive.id, moved_to, t0())
        .await
        .unwrap();
    assert_eq!(moved.start, moved_to);
    let series = store.care_series(&req.id).await.unwrap().expect("series");
    assert_eq!(
        series
            .occurrences
            .iter()
            .map(|r| r.start)
            .collect::<Vec<_>>(),
        vec![kept[0], moved_to, kept[2]]
    );

    // One cancelled stays in the series, cancelled.
    store
        .cancel(&rows[2].id, t0())
        .await
        .unwrap()
        .expect("live");
    let series = store.care_series(&req.id).await.unwrap().expect("series");
    assert_eq!(
        series
            .occurrences
            .iter()
            .map(|r| r.status)
            .collect::<Vec<_>>(),
        vec![
            ReservationStatus::Booked,
            ReservationStatus::Booked,
            ReservationStatus::Cancelled
        ]
    );

    // Cancelling the series once the first occurrence is past leaves that one booked.
    let now = kept[0] + 1.hours();
    let cancelled = store
        .cancel_care_series(&req.id, kept[0], now, &OutboxWrite::default())
        .await
        .unwrap();
    assert_eq!(
        cancelled.iter().map(|r| r.id.clone()).collect::<Vec<_>>(),
        vec![rows[1].id.clone()]
    );
    let series = store.care_series(&req.id).await.unwrap().expect("series");
    assert_eq!(
        series
            .occurrences
            .iter()
            .map(|r| r.status)
            .collect::<Vec<_>>(),
        vec![
            ReservationStatus::Booked,
            ReservationStatus::Cancelled,
            ReservationStatus::Cancelled
        ]
    );
    // The freed time is free again.
    store
        .reserve(&reserve_req(&f, &bob.id, moved_to, None))
        .await
        .expect("freed by the series' cancellation");
    assert!(matches!(
        store
            .cancel_care_series("no-such-series", t0(), t0(), &OutboxWrite::default())
            .await,
        Err(StoreError::NotFound)
    ));
}
