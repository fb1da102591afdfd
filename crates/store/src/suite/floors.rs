//! Slot floors (issue #17 point 3): a floor is kept only under the version its snapshot
//! was read with; the database's triggers bump that version on every change that may free a
//! slot (lowering the floor by a day for a cancelled, moved or deleted booking, making it
//! unknown for the rest), and leave it alone for bookings and holds, which only take slots.

use super::*;

async fn version(store: &dyn Store, agenda: &AgendaId) -> i64 {
    let one = store
        .agenda_snapshot(agenda, t0())
        .await
        .expect("snapshot")
        .expect("agenda")
        .floor_version;
    let bulk = store
        .agenda_snapshots(None, usize::MAX, t0())
        .await
        .expect("snapshots")
        .into_iter()
        .find(|s| &s.agenda.id == agenda)
        .expect("the agenda is in the bulk read")
        .floor_version;
    assert_eq!(one, bulk, "one snapshot and the bulk read agree");
    one
}

async fn floor(store: &dyn Store, agenda: &AgendaId) -> Option<SlotFloor> {
    store
        .slot_floors()
        .await
        .expect("floors")
        .into_iter()
        .find(|(a, _)| a == agenda)
        .map(|(_, f)| f)
}

async fn keep(store: &dyn Store, agenda: &AgendaId, floor_s: i64, version: i64) -> u64 {
    store
        .keep_slot_floors(&[(agenda.clone(), SlotFloor { floor_s, version })])
        .await
        .expect("keep floors")
}

pub(super) async fn slot_floors(store: &dyn Store) {
    let f = fixture(store, 20, 1).await;
    let other = fixture(store, 20, 1).await;
    let a = &f.agenda.id;
    let patient = new_account(store, Role::Patient).await;
    assert_eq!(floor(store, a).await, None, "no floor before one is kept");

    // Kept under the version read, not under another one; several in one statement.
    let v = version(store, a).await;
    let at = (t0() + 48.hours()).as_second();
    assert_eq!(
        keep(store, a, at, v + 1).await,
        0,
        "a version not read keeps nothing"
    );
    assert_eq!(floor(store, a).await, None);
    let both = [
        (
            a.clone(),
            SlotFloor {
                floor_s: at,
                version: v,
            },
        ),
        (
            other.agenda.id.clone(),
            SlotFloor {
                floor_s: at + 60,
                version: version(store, &other.agenda.id).await,
            },
        ),
    ];
    assert_eq!(store.keep_slot_floors(&both).await.expect("keep"), 2);
    assert_eq!(
        floor(store, a).await,
        Some(SlotFloor {
            floor_s: at,
            version: v
        })
    );
    assert_eq!(
        floor(store, &other.agenda.id).await.map(|f| f.floor_s),
        Some(at + 60)
    );
    // A later floor under the same version replaces it.
    assert_eq!(keep(store, a, at + 900, v).await, 1);
    assert_eq!(floor(store, a).await.map(|x| x.floor_s), Some(at + 900));

    // Bookings and holds take slots: the version stays, and so does the floor.
    let start = t0() + 72.hours();
    let booked = store
        .reserve(&reserve_req(&f, &patient.id, start, None))
        .await
        .expect("booking")
        .reservation;
    let hold = store
        .reserve(&reserve_req(
            &f,
            &patient.id,
            start + 1.hours(),
            Some(t0() + 10.minutes()),
        ))
        .await
        .expect("hold")
        .reservation;
    store
        .book_hold(&book_hold_req(&hold.id, t0()))
        .await
        .expect("confirmed");
    let absence = Absence::parse(
        AbsenceId::new(),
        a.clone(),
        t0() + 200.hours(),
        t0() + 210.hours(),
    )
    .expect("absence");
    store
        .create_absence_with(&absence, None, &[], t0(), &OutboxWrite::default())
        .await
        .expect("absence");
    assert_eq!(
        version(store, a).await,
        v,
        "bookings, holds, absences added"
    );
    assert_eq!(floor(store, a).await.map(|x| x.floor_s), Some(at + 900));

    // A cancelled booking may free slots that overlap it: the floor falls to a day before
    // its start, the version moves, and a floor from the old snapshot is refused.
    store.cancel(&booked.id, t0()).await.expect("cancel");
    let v2 = version(store, a).await;
    assert!(v2 > v, "a cancellation moves the version");
    let lowered = (at + 900).min(start.as_second() - 86_400);
    assert_eq!(floor(store, a).await.map(|x| x.floor_s), Some(lowered));
    assert_eq!(keep(store, a, at + 1800, v).await, 0, "stale snapshot");
    assert_eq!(floor(store, a).await.map(|x| x.floor_s), Some(lowered));
    assert_eq!(
        floor(store, &other.agenda.id).await.map(|f| f.floor_s),
        Some(at + 60),
        "other agendas keep theirs"
    );

    // A moved booking frees its old time too.
    assert_eq!(keep(store, a, at + 1800, v2).await, 1);
    let second = store
        .reserve(&reserve_req(&f, &patient.id, start + 3.hours(), None))
        .await
        .expect("booking")
        .reservation;
    store
        .move_reservation(&second.id, &f.motive.id, start + 5.hours(), t0())
        .await
        .expect("move");
    let v3 = version(store, a).await;
    assert!(v3 > v2, "a move moves the version");
    assert_eq!(
        floor(store, a).await.map(|x| x.floor_s),
        Some((at + 1800).min((start + 3.hours()).as_second() - 86_400))
    );

    // Anything else that shapes the slots makes the floor unknown.
    assert_eq!(keep(store, a, at, v3).await, 1);
    assert!(store.delete_absence(a, &absence.id).await.expect("delete"));
    let v4 = version(store, a).await;
    assert!(v4 > v3);
    assert_eq!(floor(store, a).await, None, "an absence lifted");
    assert_eq!(keep(store, a, at, v4).await, 1);
    let rule = OpeningRule::parse(
        RuleId::new(),
        a.clone(),
        WeekdaySet::parse(&[1, 2, 3]).expect("weekdays"),
        jiff::civil::time(9, 0, 0, 0),
        jiff::civil::time(12, 0, 0, 0),
        vec![f.motive.id.clone()],
        None,
        None,
    )
    .expect("rule");
    store.create_rule(&rule).await.expect("rule");
    assert!(version(store, a).await > v4);
    assert_eq!(floor(store, a).await, None, "a new opening rule");
    assert_eq!(
        floor(store, &other.agenda.id).await.map(|f| f.floor_s),
        Some(at + 60),
        "other agendas keep theirs"
    );
}
