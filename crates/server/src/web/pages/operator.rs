//! The operator console (health authority, platform staff): an operator account signed in
//! through the normal sign-in, with a second factor, sees the sections of its roles —
//! campaign totals, phases (open, close), chronodoses, protocol versions and the appointment
//! export (`campaign`), the review queue (`verification`), dead letters (`messages`). Every
//! change is recorded in the operators' action log under the account's id. (The operator's
//! bearer token is for the API only: it is never kept in a browser.)

use crate::services::{AppError, NewPhase};
use crate::web::context::{Ctx, Failure, Form, PageResult};
use askama::Template;
use axum::extract::Path;
use careslot_domain::{Phase, Protocol};
use careslot_identity::OperatorAuth;
use careslot_store::Permission;

/// The operator behind this page's session, holding permission `p`: an operator account
/// whose session gave a second factor (else the security page, to set it up), enabled, with
/// the role (else a 403 page). Without a session: the sign-in error page.
pub(crate) async fn require(ctx: &Ctx, p: Permission) -> Result<OperatorAuth, Failure> {
    let op = signed_in_operator(ctx).await?;
    ctx.ok(op.require(p))?;
    Ok(op)
}

async fn signed_in_operator(ctx: &Ctx) -> Result<OperatorAuth, Failure> {
    let caller = ctx.caller()?.clone();
    ctx.ok(ctx.app.accounts.operator_of(&caller).await)
}

/// Records a console action in the operators' action log, under the acting account.
async fn record(
    ctx: &Ctx,
    op: &OperatorAuth,
    action: &str,
    target: Option<&str>,
) -> Result<(), Failure> {
    ctx.ok(ctx
        .app
        .accounts
        .record_operator_action(&op.actor(), action, target)
        .await)
}

#[derive(Template)]
#[template(path = "operator_signin.html")]
struct SignInPage<'a> {
    ctx: &'a Ctx,
}

pub struct ProductRow {
    pub name: &'static str,
    pub doses: u64,
    pub booked: u64,
    pub no_shows: u64,
}

pub struct ProtocolRow {
    pub product: &'static str,
    pub version: u32,
    pub from: String,
    pub window: String,
    pub booster: u32,
}

#[derive(Template)]
#[template(path = "operator.html")]
struct ConsolePage<'a> {
    ctx: &'a Ctx,
    /// What this operator may do: the sections shown.
    campaign: bool,
    verification: bool,
    messages: bool,
    centres: usize,
    products: Vec<ProductRow>,
    phases: Vec<Phase>,
    chronodose_hours: u32,
    summary: String,
    protocols: Vec<ProtocolRow>,
    error: Option<&'static str>,
    today: String,
    dead: Vec<DeadRow>,
}

/// A dead letter in the console: never its address or body.
pub struct DeadRow {
    pub id: String,
    pub kind: String,
    pub channel: &'static str,
    pub attempts: u32,
    pub error: String,
    pub when: String,
}

async fn console(ctx: &Ctx, op: &OperatorAuth, error: Option<&'static str>) -> PageResult {
    let campaign = op.has(Permission::Campaign);
    let messages = op.has(Permission::Messages);
    let mut page = ConsolePage {
        ctx,
        campaign,
        verification: op.has(Permission::Verification),
        messages,
        centres: 0,
        products: Vec::new(),
        phases: Vec::new(),
        chronodose_hours: 0,
        summary: String::new(),
        protocols: Vec::new(),
        error,
        today: jiff::Zoned::now().date().to_string(),
        dead: Vec::new(),
    };
    if campaign {
        let totals = ctx.ok(ctx.app.vaccination.campaign_totals().await)?;
        let rules = ctx.ok(ctx.app.vaccination.eligibility().await)?;
        let mut protocols: Vec<Protocol> = ctx.ok(ctx.app.protocols().await)?;
        protocols.sort_by(|a, b| (a.product, b.version).cmp(&(b.product, a.version)));
        page.centres = totals.centres;
        page.products = totals
            .products
            .iter()
            .map(|(p, t)| ProductRow {
                name: p.name(),
                doses: t.doses,
                booked: t.booked,
                no_shows: t.no_shows,
            })
            .collect();
        page.summary = rules.describe();
        page.phases = rules.open;
        page.chronodose_hours = rules.chronodose_hours;
        page.protocols = protocols
            .iter()
            .map(|p| ProtocolRow {
                product: p.product.name(),
                version: p.version,
                from: p.effective_from.to_string(),
                window: p
                    .second_dose
                    .map(|(a, b)| format!("{a}–{b}"))
                    .unwrap_or_else(|| "—".into()),
                booster: p.booster_min_days,
            })
            .collect();
    }
    if messages {
        let dead = ctx.ok(ctx.app.accounts.dead_letters().await)?;
        page.dead = dead
            .into_iter()
            .map(|d| DeadRow {
                id: d.id,
                kind: d.kind,
                channel: d.channel,
                attempts: d.attempts,
                error: d.last_error.unwrap_or_default(),
                when: d.dead_at.strftime("%Y-%m-%d %H:%M UTC").to_string(),
            })
            .collect();
    }
    Ok(ctx.page(&page))
}

/// `GET /operator`: the console of a signed-in operator (the sections of its roles); without
/// a session, a page that leads to the normal sign-in.
pub async fn page(ctx: Ctx) -> PageResult {
    if ctx.user.is_none() {
        return Ok(ctx.page(&SignInPage { ctx: &ctx }));
    }
    let op = signed_in_operator(&ctx).await?;
    console(&ctx, &op, None).await
}

pub async fn open_phase(mut ctx: Ctx, form: Form) -> PageResult {
    let op = require(&ctx, Permission::Campaign).await?;
    let opened = ctx
        .app
        .vaccination
        .open_phase(NewPhase {
            name: form.text("name").to_owned(),
            everyone: form.checked("everyone"),
            min_age: form.opt("min_age").and_then(|a| a.parse().ok()),
            priority_groups: form
                .text("priority_groups")
                .split(',')
                .map(str::trim)
                .filter(|g| !g.is_empty())
                .map(str::to_owned)
                .collect(),
        })
        .await;
    match opened {
        Ok(p) => {
            record(&ctx, &op, "vaccination.phase.open", Some(&p.id)).await?;
            Ok(ctx.redirect_with("/operator", "flash.saved"))
        }
        Err(AppError::Invalid(_)) => console(&ctx, &op, Some("operator.phase_invalid")).await,
        Err(e) => Err(ctx.fail(e)),
    }
}

pub async fn close_phase(mut ctx: Ctx, Path(id): Path<String>, _form: Form) -> PageResult {
    let op = require(&ctx, Permission::Campaign).await?;
    ctx.ok(ctx.app.vaccination.close_phase(&id).await)?;
    record(&ctx, &op, "vaccination.phase.close", Some(&id)).await?;
    Ok(ctx.redirect_with("/operator", "flash.saved"))
}

pub async fn chronodoses(mut ctx: Ctx, form: Form) -> PageResult {
    let op = require(&ctx, Permission::Campaign).await?;
    let hours: i64 = form.text("hours").parse().unwrap_or(-1);
    match ctx.app.vaccination.set_chronodoses(hours).await {
        Ok(_) => {
            let hours = hours.to_string();
            record(&ctx, &op, "vaccination.chronodoses", Some(&hours)).await?;
            Ok(ctx.redirect_with("/operator", "flash.saved"))
        }
        Err(AppError::Invalid(_)) => console(&ctx, &op, Some("operator.chronodose_invalid")).await,
        Err(e) => Err(ctx.fail(e)),
    }
}

pub async fn add_protocol(mut ctx: Ctx, form: Form) -> PageResult {
    let op = require(&ctx, Permission::Campaign).await?;
    let window = match (form.opt("min_days"), form.opt("max_days")) {
        (Some(a), Some(b)) => match (a.parse(), b.parse()) {
            (Ok(a), Ok(b)) => Some((a, b)),
            _ => return console(&ctx, &op, Some("operator.protocol_invalid")).await,
        },
        _ => None,
    };
    let added = ctx
        .app
        .vaccination
        .add_protocol(
            form.text("product"),
            form.text("effective_from"),
            window,
            form.text("booster_min_days").parse().unwrap_or(-1),
        )
        .await;
    match added {
        Ok(p) => {
            let target = format!("{}:v{}", p.product.code(), p.version);
            record(&ctx, &op, "vaccination.protocol.add", Some(&target)).await?;
            Ok(ctx.redirect_with("/operator", "flash.saved"))
        }
        Err(AppError::Invalid(_)) => console(&ctx, &op, Some("operator.protocol_invalid")).await,
        Err(e) => Err(ctx.fail(e)),
    }
}

/// The export, from the console (same content as the API's).
pub async fn export(
    ctx: Ctx,
    crate::web::context::Query(q): crate::web::context::Query<ExportParams>,
) -> PageResult {
    let op = require(&ctx, Permission::Campaign).await?;
    let actor = op.actor();
    let csv = ctx.ok(ctx
        .app
        .vaccination
        .vaccination_export(&q.from, &q.to, false, &actor)
        .await)?;
    let target = format!("{}..{}", q.from, q.to);
    record(&ctx, &op, "vaccination.export", Some(&target)).await?;
    Ok(axum::response::IntoResponse::into_response((
        [
            (axum::http::header::CONTENT_TYPE, "text/csv; charset=utf-8"),
            (
                axum::http::header::CONTENT_DISPOSITION,
                "attachment; filename=\"vaccinations.csv\"",
            ),
            (axum::http::header::CACHE_CONTROL, "no-store"),
        ],
        csv,
    )))
}

#[derive(serde::Deserialize)]
pub struct ExportParams {
    from: String,
    to: String,
}

/// Puts one dead letter back in the queue.
pub async fn retry_dead_letter(mut ctx: Ctx, Path(id): Path<String>, _form: Form) -> PageResult {
    let op = require(&ctx, Permission::Messages).await?;
    ctx.ok(ctx.app.accounts.retry_dead_letter(&id).await)?;
    record(&ctx, &op, "outbox.retry", Some(&id)).await?;
    Ok(ctx.redirect_with("/operator#dead-h", "flash.saved"))
}

/// Puts every dead letter back in the queue.
pub async fn retry_all_dead_letters(mut ctx: Ctx, _form: Form) -> PageResult {
    let op = require(&ctx, Permission::Messages).await?;
    ctx.ok(ctx.app.accounts.retry_all_dead_letters().await)?;
    record(&ctx, &op, "outbox.retry-all", None).await?;
    Ok(ctx.redirect_with("/operator#dead-h", "flash.saved"))
}
