//! Operator accounts for automation holding the operator token (issue 15, point 5): create
//! (with a one-time set-password link, also mailed), list, change roles, disable; and the
//! operators' action log. Operator accounts themselves cannot manage operators.

use super::extract::{ApiJson, ApiPath, ApiQuery};
use super::operator::Operator;
use crate::operators::{parse_roles, NewOperator, OperatorView};
use crate::Accounts;
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use careslot_core::error::{ApiError, Problem};
use careslot_messages::Lang;
use careslot_store::OperatorAction;
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use utoipa::{IntoParams, ToSchema};

/// A new operator account.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewOperatorBody {
    pub email: String,
    pub name: String,
    /// Any of `campaign`, `verification`, `messages` (none: it can sign in and nothing else).
    #[serde(default)]
    pub roles: Vec<String>,
    /// Language of the invitation mail: fr (default), en, de, it.
    pub lang: Option<String>,
}

/// An operator account.
#[derive(Debug, Serialize, ToSchema)]
pub struct OperatorBody {
    pub id: String,
    pub email: String,
    pub name: String,
    pub roles: Vec<String>,
    /// RFC 3339, UTC.
    pub created_at: String,
    /// `token`, `cli`.
    pub created_by: String,
    /// Set once disabled (RFC 3339, UTC): its sessions ended then, and it cannot sign in.
    pub disabled_at: Option<String>,
}

impl From<&OperatorView> for OperatorBody {
    fn from(v: &OperatorView) -> Self {
        Self {
            id: v.identity.id.to_string(),
            email: v.identity.email.clone(),
            name: v.identity.name.clone(),
            roles: v.record.roles.iter().map(|r| r.code().to_owned()).collect(),
            created_at: v.record.created_at.to_string(),
            created_by: v.record.created_by.clone(),
            disabled_at: v.record.disabled_at.map(|t| t.to_string()),
        }
    }
}

/// A created operator account and its one-time set-password link (also sent by mail).
#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedOperatorBody {
    pub id: String,
    pub email: String,
    pub name: String,
    pub roles: Vec<String>,
    /// Opens the password form once (`/password-reset?token=…`); give it to the operator.
    pub set_password_link: String,
    /// When the link stops working (RFC 3339, UTC).
    pub link_expires_at: String,
}

impl From<&NewOperator> for CreatedOperatorBody {
    fn from(n: &NewOperator) -> Self {
        Self {
            id: n.identity.id.to_string(),
            email: n.identity.email.clone(),
            name: n.identity.name.clone(),
            roles: n.roles.iter().map(|r| r.code().to_owned()).collect(),
            set_password_link: n.link.clone(),
            link_expires_at: n.expires_at.to_string(),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct OperatorsBody {
    pub operators: Vec<OperatorBody>,
}

/// An operator account's roles (they replace the previous ones).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RolesBody {
    /// Any of `campaign`, `verification`, `messages`.
    pub roles: Vec<String>,
}

/// One entry of the operators' action log.
#[derive(Debug, Serialize, ToSchema)]
pub struct OperatorActionBody {
    pub seq: i64,
    /// RFC 3339, UTC.
    pub at: String,
    /// `operator:token` or `operator:<account id>`.
    pub actor: String,
    /// e.g. `vaccination.phase.open`, `vaccination.export`, `outbox.retry`, `operators.create`.
    pub action: String,
    /// The id acted on, if any.
    pub target: Option<String>,
}

impl From<&OperatorAction> for OperatorActionBody {
    fn from(a: &OperatorAction) -> Self {
        Self {
            seq: a.seq,
            at: a.at.to_string(),
            actor: a.actor.clone(),
            action: a.action.clone(),
            target: a.target.clone(),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct OperatorActionsBody {
    pub actions: Vec<OperatorActionBody>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ActionsQuery {
    /// How many of the latest entries (1–1000, default 100).
    pub limit: Option<i64>,
}

fn roles_of(raw: &[String]) -> Result<Vec<careslot_store::Permission>, ApiError> {
    Ok(parse_roles(raw).map_err(careslot_core::AppError::from)?)
}

/// Create an operator account (operator token only). Returns its one-time set-password link,
/// also mailed to it; it signs in like any account and must set up two-factor
/// authentication before it can act.
#[utoipa::path(post, path = "/api/v1/operators", operation_id = "createOperator", tag = "operator", security(("bearer" = [])),
    request_body = NewOperatorBody,
    responses((status = 201, body = CreatedOperatorBody), (status = 401, body = Problem),
              (status = 403, description = "an operator account (only the operator token manages operators)", body = Problem),
              (status = 409, description = "email taken", body = Problem),
              (status = 422, description = "invalid email, name, role or language", body = Problem)))]
pub async fn create(
    State(app): State<Arc<Accounts>>,
    op: Operator,
    ApiJson(b): ApiJson<NewOperatorBody>,
) -> Result<(StatusCode, Json<CreatedOperatorBody>), ApiError> {
    op.require_token()?;
    let roles = roles_of(&b.roles)?;
    let lang = match b.lang.as_deref() {
        Some(l) => Lang::parse(l)
            .ok_or_else(|| ApiError::invalid("lang", "must be one of fr, en, de, it"))?,
        None => Lang::Fr,
    };
    let created = app
        .create_operator(&b.email, &b.name, &roles, lang, "token")
        .await?;
    app.record_operator_action(
        &op.actor(),
        "operators.create",
        Some(created.identity.id.as_str()),
    )
    .await?;
    Ok((
        StatusCode::CREATED,
        Json(CreatedOperatorBody::from(&created)),
    ))
}

/// Every operator account, disabled ones included (operator token only).
#[utoipa::path(get, path = "/api/v1/operators", operation_id = "listOperators", tag = "operator", security(("bearer" = [])),
    responses((status = 200, body = OperatorsBody), (status = 401, body = Problem),
              (status = 403, description = "an operator account", body = Problem)))]
pub async fn list(
    State(app): State<Arc<Accounts>>,
    op: Operator,
) -> Result<Json<OperatorsBody>, ApiError> {
    op.require_token()?;
    let list = app.operator_accounts().await?;
    Ok(Json(OperatorsBody {
        operators: list.iter().map(OperatorBody::from).collect(),
    }))
}

/// Replace an operator account's roles; effective at its next request (operator token only).
#[utoipa::path(put, path = "/api/v1/operators/{id}/roles", operation_id = "setOperatorRoles", tag = "operator", security(("bearer" = [])),
    params(("id" = String, Path, description = "operator account id")), request_body = RolesBody,
    responses((status = 200, body = OperatorBody), (status = 401, body = Problem),
              (status = 403, description = "an operator account", body = Problem),
              (status = 404, body = Problem), (status = 422, body = Problem)))]
pub async fn set_roles(
    State(app): State<Arc<Accounts>>,
    op: Operator,
    ApiPath(id): ApiPath<String>,
    ApiJson(b): ApiJson<RolesBody>,
) -> Result<Json<OperatorBody>, ApiError> {
    op.require_token()?;
    let roles = roles_of(&b.roles)?;
    let view = app.set_operator_roles(&id, &roles).await?;
    app.record_operator_action(&op.actor(), "operators.roles", Some(&id))
        .await?;
    Ok(Json(OperatorBody::from(&view)))
}

/// Disable an operator account: its sessions end at once and it cannot sign in again
/// (operator token only).
#[utoipa::path(delete, path = "/api/v1/operators/{id}", operation_id = "disableOperator", tag = "operator", security(("bearer" = [])),
    params(("id" = String, Path, description = "operator account id")),
    responses((status = 204), (status = 401, body = Problem),
              (status = 403, description = "an operator account", body = Problem), (status = 404, body = Problem)))]
pub async fn disable(
    State(app): State<Arc<Accounts>>,
    op: Operator,
    ApiPath(id): ApiPath<String>,
) -> Result<StatusCode, ApiError> {
    op.require_token()?;
    app.disable_operator(&id).await?;
    app.record_operator_action(&op.actor(), "operators.disable", Some(&id))
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The operators' action log, newest first: who (`operator:token` or
/// `operator:<account id>`) changed phases, chronodoses, protocols, exported, retried dead
/// letters, ran the waiting room or managed operators (operator token only). Verification
/// decisions are in each practitioner's credential history.
#[utoipa::path(get, path = "/api/v1/operator/actions", operation_id = "listOperatorActions", tag = "operator", security(("bearer" = [])),
    params(ActionsQuery),
    responses((status = 200, body = OperatorActionsBody), (status = 401, body = Problem),
              (status = 403, description = "an operator account", body = Problem)))]
pub async fn actions(
    State(app): State<Arc<Accounts>>,
    op: Operator,
    ApiQuery(q): ApiQuery<ActionsQuery>,
) -> Result<Json<OperatorActionsBody>, ApiError> {
    op.require_token()?;
    let limit = q.limit.unwrap_or(100);
    if !(1..=1000).contains(&limit) {
        return Err(ApiError::invalid("limit", "must be 1 to 1000"));
    }
    let list = app
        .store
        .operator_actions(limit)
        .await
        .map_err(careslot_core::AppError::from)?;
    Ok(Json(OperatorActionsBody {
        actions: list.iter().map(OperatorActionBody::from).collect(),
    }))
}
