//! The behaviour suite every backend must pass. Each backend's tests call [`run`] with a
//! fresh store; every case builds its own practitioner and agenda, so cases don't interfere.

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
    listings(&*store).await;
    racing_for_one_slot(store.clone(), 1).await;
    racing_for_one_slot(store.clone(), 3).await;
}

fn t0() -> Timestamp {
    "2030-01-07T08:00:00Z"
        .parse()
        .unwrap_or(Timestamp::UNIX_EPOCH)
}

async fn new_account(store: &dyn Store, role: Role) -> Account {
    let id = AccountId::new();
    store
        .create_account(&NewAccount {
            email: format!("{}@example.test", id.as_str()),
            name: format!("Person {}", &id.as_str()[..8]),
            id,
            role,
            password_hash: "not-a-real-hash".into(),
            created_at: t0(),
        })
        .await
        .expect("create account")
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
    store.create_motive(&motive).await.expect("motive");
    Fixture {
        practitioner,
        agenda,
        motive,
    }
}

fn reserve_req(
    f: &Fixture,
    patient: &AccountId,
    start: Timestamp,
    hold: Option<Timestamp>,
) -> ReserveRequest {
    ReserveRequest {
        id: ReservationId::new(),
        agenda_id: f.agenda.id.clone(),
        motive_id: f.motive.id.clone(),
        patient_id: patient.clone(),
        start,
        hold_until: hold,
        idempotency: None,
        now: t0(),
    }
}

async fn accounts_and_sessions(store: &dyn Store) {
    let a = new_account(store, Role::Patient).await;
    let dup = store
        .create_account(&NewAccount {
            id: AccountId::new(),
            email: a.email.clone(),
            name: "Other".into(),
            role: Role::Patient,
            password_hash: "x".into(),
            created_at: t0(),
        })
        .await;
    assert!(
        matches!(dup, Err(StoreError::Conflict(ConflictKind::EmailTaken))),
        "{dup:?}"
    );
    let found = store
        .account_by_email(&a.email)
        .await
        .unwrap()
        .expect("by email");
    assert_eq!(found.account, a);
    assert_eq!(found.password_hash, "not-a-real-hash");
    assert!(store
        .account_by_email("nobody@example.test")
        .await
        .unwrap()
        .is_none());
    assert_eq!(store.account(&a.id).await.unwrap(), Some(a.clone()));

    store
        .create_session(&NewSession {
            token_hash: format!("hash-{}", a.id),
            account_id: a.id.clone(),
            created_at: t0(),
            expires_at: t0() + 1.hour(),
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
    assert_eq!(snap.motives, vec![f.motive.clone()]);
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
    let r = store
        .book_hold(&BookHoldRequest {
            hold_id: hold.id.clone(),
            patient_id: bob.id.clone(),
            idempotency: None,
            now: t0(),
        })
        .await;
    assert!(matches!(r, Err(StoreError::NotFound)), "{r:?}");
    // After expiry, bob gets the place and alice's hold is dead.
    let mut later = reserve_req(&f, &bob.id, start, None);
    later.now = t0() + 6.minutes();
    store.reserve(&later).await.unwrap();
    let r = store
        .book_hold(&BookHoldRequest {
            hold_id: hold.id.clone(),
            patient_id: alice.id.clone(),
            idempotency: None,
            now: t0() + 6.minutes(),
        })
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
    let booked = store
        .book_hold(&BookHoldRequest {
            hold_id: hold2.id.clone(),
            patient_id: alice.id.clone(),
            idempotency: None,
            now: t0() + 1.minutes(),
        })
        .await
        .unwrap()
        .reservation;
    assert_eq!(booked.id, hold2.id);
    assert_eq!(booked.status, ReservationStatus::Booked);
    assert_eq!(booked.expires_at, None);
    let again = store
        .book_hold(&BookHoldRequest {
            hold_id: hold2.id.clone(),
            patient_id: alice.id.clone(),
            idempotency: None,
            now: t0() + 1.minutes(),
        })
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
    let idem = Idempotency {
        key: "retry-1".into(),
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
        key: "retry-1".into(),
        request_hash: "h2".into(),
    });
    assert!(matches!(
        store.reserve(&other).await,
        Err(StoreError::IdempotencyMismatch)
    ));
    let (hash, row) = store
        .find_idempotent(&alice.id, "retry-1")
        .await
        .unwrap()
        .expect("recorded");
    assert_eq!((hash.as_str(), &row.id), ("h1", &first.reservation.id));
    assert!(store
        .find_idempotent(&alice.id, "never-used")
        .await
        .unwrap()
        .is_none());
    // Keys are per account.
    let bob = new_account(store, Role::Patient).await;
    let mut bobs = reserve_req(&f, &bob.id, start + 1.hour(), None);
    bobs.idempotency = Some(idem);
    assert!(!store.reserve(&bobs).await.unwrap().replayed);
    assert_eq!(
        store.patient_appointments(&alice.id).await.unwrap().len(),
        1
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
        .move_reservation(&a.id, start + 45.minutes(), t0())
        .await;
    assert!(
        matches!(r, Err(StoreError::Conflict(ConflictKind::SlotTaken))),
        "{r:?}"
    );
    assert_eq!(store.reservation(&a.id).await.unwrap(), Some(a.clone()));
    // Overlapping its own old time is fine.
    let moved = store
        .move_reservation(&a.id, start + 15.minutes(), t0())
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
    let r = store.move_reservation(&b.id, start + 3.hours(), t0()).await;
    assert!(
        matches!(r, Err(StoreError::Conflict(ConflictKind::NotLive))),
        "{r:?}"
    );
    assert!(matches!(
        store
            .move_reservation(&ReservationId::new(), start, t0())
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
        .move_reservation(&p1.id, start + 10.minutes(), t0())
        .await;
    assert!(
        matches!(
            r,
            Err(StoreError::Conflict(ConflictKind::CapacityExhausted))
        ),
        "{r:?}"
    );
    store
        .move_reservation(&p1.id, start + 20.minutes(), t0())
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
    assert!(!store
        .is_known_patient(&alice.id, &f.practitioner.id)
        .await
        .unwrap());
    let a = store
        .reserve(&reserve_req(&f, &alice.id, start, None))
        .await
        .unwrap()
        .reservation;
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
    assert!(store
        .is_known_patient(&alice.id, &f.practitioner.id)
        .await
        .unwrap());
    let mine = store.patient_appointments(&alice.id).await.unwrap();
    assert_eq!(
        mine.iter().map(|r| r.id.clone()).collect::<Vec<_>>(),
        vec![a.id.clone()],
        "holds are not appointments"
    );
    let day = store
        .agenda_appointments(&f.agenda.id, start - 1.hour(), start + 24.hours())
        .await
        .unwrap();
    assert_eq!(day.len(), 1);
    assert_eq!(day[0].reservation.id, a.id);
    assert_eq!(day[0].patient_name.as_deref(), Some(alice.name.as_str()));
    assert!(store
        .agenda_appointments(&f.agenda.id, start + 1.minutes(), start + 24.hours())
        .await
        .unwrap()
        .is_empty());
    let _ = h;
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
