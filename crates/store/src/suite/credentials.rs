//! Practitioner verification (issue 15, point 6): a declaration waits; decisions apply only
//! from the statuses they expect (and to the identifier they name); one practitioner per
//! verified identifier, enforced by the database; every change is in the history; the
//! directory says who is verified; the change feed lists every change in order.

use super::{fixture, t0};
use crate::*;
use jiff::ToSpan;

fn rpps(n: u64) -> ProfessionalId {
    ProfessionalId::rpps_from(1_077_000_000 + n)
}

pub(super) async fn credentials(store: &dyn Store) {
    let a = fixture(store, 30, 1).await.practitioner;
    let b = fixture(store, 30, 1).await.practitioner;
    let seq0 = store.credential_seq().await.unwrap();
    let id = rpps(1);

    let none = store.credential(&a.id).await.unwrap();
    assert_eq!(none.status, CredentialStatus::Unverified);
    assert_eq!(none.identifier, None);
    let verified_in_directory = |entries: Vec<DirectoryEntry>, p: &PractitionerId| {
        entries
            .iter()
            .filter(|e| &e.practitioner_id == p)
            .all(|e| e.verified)
            && entries.iter().any(|e| &e.practitioner_id == p)
    };
    assert!(!verified_in_directory(
        store.directory_of(&a.id).await.unwrap(),
        &a.id
    ));

    let d = store.declare_credential(&a.id, &id, t0()).await.unwrap();
    assert_eq!(d.status, CredentialStatus::Pending);
    assert_eq!(d.identifier.as_ref(), Some(&id));
    let unknown = PractitionerId::new();
    assert!(matches!(
        store.declare_credential(&unknown, &id, t0()).await,
        Err(StoreError::NotFound)
    ));

    // A decision from a status it does not expect changes nothing.
    let revoke_a = CredentialDecision {
        practitioner: &a.id,
        from: &[CredentialStatus::Verified],
        to: CredentialStatus::Revoked,
        identifier: None,
        actor: "operator",
        reason: Some("test"),
        at: t0() + 1.hours(),
    };
    assert_eq!(store.decide_credential(&revoke_a).await.unwrap(), None);
    // Nor one naming another identifier.
    let other = rpps(2);
    let verify_other = CredentialDecision {
        practitioner: &a.id,
        from: &[CredentialStatus::Pending],
        to: CredentialStatus::Verified,
        identifier: Some(&other),
        actor: "import:x",
        reason: None,
        at: t0() + 1.hours(),
    };
    assert_eq!(store.decide_credential(&verify_other).await.unwrap(), None);
    let verify_a = CredentialDecision {
        identifier: Some(&id),
        ..verify_other.clone()
    };
    let v = store.decide_credential(&verify_a).await.unwrap().unwrap();
    assert_eq!(v.status, CredentialStatus::Verified);
    assert_eq!(v.decided_by.as_deref(), Some("import:x"));
    assert!(verified_in_directory(
        store.directory_of(&a.id).await.unwrap(),
        &a.id
    ));

    // Declaring the same identifier again keeps the verification; another resets it.
    let same = store
        .declare_credential(&a.id, &id, t0() + 2.hours())
        .await
        .unwrap();
    assert_eq!(same.status, CredentialStatus::Verified);

    // The database refuses a second verified holder of one identifier.
    store.declare_credential(&b.id, &id, t0()).await.unwrap();
    let verify_b = CredentialDecision {
        practitioner: &b.id,
        from: &[CredentialStatus::Pending],
        to: CredentialStatus::Verified,
        identifier: None,
        actor: "operator",
        reason: None,
        at: t0() + 3.hours(),
    };
    assert!(matches!(
        store.decide_credential(&verify_b).await,
        Err(StoreError::Conflict(ConflictKind::Duplicate))
    ));
    assert_eq!(
        store.credential(&b.id).await.unwrap().status,
        CredentialStatus::Pending,
        "the refused decision left nothing behind"
    );
    let declaring = store.credentials_declaring(&id).await.unwrap();
    assert_eq!(declaring.len(), 2);

    // Revoked: the identifier is free for the other claim.
    let r = store.decide_credential(&revoke_a).await.unwrap().unwrap();
    assert_eq!(r.status, CredentialStatus::Revoked);
    assert_eq!(r.reason.as_deref(), Some("test"));
    assert!(!verified_in_directory(
        store.directory_of(&a.id).await.unwrap(),
        &a.id
    ));
    assert!(store.decide_credential(&verify_b).await.unwrap().is_some());

    let pending = store
        .credentials(Some(CredentialStatus::Revoked), 100)
        .await
        .unwrap();
    assert!(pending.iter().any(|l| l.credential.practitioner_id == a.id));

    // Vouched without identifier (the operator's own listings).
    let c = fixture(store, 30, 1).await.practitioner;
    store
        .vouch_practitioner(&c.id, None, "import:sites", t0())
        .await
        .unwrap();
    assert_eq!(
        store.credential(&c.id).await.unwrap().status,
        CredentialStatus::Verified
    );

    let history = store.credential_events(&a.id).await.unwrap();
    let steps: Vec<(CredentialStatus, &str)> = history
        .iter()
        .map(|e| (e.status, e.actor.as_str()))
        .collect();
    assert_eq!(
        steps,
        vec![
            (CredentialStatus::Pending, "practitioner"),
            (CredentialStatus::Verified, "import:x"),
            (CredentialStatus::Revoked, "operator"),
        ]
    );
    let changes = store.credentials_changed_since(seq0, 100).await.unwrap();
    assert!(changes.windows(2).all(|w| w[0].0 < w[1].0), "in order");
    for p in [&a.id, &b.id, &c.id] {
        assert!(changes.iter().any(|(_, q)| q == p));
    }
    assert_eq!(
        store.credential_seq().await.unwrap(),
        changes.last().unwrap().0
    );
}
