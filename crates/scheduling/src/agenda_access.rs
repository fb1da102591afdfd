//! Who may do what with an agenda (issue 18 point 4), in one place: its practitioner and
//! the assistants with a right on it run it; the practitioner's colleagues in an
//! organisation may view it (the grid), not change it. Anyone else gets 404, never 403, so
//! that an agenda's existence is not revealed.

use super::{AppError, AppResult, Caller, Scheduling};
use careslot_domain::AgendaId;
use careslot_store::{Agenda, DirectoryEntry, Practitioner, Role};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AgendaAccess {
    /// Book, move, cancel, change settings.
    Run,
    /// See the grid only.
    View,
}

impl Scheduling {
    /// The caller's access to `agenda`, None when they have none.
    pub async fn agenda_access(
        &self,
        caller: &Caller,
        agenda: &Agenda,
    ) -> AppResult<Option<AgendaAccess>> {
        let me = match caller.role {
            Role::Practitioner => Some(self.practitioner_of(caller).await?),
            _ => None,
        };
        self.access_as(caller, me.as_ref(), agenda).await
    }

    /// The same, for a caller whose own practitioner record (`me`, for a practitioner) was
    /// already read: a page over several agendas reads it once.
    async fn access_as(
        &self,
        caller: &Caller,
        me: Option<&Practitioner>,
        agenda: &Agenda,
    ) -> AppResult<Option<AgendaAccess>> {
        match (caller.role, me) {
            (Role::Practitioner, Some(me)) => {
                if agenda.practitioner_id == me.id {
                    Ok(Some(AgendaAccess::Run))
                } else if self
                    .store
                    .share_organisation(&me.id, &agenda.practitioner_id)
                    .await?
                {
                    Ok(Some(AgendaAccess::View))
                } else {
                    Ok(None)
                }
            }
            (Role::Assistant, _) => Ok(self
                .store
                .agenda_right(&caller.id, &agenda.id)
                .await?
                .then_some(AgendaAccess::Run)),
            _ => Ok(None),
        }
    }

    /// Whether the caller runs `agenda`.
    pub(crate) async fn runs(&self, caller: &Caller, agenda: &Agenda) -> AppResult<bool> {
        Ok(self.agenda_access(caller, agenda).await? == Some(AgendaAccess::Run))
    }

    /// An agenda the caller runs, with its practitioner; anyone else's answers 404.
    pub async fn own_agenda(
        &self,
        caller: &Caller,
        id: &AgendaId,
    ) -> AppResult<(Practitioner, Agenda)> {
        // Role errors first, as before organisations (403 for patients, unlinked assistants).
        let me = self.practice_of(caller).await?;
        let agenda = self
            .store
            .agenda(id)
            .await?
            .ok_or(AppError::NotFound("agenda"))?;
        let own = (caller.role == Role::Practitioner).then_some(&me);
        if self.access_as(caller, own, &agenda).await? != Some(AgendaAccess::Run) {
            return Err(AppError::NotFound("agenda"));
        }
        if agenda.practitioner_id == me.id {
            return Ok((me, agenda));
        }
        let owner = self
            .store
            .practitioner(&agenda.practitioner_id)
            .await?
            .ok_or(AppError::NotFound("agenda"))?;
        Ok((owner, agenda))
    }

    /// An agenda the caller runs or views, with which; anyone else's answers 404.
    pub async fn seen_agenda(
        &self,
        caller: &Caller,
        id: &AgendaId,
    ) -> AppResult<(Agenda, AgendaAccess)> {
        let me = self.practice_of(caller).await?;
        self.seen_agenda_as(caller, &me, id).await
    }

    /// [`Self::seen_agenda`] for a caller whose practice (`practice_of`) was already read.
    pub(crate) async fn seen_agenda_as(
        &self,
        caller: &Caller,
        me: &Practitioner,
        id: &AgendaId,
    ) -> AppResult<(Agenda, AgendaAccess)> {
        let agenda = self
            .store
            .agenda(id)
            .await?
            .ok_or(AppError::NotFound("agenda"))?;
        let own = (caller.role == Role::Practitioner).then_some(me);
        match self.access_as(caller, own, &agenda).await? {
            Some(access) => Ok((agenda, access)),
            None => Err(AppError::NotFound("agenda")),
        }
    }

    /// The agendas of one of the caller's organisations (`org`, else the current one) that
    /// the caller runs or views, members in the order they joined: the whole practice's
    /// grid.
    pub async fn practice_agendas(
        &self,
        caller: &Caller,
        org: Option<&str>,
    ) -> AppResult<Vec<(DirectoryEntry, AgendaAccess)>> {
        let org = self.current_organisation(caller, org).await?;
        let mut out = Vec::new();
        let mut rows: Vec<DirectoryEntry> = Vec::new();
        let mut fetched = Vec::new();
        let me = match caller.role {
            Role::Practitioner => Some(self.practitioner_of(caller).await?),
            _ => None,
        };
        for agenda in self.store.organisation_agendas(&org.id).await? {
            let Some(access) = self.access_as(caller, me.as_ref(), &agenda).await? else {
                continue;
            };
            if !fetched.contains(&agenda.practitioner_id) {
                rows.extend(self.store.directory_of(&agenda.practitioner_id).await?);
                fetched.push(agenda.practitioner_id.clone());
            }
            if let Some(row) = rows.iter().find(|r| r.agenda_id == agenda.id) {
                out.push((row.clone(), access));
            }
        }
        Ok(out)
    }
}
