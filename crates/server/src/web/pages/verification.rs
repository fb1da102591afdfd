//! Practitioner verification on the web (issue 15, point 6): the practitioner's page to
//! declare their national identifier and see where its review stands, and the operator
//! console's review queue (verify, reject, revoke with a reason).

use crate::services::AppError;
use crate::web::context::{Ctx, Form, PageResult};
use askama::Template;
use axum::extract::Path;
use careslot_domain::{CredentialStatus, IdScheme};
use careslot_store::{CredentialListing, CredentialRecord, Permission};

/// The i18n key naming a status.
pub fn status_key(s: CredentialStatus) -> &'static str {
    match s {
        CredentialStatus::Unverified => "credential.status.unverified",
        CredentialStatus::Pending => "credential.status.pending",
        CredentialStatus::Verified => "credential.status.verified",
        CredentialStatus::Rejected => "credential.status.rejected",
        CredentialStatus::Revoked => "credential.status.revoked",
    }
}

fn day(t: Option<jiff::Timestamp>) -> String {
    t.map(|t| t.strftime("%Y-%m-%d").to_string())
        .unwrap_or_default()
}

#[derive(Template)]
#[template(path = "verification.html")]
struct PractitionerPage<'a> {
    ctx: &'a Ctx,
    status: CredentialStatus,
    status_text: &'static str,
    /// Lead text for the status: what it means and what to do.
    explain: &'static str,
    identifier: String,
    scheme: &'static str,
    reason: String,
    error: Option<&'static str>,
    can_declare: bool,
}

async fn practitioner_page(ctx: &Ctx, error: Option<&'static str>) -> PageResult {
    let caller = ctx.caller()?.clone();
    let c: CredentialRecord = ctx.ok(ctx.app.my_credential(&caller).await)?;
    let explain = match c.status {
        CredentialStatus::Unverified => "credential.explain.unverified",
        CredentialStatus::Pending => "credential.explain.pending",
        CredentialStatus::Verified => "credential.explain.verified",
        CredentialStatus::Rejected => "credential.explain.rejected",
        CredentialStatus::Revoked => "credential.explain.revoked",
    };
    Ok(ctx.page(&PractitionerPage {
        ctx,
        status: c.status,
        status_text: ctx.t(status_key(c.status)),
        explain: ctx.t(explain),
        identifier: c
            .identifier
            .as_ref()
            .map(|i| i.value().to_owned())
            .unwrap_or_default(),
        scheme: c
            .identifier
            .as_ref()
            .map(|i| i.scheme().code())
            .unwrap_or("rpps"),
        reason: c.reason.unwrap_or_default(),
        error,
        // A revoked practitioner asks the platform; declaring anew would only queue it.
        can_declare: c.status != CredentialStatus::Revoked,
    }))
}

/// `GET /pro/verification`.
pub async fn page(ctx: Ctx) -> PageResult {
    practitioner_page(&ctx, None).await
}

/// `POST /pro/verification`: declare (or correct) the identifier.
pub async fn declare(mut ctx: Ctx, form: Form) -> PageResult {
    let caller = ctx.caller()?.clone();
    match ctx
        .app
        .declare_identifier(&caller, form.text("scheme"), form.text("identifier"))
        .await
    {
        Ok(_) => Ok(ctx.redirect_with("/pro/verification", "flash.saved")),
        Err(AppError::Invalid(d)) if d.field == "scheme" || d.field == "identifier" => {
            practitioner_page(&ctx, Some("credential.invalid")).await
        }
        Err(e) => Err(ctx.fail(e)),
    }
}

/// A row of the review queue.
pub struct ReviewRow {
    pub practitioner_id: String,
    pub name: String,
    pub specialty: &'static str,
    pub identifier: String,
    pub scheme: &'static str,
    pub status: CredentialStatus,
    pub status_text: &'static str,
    pub declared: String,
    pub decided: String,
    pub decided_by: String,
    pub reason: String,
}

#[derive(Template)]
#[template(path = "operator_practitioners.html")]
struct QueuePage<'a> {
    ctx: &'a Ctx,
    rows: Vec<ReviewRow>,
    /// The status listed (`pending`, `verified`…).
    current: &'static str,
    tabs: Vec<(&'static str, &'static str)>,
}

#[derive(serde::Deserialize)]
pub struct QueueParams {
    status: Option<String>,
}

fn row(ctx: &Ctx, l: &CredentialListing) -> ReviewRow {
    let c = &l.credential;
    ReviewRow {
        practitioner_id: c.practitioner_id.to_string(),
        name: l.name.clone(),
        specialty: crate::web::view::specialty_label(ctx.lang, l.specialty),
        identifier: c
            .identifier
            .as_ref()
            .map(|i| i.value().to_owned())
            .unwrap_or_else(|| "—".into()),
        scheme: c
            .identifier
            .as_ref()
            .map(|i| match i.scheme() {
                IdScheme::Rpps => "RPPS",
                IdScheme::Lanr => "LANR",
                IdScheme::ItOrder => "Ordine",
            })
            .unwrap_or(""),
        status: c.status,
        status_text: ctx.t(status_key(c.status)),
        declared: day(c.declared_at),
        decided: day(c.decided_at),
        decided_by: c.decided_by.clone().unwrap_or_default(),
        reason: c.reason.clone().unwrap_or_default(),
    }
}

/// `GET /operator/practitioners?status=`: the review queue (pending by default).
pub async fn queue(
    ctx: Ctx,
    crate::web::context::Query(q): crate::web::context::Query<QueueParams>,
) -> PageResult {
    super::operator::require(&ctx, Permission::Verification).await?;
    let status = q
        .status
        .as_deref()
        .and_then(|s| CredentialStatus::parse(s).ok())
        .filter(|s| *s != CredentialStatus::Unverified)
        .unwrap_or(CredentialStatus::Pending);
    let list = ctx.ok(ctx.app.review_queue(Some(status)).await)?;
    Ok(ctx.page(&QueuePage {
        ctx: &ctx,
        rows: list.iter().map(|l| row(&ctx, l)).collect(),
        current: status.code(),
        tabs: [
            CredentialStatus::Pending,
            CredentialStatus::Verified,
            CredentialStatus::Rejected,
            CredentialStatus::Revoked,
        ]
        .into_iter()
        .map(|s| (s.code(), ctx.t(status_key(s))))
        .collect(),
    }))
}

/// `POST /operator/practitioners/{id}/{decision}` with an optional `reason`; the history
/// names the operator account that decided.
pub async fn decide(
    mut ctx: Ctx,
    Path((id, decision)): Path<(String, String)>,
    form: Form,
) -> PageResult {
    let op = super::operator::require(&ctx, Permission::Verification).await?;
    let (to, back) = match decision.as_str() {
        "verify" => (CredentialStatus::Verified, "pending"),
        "reject" => (CredentialStatus::Rejected, "pending"),
        "revoke" => (CredentialStatus::Revoked, "verified"),
        _ => return Err(ctx.fail(AppError::NotFound("page"))),
    };
    let back = format!("/operator/practitioners?status={back}");
    match ctx
        .app
        .decide_credential(&id, to, form.opt("reason"), &op.actor())
        .await
    {
        Ok(_) => Ok(ctx.redirect_with(&back, "flash.saved")),
        Err(AppError::Invalid(_)) => Ok(ctx.redirect_with(&back, "flash.reason_required")),
        Err(AppError::Conflict(..)) => Ok(ctx.redirect_with(&back, "flash.decision_conflict")),
        Err(e) => Err(ctx.fail(e)),
    }
}
