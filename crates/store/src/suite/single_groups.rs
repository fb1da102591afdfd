//! Single holds and bookings sent at once, so that the writer commits them in shared groups
//! (on PostgreSQL one call of `careslot_reserve_group`, migration 0073): each request's
//! outcome is its own, as if it had been sent alone.

use super::*;

/// Free places are booked or held; of two requests racing for one place exactly one wins and
/// the loser's key is not recorded; the same request twice at once books once and the other
/// answers the same reservation; the same key with another request is refused; a pooled
/// place gives only its capacity; an unknown motive is not found; a hold past its expiry is
/// swept by the booking of its place.
pub async fn singles_in_groups(store: Arc<dyn Store>) {
    let s = &*store;
    let f = fixture(s, 15, 1).await;
    let pooled = fixture(s, 15, 2).await;
    let day = t0() + (6 * 24).hours();
    let mut patients = Vec::new();
    for _ in 0..12 {
        patients.push(new_account(s, Role::Patient).await.id);
    }
    let key = |p: &AccountId, request: &str| {
        Some(Idempotency {
            key_hash: format!("single-group-{p}"),
            request_hash: request.into(),
        })
    };
    // A hold that lapses before the group runs, on the place of request 11.
    let lapsed_at = day + 10.hours();
    let lapsed = s
        .reserve(&reserve_req(
            &f,
            &patients[11],
            lapsed_at,
            Some(t0() + 1.minutes()),
        ))
        .await
        .expect("hold")
        .reservation;

    let mut reqs = Vec::new();
    // 0–3: places of their own, 3 held, 0 under a key.
    for (i, p) in patients.iter().take(4).enumerate() {
        let hold = (i == 3).then(|| t0() + 10.minutes());
        let mut r = reserve_req(&f, p, day + (i as i64).hours(), hold);
        if i == 0 {
            r.idempotency = key(p, "h0");
        }
        reqs.push(r);
    }
    // 4, 5: two patients for one place, under their own keys.
    for p in &patients[4..6] {
        let mut r = reserve_req(&f, p, day + 5.hours(), None);
        r.idempotency = key(p, "race");
        reqs.push(r);
    }
    // 6: request 0 again (same key and request, a new id).
    let mut twin = reqs[0].clone();
    twin.id = ReservationId::new();
    reqs.push(twin);
    // 7: request 0's key with another request.
    let mut other = reserve_req(&f, &patients[0], day + 7.hours(), None);
    other.idempotency = key(&patients[0], "another");
    reqs.push(other);
    // 8–10: three patients for a pooled place of two.
    for p in &patients[7..10] {
        reqs.push(reserve_req(&pooled, p, day + 8.hours(), None));
    }
    // 11: a motive of no agenda of this practitioner.
    let mut unknown = reserve_req(&f, &patients[10], day + 9.hours(), None);
    unknown.motive_id = MotiveId::new();
    reqs.push(unknown);
    // 12: the lapsed hold's place, booked after its expiry.
    let mut sweep = reserve_req(&f, &patients[11], lapsed_at, None);
    sweep.now = t0() + 2.minutes();
    reqs.push(sweep);

    let out = futures::future::join_all(reqs.iter().map(|r| s.reserve(r))).await;

    for i in 1..4 {
        let o = out[i].as_ref().expect("a free place");
        assert!(!o.replayed);
        assert_eq!(o.reservation.id, reqs[i].id);
        let status = if i == 3 {
            ReservationStatus::Held
        } else {
            ReservationStatus::Booked
        };
        assert_eq!(o.reservation.status, status);
        assert_eq!(o.reservation.start, reqs[i].start);
        assert_eq!(o.reservation.end, reqs[i].start + 15.minutes());
    }
    // The race: one winner; the loser's key is not recorded.
    let (a, b) = (&out[4], &out[5]);
    assert!(a.is_ok() != b.is_ok(), "one wins: {a:?} {b:?}");
    for (r, p) in [(a, &patients[4]), (b, &patients[5])] {
        if let Err(e) = r {
            assert!(
                matches!(e, StoreError::Conflict(ConflictKind::SlotTaken)),
                "{e:?}"
            );
        }
        let recorded = s
            .find_idempotent(&format!("single-group-{p}"))
            .await
            .expect("read");
        assert_eq!(recorded.is_some(), r.is_ok());
    }
    // Request 0, its twin and the other request under its key: one reservation made (by
    // whichever the writer ran first); the same request answers it again, another is refused.
    let keyed = [0, 6, 7];
    let made: Vec<usize> = keyed
        .into_iter()
        .filter(|&i| out[i].as_ref().is_ok_and(|o| !o.replayed))
        .collect();
    assert_eq!(made.len(), 1, "{:?}", keyed.map(|i| &out[i]));
    let maker = made[0];
    let made = &out[maker].as_ref().expect("made").reservation;
    assert_eq!(made.id, reqs[maker].id);
    for i in keyed.into_iter().filter(|&i| i != maker) {
        let hash = |r: &ReserveRequest| r.idempotency.as_ref().map(|k| k.request_hash.clone());
        let same = hash(&reqs[i]) == hash(&reqs[maker]);
        match &out[i] {
            Ok(o) => assert!(same && o.replayed && o.reservation.id == made.id, "{o:?}"),
            Err(e) => assert!(
                !same && matches!(e, StoreError::IdempotencyMismatch),
                "{e:?}"
            ),
        }
    }
    // The pooled place: two of three.
    let pooled_won = out[8..11].iter().filter(|o| o.is_ok()).count();
    assert_eq!(pooled_won, 2, "{:?}", &out[8..11]);
    for o in &out[8..11] {
        if let Err(e) = o {
            assert!(
                matches!(e, StoreError::Conflict(ConflictKind::CapacityExhausted)),
                "{e:?}"
            );
        }
    }
    assert!(
        matches!(out[11], Err(StoreError::NotFound)),
        "{:?}",
        out[11]
    );
    let swept = out[12].as_ref().expect("the lapsed hold's place");
    assert_eq!(swept.reservation.status, ReservationStatus::Booked);
    let old = s
        .reservation(&lapsed.id)
        .await
        .expect("read")
        .expect("kept");
    assert_eq!(old.status, ReservationStatus::Expired);

    // What the agenda holds: requests 0–3 (or the other request under 0's key), the race's
    // winner, the swept place's booking, and nothing of the refused.
    let snap = s
        .agenda_snapshot(&f.agenda.id, t0())
        .await
        .expect("snapshot")
        .expect("agenda");
    let mut live: Vec<Timestamp> = snap.reservations.iter().map(|r| r.start).collect();
    live.sort();
    let mut expected = vec![
        made.start,
        reqs[1].start,
        reqs[2].start,
        reqs[3].start,
        day + 5.hours(),
        lapsed_at,
    ];
    expected.sort();
    assert_eq!(live, expected);
}
