//! A patient's relatives (children, parents they book for), sealed under the patient's own
//! data key like the rest of their identity.

use super::accounts::parse_name;
use super::{Accounts, AppError, AppResult, Caller, Core};
use careslot_core::protection::subject_key_name;
use careslot_domain::{DomainError, RelativeId};
use careslot_store::{RelativeRecord, Role};
use jiff::Timestamp;

/// A relative, decrypted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Relative {
    pub id: RelativeId,
    pub name: String,
    pub birth_date: Option<String>,
}

/// A patient manages a family, not a crowd.
pub const MAX_RELATIVES: usize = 20;

impl Accounts {
    async fn subject_key(&self, caller: &Caller) -> AppResult<careslot_vault::DataKey> {
        let record = self
            .store
            .account(&caller.id)
            .await?
            .ok_or(AppError::Unauthenticated)?;
        Ok(self
            .protect
            .data_key(&subject_key_name(&caller.id), &record.wrapped_key)
            .await?)
    }

    /// The caller's relatives, decrypted (the read audited).
    pub async fn relatives(&self, caller: &Caller) -> AppResult<Vec<Relative>> {
        Core::require_role(caller, Role::Patient)?;
        let rows = self.store.relatives(&caller.id).await?;
        if rows.is_empty() {
            return Ok(Vec::new());
        }
        let key = self.subject_key(caller).await?;
        let p = &self.protect;
        let mut out = Vec::with_capacity(rows.len());
        for r in rows {
            let id = r.id.as_str();
            out.push(Relative {
                name: p.open_string(&key, &r.name_ct, "relatives", "name", id)?,
                birth_date: r
                    .birth_date_ct
                    .as_deref()
                    .map(|c| p.open_string(&key, c, "relatives", "birth_date", id))
                    .transpose()?,
                id: r.id,
            });
        }
        self.audit(caller, &[(caller.id.clone(), "relatives.list")])
            .await?;
        Ok(out)
    }

    pub async fn add_relative(
        &self,
        caller: &Caller,
        name: &str,
        birth_date: Option<&str>,
    ) -> AppResult<Relative> {
        Core::require_role(caller, Role::Patient)?;
        let name = parse_name("relative_name", name)?;
        let birth_date = match birth_date.map(str::trim) {
            None | Some("") => None,
            Some(d) => Some(super::accounts::parse_birth_date(d).map_err(|_| {
                DomainError::new("relative_birth_date", "must be a past date after 1900")
            })?),
        };
        if self.store.relatives(&caller.id).await?.len() >= MAX_RELATIVES {
            return Err(DomainError::new(
                "relative_name",
                "an account can have at most 20 relatives",
            )
            .into());
        }
        let key = self.subject_key(caller).await?;
        let id = RelativeId::new();
        let p = &self.protect;
        let seal = |col: &str, v: &str| p.seal(&key, v.as_bytes(), "relatives", col, id.as_str());
        self.store
            .create_relative(&RelativeRecord {
                account_id: caller.id.clone(),
                created_at: Timestamp::now(),
                name_ct: seal("name", &name),
                birth_date_ct: birth_date.as_deref().map(|d| seal("birth_date", d)),
                id: id.clone(),
            })
            .await?;
        Ok(Relative {
            id,
            name,
            birth_date,
        })
    }

    pub async fn remove_relative(&self, caller: &Caller, id: &str) -> AppResult<()> {
        Core::require_role(caller, Role::Patient)?;
        if self
            .store
            .delete_relative(&caller.id, &RelativeId(id.to_owned()))
            .await?
        {
            Ok(())
        } else {
            Err(AppError::NotFound("relative"))
        }
    }

    /// One of the caller's relatives, by id; anyone else's is unknown.
    pub async fn own_relative(&self, caller: &Caller, id: &str) -> AppResult<RelativeId> {
        self.store
            .relatives(&caller.id)
            .await?
            .into_iter()
            .find(|r| r.id.as_str() == id)
            .map(|r| r.id)
            .ok_or(AppError::NotFound("relative"))
    }
}
