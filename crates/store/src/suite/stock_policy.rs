//! Default dose stock (issue 17 point 4): a policy gives every day without its own stock
//! that many doses; a booking on such a day writes the day's row from the policy and
//! consumes it under the same conditional update as any stock; a day's own value overrides
//! the policy, 0 closes the day; changing the policy never takes a booked dose away (the
//! day keeps its bookings and is full); concurrent bookings never exceed the stock.

use super::*;
use jiff::civil::{date, Date};

const PRODUCT: VaccineProduct = VaccineProduct::Comirnaty;

async fn vaccination_fixture(store: &dyn Store) -> Fixture {
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
    f
}

/// The `n`th five-minute start of local day `day` (from 09:00 UTC; the store does not read
/// opening hours).
fn start_on(day: Date, n: i64) -> Timestamp {
    let midnight = day
        .to_zoned(jiff::tz::TimeZone::UTC)
        .map(|z| z.timestamp())
        .unwrap_or(t0());
    midnight + 9.hours() + (5 * n).minutes()
}

async fn book_dose(
    store: &dyn Store,
    f: &Fixture,
    day: Date,
    n: i64,
) -> StoreResult<Vec<ReservationRow>> {
    let patient = new_account(store, Role::Patient).await;
    store
        .reserve_series(&SeriesRequest {
            id: ReservationId::new().to_string(),
            protocol_version: 1,
            doses: vec![SeriesDose {
                reservation: reserve_req(f, &patient.id, start_on(day, n), None),
                product: PRODUCT,
                day,
            }],
            now: t0(),
            key: None,
            confirm_to: None,
        })
        .await
        .map(|o| o.rows)
}

async fn row(store: &dyn Store, f: &Fixture, day: Date) -> Option<StockRow> {
    store
        .agenda_snapshot(&f.agenda.id, t0())
        .await
        .expect("snapshot")
        .expect("agenda")
        .stock
        .into_iter()
        .find(|s| s.day == day && s.product == PRODUCT)
}

async fn policy(store: &dyn Store, f: &Fixture, doses: Option<u32>) {
    store
        .set_stock_policies(
            &[StockPolicy {
                agenda_id: f.agenda.id.clone(),
                product: PRODUCT,
                doses,
            }],
            date(2030, 1, 7),
        )
        .await
        .expect("policy");
}

fn exhausted(r: StoreResult<Vec<ReservationRow>>) -> bool {
    matches!(r, Err(StoreError::Conflict(ConflictKind::StockExhausted)))
}

pub async fn stock_policy(store: Arc<dyn Store>) {
    let s = &*store;
    let f = vaccination_fixture(s).await;
    let (d1, d2, d3) = (date(2030, 1, 8), date(2030, 1, 9), date(2030, 1, 10));

    // No policy, no stock: no dose.
    assert!(
        exhausted(book_dose(s, &f, d1, 0).await),
        "no stock, no dose"
    );

    // A policy of 2: the day's row is written from it by the first booking.
    policy(s, &f, Some(2)).await;
    let snap = s
        .agenda_snapshot(&f.agenda.id, t0())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(snap.policies, vec![(PRODUCT, 2)]);
    assert!(snap.stock.is_empty(), "a policy writes no row by itself");
    book_dose(s, &f, d1, 1)
        .await
        .expect("first dose of the policy");
    book_dose(s, &f, d1, 2)
        .await
        .expect("second dose of the policy");
    assert!(
        exhausted(book_dose(s, &f, d1, 3).await),
        "the policy is the day's limit"
    );
    let r = row(s, &f, d1).await.expect("row from the policy");
    assert_eq!((r.doses, r.used, r.explicit), (2, 2, false));

    // A day's own value overrides the policy; 0 closes the day.
    s.set_stock_days(
        &f.agenda.id,
        &[
            StockDay {
                product: PRODUCT,
                day: d2,
                doses: Some(0),
            },
            StockDay {
                product: PRODUCT,
                day: d3,
                doses: Some(5),
            },
        ],
    )
    .await
    .expect("week");
    assert!(exhausted(book_dose(s, &f, d2, 0).await), "0 closes the day");
    for n in 0..5 {
        book_dose(s, &f, d3, n).await.expect("the override's doses");
    }
    assert!(
        exhausted(book_dose(s, &f, d3, 5).await),
        "the override is the limit"
    );

    // Lowering the policy keeps what is booked (the day is full); raising it gives more;
    // days with their own value never follow it.
    policy(s, &f, Some(1)).await;
    let r = row(s, &f, d1).await.unwrap();
    assert_eq!((r.doses, r.used), (2, 2), "booked doses stay");
    assert!(exhausted(book_dose(s, &f, d1, 4).await));
    policy(s, &f, Some(4)).await;
    assert_eq!(row(s, &f, d1).await.unwrap().doses, 4);
    book_dose(s, &f, d1, 5).await.expect("raised policy");
    assert_eq!(
        row(s, &f, d2).await.unwrap().doses,
        0,
        "a closed day stays closed"
    );
    assert_eq!(row(s, &f, d3).await.unwrap().doses, 5, "an override stays");

    // A week is saved all or none: one day below its bookings refuses every day.
    let refused = s
        .set_stock_days(
            &f.agenda.id,
            &[
                StockDay {
                    product: PRODUCT,
                    day: d2,
                    doses: Some(7),
                },
                StockDay {
                    product: PRODUCT,
                    day: d3,
                    doses: Some(4),
                },
            ],
        )
        .await;
    assert!(
        matches!(
            refused,
            Err(StoreError::Conflict(ConflictKind::StockBelowBooked))
        ),
        "{refused:?}"
    );
    assert_eq!(
        row(s, &f, d2).await.unwrap().doses,
        0,
        "nothing of the week was saved"
    );

    // Back to the policy: the closed day offers the policy's doses again; a day booked
    // beyond the policy keeps its bookings.
    s.set_stock_days(
        &f.agenda.id,
        &[
            StockDay {
                product: PRODUCT,
                day: d2,
                doses: None,
            },
            StockDay {
                product: PRODUCT,
                day: d3,
                doses: None,
            },
        ],
    )
    .await
    .expect("back to the policy");
    let r2 = row(s, &f, d2).await.unwrap();
    assert_eq!((r2.doses, r2.explicit), (4, false));
    book_dose(s, &f, d2, 1)
        .await
        .expect("the day reopens with the policy");
    let r3 = row(s, &f, d3).await.unwrap();
    assert_eq!((r3.doses, r3.used, r3.explicit), (5, 5, false));

    // Without a policy, the days that took it keep their bookings and offer no more.
    policy(s, &f, None).await;
    let snap = s
        .agenda_snapshot(&f.agenda.id, t0())
        .await
        .unwrap()
        .unwrap();
    assert!(snap.policies.is_empty());
    assert!(exhausted(book_dose(s, &f, d1, 6).await));
    assert!(exhausted(book_dose(s, &f, date(2030, 1, 11), 0).await));
    assert_eq!(row(s, &f, d1).await.unwrap().used, 3);

    // Many patients racing for a policy day's doses: exactly the policy's count wins.
    let f = Arc::new(vaccination_fixture(s).await);
    policy(s, &f, Some(3)).await;
    let tasks: Vec<_> = (0..20)
        .map(|n| {
            let store = store.clone();
            let f = f.clone();
            tokio::spawn(async move { book_dose(&*store, &f, d1, n).await })
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
    assert_eq!(won, 3, "never more doses than the policy");
    let r = row(s, &f, d1).await.unwrap();
    assert_eq!((r.doses, r.used), (3, 3));
}
