//! Practitioner verification (issue 15, point 6): the practitioner declares their national
//! identifier; the operator (bearer token) lists the review queue and verifies, rejects or
//! revokes.

use super::extract::{ApiJson, ApiPath, ApiQuery, Caller};
use crate::Scheduling;
use axum::extract::State;
use axum::Json;
use careslot_core::error::{ApiError, Problem};
use careslot_domain::{CredentialStatus, PractitionerId};
use careslot_identity::api::{Operator, Permission};
use careslot_store::{CredentialEvent, CredentialListing, CredentialRecord};
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use utoipa::ToSchema;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DeclareBody {
    /// `rpps` (France, 11 digits with a Luhn key), `lanr` (Germany, 9 digits with a check
    /// digit) or `it-order` (Italy: the order's province code and the registration number,
    /// `RM 12345`).
    pub scheme: String,
    pub identifier: String,
}

/// A practitioner's national identifier and where its verification stands.
#[derive(Debug, Serialize, ToSchema)]
pub struct CredentialBody {
    /// `unverified` (nothing declared), `pending`, `verified`, `rejected` or `revoked`.
    pub status: String,
    pub scheme: Option<String>,
    /// Canonical form: digits for RPPS and LANR, `RM-12345` for an Italian registration.
    pub identifier: Option<String>,
    pub declared_at: Option<String>,
    pub decided_at: Option<String>,
    /// Why it was rejected or revoked.
    pub reason: Option<String>,
}

impl From<&CredentialRecord> for CredentialBody {
    fn from(c: &CredentialRecord) -> Self {
        Self {
            status: c.status.code().to_owned(),
            scheme: c.identifier.as_ref().map(|i| i.scheme().code().to_owned()),
            identifier: c.identifier.as_ref().map(|i| i.value().to_owned()),
            declared_at: c.declared_at.map(|t| t.to_string()),
            decided_at: c.decided_at.map(|t| t.to_string()),
            reason: c.reason.clone(),
        }
    }
}

/// A credential in the operator's queue.
#[derive(Debug, Serialize, ToSchema)]
pub struct ReviewItemBody {
    pub practitioner_id: String,
    pub name: String,
    pub specialty: String,
    #[serde(flatten)]
    pub credential: CredentialBody,
    /// `operator`, `import:<file>`, `demo`, `import:sites`.
    pub decided_by: Option<String>,
}

impl From<&CredentialListing> for ReviewItemBody {
    fn from(l: &CredentialListing) -> Self {
        Self {
            practitioner_id: l.credential.practitioner_id.to_string(),
            name: l.name.clone(),
            specialty: l.specialty.code().to_owned(),
            credential: CredentialBody::from(&l.credential),
            decided_by: l.credential.decided_by.clone(),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ReviewQueueBody {
    pub practitioners: Vec<ReviewItemBody>,
}

#[derive(Debug, Deserialize)]
pub struct ReviewQuery {
    /// Which status to list (default `pending`); `all` for every declaration.
    pub status: Option<String>,
}

/// One change of a credential.
#[derive(Debug, Serialize, ToSchema)]
pub struct CredentialEventBody {
    pub at: String,
    /// `practitioner`, `operator`, `import:<file>`, `demo`, `import:sites`.
    pub actor: String,
    pub status: String,
    pub scheme: Option<String>,
    pub identifier: Option<String>,
    pub reason: Option<String>,
}

impl From<&CredentialEvent> for CredentialEventBody {
    fn from(e: &CredentialEvent) -> Self {
        Self {
            at: e.at.to_string(),
            actor: e.actor.clone(),
            status: e.status.code().to_owned(),
            scheme: e.identifier.as_ref().map(|i| i.scheme().code().to_owned()),
            identifier: e.identifier.as_ref().map(|i| i.value().to_owned()),
            reason: e.reason.clone(),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CredentialDetailBody {
    pub credential: CredentialBody,
    pub history: Vec<CredentialEventBody>,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DecisionBody {
    /// Required to reject or revoke (shown to the practitioner, kept in the history).
    pub reason: Option<String>,
}

/// The caller's national identifier and its verification status.
#[utoipa::path(get, path = "/api/v1/practitioner/identifier", tag = "practitioner", security(("bearer" = [])),
    responses((status = 200, body = CredentialBody), (status = 403, body = Problem),
              (status = 409, description = "no profile yet", body = Problem)))]
pub async fn get_identifier(
    State(app): State<Arc<Scheduling>>,
    Caller(me): Caller,
) -> Result<Json<CredentialBody>, ApiError> {
    Ok(Json(CredentialBody::from(&app.my_credential(&me).await?)))
}

/// Declare the caller's national professional identifier; it waits for the platform's
/// review (or a directory import). Until it is verified the practitioner is not listed in
/// search and cannot sign prescriptions. Declaring another identifier while verified takes
/// the listing down until the new one is verified.
#[utoipa::path(put, path = "/api/v1/practitioner/identifier", tag = "practitioner", security(("bearer" = [])),
    request_body = DeclareBody,
    responses((status = 200, body = CredentialBody), (status = 403, body = Problem),
              (status = 409, description = "no profile yet", body = Problem),
              (status = 422, description = "unknown scheme, malformed identifier or wrong check digit", body = Problem)))]
pub async fn put_identifier(
    State(app): State<Arc<Scheduling>>,
    Caller(me): Caller,
    ApiJson(b): ApiJson<DeclareBody>,
) -> Result<Json<CredentialBody>, ApiError> {
    let c = app
        .declare_identifier(&me, &b.scheme, &b.identifier)
        .await?;
    Ok(Json(CredentialBody::from(&c)))
}

/// The review queue: declarations in a status (pending by default), oldest first.
#[utoipa::path(get, path = "/api/v1/operator/practitioners", tag = "operator", security(("bearer" = [])),
    params(("status" = Option<String>, Query, description = "pending (default), verified, rejected, revoked or all")),
    responses((status = 200, body = ReviewQueueBody), (status = 401, body = Problem), (status = 422, body = Problem)))]
pub async fn review_queue(
    State(app): State<Arc<Scheduling>>,
    op: Operator,
    ApiQuery(q): ApiQuery<ReviewQuery>,
) -> Result<Json<ReviewQueueBody>, ApiError> {
    op.require(Permission::Verification)?;
    let status = match q.status.as_deref() {
        None => Some(CredentialStatus::Pending),
        Some("all") => None,
        Some(s) => Some(CredentialStatus::parse(s).map_err(careslot_core::AppError::from)?),
    };
    let list = app.review_queue(status).await?;
    Ok(Json(ReviewQueueBody {
        practitioners: list.iter().map(ReviewItemBody::from).collect(),
    }))
}

/// A practitioner's credential and its history (who changed it, when, why).
#[utoipa::path(get, path = "/api/v1/operator/practitioners/{id}/credential", tag = "operator", security(("bearer" = [])),
    params(("id" = String, Path, description = "practitioner id")),
    responses((status = 200, body = CredentialDetailBody), (status = 401, body = Problem), (status = 404, body = Problem)))]
pub async fn credential_detail(
    State(app): State<Arc<Scheduling>>,
    op: Operator,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<CredentialDetailBody>, ApiError> {
    op.require(Permission::Verification)?;
    if id.is_empty() || id.len() > 64 {
        return Err(ApiError::not_found("practitioner"));
    }
    let id = PractitionerId(id);
    if app
        .store
        .practitioner(&id)
        .await
        .map_err(careslot_core::AppError::from)?
        .is_none()
    {
        return Err(ApiError::not_found("practitioner"));
    }
    let credential = app.credential_of(&id).await?;
    let history = app.credential_history(&id).await?;
    Ok(Json(CredentialDetailBody {
        credential: CredentialBody::from(&credential),
        history: history.iter().map(CredentialEventBody::from).collect(),
    }))
}

/// A decision, recorded in the credential's history with the operator who made it.
async fn decide(
    app: &Scheduling,
    op: &Operator,
    id: &str,
    to: CredentialStatus,
    reason: Option<String>,
) -> Result<Json<CredentialBody>, ApiError> {
    op.require(Permission::Verification)?;
    let c = app
        .decide_credential(id, to, reason.as_deref(), &op.actor())
        .await?;
    Ok(Json(CredentialBody::from(&c)))
}

/// Verify a practitioner's declared identifier (from pending, or to undo a rejection or a
/// revocation): they are listed and may sign prescriptions.
#[utoipa::path(post, path = "/api/v1/operator/practitioners/{id}/verify", operation_id = "verifyPractitioner", tag = "operator", security(("bearer" = [])),
    params(("id" = String, Path, description = "practitioner id")), request_body = DecisionBody,
    responses((status = 200, body = CredentialBody), (status = 401, body = Problem), (status = 404, body = Problem),
              (status = 409, description = "not in a state to verify, or the identifier is verified for another practitioner", body = Problem)))]
pub async fn verify(
    State(app): State<Arc<Scheduling>>,
    op: Operator,
    ApiPath(id): ApiPath<String>,
    ApiJson(b): ApiJson<DecisionBody>,
) -> Result<Json<CredentialBody>, ApiError> {
    decide(&app, &op, &id, CredentialStatus::Verified, b.reason).await
}

/// Reject a pending declaration, with a reason.
#[utoipa::path(post, path = "/api/v1/operator/practitioners/{id}/reject", operation_id = "rejectPractitioner", tag = "operator", security(("bearer" = [])),
    params(("id" = String, Path, description = "practitioner id")), request_body = DecisionBody,
    responses((status = 200, body = CredentialBody), (status = 401, body = Problem), (status = 404, body = Problem),
              (status = 409, body = Problem), (status = 422, description = "reason missing", body = Problem)))]
pub async fn reject(
    State(app): State<Arc<Scheduling>>,
    op: Operator,
    ApiPath(id): ApiPath<String>,
    ApiJson(b): ApiJson<DecisionBody>,
) -> Result<Json<CredentialBody>, ApiError> {
    decide(&app, &op, &id, CredentialStatus::Rejected, b.reason).await
}

/// Revoke a verified practitioner, with a reason: they leave search at once and cannot sign;
/// pharmacists verifying their earlier prescriptions are warned.
#[utoipa::path(post, path = "/api/v1/operator/practitioners/{id}/revoke", operation_id = "revokePractitioner", tag = "operator", security(("bearer" = [])),
    params(("id" = String, Path, description = "practitioner id")), request_body = DecisionBody,
    responses((status = 200, body = CredentialBody), (status = 401, body = Problem), (status = 404, body = Problem),
              (status = 409, body = Problem), (status = 422, description = "reason missing", body = Problem)))]
pub async fn revoke(
    State(app): State<Arc<Scheduling>>,
    op: Operator,
    ApiPath(id): ApiPath<String>,
    ApiJson(b): ApiJson<DecisionBody>,
) -> Result<Json<CredentialBody>, ApiError> {
    decide(&app, &op, &id, CredentialStatus::Revoked, b.reason).await
}
