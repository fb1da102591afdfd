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
    /// Language of the account's messages (`fr`, `en`, `de`, `it`); else from
    /// `Accept-Language`, else `fr`.
    #[serde(default)]
    pub lang: Option<String>,
}

#[derive(Debug, Clone, Copy, Deserialize, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum RoleBody {
    Patient,
    Practitioner,
    /// Runs a practitioner's agenda; created only through an invitation (web app).
    Assistant,
    /// Platform staff; created only by the operator (`POST /api/v1/operators`,
    /// `careslot operator add`), never by signing up.
    Operator,
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
                careslot_store::Role::Operator => RoleBody::Operator,
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
    /// The account has two-factor authentication and this session still waits for a code:
    /// the token is good only for `POST /api/v1/sessions/current/mfa`.
    pub mfa_required: bool,
}

/// A TOTP code (six digits) or a recovery code (`xxxxx-xxxxx`).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SecondFactorBody {
    pub code: String,
}

/// Re-authentication: the password, and a code where two-factor authentication is set up.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReauthBody {
    pub password: String,
    #[serde(default)]
    pub code: Option<String>,
}

/// One of the account's sessions.
#[derive(Debug, Serialize, ToSchema)]
pub struct SessionInfoBody {
    /// Id for `DELETE /api/v1/sessions/{id}`.
    pub id: String,
    /// The signing-in device's User-Agent (cut short), when it sent one.
    pub device: Option<String>,
    pub created_at: String,
    pub last_used_at: String,
    pub expires_at: String,
    /// The session gave a second factor.
    pub second_factor: bool,
    /// This is the session of the request.
    pub current: bool,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SessionListBody {
    pub sessions: Vec<SessionInfoBody>,
}

/// Where the account stands with two-factor authentication.
#[derive(Debug, Serialize, ToSchema)]
pub struct MfaStatusBody {
    pub enabled: bool,
    /// A set-up waits for its first code.
    pub pending: bool,
    /// Required before this account reads patient data (practitioners and assistants).
    pub required: bool,
    pub recovery_codes_left: u32,
    /// This session gave a second factor.
    pub session_second_factor: bool,
}

/// A started set-up: add the secret to an authenticator app (or scan the URI as a QR code),
/// then confirm with a first code. Shown once.
#[derive(Debug, Serialize, ToSchema)]
pub struct MfaEnrolmentBody {
    /// Base32 secret.
    pub secret: String,
    /// `otpauth://totp/...` URI.
    pub otpauth_uri: String,
}

/// Recovery codes: each works once instead of a TOTP code. Shown only now.
#[derive(Debug, Serialize, ToSchema)]
pub struct RecoveryCodesBody {
    pub recovery_codes: Vec<String>,
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

// --- the account page (issue 14) --------------------------------------------------------------

/// A link's token (email verification or address change).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TokenBody {
    pub token: String,
}

/// An SMS code.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CodeBody {
    /// The six digits received by SMS.
    pub code: String,
}

/// An address change: the new address and the current password.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EmailChangeBody {
    pub email: String,
    pub password: String,
}

/// A password change.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PasswordChangeBody {
    pub current_password: String,
    pub new_password: String,
}

/// Changes to the account; absent fields stay as they are.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProfilePatchBody {
    pub name: Option<String>,
    /// E.164 (`+33612345678`); `""` removes the number. A new number must be verified again.
    pub phone: Option<String>,
    /// `fr`, `en`, `de` or `it`: the language of every message to the account.
    pub lang: Option<String>,
    pub reminders_email: Option<bool>,
    pub reminders_sms: Option<bool>,
    /// Whether emails may name the visit reason.
    pub show_motive: Option<bool>,
}

/// The account's message settings and what it proved.
#[derive(Debug, Serialize, ToSchema)]
pub struct SettingsBody {
    pub lang: String,
    pub email_verified: bool,
    pub phone_verified: bool,
    pub reminders_email: bool,
    pub reminders_sms: bool,
    pub show_motive: bool,
}

/// The account and its settings. (Named apart from the practitioner's profile in the
/// OpenAPI document: schema names must be unique there.)
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = AccountSettingsBody)]
pub struct ProfileBody {
    pub account: AccountBody,
    pub settings: SettingsBody,
}

impl From<&crate::AccountView> for ProfileBody {
    fn from(v: &crate::AccountView) -> Self {
        let s = &v.settings;
        Self {
            account: AccountBody::from(&v.identity),
            settings: SettingsBody {
                lang: s.lang.clone(),
                email_verified: s.email_verified_at.is_some(),
                phone_verified: s.phone_verified_at.is_some(),
                reminders_email: s.reminders_email,
                reminders_sms: s.reminders_sms,
                show_motive: s.show_motive,
            },
        }
    }
}
