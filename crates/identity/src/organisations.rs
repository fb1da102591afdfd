//! Group practices (issue 18 point 4): organisations a practitioner belongs to (a clinic and
//! a private office), their colleagues and assistants. Only members see or change an
//! organisation; for anyone else it does not exist (404).

use super::accounts::{hash_token, parse_name};
use super::{Accounts, AppError, AppResult, Caller, Identity};
use crate::team::{new_invitation_token, Invitation};
use careslot_core::protection::subject_key_name;
use careslot_core::Core;
use careslot_domain::{AccountId, AgendaId, OrganisationId, PractitionerId};
use careslot_store::{Departure, NewInvitation, Organisation, OutboxWrite, Practitioner, Role};

/// Whom an organisation invitation is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Invitee {
    /// A practitioner, who joins with their own account.
    Colleague,
    /// A new assistant account for the organisation.
    Assistant,
}
use jiff::Timestamp;

impl Accounts {
    /// The organisations the caller works in: a practitioner's memberships (their own
    /// one-person organisation is made on first use), or the one an assistant works for.
    pub async fn my_organisations(&self, caller: &Caller) -> AppResult<Vec<Organisation>> {
        match caller.role {
            Role::Practitioner => {
                let me = self.practitioner_of(caller).await?;
                let mut orgs = self.store.organisations_of(&me.id).await?;
                if orgs.is_empty() {
                    self.store
                        .ensure_own_organisation(&me.id, Timestamp::now())
                        .await?;
                    orgs = self.store.organisations_of(&me.id).await?;
                }
                Ok(orgs)
            }
            Role::Assistant => Ok(self
                .store
                .organisation_of_assistant(&caller.id)
                .await?
                .into_iter()
                .collect()),
            Role::Patient | Role::Operator => Err(AppError::Forbidden(
                "only practitioners and their assistants can do this",
            )),
        }
    }

    /// One of the caller's organisations; any other id is unknown.
    pub async fn my_organisation(&self, caller: &Caller, id: &str) -> AppResult<Organisation> {
        self.my_organisations(caller)
            .await?
            .into_iter()
            .find(|o| o.id.as_str() == id)
            .ok_or(AppError::NotFound("organisation"))
    }

    /// The organisation the desk shows: `chosen` when it is one of the caller's, else the
    /// first (an assistant has only one).
    pub async fn current_organisation(
        &self,
        caller: &Caller,
        chosen: Option<&str>,
    ) -> AppResult<Organisation> {
        let orgs = self.my_organisations(caller).await?;
        let pick = chosen
            .and_then(|c| orgs.iter().position(|o| o.id.as_str() == c))
            .unwrap_or(0);
        orgs.into_iter()
            .nth(pick)
            .ok_or(AppError::NotFound("organisation"))
    }

    /// A member practitioner's view of one of their organisations (changes are theirs).
    async fn member_organisation(
        &self,
        caller: &Caller,
        id: &str,
    ) -> AppResult<(Practitioner, Organisation)> {
        Core::require_role(caller, Role::Practitioner)?;
        let me = self.practitioner_of(caller).await?;
        let org = self.my_organisation(caller, id).await?;
        Ok((me, org))
    }

    pub async fn create_organisation(
        &self,
        caller: &Caller,
        name: &str,
    ) -> AppResult<Organisation> {
        let me = self.practitioner_of(caller).await?;
        let org = Organisation {
            id: OrganisationId::new(),
            name: parse_name("name", name)?,
            created_at: Timestamp::now(),
        };
        self.store.create_organisation(&org, &me.id).await?;
        Ok(org)
    }

    pub async fn rename_organisation(
        &self,
        caller: &Caller,
        id: &str,
        name: &str,
    ) -> AppResult<Organisation> {
        let (_, mut org) = self.member_organisation(caller, id).await?;
        org.name = parse_name("name", name)?;
        if !self.store.rename_organisation(&org.id, &org.name).await? {
            return Err(AppError::NotFound("organisation"));
        }
        Ok(org)
    }

    pub async fn organisation_members(
        &self,
        caller: &Caller,
        id: &str,
    ) -> AppResult<Vec<Practitioner>> {
        let org = self.my_organisation(caller, id).await?;
        Ok(self.store.organisation_members(&org.id).await?)
    }

    /// The organisation's assistants, decrypted, each with the agendas it may run.
    pub async fn organisation_assistants(
        &self,
        caller: &Caller,
        id: &str,
    ) -> AppResult<Vec<(Identity, Vec<AgendaId>)>> {
        let (_, org) = self.member_organisation(caller, id).await?;
        let mut out = Vec::new();
        for (r, agendas) in self.store.organisation_assistants(&org.id).await? {
            match self.open_identity(&r).await {
                Ok(i) => out.push((i, agendas)),
                Err(AppError::NotFound(_)) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(out)
    }

    /// A single-use link for a practitioner colleague to join the organisation.
    pub async fn invite_colleague(&self, caller: &Caller, id: &str) -> AppResult<Invitation> {
        self.invite_to_organisation(caller, id, Invitee::Colleague, None)
            .await
    }

    /// A single-use link into the organisation for a colleague or a new assistant, mailed
    /// to `email` when one is given (the mail of the team page's invitations, queued in the
    /// invitation's write).
    pub async fn invite_to_organisation(
        &self,
        caller: &Caller,
        id: &str,
        invitee: Invitee,
        email: Option<&str>,
    ) -> AppResult<Invitation> {
        let (me, org) = self.member_organisation(caller, id).await?;
        let (token, expires_at) = new_invitation_token()?;
        let token_hash = hash_token(&token);
        let site = self.message_site().public_url;
        let link = match invitee {
            Invitee::Colleague => format!("{site}/pro/organisation/join?token={token}"),
            Invitee::Assistant => format!("{site}/invite/{token}"),
        };
        let outbox = match email.map(str::trim).filter(|e| !e.is_empty()) {
            Some(email) => {
                self.invitation_mail(caller, email, (invitee, &org.name), link, &token_hash)
                    .await?
            }
            None => OutboxWrite::default(),
        };
        let now = Timestamp::now();
        match invitee {
            Invitee::Colleague => {
                self.store
                    .create_colleague_invitation(&org.id, &token_hash, now, expires_at, &outbox)
                    .await?
            }
            Invitee::Assistant => {
                self.store
                    .create_organisation_invitation(
                        &org.id,
                        &NewInvitation {
                            token_hash,
                            practitioner_id: me.id,
                            created_at: now,
                            expires_at,
                        },
                        &outbox,
                    )
                    .await?
            }
        }
        self.wake_outbox(&outbox);
        Ok(Invitation { token, expires_at })
    }

    /// The signed-in practitioner joins the organisation of a colleague's link.
    pub async fn join_organisation(&self, caller: &Caller, token: &str) -> AppResult<Organisation> {
        let me = self.practitioner_of(caller).await?;
        if token.is_empty() || token.len() > 128 {
            return Err(AppError::NotFound("invitation"));
        }
        let id = match self
            .store
            .accept_colleague_invitation(&hash_token(token), &me.id, Timestamp::now())
            .await
        {
            Err(careslot_store::StoreError::NotFound) => {
                return Err(AppError::NotFound("invitation"))
            }
            r => r?,
        };
        self.store
            .organisation(&id)
            .await?
            .ok_or(AppError::NotFound("organisation"))
    }

    /// An assistant invitation into the organisation (the link flow of `invite_assistant`).
    pub async fn invite_organisation_assistant(
        &self,
        caller: &Caller,
        id: &str,
    ) -> AppResult<Invitation> {
        self.invite_to_organisation(caller, id, Invitee::Assistant, None)
            .await
    }

    /// Takes a member practitioner out of the organisation: the caller leaving (their own
    /// practitioner id) or removing a colleague. The organisation's assistants lose their
    /// rights on that practitioner's agendas; a practitioner left with none is back in their
    /// own one-person organisation. Refused (409) for its last member, and for a
    /// practitioner's own organisation when it is their only one.
    pub async fn remove_member(&self, caller: &Caller, id: &str, member: &str) -> AppResult<()> {
        let (_, org) = self.member_organisation(caller, id).await?;
        match self
            .store
            .leave_organisation(
                &org.id,
                &PractitionerId(member.to_owned()),
                Timestamp::now(),
            )
            .await?
        {
            Departure::Left => Ok(()),
            Departure::NotMember => Err(AppError::NotFound("member")),
            Departure::LastMember => Err(AppError::Conflict(
                "last-member",
                "the last member of an organisation cannot leave it".into(),
            )),
            Departure::OnlyOrganisation => Err(AppError::Conflict(
                "only-organisation",
                "this is the practitioner's own organisation and their only one: a practitioner keeps one"
                    .into(),
            )),
        }
    }

    /// The caller leaves one of their organisations (see [`Accounts::remove_member`]).
    pub async fn leave_organisation(&self, caller: &Caller, id: &str) -> AppResult<()> {
        let me = self.practitioner_of(caller).await?;
        self.remove_member(caller, id, me.id.as_str()).await
    }

    /// Removes an assistant from the organisation: as on the team page, its account ends
    /// (an assistant works for one organisation) and its key is destroyed.
    pub async fn remove_organisation_assistant(
        &self,
        caller: &Caller,
        id: &str,
        assistant: &str,
    ) -> AppResult<()> {
        let (_, org) = self.member_organisation(caller, id).await?;
        let account = AccountId(assistant.to_owned());
        if !self
            .store
            .remove_organisation_assistant(&org.id, &account)
            .await?
        {
            return Err(AppError::NotFound("assistant"));
        }
        let _ = self.protect.destroy(&subject_key_name(&account)).await;
        Ok(())
    }

    /// Replaces the agendas an assistant of the organisation may run; every one must be a
    /// member's (else nothing changes and the answer is 404).
    pub async fn set_assistant_rights(
        &self,
        caller: &Caller,
        id: &str,
        assistant: &str,
        agendas: &[String],
    ) -> AppResult<()> {
        let (_, org) = self.member_organisation(caller, id).await?;
        if agendas.len() > 500 {
            return Err(AppError::BadRequest("at most 500 agendas".into()));
        }
        let agendas: Vec<AgendaId> = agendas.iter().map(|a| AgendaId(a.clone())).collect();
        match self
            .store
            .set_agenda_rights(&org.id, &AccountId(assistant.to_owned()), &agendas)
            .await
        {
            Err(careslot_store::StoreError::NotFound) => Err(AppError::NotFound("assistant")),
            r => Ok(r?),
        }
    }
}
