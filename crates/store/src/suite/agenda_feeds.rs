//! Agenda feeds (issue 18 point 6): at most one per agenda, found by its token's hash;
//! rotation replaces the hash (the old one finds nothing) and keeps nothing else but what
//! it is given; the names flag changes alone; deletion revokes. The feed's appointments carry
//! the instant of their last change, which a move and a cancellation raise.

use super::*;

pub(super) async fn agenda_feeds(store: &dyn Store) {
    let f = fixture(store, 30, 1).await;
    let other = fixture(store, 30, 1).await;
    let agenda = f.agenda.id.clone();
    assert_eq!(store.agenda_feed(&agenda).await.unwrap(), None);
    assert!(!store.set_agenda_feed_names(&agenda, true).await.unwrap());
    assert!(!store.delete_agenda_feed(&agenda).await.unwrap());

    let first = AgendaFeed {
        agenda_id: agenda.clone(),
        nonce: "n1".into(),
        token_hash: format!("h1-{agenda}"),
        show_patient_names: false,
        created_at: t0(),
    };
    store.put_agenda_feed(&first).await.unwrap();
    assert_eq!(
        store.agenda_feed(&agenda).await.unwrap(),
        Some(first.clone())
    );
    assert_eq!(
        store.agenda_feed_by_hash(&first.token_hash).await.unwrap(),
        Some(first.clone())
    );
    assert_eq!(store.agenda_feed(&other.agenda.id).await.unwrap(), None);

    // Names on: nothing else changes.
    assert!(store.set_agenda_feed_names(&agenda, true).await.unwrap());
    let named = store.agenda_feed(&agenda).await.unwrap().unwrap();
    assert_eq!(
        named,
        AgendaFeed {
            show_patient_names: true,
            ..first.clone()
        }
    );

    // Rotation: the old hash opens nothing, the new one the same agenda.
    let rotated = AgendaFeed {
        agenda_id: agenda.clone(),
        nonce: "n2".into(),
        token_hash: format!("h2-{agenda}"),
        show_patient_names: true,
        created_at: t0() + 1.hours(),
    };
    store.put_agenda_feed(&rotated).await.unwrap();
    assert_eq!(
        store.agenda_feed_by_hash(&first.token_hash).await.unwrap(),
        None
    );
    assert_eq!(
        store
            .agenda_feed_by_hash(&rotated.token_hash)
            .await
            .unwrap(),
        Some(rotated.clone())
    );
    assert_eq!(
        store.agenda_feed(&agenda).await.unwrap(),
        Some(rotated.clone())
    );

    // Two agendas cannot share a token hash.
    let clash = AgendaFeed {
        agenda_id: other.agenda.id.clone(),
        ..rotated.clone()
    };
    assert!(store.put_agenda_feed(&clash).await.is_err());

    // The feed's appointments: booked, moved (its last change raised), cancelled (kept,
    // marked), holds left out.
    let alice = new_account(store, Role::Patient).await;
    let start = t0() + 72.hours();
    let booked_at = t0() + 1.hours();
    let mut req = reserve_req(&f, &alice.id, start, None);
    req.now = booked_at;
    let a = store.reserve(&req).await.unwrap().reservation;
    let b = store
        .reserve(&reserve_req(&f, &alice.id, start + 2.hours(), None))
        .await
        .unwrap()
        .reservation;
    store
        .reserve(&reserve_req(
            &f,
            &alice.id,
            start + 4.hours(),
            Some(t0() + 100.hours()),
        ))
        .await
        .unwrap();
    let window = (t0(), t0() + 200.hours());
    let rows = store
        .agenda_feed_appointments(&agenda, window.0, window.1)
        .await
        .unwrap();
    assert_eq!(rows.len(), 2, "{rows:?}");
    let changed = |rows: &[(ReservationRow, Timestamp)], id: &ReservationId| {
        rows.iter()
            .find(|(r, _)| &r.id == id)
            .map(|(r, at)| (r.clone(), *at))
            .unwrap()
    };
    let (_, a_changed) = changed(&rows, &a.id);
    let moved_at = t0() + 2.hours();
    store
        .move_reservation(&a.id, &f.motive.id, start + 30.minutes(), moved_at)
        .await
        .unwrap();
    store.cancel(&b.id, t0() + 3.hours()).await.unwrap();
    let rows = store
        .agenda_feed_appointments(&agenda, window.0, window.1)
        .await
        .unwrap();
    assert_eq!(rows.len(), 2, "{rows:?}");
    let (row, at) = changed(&rows, &a.id);
    assert_eq!((row.start, at), (start + 30.minutes(), moved_at));
    assert!(at > a_changed);
    let (row, at) = changed(&rows, &b.id);
    assert_eq!(
        (row.status, at),
        (ReservationStatus::Cancelled, t0() + 3.hours())
    );
    // Outside the window: nothing.
    assert!(store
        .agenda_feed_appointments(&agenda, window.1, window.1 + 10.hours())
        .await
        .unwrap()
        .is_empty());

    // Revoked: gone, and a second revocation finds nothing.
    assert!(store.delete_agenda_feed(&agenda).await.unwrap());
    assert_eq!(store.agenda_feed(&agenda).await.unwrap(), None);
    assert_eq!(
        store
            .agenda_feed_by_hash(&rotated.token_hash)
            .await
            .unwrap(),
        None
    );
    assert!(!store.delete_agenda_feed(&agenda).await.unwrap());
}
