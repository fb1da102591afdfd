//! Operator accounts (issue 15, point 5): created with their roles and set-password token in
//! one transaction (nothing when the address is taken), roles replaced, disabling deletes
//! the sessions and tokens at once, and the action log only grows.

use super::*;

pub(super) async fn operators(store: &dyn Store) {
    let record = account_record(Role::Operator);
    let id = record.id.clone();
    let account = new_account_req(&record);
    let reset = PasswordReset {
        token_hash: format!("op-set-{id}"),
        account_id: id.clone(),
        expires_at: t0() + 72.hours(),
        created_at: t0(),
    };
    let mail = outbox_message(&id, &format!("operator-invitation:{id}"), t0());
    store
        .create_operator(
            &account,
            &[
                Permission::Verification,
                Permission::Campaign,
                Permission::Campaign,
            ],
            "token",
            &reset,
            &queue(vec![mail]),
        )
        .await
        .expect("operator");
    assert_eq!(
        store.account(&id).await.unwrap().unwrap().role,
        Role::Operator
    );
    let op = store.operator(&id).await.unwrap().expect("operator row");
    assert_eq!(
        op.roles,
        vec![Permission::Campaign, Permission::Verification]
    );
    assert_eq!((op.created_by.as_str(), op.disabled_at), ("token", None));
    assert_eq!(store.outbox_of(&id).await.unwrap().len(), 1);
    assert!(store
        .operators()
        .await
        .unwrap()
        .iter()
        .any(|o| o.account_id == id));
    assert_eq!(store.operator(&AccountId::new()).await.unwrap(), None);

    // The same address again: nothing is written.
    let mut twin = new_account_req(&account_record(Role::Operator));
    twin.email_uniq = account.email_uniq.clone();
    let taken = store
        .create_operator(
            &twin,
            &[Permission::Messages],
            "token",
            &PasswordReset {
                token_hash: format!("op-set-twin-{id}"),
                account_id: twin.record.id.clone(),
                expires_at: t0() + 72.hours(),
                created_at: t0(),
            },
            &OutboxWrite::default(),
        )
        .await;
    assert!(
        matches!(taken, Err(StoreError::Conflict(ConflictKind::EmailTaken))),
        "{taken:?}"
    );
    assert_eq!(store.operator(&twin.record.id).await.unwrap(), None);

    // Roles replaced.
    assert!(store
        .set_operator_roles(&id, &[Permission::Messages])
        .await
        .unwrap());
    assert_eq!(
        store.operator(&id).await.unwrap().unwrap().roles,
        vec![Permission::Messages]
    );
    assert!(!store
        .set_operator_roles(&AccountId::new(), &[Permission::Messages])
        .await
        .unwrap());

    // Disabled: sessions and the set-password token go in the same transaction.
    let session = NewSession {
        token_hash: format!("op-session-{id}"),
        account_id: id.clone(),
        created_at: t0(),
        expires_at: t0() + 24.hours(),
        mfa_pending: false,
        device: None,
    };
    store.create_session(&session).await.unwrap();
    assert!(store.disable_operator(&id, t0() + 1.hours()).await.unwrap());
    assert!(store.disable_operator(&id, t0() + 2.hours()).await.unwrap());
    let op = store.operator(&id).await.unwrap().unwrap();
    assert_eq!(
        op.disabled_at,
        Some(t0() + 1.hours()),
        "the first time stays"
    );
    assert!(store
        .session_account(&session.token_hash, t0())
        .await
        .unwrap()
        .is_none());
    assert_eq!(
        store
            .consume_password_reset(&reset.token_hash, "h", t0())
            .await
            .unwrap(),
        None
    );
    assert!(!store
        .disable_operator(&AccountId::new(), t0())
        .await
        .unwrap());

    // The action log: appended in order, newest first.
    let a = store
        .record_operator_action(t0(), &format!("operator:{id}"), "suite.first", Some("x"))
        .await
        .unwrap();
    let b = store
        .record_operator_action(t0(), "operator:token", "suite.second", None)
        .await
        .unwrap();
    assert!(b > a);
    let log = store.operator_actions(2).await.unwrap();
    assert_eq!(
        log.iter()
            .map(|e| (e.seq, e.action.as_str()))
            .collect::<Vec<_>>(),
        vec![(b, "suite.second"), (a, "suite.first")]
    );
    assert_eq!(log[1].actor, format!("operator:{id}"));
    assert_eq!(log[1].target.as_deref(), Some("x"));
}
