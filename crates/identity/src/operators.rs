//! Operator accounts (issue 15, point 5): the platform's operators (health authority,
//! platform staff) are named accounts with roles. Nobody signs up as one: the operator's
//! bearer token (`POST /api/v1/operators`) or `careslot operator add` creates them, with a
//! one-time set-password link (a password reset valid as long as an assistant's
//! invitation), sent by the outbox too. They sign in like everyone else and act only from a
//! session that gave a second factor; their roles are read on every request, so a change or
//! a disabling applies at once on every node. The bearer token keeps every role, for
//! automation.

use crate::accounts::{hash_token, parse_email, parse_name};
use crate::front_door::Door;
use crate::team::{new_invitation_token, INVITATION_TTL_DAYS};
use crate::{Accounts, AppError, AppResult, Caller, Identity};
use careslot_core::protection::subject_key_name;
use careslot_domain::{AccountId, DomainError};
use careslot_messages::{compose, Content, Lang, Recipient};
use careslot_store::{OperatorRecord, OutboxWrite, PasswordReset, Permission, Role, StoreError};
use jiff::Timestamp;
use std::net::IpAddr;

/// Who acts as the operator: the bearer token (automation) or an operator account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OperatorId {
    Token,
    Account(AccountId),
}

/// An authenticated operator and what it may do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OperatorAuth {
    pub who: OperatorId,
    /// Sorted; every permission for the token.
    pub roles: Vec<Permission>,
}

impl OperatorAuth {
    /// The token's authority: every permission.
    pub fn token() -> Self {
        Self {
            who: OperatorId::Token,
            roles: Permission::ALL.to_vec(),
        }
    }

    /// 403 `forbidden` unless the operator has `p`.
    pub fn require(&self, p: Permission) -> AppResult<()> {
        if self.roles.contains(&p) {
            Ok(())
        } else {
            Err(AppError::Forbidden(match p {
                Permission::Campaign => "this operator account lacks the campaign role",
                Permission::Verification => "this operator account lacks the verification role",
                Permission::Messages => "this operator account lacks the messages role",
            }))
        }
    }

    /// 403 `forbidden` unless this is the bearer token (managing operator accounts).
    pub fn require_token(&self) -> AppResult<()> {
        match self.who {
            OperatorId::Token => Ok(()),
            OperatorId::Account(_) => Err(AppError::Forbidden(
                "operator accounts are managed with the operator token or `careslot operator`",
            )),
        }
    }

    /// How the action logs and the verification history name this operator:
    /// `operator:token` or `operator:<account id>`.
    pub fn actor(&self) -> String {
        match &self.who {
            OperatorId::Token => "operator:token".to_owned(),
            OperatorId::Account(id) => format!("operator:{id}"),
        }
    }

    pub fn has(&self, p: Permission) -> bool {
        self.roles.contains(&p)
    }
}

/// A new operator account and its one-time set-password link.
#[derive(Debug, Clone)]
pub struct NewOperator {
    pub identity: Identity,
    pub roles: Vec<Permission>,
    /// `--public-url` + `/password-reset?token=…`: sets the password once.
    pub link: String,
    pub expires_at: Timestamp,
}

/// An operator account as listed.
#[derive(Debug, Clone)]
pub struct OperatorView {
    pub identity: Identity,
    pub record: OperatorRecord,
}

/// Parses role codes (`campaign`, `verification`, `messages`): sorted, without duplicates.
pub fn parse_roles<S: AsRef<str>>(raw: &[S]) -> Result<Vec<Permission>, DomainError> {
    let mut roles = Vec::with_capacity(raw.len());
    for r in raw {
        roles.push(Permission::parse(r.as_ref().trim()).ok_or_else(|| {
            DomainError::new(
                "roles",
                "each role must be campaign, verification or messages",
            )
        })?);
    }
    roles.sort();
    roles.dedup();
    Ok(roles)
}

/// An account id as given in a path or on the command line.
fn account_id(raw: &str) -> AppResult<AccountId> {
    if raw.is_empty() || raw.len() > 64 {
        return Err(AppError::NotFound("operator"));
    }
    Ok(AccountId(raw.to_owned()))
}

impl Accounts {
    /// Creates an operator account with `roles` and queues its invitation mail; returns the
    /// set-password link (shown once to whoever created it). `created_by`: `token`, `cli`.
    pub async fn create_operator(
        &self,
        email: &str,
        name: &str,
        roles: &[Permission],
        lang: Lang,
        created_by: &str,
    ) -> AppResult<NewOperator> {
        let email = parse_email(email)?;
        let name = parse_name("name", name)?;
        let mut roles = roles.to_vec();
        roles.sort();
        roles.dedup();
        // No usable password until the link sets one: nothing verifies against this.
        let (account, identity) = self
            .seal_identity(Role::Operator, email.clone(), name, None, None, "!".into())
            .await?;
        let (token, expires_at) = new_invitation_token()?;
        let token_hash = hash_token(&token);
        let now = Timestamp::now();
        let site = self.message_site();
        let link = format!("{}/password-reset?token={token}", site.public_url);
        let message = compose(
            &site,
            &Content::OperatorInvitation {
                link: link.clone(),
                valid_days: INVITATION_TTL_DAYS,
            },
            Recipient::Email(email),
            lang,
            now,
        )
        .map_err(|e| AppError::Store(StoreError::Internal(e.to_string())))?;
        let outbox = OutboxWrite {
            enqueue: vec![
                self.seal_message(
                    &account.record,
                    &message,
                    format!("operator-invitation:{token_hash}"),
                    now,
                )
                .await?,
            ],
            ..Default::default()
        };
        let stored = self
            .store
            .create_operator(
                &account,
                &roles,
                created_by,
                &PasswordReset {
                    token_hash,
                    account_id: identity.id.clone(),
                    expires_at,
                    created_at: now,
                },
                &outbox,
            )
            .await;
        if let Err(e) = stored {
            // The key guards nothing: do not leave it behind.
            let _ = self.protect.destroy(&subject_key_name(&identity.id)).await;
            return Err(e.into());
        }
        self.wake_outbox(&outbox);
        Ok(NewOperator {
            identity,
            roles,
            link,
            expires_at,
        })
    }

    async fn operator_view(&self, record: OperatorRecord) -> AppResult<OperatorView> {
        let account = self
            .store
            .account(&record.account_id)
            .await?
            .ok_or(AppError::NotFound("operator"))?;
        let identity = self.open_identity(&account).await?;
        Ok(OperatorView { identity, record })
    }

    /// Every operator account (disabled ones too), oldest first.
    pub async fn operator_accounts(&self) -> AppResult<Vec<OperatorView>> {
        let mut out = Vec::new();
        for record in self.store.operators().await? {
            match self.operator_view(record).await {
                Ok(v) => out.push(v),
                Err(AppError::NotFound(_)) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(out)
    }

    /// Replaces an operator's roles (effective at the operator's next request).
    pub async fn set_operator_roles(
        &self,
        id: &str,
        roles: &[Permission],
    ) -> AppResult<OperatorView> {
        let id = account_id(id)?;
        if !self.store.set_operator_roles(&id, roles).await? {
            return Err(AppError::NotFound("operator"));
        }
        let record = self
            .store
            .operator(&id)
            .await?
            .ok_or(AppError::NotFound("operator"))?;
        self.operator_view(record).await
    }

    /// Disables an operator account: its sessions and set-password link end at once, and it
    /// cannot sign in again.
    pub async fn disable_operator(&self, id: &str) -> AppResult<()> {
        let id = account_id(id)?;
        if !self.store.disable_operator(&id, Timestamp::now()).await? {
            return Err(AppError::NotFound("operator"));
        }
        Ok(())
    }

    /// Whether an account may sign in: every account but a disabled operator's.
    pub(crate) async fn may_sign_in(&self, identity: &Identity) -> AppResult<bool> {
        if identity.role != Role::Operator {
            return Ok(true);
        }
        Ok(self
            .store
            .operator(&identity.id)
            .await?
            .is_some_and(|o| o.disabled_at.is_none()))
    }

    /// The operator behind an account session: an operator account, enabled, whose session
    /// gave a second factor (else `MfaRequired`: the web leads to the set-up), with its
    /// roles as stored now.
    pub async fn operator_of(&self, caller: &Caller) -> AppResult<OperatorAuth> {
        if caller.role != Role::Operator {
            return Err(AppError::Forbidden("only operator accounts can do this"));
        }
        if !caller.second_factor {
            return Err(AppError::MfaRequired);
        }
        let record = self
            .store
            .operator(&caller.id)
            .await?
            .filter(|o| o.disabled_at.is_none())
            .ok_or(AppError::Unauthenticated)?;
        Ok(OperatorAuth {
            who: OperatorId::Account(caller.id.clone()),
            roles: record.roles,
        })
    }

    /// The operator behind a bearer token: the operator token (every role), or an operator
    /// account's session (see [`Accounts::operator_of`]); other accounts' sessions get 401. Throttled per client address: a
    /// token that is neither counts as a failure, and while the address is blocked even the
    /// right token gets 429. (Not per account: one shared counter would let anyone lock the
    /// operator out.) No token at all is not an attempt: a cheap 401, no counter.
    pub async fn authenticate_operator(
        &self,
        token: &str,
        client: IpAddr,
    ) -> AppResult<OperatorAuth> {
        if token.is_empty() {
            return Err(AppError::Unauthenticated);
        }
        let (_, address) = self.throttle_keys(Door::Operator, None, client);
        self.check_throttle(None, &address).await?;
        if let Some(expected) = &self.config.operator_token {
            if expected.matches(token.as_bytes()) {
                return Ok(OperatorAuth::token());
            }
        }
        match self.authenticate(token).await {
            // Another kind of account holds no operator credential: 401 as for no token
            // (not a guess at the token, so not counted).
            Ok(caller) if caller.role != Role::Operator => Err(AppError::Unauthenticated),
            Ok(caller) => self.operator_of(&caller).await,
            Err(AppError::Unauthenticated) => {
                self.count_failure(&address, self.identity.throttle.address)
                    .await?;
                Err(AppError::Unauthenticated)
            }
            Err(e) => Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_parse_sorted_without_duplicates() {
        assert_eq!(
            parse_roles(&["messages", " campaign", "messages"]).expect("roles"),
            vec![Permission::Campaign, Permission::Messages]
        );
        assert_eq!(parse_roles::<&str>(&[]).expect("none"), vec![]);
        assert_eq!(parse_roles(&["admin"]).expect_err("bad").field, "roles");
    }

    #[test]
    fn the_token_has_every_permission_an_account_only_its_roles() {
        let token = OperatorAuth::token();
        assert!(Permission::ALL.iter().all(|p| token.require(*p).is_ok()));
        assert!(token.require_token().is_ok());
        assert_eq!(token.actor(), "operator:token");
        let account = OperatorAuth {
            who: OperatorId::Account(AccountId("acc-1".into())),
            roles: vec![Permission::Verification],
        };
        assert!(account.require(Permission::Verification).is_ok());
        assert!(matches!(
            account.require(Permission::Campaign),
            Err(AppError::Forbidden(_))
        ));
        assert!(matches!(
            account.require_token(),
            Err(AppError::Forbidden(_))
        ));
        assert_eq!(account.actor(), "operator:acc-1");
    }
}
