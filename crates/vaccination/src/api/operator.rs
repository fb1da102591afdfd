//! The campaign operator's endpoints (health authority): phases, chronodoses, protocols,
//! totals, the export. The operator token the server was started with
//! (`--operator-token-file`), or an operator account with the `campaign` role; every change
//! and export is recorded in the operators' action log with who did it.

use super::dto::*;
use super::extract::{ApiJson, ApiPath, ApiQuery};
use crate::{NewPhase, Vaccination};
use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::Json;
use careslot_core::error::{ApiError, Problem};
use careslot_identity::api::{Operator, Permission};
use std::sync::Arc;

/// Who may book a vaccination now.
#[utoipa::path(get, path = "/api/v1/vaccination/eligibility", tag = "vaccination",
    responses((status = 200, body = EligibilityBody)))]
pub async fn eligibility(
    State(app): State<Arc<Vaccination>>,
) -> Result<Json<EligibilityBody>, ApiError> {
    let e = app.eligibility().await?;
    Ok(Json(EligibilityBody {
        summary: e.describe(),
        open_phases: e.open.iter().map(PhaseBody::from).collect(),
        chronodose_hours: e.chronodose_hours,
    }))
}

/// Open a campaign phase; it applies to the next booking.
#[utoipa::path(post, path = "/api/v1/operator/vaccination/phases", tag = "operator", security(("bearer" = [])),
    request_body = NewPhaseBody,
    responses((status = 201, body = PhaseBody), (status = 401, body = Problem), (status = 403, description = "an operator account without the campaign role, or without a second factor (mfa-required)", body = Problem), (status = 422, body = Problem)))]
pub async fn open_phase(
    State(app): State<Arc<Vaccination>>,
    op: Operator,
    ApiJson(b): ApiJson<NewPhaseBody>,
) -> Result<(StatusCode, Json<PhaseBody>), ApiError> {
    op.require(Permission::Campaign)?;
    let p = app
        .open_phase(NewPhase {
            name: b.name,
            everyone: b.everyone,
            min_age: b.min_age,
            priority_groups: b.priority_groups,
        })
        .await?;
    app.record_operator_action(&op.actor(), "vaccination.phase.open", Some(&p.id))
        .await?;
    Ok((StatusCode::CREATED, Json(PhaseBody::from(&p))))
}

/// Close a campaign phase.
#[utoipa::path(post, path = "/api/v1/operator/vaccination/phases/{id}/close", tag = "operator", security(("bearer" = [])),
    params(("id" = String, Path)),
    responses((status = 204), (status = 401, body = Problem), (status = 403, description = "an operator account without the campaign role, or without a second factor (mfa-required)", body = Problem), (status = 404, body = Problem)))]
pub async fn close_phase(
    State(app): State<Arc<Vaccination>>,
    op: Operator,
    ApiPath(id): ApiPath<String>,
) -> Result<StatusCode, ApiError> {
    op.require(Permission::Campaign)?;
    app.close_phase(&id).await?;
    app.record_operator_action(&op.actor(), "vaccination.phase.close", Some(&id))
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Open last-minute slots (24–48 hours ahead) to everyone, or close them (0).
#[utoipa::path(put, path = "/api/v1/operator/vaccination/chronodoses", tag = "operator", security(("bearer" = [])),
    request_body = ChronodoseBody,
    responses((status = 200, body = EligibilityBody), (status = 401, body = Problem), (status = 403, description = "an operator account without the campaign role, or without a second factor (mfa-required)", body = Problem), (status = 422, body = Problem)))]
pub async fn chronodoses(
    State(app): State<Arc<Vaccination>>,
    op: Operator,
    ApiJson(b): ApiJson<ChronodoseBody>,
) -> Result<Json<EligibilityBody>, ApiError> {
    op.require(Permission::Campaign)?;
    app.set_chronodoses(b.hours).await?;
    let hours = b.hours.to_string();
    app.record_operator_action(&op.actor(), "vaccination.chronodoses", Some(&hours))
        .await?;
    eligibility(State(app)).await
}

/// A new version of a vaccine's protocol, from its effective date; booked appointments keep
/// the version they were booked under.
#[utoipa::path(post, path = "/api/v1/operator/vaccination/protocols", tag = "operator", security(("bearer" = [])),
    request_body = NewProtocolBody,
    responses((status = 201, body = ProtocolBody), (status = 401, body = Problem), (status = 403, description = "an operator account without the campaign role, or without a second factor (mfa-required)", body = Problem), (status = 422, body = Problem)))]
pub async fn add_protocol(
    State(app): State<Arc<Vaccination>>,
    op: Operator,
    ApiJson(b): ApiJson<NewProtocolBody>,
) -> Result<(StatusCode, Json<ProtocolBody>), ApiError> {
    op.require(Permission::Campaign)?;
    let p = app
        .add_protocol(
            &b.product,
            &b.effective_from,
            b.second_dose.map(|w| (w.min_days, w.max_days)),
            b.booster_min_days,
        )
        .await?;
    let target = format!("{}:v{}", p.product.code(), p.version);
    app.record_operator_action(&op.actor(), "vaccination.protocol.add", Some(&target))
        .await?;
    Ok((StatusCode::CREATED, Json(ProtocolBody::from(&p))))
}

/// Stock, booked doses and no-shows over the whole campaign.
#[utoipa::path(get, path = "/api/v1/operator/vaccination/totals", tag = "operator", security(("bearer" = [])),
    responses((status = 200, body = TotalsBody), (status = 401, body = Problem), (status = 403, description = "an operator account without the campaign role, or without a second factor (mfa-required)", body = Problem)))]
pub async fn totals(
    State(app): State<Arc<Vaccination>>,
    op: Operator,
) -> Result<Json<TotalsBody>, ApiError> {
    op.require(Permission::Campaign)?;
    let t = app.campaign_totals().await?;
    Ok(Json(TotalsBody {
        centres: t.centres,
        products: t
            .products
            .iter()
            .map(|(p, t)| ProductTotalsBody {
                product: p.code().to_owned(),
                doses: t.doses,
                booked: t.booked,
                no_shows: t.no_shows,
            })
            .collect(),
    }))
}

/// Vaccination appointments of local days `from`..=`to` as CSV for the health authority:
/// pseudonymised (a stable keyed hash per patient) unless identities are allowed and asked.
#[utoipa::path(get, path = "/api/v1/operator/vaccination/appointments.csv", tag = "operator", security(("bearer" = [])),
    params(("from" = String, Query), ("to" = String, Query), ("identities" = Option<bool>, Query)),
    responses((status = 200, content_type = "text/csv", body = String), (status = 401, body = Problem), (status = 403, description = "an operator account without the campaign role, or without a second factor (mfa-required); identities not allowed here", body = Problem)))]
pub async fn export(
    State(app): State<Arc<Vaccination>>,
    op: Operator,
    ApiQuery(q): ApiQuery<ExportQuery>,
) -> Result<axum::response::Response, ApiError> {
    op.require(Permission::Campaign)?;
    let actor = op.actor();
    let csv = app
        .vaccination_export(&q.from, &q.to, q.identities, &actor)
        .await?;
    let target = format!(
        "{}..{}{}",
        q.from,
        q.to,
        if q.identities { " identities" } else { "" }
    );
    app.record_operator_action(&actor, "vaccination.export", Some(&target))
        .await?;
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
            (
                header::CONTENT_DISPOSITION,
                "attachment; filename=\"vaccinations.csv\"",
            ),
            (header::CACHE_CONTROL, "no-store"),
        ],
        csv,
    )
        .into_response())
}
