//! Visit statuses (issue 18, point 3): a booked appointment goes arrived → in consultation →
//! done, each with its time; an undo clears the later steps; nothing but a booked
//! appointment takes a step; an arrived patient is neither a no-show nor cancelled; every
//! change lands in the status trail with its author.

use super::*;

pub(super) async fn visit_steps(store: &dyn Store) {
    let f = fixture(store, 30, 1).await;
    let desk = new_account(store, Role::Practitioner).await;
    let alice = new_account(store, Role::Patient).await;
    let bob = new_account(store, Role::Patient).await;
    let start = t0() + 48.hours();
    let a = store
        .reserve(&reserve_req(&f, &alice.id, start, None))
        .await
        .unwrap()
        .reservation;
    assert_eq!(a.visit_step(), VisitStep::Booked);
    assert_eq!(a.visit_step_at(), None);

    let t1 = start - 5.minutes();
    let arrived = store
        .set_visit_step(&a.id, VisitStep::Arrived, &desk.id, t1)
        .await
        .unwrap()
        .expect("booked");
    assert_eq!(
        (arrived.status, arrived.visit_step(), arrived.arrived_at),
        (ReservationStatus::Booked, VisitStep::Arrived, Some(t1))
    );
    assert_eq!(
        store.reservation(&a.id).await.unwrap(),
        Some(arrived.clone())
    );

    // An arrived patient is no no-show, and the practice cannot cancel the visit under way.
    assert!(store.set_no_show(&a.id, true, t1).await.unwrap().is_none());
    assert!(store.cancel(&a.id, t1).await.unwrap().is_none());
    assert_eq!(
        store.reservation(&a.id).await.unwrap().map(|r| r.status),
        Some(ReservationStatus::Booked)
    );

    let t2 = start + 2.minutes();
    let t3 = start + 25.minutes();
    store
        .set_visit_step(&a.id, VisitStep::InConsultation, &desk.id, t2)
        .await
        .unwrap()
        .expect("booked");
    let done = store
        .set_visit_step(&a.id, VisitStep::Done, &desk.id, t3)
        .await
        .unwrap()
        .expect("booked");
    assert_eq!(
        (done.visit_step(), done.visit_step_at()),
        (VisitStep::Done, Some(t3))
    );
    assert_eq!(
        (done.arrived_at, done.consulting_at, done.done_at),
        (Some(t1), Some(t2), Some(t3)),
        "each step keeps its own time"
    );
    // Setting a step again keeps its first time.
    let again = store
        .set_visit_step(&a.id, VisitStep::Done, &desk.id, t3 + 1.minutes())
        .await
        .unwrap()
        .expect("booked");
    assert_eq!(again.done_at, Some(t3));

    // Undo of a mistaken "done": back in consultation since t2, done cleared.
    let undone = store
        .set_visit_step(&a.id, VisitStep::InConsultation, &desk.id, t3 + 2.minutes())
        .await
        .unwrap()
        .expect("booked");
    assert_eq!(
        (undone.visit_step(), undone.visit_step_at(), undone.done_at),
        (VisitStep::InConsultation, Some(t2), None)
    );
    let back = store
        .set_visit_step(&a.id, VisitStep::Booked, &desk.id, t3 + 3.minutes())
        .await
        .unwrap()
        .expect("booked");
    assert_eq!(
        (back.arrived_at, back.consulting_at, back.done_at),
        (None, None, None)
    );
    // Back to booked, the appointment may be missed (and that time is kept) or cancelled.
    let missed = store
        .set_no_show_by(
            &a.id,
            true,
            Some(&desk.id),
            t3 + 4.minutes(),
            &OutboxWrite::default(),
        )
        .await
        .unwrap()
        .expect("booked");
    assert_eq!(
        (missed.status, missed.visit_step_at()),
        (ReservationStatus::NoShow, Some(t3 + 4.minutes()))
    );
    // No visit step on a no-show; undone, its time goes.
    assert!(store
        .set_visit_step(&a.id, VisitStep::Arrived, &desk.id, t3)
        .await
        .unwrap()
        .is_none());
    let rebooked = store
        .set_no_show_by(
            &a.id,
            false,
            Some(&desk.id),
            t3 + 5.minutes(),
            &OutboxWrite::default(),
        )
        .await
        .unwrap()
        .expect("a no-show");
    assert_eq!(
        (rebooked.status, rebooked.no_show_at),
        (ReservationStatus::Booked, None)
    );

    // The trail: every change, in order, with its author.
    let trail = store.visit_status_log(&a.id).await.unwrap();
    assert_eq!(
        trail
            .iter()
            .map(|e| (e.status.as_str(), e.at))
            .collect::<Vec<_>>(),
        vec![
            ("arrived", t1),
            ("in_consultation", t2),
            ("done", t3),
            ("done", t3 + 1.minutes()),
            ("in_consultation", t3 + 2.minutes()),
            ("booked", t3 + 3.minutes()),
            ("no_show", t3 + 4.minutes()),
            ("booked", t3 + 5.minutes()),
        ]
    );
    assert!(trail.iter().all(|e| e.by.as_ref() == Some(&desk.id)));

    // Nothing but a booked appointment takes a step: cancelled, held, unknown.
    let b = store
        .reserve(&reserve_req(&f, &bob.id, start + 2.hours(), None))
        .await
        .unwrap()
        .reservation;
    store.cancel(&b.id, t0()).await.unwrap().expect("cancelled");
    for step in [VisitStep::Arrived, VisitStep::Done, VisitStep::Booked] {
        assert!(store
            .set_visit_step(&b.id, step, &desk.id, t0())
            .await
            .unwrap()
            .is_none());
    }
    let held = store
        .reserve(&reserve_req(
            &f,
            &bob.id,
            start + 3.hours(),
            Some(t0() + 5.minutes()),
        ))
        .await
        .unwrap()
        .reservation;
    assert!(store
        .set_visit_step(&held.id, VisitStep::Done, &desk.id, t0())
        .await
        .unwrap()
        .is_none());
    assert!(store
        .set_visit_step(&ReservationId::new(), VisitStep::Done, &desk.id, t0())
        .await
        .unwrap()
        .is_none());
    assert!(store.visit_status_log(&b.id).await.unwrap().is_empty());
}
