//! The operator's dead-letter endpoints (issue 14, part C): the operator token, or an
//! operator account with the `messages` role.

use super::extract::ApiPath;
use super::operator::{Operator, Permission};
use crate::dead_letters::DeadLetter;
use crate::Accounts;
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use careslot_core::error::{ApiError, Problem};
use serde::Serialize;
use std::sync::Arc;
use utoipa::ToSchema;

/// A message the delivery worker gave up on: never its address or body.
#[derive(Debug, Serialize, ToSchema)]
pub struct DeadLetterBody {
    pub id: String,
    /// What it is about: `confirm`, `reminder72`, `cancelled`, `password-reset`…
    pub kind: String,
    /// `email` or `sms`.
    pub channel: String,
    pub attempts: u32,
    /// The last error, without personal data.
    pub last_error: Option<String>,
    /// When it was parked (RFC 3339, UTC).
    pub dead_at: String,
}

impl From<DeadLetter> for DeadLetterBody {
    fn from(d: DeadLetter) -> Self {
        DeadLetterBody {
            id: d.id,
            kind: d.kind,
            channel: d.channel.to_owned(),
            attempts: d.attempts,
            last_error: d.last_error,
            dead_at: d.dead_at.to_string(),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DeadLettersBody {
    pub dead_letters: Vec<DeadLetterBody>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RetriedBody {
    pub retried: u64,
}

/// The dead letters, newest first (at most 200).
#[utoipa::path(get, path = "/api/v1/operator/outbox/dead", operation_id = "listDeadLetters", tag = "operator", security(("bearer" = [])),
    responses((status = 200, body = DeadLettersBody), (status = 401, body = Problem), (status = 403, description = "an operator account without the messages role, or without a second factor (mfa-required)", body = Problem),
              (status = 503, description = "database unavailable", body = Problem)))]
pub async fn list(
    State(app): State<Arc<Accounts>>,
    op: Operator,
) -> Result<Json<DeadLettersBody>, ApiError> {
    op.require(Permission::Messages)?;
    let dead = app.dead_letters().await?;
    Ok(Json(DeadLettersBody {
        dead_letters: dead.into_iter().map(DeadLetterBody::from).collect(),
    }))
}

/// Put one dead letter back in the queue: due now, attempts reset.
#[utoipa::path(post, path = "/api/v1/operator/outbox/{id}/retry", tag = "operator", security(("bearer" = [])),
    params(("id" = String, Path)),
    responses((status = 204), (status = 401, body = Problem), (status = 404, body = Problem)))]
pub async fn retry(
    State(app): State<Arc<Accounts>>,
    op: Operator,
    ApiPath(id): ApiPath<String>,
) -> Result<StatusCode, ApiError> {
    op.require(Permission::Messages)?;
    app.retry_dead_letter(&id).await?;
    app.record_operator_action(&op.actor(), "outbox.retry", Some(&id))
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Put every dead letter back in the queue.
#[utoipa::path(post, path = "/api/v1/operator/outbox/dead/retry", tag = "operator", security(("bearer" = [])),
    responses((status = 200, body = RetriedBody), (status = 401, body = Problem)))]
pub async fn retry_all(
    State(app): State<Arc<Accounts>>,
    op: Operator,
) -> Result<Json<RetriedBody>, ApiError> {
    op.require(Permission::Messages)?;
    let retried = app.retry_all_dead_letters().await?;
    app.record_operator_action(&op.actor(), "outbox.retry-all", None)
        .await?;
    Ok(Json(RetriedBody { retried }))
}
