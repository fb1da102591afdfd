//! Two-factor authentication and sessions (issue 15): a pending enrolment is replaced but a
//! confirmed one is not; confirming needs a newer step and stores the recovery codes with
//! it; a time step and a recovery code are each accepted once; sessions carry their pending
//! state, device, second factor and re-authentication, are listed without pending ones and
//! revoked by public id only by their own account; erasure takes the enrolment along.

use super::{new_account, t0};
use crate::*;
use jiff::ToSpan;

pub(super) async fn second_factor(store: &dyn Store) {
    enrolment_and_codes(store).await;
    sessions_by_id(store).await;
}

async fn enrolment_and_codes(store: &dyn Store) {
    let a = new_account(store, Role::Practitioner).await;
    assert_eq!(store.mfa(&a.id).await.unwrap(), None);
    assert!(
        !store.mfa_use_step(&a.id, 10).await.unwrap(),
        "nothing enrolled"
    );
    assert!(store.mfa_begin(&a.id, b"secret-1", t0()).await.unwrap());
    // A pending enrolment is replaced by a new one.
    assert!(store.mfa_begin(&a.id, b"secret-2", t0()).await.unwrap());
    let m = store.mfa(&a.id).await.unwrap().expect("pending");
    assert_eq!(m.secret_ct, b"secret-2");
    assert_eq!(m.confirmed_at, None);
    // Pending: no step is accepted, no recovery code exists.
    assert!(!store.mfa_use_step(&a.id, 10).await.unwrap());
    let hashes: Vec<String> = (0..10).map(|i| format!("code-{i}-{}", a.id)).collect();
    assert!(store
        .mfa_confirm(&a.id, 100, &hashes, t0() + 1.minute())
        .await
        .unwrap());
    let m = store.mfa(&a.id).await.unwrap().expect("confirmed");
    assert_eq!(m.confirmed_at, Some(t0() + 1.minute()));
    assert_eq!((m.last_step, m.recovery_left), (100, 10));
    // Confirmed: neither confirmed again nor replaced.
    assert!(!store.mfa_confirm(&a.id, 200, &hashes, t0()).await.unwrap());
    assert!(!store.mfa_begin(&a.id, b"secret-3", t0()).await.unwrap());
    assert_eq!(
        store.mfa(&a.id).await.unwrap().expect("kept").secret_ct,
        b"secret-2"
    );
    // Steps: only newer ones, each once.
    assert!(!store.mfa_use_step(&a.id, 100).await.unwrap());
    assert!(!store.mfa_use_step(&a.id, 99).await.unwrap());
    assert!(store.mfa_use_step(&a.id, 101).await.unwrap());
    assert!(!store.mfa_use_step(&a.id, 101).await.unwrap());
    // Recovery codes: each once, only the account's own.
    let other = new_account(store, Role::Patient).await;
    assert!(!store
        .mfa_use_recovery(&other.id, &hashes[0], t0())
        .await
        .unwrap());
    assert!(store
        .mfa_use_recovery(&a.id, &hashes[0], t0())
        .await
        .unwrap());
    assert!(!store
        .mfa_use_recovery(&a.id, &hashes[0], t0())
        .await
        .unwrap());
    assert_eq!(store.mfa(&a.id).await.unwrap().expect("m").recovery_left, 9);
    // New codes replace the old ones.
    let fresh = vec![format!("fresh-{}", a.id)];
    assert!(store.mfa_replace_recovery(&a.id, &fresh).await.unwrap());
    assert!(!store
        .mfa_use_recovery(&a.id, &hashes[1], t0())
        .await
        .unwrap());
    assert_eq!(store.mfa(&a.id).await.unwrap().expect("m").recovery_left, 1);
    assert!(!store.mfa_replace_recovery(&other.id, &fresh).await.unwrap());
    // Removal, then erasure of an enrolled account.
    assert!(store.mfa_remove(&a.id).await.unwrap());
    assert!(!store.mfa_remove(&a.id).await.unwrap());
    assert_eq!(store.mfa(&a.id).await.unwrap(), None);
    assert!(store.mfa_begin(&a.id, b"secret-4", t0()).await.unwrap());
    assert!(store.mfa_confirm(&a.id, 5, &hashes, t0()).await.unwrap());
    store.erase_account(&a.id, &[]).await.unwrap();
    assert_eq!(store.mfa(&a.id).await.unwrap(), None);
}

async fn sessions_by_id(store: &dyn Store) {
    let a = new_account(store, Role::Patient).await;
    let b = new_account(store, Role::Patient).await;
    let session = |who: &AccountId, n: &str, pending: bool| NewSession {
        token_hash: format!("{n:0>16}-{}", who),
        account_id: who.clone(),
        created_at: t0(),
        expires_at: t0() + 1.hour(),
        mfa_pending: pending,
        device: Some(format!("device {n}")),
    };
    let laptop = session(&a.id, "laptop", false);
    let pending = session(&a.id, "pending", true);
    let theirs = session(&b.id, "theirs", false);
    for s in [&laptop, &pending, &theirs] {
        store.create_session(s).await.unwrap();
    }
    let row = store
        .session(&pending.token_hash, t0())
        .await
        .unwrap()
        .expect("pending");
    assert!(row.mfa_pending);
    assert_eq!(row.second_factor_at, None);
    assert_eq!(row.reauth_at, t0());
    assert_eq!(row.id, session_public_id(&pending.token_hash));
    // Pending sessions are not listed.
    let list = store.account_sessions(&a.id, t0()).await.unwrap();
    assert_eq!(list.len(), 1);
    assert_eq!(list[0].id, session_public_id(&laptop.token_hash));
    assert_eq!(list[0].device.as_deref(), Some("device laptop"));
    assert!(!list[0].second_factor);
    // Proving: the pending one completes with its second factor.
    let at = t0() + 2.minutes();
    assert!(store
        .prove_session(&pending.token_hash, at, true)
        .await
        .unwrap());
    let row = store
        .session(&pending.token_hash, t0())
        .await
        .unwrap()
        .expect("complete");
    assert!(!row.mfa_pending);
    assert_eq!((row.second_factor_at, row.reauth_at), (Some(at), at));
    // A password-only proof keeps the second factor's time.
    let later = at + 5.minutes();
    assert!(store
        .prove_session(&pending.token_hash, later, false)
        .await
        .unwrap());
    let row = store
        .session(&pending.token_hash, t0())
        .await
        .unwrap()
        .expect("s");
    assert_eq!((row.second_factor_at, row.reauth_at), (Some(at), later));
    assert!(!store
        .prove_session("no-such-session", at, true)
        .await
        .unwrap());
    assert_eq!(store.account_sessions(&a.id, t0()).await.unwrap().len(), 2);
    // Revoking by id: only the account's own.
    let theirs_id = session_public_id(&theirs.token_hash).to_owned();
    assert!(!store.delete_session_by_id(&a.id, &theirs_id).await.unwrap());
    assert!(store.delete_session_by_id(&b.id, &theirs_id).await.unwrap());
    assert!(!store.delete_session_by_id(&b.id, &theirs_id).await.unwrap());
    assert!(!store.delete_session_by_id(&a.id, "short").await.unwrap());
    assert!(store
        .session(&theirs.token_hash, t0())
        .await
        .unwrap()
        .is_none());
    // Expired sessions are not listed.
    assert!(store
        .account_sessions(&a.id, t0() + 2.hours())
        .await
        .unwrap()
        .is_empty());
}
