//! Practice accounts: which practitioner a practitioner's or assistant's account acts for.

use crate::Accounts;
use careslot_core::{AppError, AppResult, Caller, Core};
use careslot_store::{Practitioner, Role};

impl Accounts {
    /// The caller's practitioner profile; practitioners must create it before anything else.
    pub async fn practitioner_of(&self, caller: &Caller) -> AppResult<Practitioner> {
        Core::require_role(caller, Role::Practitioner)?;
        self.store
            .practitioner_by_account(&caller.id)
            .await?
            .ok_or_else(|| {
                AppError::Conflict(
                    "profile-required",
                    "create your profile first: PUT /api/v1/practitioner/profile".into(),
                )
            })
    }

    /// The practitioner whose agenda the caller runs: their own, or the one who invited
    /// them (assistants).
    pub async fn practice_of(&self, caller: &Caller) -> AppResult<Practitioner> {
        match caller.role {
            Role::Practitioner => self.practitioner_of(caller).await,
            Role::Assistant => {
                let id = self
                    .store
                    .assistant_of(&caller.id)
                    .await?
                    .ok_or(AppError::Forbidden("this assistant account is not linked"))?;
                self.store
                    .practitioner(&id)
                    .await?
                    .ok_or(AppError::NotFound("practitioner"))
            }
            Role::Patient | Role::Operator => Err(AppError::Forbidden(
                "only practitioners and their assistants can do this",
            )),
        }
    }
}
