//! The account page's changes (issue 14): name, phone (a new number loses its proof),
//! message preferences and language, the password (current one required; other sessions
//! end), and the assistant invitation sent by mail.

use super::{Accounts, AppError, AppResult, Caller, Identity};
use crate::accounts::{hash_token, parse_email, parse_name};
use crate::organisations::Invitee;
use crate::verification::parse_e164;
use careslot_core::protection::subject_key_name;
use careslot_messages::{Content, Lang, Recipient};
use careslot_store::{
    AccountPreferences, AccountSettings, ContactUpdate, NewInvitation, OutboxWrite,
};
use jiff::Timestamp;

/// The account as its page shows it: identity and message settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountView {
    pub identity: Identity,
    pub settings: AccountSettings,
}

/// What the account page may change; `None` leaves a field as it is.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProfileUpdate {
    pub name: Option<String>,
    /// `Some("")` removes the number; any other number must be E.164.
    pub phone: Option<String>,
    pub lang: Option<String>,
    pub reminders_email: Option<bool>,
    pub reminders_sms: Option<bool>,
    pub show_motive: Option<bool>,
}

impl Accounts {
    /// The caller's identity (the read audited) and settings.
    pub async fn account_view(&self, caller: &Caller) -> AppResult<AccountView> {
        let identity = self.me(caller).await?;
        let settings = self.store.account_settings(&caller.id).await?;
        Ok(AccountView { identity, settings })
    }

    /// Applies the account page's changes: invalid fields are 422 and change nothing.
    pub async fn update_profile(
        &self,
        caller: &Caller,
        u: &ProfileUpdate,
    ) -> AppResult<AccountView> {
        let name = u
            .name
            .as_deref()
            .map(|n| parse_name("name", n))
            .transpose()?;
        let phone = match u.phone.as_deref().map(str::trim) {
            None => None,
            Some("") => Some(None),
            Some(p) => Some(Some(parse_e164(p)?)),
        };
        let lang = u
            .lang
            .as_deref()
            .map(|l| {
                Lang::parse(l).ok_or_else(|| {
                    careslot_domain::DomainError::new("lang", "must be one of fr, en, de, it")
                })
            })
            .transpose()?;
        let record = self
            .store
            .account(&caller.id)
            .await?
            .ok_or(AppError::Unauthenticated)?;
        let current = self.open_identity(&record).await?;
        if name.is_some() || phone.is_some() {
            let key = self
                .protect
                .data_key(&subject_key_name(&record.id), &record.wrapped_key)
                .await?;
            let seal = |col: &str, v: &str| {
                self.protect
                    .seal(&key, v.as_bytes(), "accounts", col, record.id.as_str())
            };
            let new_name = name.clone().unwrap_or_else(|| current.name.clone());
            let new_phone = phone.clone().unwrap_or_else(|| current.phone.clone());
            self.store
                .update_contact(
                    &caller.id,
                    &ContactUpdate {
                        name_ct: seal("name", &new_name),
                        phone_ct: new_phone.as_deref().map(|p| seal("phone", p)),
                        phone_changed: new_phone != current.phone,
                    },
                )
                .await?;
        }
        if lang.is_some()
            || u.reminders_email.is_some()
            || u.reminders_sms.is_some()
            || u.show_motive.is_some()
        {
            let s = self.store.account_settings(&caller.id).await?;
            self.store
                .put_account_preferences(
                    &caller.id,
                    &AccountPreferences {
                        lang: lang.map(|l| l.code().to_owned()).unwrap_or(s.lang),
                        reminders_email: u.reminders_email.unwrap_or(s.reminders_email),
                        reminders_sms: u.reminders_sms.unwrap_or(s.reminders_sms),
                        show_motive: u.show_motive.unwrap_or(s.show_motive),
                    },
                )
                .await?;
        }
        self.account_view(caller).await
    }

    /// Changes the password: the current one is required (422 naming `current_password`),
    /// the new one passes the account's policy and is hashed in the bounded pool. Every other
    /// session ends (`keep_token`: the session making the change, kept), reset links die,
    /// and the account is told by mail, all in one write.
    pub async fn change_password(
        &self,
        caller: &Caller,
        current: &str,
        new: &str,
        keep_token: Option<&str>,
    ) -> AppResult<()> {
        let record = self
            .store
            .account(&caller.id)
            .await?
            .ok_or(AppError::Unauthenticated)?;
        let identity = self.open_identity(&record).await?;
        crate::front_door::check_password(new, record.role, &identity.email, &identity.name)?;
        self.check_current_password(caller, current).await?;
        let hash = self.hash_password(new.to_owned()).await?;
        let lang = self.account_lang(&record.id).await?;
        let now = Timestamp::now();
        let site = self.message_site();
        let notice = careslot_messages::compose(
            &site,
            &Content::PasswordChanged {
                reset_link: format!("{}/password-reset", site.public_url),
            },
            Recipient::Email(identity.email),
            lang,
            now,
        )
        .map_err(|e| AppError::Store(careslot_store::StoreError::Internal(e.to_string())))?;
        let outbox = OutboxWrite {
            enqueue: vec![
                self.seal_message(
                    &record,
                    &notice,
                    format!("password-changed:{}", notice.id),
                    now,
                )
                .await?,
            ],
            ..Default::default()
        };
        let keep = keep_token.map(hash_token);
        if !self
            .store
            .change_password(&caller.id, &hash, keep.as_deref(), &outbox)
            .await?
        {
            return Err(AppError::Unauthenticated);
        }
        self.wake_outbox(&outbox);
        Ok(())
    }

    /// Invites an assistant and mails the link to `email` in the same write (see
    /// [`Accounts::invitation_mail`]).
    pub async fn invite_assistant_by_mail(
        &self,
        caller: &Caller,
        email: &str,
    ) -> AppResult<crate::Invitation> {
        let me = self.practitioner_of(caller).await?;
        let (token, expires_at) = crate::team::new_invitation_token()?;
        let token_hash = hash_token(&token);
        let link = format!("{}/invite/{token}", self.message_site().public_url);
        let outbox = self
            .invitation_mail(
                caller,
                email,
                (Invitee::Assistant, &me.name),
                link,
                &token_hash,
            )
            .await?;
        self.store
            .create_invitation_with(
                &NewInvitation {
                    token_hash,
                    practitioner_id: me.id,
                    created_at: Timestamp::now(),
                    expires_at,
                },
                &outbox,
            )
            .await?;
        self.wake_outbox(&outbox);
        Ok(crate::Invitation { token, expires_at })
    }

    /// The mail carrying an invitation `link` for an assistant or a colleague into `to` (a
    /// practice or an organisation, by name) to `email`, to queue in the write that stores
    /// the invitation (whose token hash names it). The invitee may have no
    /// account yet, and the outbox needs an account whose key seals the message: it is sealed
    /// under the inviting account (whose erasure takes it along) and written in that
    /// account's language.
    pub(crate) async fn invitation_mail(
        &self,
        caller: &Caller,
        email: &str,
        (invitee, to): (Invitee, &str),
        link: String,
        token_hash: &str,
    ) -> AppResult<OutboxWrite> {
        let email = parse_email(email)?;
        let record = self
            .store
            .account(&caller.id)
            .await?
            .ok_or(AppError::Unauthenticated)?;
        let inviter = self.open_identity(&record).await?;
        let now = Timestamp::now();
        let lang = self.account_lang(&record.id).await?;
        let valid_days = crate::team::INVITATION_TTL_DAYS;
        let content = match invitee {
            Invitee::Assistant => Content::AssistantInvitation {
                practice: to.to_owned(),
                inviter: inviter.name,
                link,
                valid_days,
            },
            Invitee::Colleague => Content::ColleagueInvitation {
                organisation: to.to_owned(),
                inviter: inviter.name,
                link,
                valid_days,
            },
        };
        let message = careslot_messages::compose(
            &self.message_site(),
            &content,
            Recipient::Email(email),
            lang,
            now,
        )
        .map_err(|e| AppError::Store(careslot_store::StoreError::Internal(e.to_string())))?;
        Ok(OutboxWrite {
            enqueue: vec![
                self.seal_message(&record, &message, format!("invitation:{token_hash}"), now)
                    .await?,
            ],
            ..Default::default()
        })
    }
}
