//! Doses booked directly under the client's `Idempotency-Key` (issue #20): the key is
//! recorded in the doses' own transaction. The same request again answers the same doses
//! and books nothing; another request is refused and books nothing; a series refused for a
//! taken place leaves no key behind, so a retry books it anew; a key left on a series still
//! held (by a server that held doses first) books that series.

use super::*;
use jiff::civil::{date, Date};

const PRODUCT: VaccineProduct = VaccineProduct::Comirnaty;

/// A single-place vaccination agenda with ten doses on each of the days used here.
async fn centre(store: &dyn Store) -> Fixture {
    let f = fixture(store, 5, 1).await;
    store
        .set_motive_vaccine(
            &f.agenda.id,
            &MotiveVaccine {
                motive_id: f.motive.id.clone(),
                product: PRODUCT,
                dose: Dose::First,
                next: None,
            },
        )
        .await
        .expect("vaccine motive");
    for day in [D1, D2] {
        store
            .set_stock(&f.agenda.id, PRODUCT, day, 10)
            .await
            .expect("stock");
    }
    f
}

const D1: Date = date(2030, 1, 8);
const D2: Date = date(2030, 1, 29);

/// The `n`th five-minute start of `day` (from 09:00 UTC).
fn start_on(day: Date, n: i64) -> Timestamp {
    let midnight = day
        .to_zoned(jiff::tz::TimeZone::UTC)
        .map(|z| z.timestamp())
        .unwrap_or(t0());
    midnight + 9.hours() + (5 * n).minutes()
}

/// Two doses of `patient` (at the `n1`th start of D1 and the `n2`th of D2), new ids each
/// time, under `key` with the request hash `request`.
fn series(
    f: &Fixture,
    patient: &AccountId,
    (n1, n2): (i64, i64),
    key: Option<(&str, &str)>,
    hold: Option<Timestamp>,
) -> SeriesRequest {
    let dose = |day: Date, n: i64| SeriesDose {
        reservation: reserve_req(f, patient, start_on(day, n), hold),
        product: PRODUCT,
        day,
    };
    SeriesRequest {
        id: ReservationId::new().to_string(),
        protocol_version: 1,
        doses: vec![dose(D1, n1), dose(D2, n2)],
        now: t0(),
        key: key.map(|(k, r)| SeriesKey {
            key_hash: k.into(),
            request_hash: r.into(),
        }),
        confirm_to: Some(patient.clone()),
    }
}

/// The patient's booked appointments, by id.
async fn booked(store: &dyn Store, patient: &AccountId) -> Vec<ReservationId> {
    let mut ids: Vec<ReservationId> = store
        .reservations_by_patient_index(bidx(patient.as_str()))
        .await
        .expect("reservations")
        .into_iter()
        .filter(|r| r.patient_ct == Some(fake_ct("patient", patient.as_str())))
        .filter(|r| r.status == ReservationStatus::Booked)
        .map(|r| r.id)
        .collect();
    ids.sort_by(|a, b| a.as_str().cmp(b.as_str()));
    ids
}

/// Doses used on each day, as the stock counts them.
async fn used(store: &dyn Store, f: &Fixture) -> Vec<u32> {
    let stock = store
        .agenda_snapshot(&f.agenda.id, t0())
        .await
        .expect("snapshot")
        .expect("agenda")
        .stock;
    [D1, D2]
        .iter()
        .map(|d| {
            stock
                .iter()
                .find(|s| s.day == *d && s.product == PRODUCT)
                .map_or(0, |s| s.used)
        })
        .collect()
}

fn ids(rows: &[ReservationRow]) -> Vec<ReservationId> {
    let mut ids: Vec<ReservationId> = rows.iter().map(|r| r.id.clone()).collect();
    ids.sort_by(|a, b| a.as_str().cmp(b.as_str()));
    ids
}

pub async fn series_keys(store: Arc<dyn Store>) {
    let s = &*store;
    let f = centre(s).await;
    let ida = new_account(s, Role::Patient).await;
    let key = format!("series-key-{}", ida.id);

    // Booked directly with a key: both doses, one dose of each day's stock.
    let first = s
        .reserve_series(&series(&f, &ida.id, (0, 0), Some((&key, "h1")), None))
        .await
        .expect("booked");
    assert!(!first.replayed);
    assert_eq!(first.rows.len(), 2);
    assert!(first
        .rows
        .iter()
        .all(|r| r.status == ReservationStatus::Booked));
    assert_eq!(booked(s, &ida.id).await, ids(&first.rows));
    assert_eq!(used(s, &f).await, vec![1, 1]);

    // The same request again (new ids, as a new attempt has): the same doses, nothing new.
    let again = s
        .reserve_series(&series(&f, &ida.id, (0, 0), Some((&key, "h1")), None))
        .await
        .expect("replayed");
    assert!(again.replayed);
    assert_eq!(ids(&again.rows), ids(&first.rows));
    assert_eq!(booked(s, &ida.id).await, ids(&first.rows));
    assert_eq!(used(s, &f).await, vec![1, 1], "no dose taken twice");

    // The same key with another request (other places): refused, nothing booked.
    let other = s
        .reserve_series(&series(&f, &ida.id, (1, 1), Some((&key, "h2")), None))
        .await;
    assert!(
        matches!(other, Err(StoreError::IdempotencyMismatch)),
        "{other:?}"
    );
    assert_eq!(booked(s, &ida.id).await, ids(&first.rows));
    assert_eq!(used(s, &f).await, vec![1, 1]);
    let (hash, _) = s.series_key(&key).await.unwrap().expect("recorded");
    assert_eq!(hash, "h1", "the first request stays the key's");

    // A place taken by someone else: the whole series is refused (dose 1 was free), the
    // key is not recorded, and the same key then books free places.
    let omar = new_account(s, Role::Patient).await;
    s.reserve_series(&series(&f, &omar.id, (3, 2), None, None))
        .await
        .expect("omar's doses");
    let taken_key = format!("series-key-taken-{}", ida.id);
    let refused = s
        .reserve_series(&series(&f, &ida.id, (2, 2), Some((&taken_key, "h3")), None))
        .await;
    assert!(
        matches!(refused, Err(StoreError::Conflict(_))),
        "{refused:?}"
    );
    assert!(
        s.series_key(&taken_key).await.unwrap().is_none(),
        "a refused series records no key"
    );
    assert_eq!(booked(s, &ida.id).await, ids(&first.rows));
    assert_eq!(used(s, &f).await, vec![2, 2], "only omar's doses are used");
    let retried = s
        .reserve_series(&series(&f, &ida.id, (2, 4), Some((&taken_key, "h3")), None))
        .await
        .expect("free places, same key");
    assert!(!retried.replayed);
    assert_eq!(booked(s, &ida.id).await.len(), 4);

    // Two patients race for the same places under their own keys: one series is booked,
    // the other refused whole, and only the winner's key is recorded.
    let (a, b) = (
        new_account(s, Role::Patient).await,
        new_account(s, Role::Patient).await,
    );
    let (ka, kb) = (format!("race-{}", a.id), format!("race-{}", b.id));
    let (sa, sb) = (
        series(&f, &a.id, (6, 6), Some((&ka, "ha")), None),
        series(&f, &b.id, (6, 6), Some((&kb, "hb")), None),
    );
    let (ra, rb) = tokio::join!(store.reserve_series(&sa), store.reserve_series(&sb));
    assert!(ra.is_ok() != rb.is_ok(), "one wins: {ra:?} {rb:?}");
    for (r, k, p) in [(&ra, &ka, &a.id), (&rb, &kb, &b.id)] {
        let recorded = s.series_key(k).await.unwrap().is_some();
        assert_eq!(recorded, r.is_ok(), "the key is the winner's only");
        assert_eq!(booked(s, p).await.len(), if r.is_ok() { 2 } else { 0 });
    }

    // A key a server recorded for a series it held first: the same request books that
    // series (not new doses), and asking again answers it.
    let zoe = new_account(s, Role::Patient).await;
    let hold = series(&f, &zoe.id, (8, 8), None, Some(t0() + 5.minutes()));
    let held = s.reserve_series(&hold).await.expect("held");
    let zoe_key = format!("held-{}", zoe.id);
    s.record_series_key(&zoe_key, "hz", &hold.id, t0())
        .await
        .expect("key on the hold");
    let booked_now = s
        .reserve_series(&series(&f, &zoe.id, (9, 9), Some((&zoe_key, "hz")), None))
        .await
        .expect("the held series, booked");
    assert!(booked_now.replayed);
    assert_eq!(ids(&booked_now.rows), ids(&held.rows));
    assert_eq!(booked(s, &zoe.id).await, ids(&held.rows));
    let again = s
        .reserve_series(&series(&f, &zoe.id, (9, 9), Some((&zoe_key, "hz")), None))
        .await
        .expect("asked again");
    assert_eq!(ids(&again.rows), ids(&held.rows));
    assert_eq!(booked(s, &zoe.id).await, ids(&held.rows));
}

/// Many series at once, so that the writer commits them in shared groups (on PostgreSQL one
/// call of the group function): each request's outcome is its own. Free places are booked;
/// of two requests racing for one place exactly one wins; the same request sent twice at
/// once books once and the other answers the same doses; a refused series leaves no key and
/// takes no dose.
pub async fn series_keys_in_groups(store: Arc<dyn Store>) {
    let s = &*store;
    let f = centre(s).await;
    let mut patients = Vec::new();
    for _ in 0..8 {
        patients.push(new_account(s, Role::Patient).await);
    }
    let mut reqs = Vec::new();
    // Six patients on places of their own (starts 10..15).
    for (i, p) in patients.iter().take(6).enumerate() {
        let k = format!("group-{}", p.id);
        reqs.push(series(
            &f,
            &p.id,
            (10 + i as i64, 10 + i as i64),
            Some((&k, "hg")),
            None,
        ));
    }
    // Two patients for one place (start 20), under their own keys.
    for p in &patients[6..8] {
        let k = format!("group-race-{}", p.id);
        reqs.push(series(&f, &p.id, (20, 20), Some((&k, "hr")), None));
    }
    // The first patient's request again (same key and request, new ids).
    let twin_key = format!("group-{}", patients[0].id);
    reqs.push(series(
        &f,
        &patients[0].id,
        (10, 10),
        Some((&twin_key, "hg")),
        None,
    ));
    let outcomes = futures::future::join_all(reqs.iter().map(|r| store.reserve_series(r))).await;

    for (i, out) in outcomes.iter().take(6).enumerate() {
        let out = out.as_ref().expect("a free place is booked");
        assert_eq!(out.rows.len(), 2);
        if i > 0 {
            assert!(!out.replayed);
            assert_eq!(booked(s, &patients[i].id).await, ids(&out.rows));
        }
    }
    // The twins: one booked, the other answers the same doses.
    let (first, twin) = (
        outcomes[0].as_ref().expect("first"),
        outcomes[8].as_ref().expect("twin"),
    );
    assert!(
        first.replayed != twin.replayed,
        "exactly one of the twins books"
    );
    assert_eq!(ids(&first.rows), ids(&twin.rows));
    assert_eq!(booked(s, &patients[0].id).await, ids(&first.rows));
    // The race: one winner, the loser's key not recorded and nothing of it booked.
    let (ra, rb) = (&outcomes[6], &outcomes[7]);
    assert!(ra.is_ok() != rb.is_ok(), "one wins: {ra:?} {rb:?}");
    for (r, p) in [(ra, &patients[6]), (rb, &patients[7])] {
        if let Err(e) = r {
            assert!(matches!(e, StoreError::Conflict(_)), "{e:?}");
        }
        let k = format!("group-race-{}", p.id);
        assert_eq!(s.series_key(&k).await.unwrap().is_some(), r.is_ok());
        assert_eq!(booked(s, &p.id).await.len(), if r.is_ok() { 2 } else { 0 });
    }
    // Seven series booked: seven doses taken on each day, none for the refused one.
    assert_eq!(used(s, &f).await, vec![7, 7]);
}

/// Held series confirmed at once, so that the writer books them in shared groups (on
/// PostgreSQL one call of the held series' group function): each request's outcome is its
/// own and is what booking it alone answers. A live hold is booked, both doses; the same
/// request sent twice at once books once and both answer the same doses; a key recorded for
/// another request is refused; a lapsed hold, a hold with a cancelled dose and another
/// patient's series book nothing; the stock counts each booked dose once.
pub async fn held_series_booked_in_groups(store: Arc<dyn Store>) {
    let s = &*store;
    let f = centre(s).await;
    let mut patients = Vec::new();
    for _ in 0..6 {
        patients.push(new_account(s, Role::Patient).await);
    }
    let long = Some(t0() + 10.minutes());
    let short = Some(t0() + 1.minutes());
    let mut holds = Vec::new();
    for (i, p) in patients.iter().enumerate() {
        let until = if i == 3 { short } else { long };
        let n = 40 + i as i64;
        let req = series(&f, &p.id, (n, n), None, until);
        let held = s.reserve_series(&req).await.expect("held");
        assert_eq!(held.rows.len(), 2);
        holds.push((req.id, held.rows));
    }
    let now = t0() + 2.minutes();
    let book = |i: usize, patient: usize, key: Option<(&str, &str)>| BookSeriesRequest {
        series_id: holds[i].0.clone(),
        patient_bidx: bidx(patients[patient].id.as_str()),
        now,
        confirm_to: Some(patients[patient].id.clone()),
        key: key.map(|(k, r)| SeriesKey {
            key_hash: k.into(),
            request_hash: r.into(),
        }),
    };
    // Patient 1's key already names another request.
    let taken_key = format!("held-taken-{}", patients[1].id);
    s.record_series_key(&taken_key, "another", "another-series", t0())
        .await
        .expect("key");
    // Patient 4 cancelled one of their doses.
    s.cancel(&holds[4].1[1].id, t0() + 1.minutes())
        .await
        .expect("cancel")
        .expect("was live");
    let twin_key = format!("held-twin-{}", patients[0].id);
    let reqs = [
        book(0, 0, Some((&twin_key, "h0"))),
        book(0, 0, Some((&twin_key, "h0"))),
        book(1, 1, Some((&taken_key, "h1"))),
        book(2, 2, None),
        book(3, 3, None),
        book(4, 4, None),
        book(5, 2, None),
    ];
    let outcomes = futures::future::join_all(reqs.iter().map(|r| s.book_series_hold(r))).await;

    let held_ids = |i: usize| ids(&holds[i].1);
    for twin in &outcomes[0..2] {
        let rows = twin.as_ref().expect("the twins both answer the doses");
        assert_eq!(ids(rows), held_ids(0));
        assert!(rows.iter().all(|r| r.status == ReservationStatus::Booked));
    }
    assert_eq!(booked(s, &patients[0].id).await, held_ids(0));
    assert!(
        matches!(outcomes[2], Err(StoreError::IdempotencyMismatch)),
        "{:?}",
        outcomes[2]
    );
    assert_eq!(
        booked(s, &patients[1].id).await,
        Vec::<ReservationId>::new()
    );
    assert_eq!(ids(outcomes[3].as_ref().expect("a live hold")), held_ids(2));
    assert_eq!(booked(s, &patients[2].id).await, held_ids(2));
    assert!(
        matches!(outcomes[4], Err(StoreError::HoldExpired)),
        "{:?}",
        outcomes[4]
    );
    assert!(
        matches!(
            outcomes[5],
            Err(StoreError::Conflict(ConflictKind::NotLive))
        ),
        "{:?}",
        outcomes[5]
    );
    assert!(
        matches!(outcomes[6], Err(StoreError::NotFound)),
        "{:?}",
        outcomes[6]
    );
    for p in [3, 4, 5] {
        assert_eq!(
            booked(s, &patients[p].id).await,
            Vec::<ReservationId>::new()
        );
    }
    // Patient 5's doses are still held for them.
    let still = s
        .reservation(&holds[5].1[0].id)
        .await
        .expect("read")
        .expect("row");
    assert_eq!(still.status, ReservationStatus::Held);
    // Six series held (twelve doses taken), one dose given back by the cancellation.
    assert_eq!(used(s, &f).await, vec![6, 5]);
}
