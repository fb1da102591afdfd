//! Snapshots read in bulk (a start's warm-up): every agenda of the store, page after page,
//! equals its own `agenda_snapshot`; the pages follow each other in id order without gap or
//! repeat, whatever their size.

use super::*;

/// A snapshot's lists in one order: the single-agenda reads order some of them by nothing.
fn normalized(s: &AgendaSnapshot) -> String {
    let mut s = s.clone();
    let key = |x: &dyn std::fmt::Debug| format!("{x:?}");
    s.reservations.sort_by_key(|r| key(r));
    s.absences.sort_by_key(|a| key(a));
    s.vaccines.sort_by_key(|v| key(v));
    s.stock.sort_by_key(|x| key(x));
    s.policies.sort_by_key(|p| key(p));
    s.lines.sort_by_key(|l| key(l));
    format!("{s:?}")
}

pub(super) async fn bulk_snapshots(store: &dyn Store) {
    // An agenda with every kind of row: an opening rule, an absence ahead and one past, a
    // booking, a live hold, a booking that ended, a cancelled one, and a pooled motive.
    let f = fixture(store, 20, 1).await;
    let patient = new_account(store, Role::Patient).await;
    let rule = OpeningRule::parse(
        RuleId::new(),
        f.agenda.id.clone(),
        WeekdaySet::parse(&[1, 2, 3, 4, 5]).expect("weekdays"),
        jiff::civil::time(8, 0, 0, 0),
        jiff::civil::time(18, 0, 0, 0),
        vec![f.motive.id.clone()],
        None,
        None,
    )
    .expect("rule");
    store.create_rule(&rule).await.expect("rule");
    for (start, end) in [
        (t0() + 72.hours(), t0() + 96.hours()),
        (t0() - 96.hours(), t0() - 72.hours()),
    ] {
        let absence =
            Absence::parse(AbsenceId::new(), f.agenda.id.clone(), start, end).expect("absence");
        store
            .create_absence_with(&absence, None, &[], t0(), &OutboxWrite::default())
            .await
            .expect("absence");
    }
    let mut ended = reserve_req(&f, &patient.id, t0() - 24.hours(), None);
    ended.now = t0() - 48.hours();
    store.reserve(&ended).await.expect("past booking");
    store
        .reserve(&reserve_req(&f, &patient.id, t0() + 1.hours(), None))
        .await
        .expect("booking");
    store
        .reserve(&reserve_req(
            &f,
            &patient.id,
            t0() + 2.hours(),
            Some(t0() + 10.minutes()),
        ))
        .await
        .expect("hold");
    let cancelled = store
        .reserve(&reserve_req(&f, &patient.id, t0() + 3.hours(), None))
        .await
        .expect("booking")
        .reservation;
    store.cancel(&cancelled.id, t0()).await.expect("cancel");
    let pooled = fixture(store, 10, 3).await;
    for _ in 0..2 {
        let other = new_account(store, Role::Patient).await;
        store
            .reserve(&reserve_req(&pooled, &other.id, t0() + 1.hours(), None))
            .await
            .expect("pooled booking");
    }

    let own = store
        .agenda_snapshots(None, usize::MAX, t0())
        .await
        .expect("snapshots");
    let mine = own
        .iter()
        .find(|s| s.agenda.id == f.agenda.id)
        .expect("the new agenda is read");
    assert_eq!(
        mine.reservations.len(),
        2,
        "booking and hold, not the others"
    );
    assert!(mine.reservations.iter().any(|r| r.expires_at.is_some()));
    assert_eq!(mine.absences.len(), 1, "the absence ahead only");
    assert_eq!(mine.rules.len(), 1);
    let pool = own
        .iter()
        .find(|s| s.agenda.id == pooled.agenda.id)
        .expect("the pooled agenda is read");
    assert_eq!(pool.reservations.len(), 2);
    assert!(pool.reservations.iter().all(|r| r.pooled));

    // Every agenda the earlier cases left behind, at two instants, in pages of several sizes.
    for now in [t0(), t0() - (30 * 24).hours()] {
        let all = store
            .agenda_snapshots(None, usize::MAX, now)
            .await
            .expect("snapshots");
        assert!(all.len() > 20, "the suite left {} agendas", all.len());
        let ids: std::collections::HashSet<&str> =
            all.iter().map(|s| s.agenda.id.as_str()).collect();
        assert_eq!(ids.len(), all.len(), "no agenda twice");
        let mut kinds = [0usize; 8];
        for s in &all {
            let one = store
                .agenda_snapshot(&s.agenda.id, now)
                .await
                .expect("snapshot")
                .expect("the agenda exists");
            assert_eq!(normalized(s), normalized(&one), "agenda {}", s.agenda.id);
            for (k, n) in [
                s.motives.len(),
                s.motive_translations.len(),
                s.rules.len(),
                s.absences.len(),
                s.reservations.len(),
                s.vaccines.len(),
                s.stock.len() + s.policies.len(),
                s.lines.len(),
            ]
            .into_iter()
            .enumerate()
            {
                kinds[k] += n;
            }
        }
        // The comparison covered each kind of row (lines and translations where earlier
        // cases made some).
        for (k, what) in [
            (0, "motives"),
            (2, "rules"),
            (3, "absences"),
            (4, "reservations"),
            (5, "vaccines"),
            (6, "stock"),
        ] {
            assert!(kinds[k] > 0, "no {what} compared at {now}");
        }
        for size in [1, 3, 7] {
            let mut paged = Vec::new();
            let mut after: Option<AgendaId> = None;
            loop {
                let page = store
                    .agenda_snapshots(after.as_ref(), size, now)
                    .await
                    .expect("page");
                assert!(page.len() <= size);
                let Some(last) = page.last() else { break };
                after = Some(last.agenda.id.clone());
                paged.extend(page);
            }
            assert_eq!(paged.len(), all.len(), "pages of {size}");
            for (a, b) in paged.iter().zip(&all) {
                assert_eq!(normalized(a), normalized(b), "pages of {size}");
            }
        }
    }
}
