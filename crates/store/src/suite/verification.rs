//! Account verification and changes (issue 14): sign-up writes account, settings, token and
//! message together or not at all; email tokens are single use, expire, and only the latest
//! of a purpose works; an email change swaps the address (and its lookups) only with its
//! token and refuses a taken address; SMS codes die after five wrong tries, and a phone
//! change clears its proof; a password change keeps only the current session; erasure takes
//! every new row with the account.

use super::{
    account_record, bidx, fake_ct, new_account, new_account_req, outbox_message, queue, t0,
};
use crate::*;
use jiff::ToSpan;

pub(super) async fn verification(store: &dyn Store) {
    sign_up_is_one_write(store).await;
    pending_web_sign_ups(store).await;
    email_tokens(store).await;
    email_change(store).await;
    phone_codes(store).await;
    contact_preferences_and_password(store).await;
    invitation_with_mail(store).await;
}

fn token(account: &AccountId, hash: &str, purpose: EmailTokenPurpose) -> EmailToken {
    EmailToken {
        token_hash: hash.to_owned(),
        account_id: account.clone(),
        purpose,
        new_email_ct: (purpose == EmailTokenPurpose::Change).then(|| fake_ct("new-email", hash)),
        expires_at: t0() + 24.hours(),
        created_at: t0(),
    }
}

async fn sign_up_is_one_write(store: &dyn Store) {
    let record = account_record(Role::Patient);
    let settings = AccountSettings {
        lang: "de".into(),
        ..AccountSettings::default()
    };
    let verify = token(
        &record.id,
        &format!("verify-{}", record.id),
        EmailTokenPurpose::Verify,
    );
    let mail = outbox_message(&record.id, &format!("verify:{}", record.id), t0());
    store
        .create_account_with(
            &new_account_req(&record),
            &settings,
            Some(&verify),
            &queue(vec![mail]),
        )
        .await
        .unwrap();
    assert_eq!(store.account_settings(&record.id).await.unwrap().lang, "de");
    assert_eq!(
        store.email_token(&verify.token_hash, t0()).await.unwrap(),
        Some(verify.clone())
    );
    assert_eq!(store.outbox_of(&record.id).await.unwrap().len(), 1);
    assert_eq!(
        store.password_hash(&record.id).await.unwrap().as_deref(),
        Some("not-a-real-hash")
    );

    // The same address again: refused, and nothing of the second attempt stays.
    let mut twin = account_record(Role::Patient);
    twin.id = AccountId::new();
    let mut req = new_account_req(&twin);
    req.email_uniq = format!("uniq-{}", record.id);
    let twin_token = token(
        &twin.id,
        &format!("verify-{}", twin.id),
        EmailTokenPurpose::Verify,
    );
    let refused = store
        .create_account_with(
            &req,
            &AccountSettings::default(),
            Some(&twin_token),
            &queue(vec![outbox_message(
                &twin.id,
                &format!("verify:{}", twin.id),
                t0(),
            )]),
        )
        .await;
    assert!(
        matches!(refused, Err(StoreError::Conflict(ConflictKind::EmailTaken))),
        "{refused:?}"
    );
    assert!(store.account(&twin.id).await.unwrap().is_none());
    assert!(store
        .email_token(&twin_token.token_hash, t0())
        .await
        .unwrap()
        .is_none());
    assert!(store.outbox_of(&twin.id).await.unwrap().is_empty());
    assert!(store.password_hash(&twin.id).await.unwrap().is_none());
}

/// Whether the sign-in lookup sees `record` as pending.
async fn pending_at_sign_in(store: &dyn Store, record: &AccountRecord) -> bool {
    store
        .account_candidates(bidx(record.id.as_str()) & 0xff)
        .await
        .unwrap()
        .into_iter()
        .find(|c| c.record.id == record.id)
        .expect("candidate")
        .email_pending
}

/// A web sign-up is pending from the write that creates it until its address is proven
/// (by a link or by an instant sign-up's code); the database never holds a pending account
/// with a verified address; other accounts are never pending.
async fn pending_web_sign_ups(store: &dyn Store) {
    let pending = AccountSettings {
        email_pending: true,
        ..AccountSettings::default()
    };
    // Not with a verified address.
    let record = account_record(Role::Patient);
    let contradiction = store
        .create_account_with(
            &new_account_req(&record),
            &AccountSettings {
                email_verified_at: Some(t0()),
                ..pending.clone()
            },
            None,
            &OutboxWrite::default(),
        )
        .await;
    assert!(contradiction.is_err(), "{contradiction:?}");
    assert!(store.account(&record.id).await.unwrap().is_none());

    // Proven by a link.
    let verify = token(
        &record.id,
        &format!("pending-{}", record.id),
        EmailTokenPurpose::Verify,
    );
    store
        .create_account_with(
            &new_account_req(&record),
            &pending,
            Some(&verify),
            &OutboxWrite::default(),
        )
        .await
        .unwrap();
    assert!(pending_at_sign_in(store, &record).await);
    assert!(
        store
            .account_settings(&record.id)
            .await
            .unwrap()
            .email_pending
    );
    // Preferences saved meanwhile keep it.
    store
        .put_account_settings(
            &record.id,
            &AccountSettings {
                lang: "it".into(),
                ..AccountSettings::default()
            },
        )
        .await
        .unwrap();
    assert!(pending_at_sign_in(store, &record).await);
    let at = t0() + 1.hour();
    assert_eq!(
        store.confirm_email(&verify.token_hash, at).await.unwrap(),
        Some(record.id.clone())
    );
    assert!(!pending_at_sign_in(store, &record).await);
    let settings = store.account_settings(&record.id).await.unwrap();
    assert!(!settings.email_pending);
    assert_eq!(settings.email_verified_at, Some(at));
    assert_eq!(settings.lang, "it");

    // Proven by an instant sign-up's code.
    let coded = account_record(Role::Patient);
    store
        .create_account_with(
            &new_account_req(&coded),
            &pending,
            None,
            &OutboxWrite::default(),
        )
        .await
        .unwrap();
    let ticket = format!("ticket-{}", coded.id);
    store
        .create_signup_code(
            &SignupCode {
                ticket_hash: ticket.clone(),
                account: Some(coded.id.clone()),
                code_hash: "code".into(),
                expires_at: t0() + 15.minutes(),
                created_at: t0(),
            },
            &OutboxWrite::default(),
        )
        .await
        .unwrap();
    assert!(pending_at_sign_in(store, &coded).await);
    assert_eq!(
        store
            .check_signup_code(&ticket, "code", t0())
            .await
            .unwrap(),
        SignupCodeCheck::Verified(coded.id.clone())
    );
    assert!(!pending_at_sign_in(store, &coded).await);

    // Accounts made otherwise (API, importer, demo) are not pending, with or without settings.
    let plain = new_account(store, Role::Patient).await;
    assert!(!pending_at_sign_in(store, &plain).await);
    let api = account_record(Role::Patient);
    store
        .create_account_with(
            &new_account_req(&api),
            &AccountSettings::default(),
            None,
            &OutboxWrite::default(),
        )
        .await
        .unwrap();
    assert!(!pending_at_sign_in(store, &api).await);
    for r in [&record, &coded, &plain, &api] {
        store.erase_account(&r.id, &[]).await.unwrap();
    }
}

async fn email_tokens(store: &dyn Store) {
    let a = new_account(store, Role::Patient).await;
    let first = token(&a.id, &format!("v1-{}", a.id), EmailTokenPurpose::Verify);
    let second = token(&a.id, &format!("v2-{}", a.id), EmailTokenPurpose::Verify);
    store
        .create_email_token(&first, &OutboxWrite::default())
        .await
        .unwrap();
    store
        .create_email_token(
            &second,
            &queue(vec![outbox_message(
                &a.id,
                &format!("verify2:{}", a.id),
                t0(),
            )]),
        )
        .await
        .unwrap();
    assert_eq!(store.outbox_of(&a.id).await.unwrap().len(), 1);
    // Only the latest link works.
    assert!(store
        .email_token(&first.token_hash, t0())
        .await
        .unwrap()
        .is_none());
    assert_eq!(
        store.confirm_email(&first.token_hash, t0()).await.unwrap(),
        None
    );
    // Expired: refused, and the address stays unverified.
    let late = t0() + 25.hours();
    assert!(store
        .email_token(&second.token_hash, late)
        .await
        .unwrap()
        .is_none());
    assert_eq!(
        store.confirm_email(&second.token_hash, late).await.unwrap(),
        None
    );
    assert_eq!(
        store
            .account_settings(&a.id)
            .await
            .unwrap()
            .email_verified_at,
        None
    );
    // In time: verified, once.
    let at = t0() + 1.hour();
    assert_eq!(
        store.confirm_email(&second.token_hash, at).await.unwrap(),
        Some(a.id.clone())
    );
    assert_eq!(
        store
            .account_settings(&a.id)
            .await
            .unwrap()
            .email_verified_at,
        Some(at)
    );
    assert_eq!(
        store.confirm_email(&second.token_hash, at).await.unwrap(),
        None
    );
    // A change token does not verify the current address.
    let change = token(&a.id, &format!("c-{}", a.id), EmailTokenPurpose::Change);
    store
        .create_email_token(&change, &OutboxWrite::default())
        .await
        .unwrap();
    assert_eq!(
        store.confirm_email(&change.token_hash, at).await.unwrap(),
        None
    );
    // Unknown account.
    let orphan = token(&AccountId::new(), "orphan", EmailTokenPurpose::Verify);
    let missing = store
        .create_email_token(&orphan, &OutboxWrite::default())
        .await;
    assert!(matches!(missing, Err(StoreError::NotFound)), "{missing:?}");
    // Erasure takes the tokens with the account.
    store.erase_account(&a.id, &[]).await.unwrap();
    assert!(store
        .email_token(&change.token_hash, at)
        .await
        .unwrap()
        .is_none());
}

async fn email_change(store: &dyn Store) {
    let a = new_account(store, Role::Patient).await;
    let other = new_account(store, Role::Patient).await;
    let change = token(
        &a.id,
        &format!("change-{}", a.id),
        EmailTokenPurpose::Change,
    );
    let verify = token(
        &a.id,
        &format!("verify-old-{}", a.id),
        EmailTokenPurpose::Verify,
    );
    store
        .create_email_token(&verify, &OutboxWrite::default())
        .await
        .unwrap();
    store
        .create_email_token(&change, &OutboxWrite::default())
        .await
        .unwrap();
    let new_address = EmailChange {
        email_ct: fake_ct("email-new", a.id.as_str()),
        email_bidx: 4242,
        email_uniq: format!("uniq-new-{}", a.id),
    };
    let at = t0() + 2.hours();
    // Another account's change token, or the wrong purpose, changes nothing.
    assert!(!store
        .change_email(
            &change.token_hash,
            &other.id,
            &new_address,
            at,
            &OutboxWrite::default()
        )
        .await
        .unwrap());
    assert!(!store
        .change_email(
            &verify.token_hash,
            &a.id,
            &new_address,
            at,
            &OutboxWrite::default()
        )
        .await
        .unwrap());
    // An address another account holds: refused, nothing changes, the token still works.
    let taken = EmailChange {
        email_uniq: format!("uniq-{}", other.id),
        ..new_address.clone()
    };
    let refused = store
        .change_email(
            &change.token_hash,
            &a.id,
            &taken,
            at,
            &OutboxWrite::default(),
        )
        .await;
    assert!(
        matches!(refused, Err(StoreError::Conflict(ConflictKind::EmailTaken))),
        "{refused:?}"
    );
    assert_eq!(
        store.account(&a.id).await.unwrap().unwrap().email_ct,
        a.email_ct
    );
    // The right token: the address and its lookup change, the old links die, the notice
    // is queued in the same write.
    let notice = outbox_message(&a.id, &format!("email-changed:{}", a.id), at);
    assert!(store
        .change_email(
            &change.token_hash,
            &a.id,
            &new_address,
            at,
            &queue(vec![notice])
        )
        .await
        .unwrap());
    assert_eq!(
        store.account(&a.id).await.unwrap().unwrap().email_ct,
        new_address.email_ct
    );
    let found = store.account_candidates(4242).await.unwrap();
    assert!(found.iter().any(|c| c.record.id == a.id));
    assert!(store
        .email_token(&verify.token_hash, at)
        .await
        .unwrap()
        .is_none());
    assert_eq!(
        store
            .account_settings(&a.id)
            .await
            .unwrap()
            .email_verified_at,
        Some(at)
    );
    assert_eq!(store.outbox_of(&a.id).await.unwrap().len(), 1);
    // Single use.
    assert!(!store
        .change_email(
            &change.token_hash,
            &a.id,
            &new_address,
            at,
            &OutboxWrite::default()
        )
        .await
        .unwrap());
    // The old uniqueness hash is free again.
    let reuse = AccountRecord {
        id: AccountId::new(),
        ..account_record(Role::Patient)
    };
    let mut req = new_account_req(&reuse);
    req.email_uniq = format!("uniq-{}", a.id);
    store.create_account(&req).await.unwrap();
}

async fn phone_codes(store: &dyn Store) {
    let a = new_account(store, Role::Patient).await;
    let code = |hash: &str| PhoneCode {
        account_id: a.id.clone(),
        code_hash: hash.to_owned(),
        expires_at: t0() + 10.minutes(),
        created_at: t0(),
    };
    let at = t0() + 1.minute();
    assert_eq!(
        store.check_phone_code(&a.id, "right", at).await.unwrap(),
        PhoneCodeCheck::Missing
    );
    let sms = outbox_message(&a.id, &format!("phone-code:{}", a.id), t0());
    store
        .create_phone_code(&code("right"), &queue(vec![sms]))
        .await
        .unwrap();
    assert_eq!(store.outbox_of(&a.id).await.unwrap().len(), 1);
    for left in (1..PHONE_CODE_MAX_FAILURES).rev() {
        assert_eq!(
            store.check_phone_code(&a.id, "wrong", at).await.unwrap(),
            PhoneCodeCheck::Wrong { tries_left: left }
        );
    }
    assert_eq!(
        store.check_phone_code(&a.id, "wrong", at).await.unwrap(),
        PhoneCodeCheck::Locked
    );
    // Locked: even the right code is refused until a new one is sent.
    assert_eq!(
        store.check_phone_code(&a.id, "right", at).await.unwrap(),
        PhoneCodeCheck::Locked
    );
    assert_eq!(
        store
            .account_settings(&a.id)
            .await
            .unwrap()
            .phone_verified_at,
        None
    );
    store
        .create_phone_code(&code("fresh"), &OutboxWrite::default())
        .await
        .unwrap();
    // Expired.
    assert_eq!(
        store
            .check_phone_code(&a.id, "fresh", t0() + 11.minutes())
            .await
            .unwrap(),
        PhoneCodeCheck::Missing
    );
    assert_eq!(
        store.check_phone_code(&a.id, "fresh", at).await.unwrap(),
        PhoneCodeCheck::Verified
    );
    assert_eq!(
        store
            .account_settings(&a.id)
            .await
            .unwrap()
            .phone_verified_at,
        Some(at)
    );
    // Spent.
    assert_eq!(
        store.check_phone_code(&a.id, "fresh", at).await.unwrap(),
        PhoneCodeCheck::Missing
    );
    // A new number loses the proof and any live code.
    store
        .create_phone_code(&code("pending"), &OutboxWrite::default())
        .await
        .unwrap();
    store
        .update_contact(
            &a.id,
            &ContactUpdate {
                name_ct: fake_ct("name2", a.id.as_str()),
                phone_ct: Some(fake_ct("phone2", a.id.as_str())),
                phone_changed: true,
            },
        )
        .await
        .unwrap();
    assert_eq!(
        store
            .account_settings(&a.id)
            .await
            .unwrap()
            .phone_verified_at,
        None
    );
    assert_eq!(
        store.check_phone_code(&a.id, "pending", at).await.unwrap(),
        PhoneCodeCheck::Missing
    );
    let missing = store
        .create_phone_code(
            &PhoneCode {
                account_id: AccountId::new(),
                ..code("x")
            },
            &OutboxWrite::default(),
        )
        .await;
    assert!(matches!(missing, Err(StoreError::NotFound)), "{missing:?}");
    store.erase_account(&a.id, &[]).await.unwrap();
}

async fn contact_preferences_and_password(store: &dyn Store) {
    let a = new_account(store, Role::Patient).await;
    let verified = AccountSettings {
        email_verified_at: Some(t0()),
        phone_verified_at: Some(t0()),
        ..AccountSettings::default()
    };
    store.put_account_settings(&a.id, &verified).await.unwrap();
    // Same number: the proof stays; name and phone are replaced.
    store
        .update_contact(
            &a.id,
            &ContactUpdate {
                name_ct: fake_ct("renamed", a.id.as_str()),
                phone_ct: a.phone_ct.clone(),
                phone_changed: false,
            },
        )
        .await
        .unwrap();
    let r = store.account(&a.id).await.unwrap().unwrap();
    assert_eq!(r.name_ct, fake_ct("renamed", a.id.as_str()));
    assert_eq!(
        store
            .account_settings(&a.id)
            .await
            .unwrap()
            .phone_verified_at,
        Some(t0())
    );
    // Preferences leave the proofs alone.
    let prefs = AccountPreferences {
        lang: "it".into(),
        reminders_email: false,
        reminders_sms: false,
        show_motive: true,
    };
    store.put_account_preferences(&a.id, &prefs).await.unwrap();
    let s = store.account_settings(&a.id).await.unwrap();
    assert_eq!(
        (
            s.lang.as_str(),
            s.reminders_email,
            s.reminders_sms,
            s.show_motive
        ),
        ("it", false, false, true)
    );
    assert_eq!(s.email_verified_at, Some(t0()));
    assert!(store
        .put_account_preferences(
            &a.id,
            &AccountPreferences {
                lang: "xx".into(),
                ..prefs.clone()
            }
        )
        .await
        .is_err());
    let missing = store
        .put_account_preferences(&AccountId::new(), &prefs)
        .await;
    assert!(matches!(missing, Err(StoreError::NotFound)), "{missing:?}");
    let missing = store
        .update_contact(
            &AccountId::new(),
            &ContactUpdate {
                name_ct: vec![1],
                phone_ct: None,
                phone_changed: false,
            },
        )
        .await;
    assert!(matches!(missing, Err(StoreError::NotFound)), "{missing:?}");

    // Password change: only the current session survives, reset links die, the notice is
    // queued with it.
    let session = |n: &str| NewSession {
        token_hash: format!("{n}-{}", a.id),
        account_id: a.id.clone(),
        created_at: t0(),
        expires_at: t0() + 720.hours(),
        mfa_pending: false,
        device: None,
    };
    for n in ["current", "other"] {
        store.create_session(&session(n)).await.unwrap();
    }
    store
        .create_password_reset(
            &PasswordReset {
                token_hash: format!("reset-{}", a.id),
                account_id: a.id.clone(),
                expires_at: t0() + 30.minutes(),
                created_at: t0(),
            },
            &OutboxWrite::default(),
        )
        .await
        .unwrap();
    let notice = outbox_message(&a.id, &format!("password-changed:{}", a.id), t0());
    let current = format!("current-{}", a.id);
    assert!(store
        .change_password(&a.id, "new-hash", Some(&current), &queue(vec![notice]))
        .await
        .unwrap());
    let now = t0() + 1.minute();
    assert!(store.session(&current, now).await.unwrap().is_some());
    assert!(store
        .session(&format!("other-{}", a.id), now)
        .await
        .unwrap()
        .is_none());
    assert_eq!(
        store
            .consume_password_reset(&format!("reset-{}", a.id), "x", now)
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        store.password_hash(&a.id).await.unwrap().as_deref(),
        Some("new-hash")
    );
    assert_eq!(store.outbox_of(&a.id).await.unwrap().len(), 1);
    assert!(!store
        .change_password(&AccountId::new(), "h", None, &OutboxWrite::default())
        .await
        .unwrap());
}

async fn invitation_with_mail(store: &dyn Store) {
    let f = super::fixture(store, 20, 1).await;
    let inviter = f.practitioner.account_id.clone();
    let inv = NewInvitation {
        token_hash: format!("invite-mail-{}", inviter),
        practitioner_id: f.practitioner.id.clone(),
        created_at: t0(),
        expires_at: t0() + 72.hours(),
    };
    let mail = outbox_message(&inviter, &format!("invitation:{}", inv.token_hash), t0());
    store
        .create_invitation_with(&inv, &queue(vec![mail.clone()]))
        .await
        .unwrap();
    let rows = store.outbox_of(&inviter).await.unwrap();
    assert!(rows.iter().any(|r| r.id == mail.id), "{rows:?}");
    // The same token twice: refused, and its message with it.
    let again = outbox_message(&inviter, &format!("invitation2:{}", inv.token_hash), t0());
    assert!(store
        .create_invitation_with(&inv, &queue(vec![again.clone()]))
        .await
        .is_err());
    let rows = store.outbox_of(&inviter).await.unwrap();
    assert!(rows.iter().all(|r| r.id != again.id), "{rows:?}");

    // Accepted on the web: the assistant's account is pending, with its verification link
    // and mail, all in the invitation's transaction.
    let anne = account_record(Role::Assistant);
    let verify = token(
        &anne.id,
        &format!("verify-{}", anne.id),
        EmailTokenPurpose::Verify,
    );
    let link_mail = outbox_message(&anne.id, &format!("verify:{}", anne.id), t0());
    let pending = AccountSettings {
        email_pending: true,
        ..AccountSettings::default()
    };
    assert_eq!(
        store
            .accept_invitation_with(
                &inv.token_hash,
                &new_account_req(&anne),
                &pending,
                Some(&verify),
                &queue(vec![link_mail]),
                t0(),
            )
            .await
            .unwrap(),
        f.practitioner.id
    );
    assert!(
        store
            .account_settings(&anne.id)
            .await
            .unwrap()
            .email_pending
    );
    assert_eq!(store.outbox_of(&anne.id).await.unwrap().len(), 1);
    assert_eq!(
        store.confirm_email(&verify.token_hash, t0()).await.unwrap(),
        Some(anne.id.clone())
    );
    assert!(
        !store
            .account_settings(&anne.id)
            .await
            .unwrap()
            .email_pending
    );

    // An attempt with a taken address spends a live invitation without an account; a spent
    // or unknown one is not spent again.
    let spare = NewInvitation {
        token_hash: format!("invite-spare-{}", inviter),
        ..inv.clone()
    };
    store.create_invitation(&spare).await.unwrap();
    let attempt = AccountId::new();
    assert!(store
        .spend_invitation(&spare.token_hash, &attempt, t0())
        .await
        .unwrap());
    assert!(!store
        .spend_invitation(&spare.token_hash, &attempt, t0())
        .await
        .unwrap());
    assert!(!store
        .spend_invitation("unknown", &attempt, t0())
        .await
        .unwrap());
    let late = account_record(Role::Assistant);
    let r = store
        .accept_invitation(&spare.token_hash, &new_account_req(&late), t0())
        .await;
    assert!(matches!(r, Err(StoreError::NotFound)), "{r:?}");
    assert!(store.account(&late.id).await.unwrap().is_none());
    assert!(store.account(&attempt).await.unwrap().is_none());
}
