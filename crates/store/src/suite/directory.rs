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
