//! The patient directory (issue 18, point 1): an account is filed once per practice (filing
//! it again replaces its terms and keeps the entry), a lookup needs every term it is given
//! and stays inside its practice, notes are set per practice, and erasing the account
//! takes its entries and terms with it.

use super::*;

fn entry(f: &Fixture, account: &AccountId) -> PracticePatient {
    PracticePatient {
        id: AccountId::new().0,
        practitioner_id: f.practitioner.id.clone(),
        account_id: account.clone(),
        note_ct: None,
        created_at: t0(),
    }
}

pub(super) async fn directory(store: &dyn Store) {
    let f = fixture(store, 15, 1).await;
    let other = fixture(store, 15, 1).await;
    let pid = &f.practitioner.id;
    let marcel = new_account(store, Role::Patient).await;
    let martine = new_account(store, Role::Patient).await;

    let filed = store
        .file_practice_patient(&entry(&f, &marcel.id), &[11, 12, 13, 13])
        .await
        .expect("file");
    assert_eq!(filed.account_id, marcel.id);
    store
        .file_practice_patient(&entry(&f, &martine.id), &[11, 14])
        .await
        .expect("file");
    // Filed again (new terms, another id offered): the same entry, its terms replaced.
    let again = store
        .file_practice_patient(&entry(&f, &marcel.id), &[11, 12, 15])
        .await
        .expect("file again");
    assert_eq!(again.id, filed.id);
    let ids = |v: Vec<PracticePatient>| v.into_iter().map(|p| p.account_id).collect::<Vec<_>>();
    assert_eq!(
        ids(store
            .practice_patients_with_terms(pid, &[11], 10)
            .await
            .unwrap()),
        vec![marcel.id.clone(), martine.id.clone()]
    );
    assert_eq!(
        ids(store
            .practice_patients_with_terms(pid, &[11, 12], 10)
            .await
            .unwrap()),
        vec![marcel.id.clone()]
    );
    assert!(
        store
            .practice_patients_with_terms(pid, &[13], 10)
            .await
            .unwrap()
            .is_empty(),
        "replaced terms are gone"
    );
    assert!(
        store
            .practice_patients_with_terms(pid, &[12, 14], 10)
            .await
            .unwrap()
            .is_empty(),
        "every term must match"
    );
    assert_eq!(
        store
            .practice_patients_with_terms(pid, &[11], 1)
            .await
            .unwrap()
            .len(),
        1,
        "the limit holds"
    );
    // Another practice sees none of it.
    assert!(store
        .practice_patients_with_terms(&other.practitioner.id, &[11], 10)
        .await
        .unwrap()
        .is_empty());
    assert_eq!(
        store
            .practice_patient(&other.practitioner.id, &filed.id)
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        store
            .practice_patient_of_account(pid, &marcel.id)
            .await
            .unwrap()
            .map(|p| p.id),
        Some(filed.id.clone())
    );

    // Notes, per practice.
    assert!(store
        .set_practice_patient_note(pid, &filed.id, Some(b"sealed note"))
        .await
        .unwrap());
    assert!(!store
        .set_practice_patient_note(&other.practitioner.id, &filed.id, Some(b"x"))
        .await
        .unwrap());
    assert_eq!(
        store
            .practice_patient(pid, &filed.id)
            .await
            .unwrap()
            .and_then(|p| p.note_ct),
        Some(b"sealed note".to_vec())
    );

    // Erasure: the entry and its terms go with the account.
    store.erase_account(&marcel.id, &[]).await.expect("erase");
    assert_eq!(store.practice_patient(pid, &filed.id).await.unwrap(), None);
    assert_eq!(
        ids(store
            .practice_patients_with_terms(pid, &[11], 10)
            .await
            .unwrap()),
        vec![martine.id.clone()]
    );
}

/// Merging two entries of one practice: every reservation of the removed one moves (with its
/// queued messages), or none does when anything changed since they were read.
pub(super) async fn merging(store: &dyn Store) {
    let f = fixture(store, 15, 1).await;
    let other = fixture(store, 15, 1).await;
    let pid = &f.practitioner.id;
    let kept = new_account(store, Role::Patient).await;
    let twin = new_account(store, Role::Patient).await;
    let stranger = new_account(store, Role::Patient).await;
    let e_kept = store
        .file_practice_patient(&entry(&f, &kept.id), &[21])
        .await
        .unwrap();
    let e_twin = store
        .file_practice_patient(&entry(&f, &twin.id), &[22])
        .await
        .unwrap();
    let reserve = |who: &AccountId, at: Timestamp| {
        let mut r = reserve_req(&f, who, at, None);
        r.patient_bidx = bidx(twin.id.as_str());
        r
    };
    let day = t0() + 24.hours();
    let booked = store
        .reserve(&reserve(&twin.id, day))
        .await
        .unwrap()
        .reservation;
    let cancelled = store
        .reserve(&reserve(&twin.id, day + 1.hours()))
        .await
        .unwrap()
        .reservation;
    store.cancel(&cancelled.id, t0()).await.unwrap();
    // A stranger's booking whose (truncated) index is the twin's.
    let strangers = store
        .reserve(&reserve(&stranger.id, day + 2.hours()))
        .await
        .unwrap()
        .reservation;
    // Elsewhere, the twin's index names another practice's booking: not this merge's.
    let mut far = reserve_req(&other, &twin.id, day, None);
    far.patient_bidx = bidx(twin.id.as_str());
    let far = store.reserve(&far).await.unwrap().reservation;
    store
        .enqueue(&OutboxWrite {
            delete_pending: vec![],
            enqueue: vec![NewOutboxMessage::intent(
                IntentKind::EmailReminder,
                twin.id.clone(),
                booked.id.clone(),
                booked.start,
                format!("reminder:{}", booked.id),
                day - 2.hours(),
                t0(),
            )],
            notices: vec![],
            webhooks: vec![],
        })
        .await
        .unwrap();

    let moves = |ids: &[&ReservationId]| -> Vec<PatientMove> {
        ids.iter()
            .map(|id| PatientMove {
                reservation_id: (*id).clone(),
                patient_ct: fake_ct("patient", kept.id.as_str()),
            })
            .collect()
    };
    let merge = |moves: Vec<PatientMove>, others: Vec<ReservationId>| PatientMerge {
        practitioner_id: pid.clone(),
        into: e_kept.clone(),
        from: e_twin.clone(),
        from_bidx: bidx(twin.id.as_str()),
        into_bidx: bidx(kept.id.as_str()),
        others,
        moves,
        note_ct: Some(b"joined notes".to_vec()),
        now: t0(),
    };
    let untouched = |what: &str| format!("{what}: refused, nothing changed");
    // The stranger's booking is not accounted for (booked since the moves were read, as far
    // as the store can tell): refused.
    let r = store
        .merge_practice_patients(&merge(moves(&[&booked.id, &cancelled.id]), vec![]))
        .await;
    assert!(
        matches!(r, Err(StoreError::Conflict(ConflictKind::Changed))),
        "{r:?}"
    );
    // One of the twin's reservations left out: refused too.
    let r = store
        .merge_practice_patients(&merge(moves(&[&booked.id]), vec![strangers.id.clone()]))
        .await;
    assert!(
        matches!(r, Err(StoreError::Conflict(ConflictKind::Changed))),
        "{r:?}"
    );
    assert_eq!(
        store.reservation(&booked.id).await.unwrap(),
        Some(booked.clone()),
        "{}",
        untouched("reservation")
    );
    assert!(
        store
            .practice_patient(pid, &e_twin.id)
            .await
            .unwrap()
            .is_some(),
        "{}",
        untouched("entry")
    );
    // Entries of another practice: unknown.
    let mut foreign = merge(
        moves(&[&booked.id, &cancelled.id]),
        vec![strangers.id.clone()],
    );
    foreign.practitioner_id = other.practitioner.id.clone();
    assert!(matches!(
        store.merge_practice_patients(&foreign).await,
        Err(StoreError::NotFound)
    ));

    store
        .merge_practice_patients(&merge(
            moves(&[&booked.id, &cancelled.id]),
            vec![strangers.id.clone()],
        ))
        .await
        .expect("merge");
    for (id, status) in [
        (&booked.id, ReservationStatus::Booked),
        (&cancelled.id, ReservationStatus::Cancelled),
    ] {
        let r = store.reservation(id).await.unwrap().expect("still there");
        assert_eq!(r.patient_ct, Some(fake_ct("patient", kept.id.as_str())));
        assert_eq!(r.status, status);
    }
    let by_index = |rows: Vec<ReservationRow>| {
        let mut ids: Vec<String> = rows.into_iter().map(|r| r.id.0).collect();
        ids.sort();
        ids
    };
    let mut expected = vec![booked.id.0.clone(), cancelled.id.0.clone()];
    expected.sort();
    assert_eq!(
        by_index(
            store
                .reservations_by_patient_index(bidx(kept.id.as_str()))
                .await
                .unwrap()
        ),
        expected
    );
    let mut expected = vec![strangers.id.0.clone(), far.id.0.clone()];
    expected.sort();
    assert_eq!(
        by_index(
            store
                .reservations_by_patient_index(bidx(twin.id.as_str()))
                .await
                .unwrap()
        ),
        expected
    );
    assert_eq!(
        store.reservation(&strangers.id).await.unwrap(),
        Some(strangers)
    );
    assert_eq!(store.reservation(&far.id).await.unwrap(), Some(far));
    assert_eq!(store.practice_patient(pid, &e_twin.id).await.unwrap(), None);
    assert!(store
        .practice_patients_with_terms(pid, &[22], 10)
        .await
        .unwrap()
        .is_empty());
    assert_eq!(
        store
            .practice_patient(pid, &e_kept.id)
            .await
            .unwrap()
            .and_then(|e| e.note_ct),
        Some(b"joined notes".to_vec())
    );
    // The reminder follows its appointment to the kept account.
    assert!(store.outbox_of(&twin.id).await.unwrap().is_empty());
    let queued = store.outbox_of(&kept.id).await.unwrap();
    assert_eq!(queued.len(), 1);
    assert_eq!(queued[0].dedupe_key, format!("reminder:{}", booked.id));
    // Done once: the removed entry is gone.
    assert!(matches!(
        store.merge_practice_patients(&merge(vec![], vec![])).await,
        Err(StoreError::NotFound)
    ));
}
