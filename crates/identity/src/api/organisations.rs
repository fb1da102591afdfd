//! Group practices through the API (issue 18 point 4): the caller's organisations, their
//! members and assistants, invitations (a colleague or an assistant, mailed when an address
//! is given), joining with a colleague's link, an assistant's agenda rights, leaving and
//! removing a member or an assistant. Only members see an organisation; any other id
//! answers 404.

use super::extract::{ApiJson, ApiPath, Caller};
use crate::Accounts;
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use careslot_core::error::{ApiError, Problem};
use careslot_store::Organisation;
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use utoipa::ToSchema;

#[derive(Debug, Serialize, ToSchema)]
pub struct OrganisationBody {
    pub id: String,
    pub name: String,
}

impl From<Organisation> for OrganisationBody {
    fn from(o: Organisation) -> Self {
        Self {
            id: o.id.to_string(),
            name: o.name,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct OrganisationsBody {
    /// A practitioner's first is the one the desk shows by default.
    pub organisations: Vec<OrganisationBody>,
}

/// The organisations the caller works in (a practitioner's own one is made on first use).
#[utoipa::path(get, path = "/api/v1/practice/organisations", operation_id = "listOrganisations", tag = "practice desk", security(("bearer" = [])),
    responses((status = 200, body = OrganisationsBody), (status = 403, body = Problem), (status = 409, body = Problem)))]
pub async fn list(
    State(app): State<Arc<Accounts>>,
    Caller(me): Caller,
) -> Result<Json<OrganisationsBody>, ApiError> {
    let organisations = app
        .my_organisations(&me)
        .await?
        .into_iter()
        .map(Into::into)
        .collect();
    Ok(Json(OrganisationsBody { organisations }))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OrganisationRequestBody {
    #[schema(min_length = 1, max_length = 200)]
    pub name: String,
}

/// Creates an organisation (a clinic, a group practice) with the caller as first member.
#[utoipa::path(post, path = "/api/v1/practice/organisations", operation_id = "createOrganisation", tag = "practice desk", security(("bearer" = [])),
    request_body = OrganisationRequestBody,
    responses((status = 201, body = OrganisationBody), (status = 403, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)))]
pub async fn create(
    State(app): State<Arc<Accounts>>,
    Caller(me): Caller,
    ApiJson(b): ApiJson<OrganisationRequestBody>,
) -> Result<(StatusCode, Json<OrganisationBody>), ApiError> {
    let org = app.create_organisation(&me, &b.name).await?;
    Ok((StatusCode::CREATED, Json(org.into())))
}

/// Renames one of the caller's organisations.
#[utoipa::path(put, path = "/api/v1/practice/organisations/{id}", operation_id = "renameOrganisation", tag = "practice desk", security(("bearer" = [])),
    params(("id" = String, Path, description = "the organisation's id")),
    request_body = OrganisationRequestBody,
    responses((status = 200, body = OrganisationBody), (status = 403, body = Problem), (status = 404, body = Problem), (status = 422, body = Problem)))]
pub async fn rename(
    State(app): State<Arc<Accounts>>,
    Caller(me): Caller,
    ApiPath(id): ApiPath<String>,
    ApiJson(b): ApiJson<OrganisationRequestBody>,
) -> Result<Json<OrganisationBody>, ApiError> {
    Ok(Json(
        app.rename_organisation(&me, &id, &b.name).await?.into(),
    ))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MemberBody {
    /// The practitioner's id.
    pub id: String,
    pub name: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RightsHolderBody {
    /// The assistant's account id.
    pub id: String,
    pub name: String,
    pub email: String,
    /// The agendas the assistant may run.
    pub agendas: Vec<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MembersBody {
    pub practitioners: Vec<MemberBody>,
    /// Listed for member practitioners only (empty for an assistant).
    pub assistants: Vec<RightsHolderBody>,
}

/// The organisation's practitioners and assistants (with their agenda rights).
#[utoipa::path(get, path = "/api/v1/practice/organisations/{id}/members", operation_id = "listOrganisationMembers", tag = "practice desk", security(("bearer" = [])),
    params(("id" = String, Path, description = "the organisation's id")),
    responses((status = 200, body = MembersBody), (status = 403, body = Problem), (status = 404, body = Problem)))]
pub async fn members(
    State(app): State<Arc<Accounts>>,
    Caller(me): Caller,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<MembersBody>, ApiError> {
    let practitioners = app
        .organisation_members(&me, &id)
        .await?
        .into_iter()
        .map(|p| MemberBody {
            id: p.id.to_string(),
            name: p.name,
        })
        .collect();
    let assistants = if me.role == careslot_store::Role::Practitioner {
        app.organisation_assistants(&me, &id)
            .await?
            .into_iter()
            .map(|(i, agendas)| RightsHolderBody {
                id: i.id.to_string(),
                name: i.name,
                email: i.email,
                agendas: agendas.into_iter().map(|a| a.to_string()).collect(),
            })
            .collect()
    } else {
        Vec::new()
    };
    Ok(Json(MembersBody {
        practitioners,
        assistants,
    }))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum InviteeKind {
    /// A practitioner who joins with their own account.
    Colleague,
    /// A new assistant account for this organisation.
    Assistant,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OrganisationInvitationRequestBody {
    pub kind: InviteeKind,
    /// When given, the link is also mailed there (in the inviting account's language).
    #[serde(default)]
    #[schema(max_length = 254)]
    pub email: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct OrganisationInvitationBody {
    /// Single use, shown only here. A colleague opens `/pro/organisation/join?token=…`
    /// signed in; an assistant opens `/invite/{token}`.
    pub token: String,
    /// RFC 3339 (UTC).
    pub expires_at: String,
    /// Whether the link was mailed.
    pub mailed: bool,
}

/// Invites a practitioner colleague or a new assistant into the organisation; with an
/// `email`, the link is mailed too.
#[utoipa::path(post, path = "/api/v1/practice/organisations/{id}/invitations", operation_id = "inviteToOrganisation", tag = "practice desk", security(("bearer" = [])),
    params(("id" = String, Path, description = "the organisation's id")),
    request_body = OrganisationInvitationRequestBody,
    responses((status = 201, body = OrganisationInvitationBody), (status = 403, body = Problem), (status = 404, body = Problem), (status = 422, body = Problem)))]
pub async fn invite(
    State(app): State<Arc<Accounts>>,
    Caller(me): Caller,
    ApiPath(id): ApiPath<String>,
    ApiJson(b): ApiJson<OrganisationInvitationRequestBody>,
) -> Result<(StatusCode, Json<OrganisationInvitationBody>), ApiError> {
    let invitee = match b.kind {
        InviteeKind::Colleague => crate::Invitee::Colleague,
        InviteeKind::Assistant => crate::Invitee::Assistant,
    };
    let email = b.email.as_deref().map(str::trim).filter(|e| !e.is_empty());
    let inv = app.invite_to_organisation(&me, &id, invitee, email).await?;
    Ok((
        StatusCode::CREATED,
        Json(OrganisationInvitationBody {
            token: inv.token,
            expires_at: inv.expires_at.to_string(),
            mailed: email.is_some(),
        }),
    ))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct JoinRequestBody {
    #[schema(min_length = 1, max_length = 128)]
    pub token: String,
}

/// The signed-in practitioner joins the organisation of a colleague's invitation.
#[utoipa::path(post, path = "/api/v1/practice/organisations/join", operation_id = "joinOrganisation", tag = "practice desk", security(("bearer" = [])),
    request_body = JoinRequestBody,
    responses((status = 200, body = OrganisationBody), (status = 403, body = Problem), (status = 404, body = Problem), (status = 409, body = Problem)))]
pub async fn join(
    State(app): State<Arc<Accounts>>,
    Caller(me): Caller,
    ApiJson(b): ApiJson<JoinRequestBody>,
) -> Result<Json<OrganisationBody>, ApiError> {
    Ok(Json(app.join_organisation(&me, &b.token).await?.into()))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RightsRequestBody {
    /// Every agenda the assistant may run; each must be a member's.
    #[schema(max_items = 500)]
    pub agendas: Vec<String>,
}

/// Replaces the agendas an assistant of the organisation may run (all or nothing).
#[utoipa::path(put, path = "/api/v1/practice/organisations/{id}/assistants/{assistant_id}/agendas", operation_id = "setAssistantRights", tag = "practice desk", security(("bearer" = [])),
    params(("id" = String, Path, description = "the organisation's id"), ("assistant_id" = String, Path, description = "the assistant's account id")),
    request_body = RightsRequestBody,
    responses((status = 204, description = "replaced"), (status = 400, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem)))]
pub async fn set_rights(
    State(app): State<Arc<Accounts>>,
    Caller(me): Caller,
    ApiPath((id, assistant)): ApiPath<(String, String)>,
    ApiJson(b): ApiJson<RightsRequestBody>,
) -> Result<StatusCode, ApiError> {
    app.set_assistant_rights(&me, &id, &assistant, &b.agendas)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Takes a member practitioner out of the organisation: a colleague, or the caller (their
/// own practitioner id) leaving. The organisation's assistants lose their rights on that
/// practitioner's agendas. 409 for the last member, or a practitioner's only organisation.
#[utoipa::path(delete, path = "/api/v1/practice/organisations/{id}/members/{practitioner_id}", operation_id = "removeOrganisationMember", tag = "practice desk", security(("bearer" = [])),
    params(("id" = String, Path, description = "the organisation's id"), ("practitioner_id" = String, Path, description = "the member practitioner's id")),
    responses((status = 204, description = "removed"), (status = 403, body = Problem), (status = 404, body = Problem), (status = 409, body = Problem)))]
pub async fn remove_member(
    State(app): State<Arc<Accounts>>,
    Caller(me): Caller,
    ApiPath((id, member)): ApiPath<(String, String)>,
) -> Result<StatusCode, ApiError> {
    app.remove_member(&me, &id, &member).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The caller leaves the organisation (as removing themselves).
#[utoipa::path(post, path = "/api/v1/practice/organisations/{id}/leave", operation_id = "leaveOrganisation", tag = "practice desk", security(("bearer" = [])),
    params(("id" = String, Path, description = "the organisation's id")),
    responses((status = 204, description = "left"), (status = 403, body = Problem), (status = 404, body = Problem), (status = 409, body = Problem)))]
pub async fn leave(
    State(app): State<Arc<Accounts>>,
    Caller(me): Caller,
    ApiPath(id): ApiPath<String>,
) -> Result<StatusCode, ApiError> {
    app.leave_organisation(&me, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Removes an assistant from the organisation: its account ends (an assistant works for one
/// organisation), as on the team page.
#[utoipa::path(delete, path = "/api/v1/practice/organisations/{id}/assistants/{assistant_id}", operation_id = "removeOrganisationAssistant", tag = "practice desk", security(("bearer" = [])),
    params(("id" = String, Path, description = "the organisation's id"), ("assistant_id" = String, Path, description = "the assistant's account id")),
    responses((status = 204, description = "removed"), (status = 403, body = Problem), (status = 404, body = Problem)))]
pub async fn remove_assistant(
    State(app): State<Arc<Accounts>>,
    Caller(me): Caller,
    ApiPath((id, assistant)): ApiPath<(String, String)>,
) -> Result<StatusCode, ApiError> {
    app.remove_organisation_assistant(&me, &id, &assistant)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
