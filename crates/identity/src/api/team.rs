//! The practitioner's team through the API (issue 18, point 8): the assistants, an
//! invitation (mailed when an address is given), a removal. Only the practitioner manages
//! the team; an assistant gets 403.

use super::extract::{ApiJson, ApiPath, Caller};
use crate::Accounts;
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use careslot_core::error::{ApiError, Problem};
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use utoipa::ToSchema;

#[derive(Debug, Serialize, ToSchema)]
pub struct AssistantBody {
    pub id: String,
    pub name: String,
    pub email: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TeamBody {
    pub assistants: Vec<AssistantBody>,
}

/// The practitioner's assistants.
#[utoipa::path(get, path = "/api/v1/practice/team", operation_id = "listTeam", tag = "practice desk", security(("bearer" = [])),
    responses((status = 200, body = TeamBody), (status = 403, body = Problem)))]
pub async fn list(
    State(app): State<Arc<Accounts>>,
    Caller(me): Caller,
) -> Result<Json<TeamBody>, ApiError> {
    let assistants = app
        .assistants(&me)
        .await?
        .into_iter()
        .map(|i| AssistantBody {
            id: i.id.to_string(),
            name: i.name,
            email: i.email,
        })
        .collect();
    Ok(Json(TeamBody { assistants }))
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct InvitationRequestBody {
    /// Where to mail the link (in the practitioner's language). Absent: the link is only
    /// answered, for the practitioner to pass on.
    #[serde(default)]
    #[schema(max_length = 254)]
    pub email: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct InvitationBody {
    /// Single use; the assistant opens `/invite/{token}` on the site. Shown only here.
    pub token: String,
    /// RFC 3339 (UTC).
    pub expires_at: String,
    /// Whether the link was mailed.
    pub mailed: bool,
}

/// Invites an assistant: a single-use link valid 3 days, mailed when an address is given.
#[utoipa::path(post, path = "/api/v1/practice/team/invitations", operation_id = "inviteAssistant", tag = "practice desk", security(("bearer" = [])),
    request_body = InvitationRequestBody,
    responses((status = 201, body = InvitationBody), (status = 403, body = Problem), (status = 422, body = Problem)))]
pub async fn invite(
    State(app): State<Arc<Accounts>>,
    Caller(me): Caller,
    ApiJson(b): ApiJson<InvitationRequestBody>,
) -> Result<(StatusCode, Json<InvitationBody>), ApiError> {
    let email = b.email.as_deref().map(str::trim).filter(|e| !e.is_empty());
    let inv = match email {
        Some(e) => app.invite_assistant_by_mail(&me, e).await?,
        None => app.invite_assistant(&me).await?,
    };
    Ok((
        StatusCode::CREATED,
        Json(InvitationBody {
            token: inv.token,
            expires_at: inv.expires_at.to_string(),
            mailed: email.is_some(),
        }),
    ))
}

/// Removes an assistant from the team (their account and sessions end).
#[utoipa::path(delete, path = "/api/v1/practice/team/{id}", operation_id = "removeAssistant", tag = "practice desk", security(("bearer" = [])),
    params(("id" = String, Path, description = "the assistant's account id")),
    responses((status = 204, description = "removed"), (status = 403, body = Problem), (status = 404, body = Problem)))]
pub async fn remove(
    State(app): State<Arc<Accounts>>,
    Caller(me): Caller,
    ApiPath(id): ApiPath<String>,
) -> Result<StatusCode, ApiError> {
    app.remove_assistant(&me, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}
