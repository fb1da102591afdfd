//! Request and response bodies of the accounts and sessions endpoints (the contract:
//! shared/api-v1.md). Kept apart from the domain types so that the wire format is explicit.

use crate::Identity;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewAccountBody {
    pub email: String,
    /// At least 10 characters.
    pub password: String,
    pub name: String,
    /// `patient` or `practitioner`.
    pub role: RoleBody,
    /// Optional contact phone, stored encrypted.
    pub phone: Option<String>,
    /// Optional birth date YYYY-MM-DD, stored encrypted.
    pub birth_date: Option<String>,
}

#[derive(Debug, Clone, Copy, Deserialize, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum RoleBody {
    Patient,
    Practitioner,
    /// Runs a practitioner's agenda; created only through an invitation (web app).
    Assistant,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AccountBody {
    pub id: String,
    pub email: String,
    pub name: String,
    pub role: RoleBody,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub phone: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub birth_date: Option<String>,
}

impl From<&Identity> for AccountBody {
    fn from(a: &Identity) -> Self {
        Self {
            id: a.id.to_string(),
            email: a.email.clone(),
            name: a.name.clone(),
            phone: a.phone.clone(),
            birth_date: a.birth_date.clone(),
            role: match a.role {
                careslot_store::Role::Patient => RoleBody::Patient,
                careslot_store::Role::Practitioner => RoleBody::Practitioner,
                careslot_store::Role::Assistant => RoleBody::Assistant,
            },
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewSessionBody {
    pub email: String,
    pub password: String,
}

/// Asks for a password-reset link by email.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PasswordResetBody {
    pub email: String,
}

/// Sets a new password with the token of a reset link.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PasswordResetConfirmBody {
    pub token: String,
    pub password: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SessionBody {
    pub token: String,
    pub account: AccountBody,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AccessEntryBody {
    pub at: String,
    /// The account that read the data.
    pub actor_id: String,
    pub what: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AccessLogBody {
    pub entries: Vec<AccessEntryBody>,
}
