//! The campaign operator's console (health authority): sign in with the operator token,
//! then campaign totals, phases (open, close), chronodoses, protocol versions, and the
//! appointment export. The token is kept in a cookie (HttpOnly, Secure, SameSite=Strict).

use crate::services::{AppError, NewPhase};
use crate::web::context::{clear_cookie, cookie, Ctx, Failure, Form, PageResult};
use askama::Template;
use axum::extract::Path;
use axum::http::HeaderMap;
use careslot_domain::{Phase, Protocol};

const OPERATOR_COOKIE: &str = "careslot_operator";

/// Whether the operator cookie holds the operator token; checked behind the client
/// address's throttle like the API's operator token (429 page while it is blocked).
async fn is_operator(ctx: &Ctx, headers: &HeaderMap) -> Result<bool, Failure> {
    let Some(sent) = cookie(headers, OPERATOR_COOKIE) else {
        return Ok(false);
    };
    match ctx.app.check_operator_token(sent, ctx.client).await {
        Ok(()) => Ok(true),
        Err(AppError::Unauthenticated) => Ok(false),
        Err(e) => Err(ctx.fail(e)),
    }
}

pub(crate) async fn require(ctx: &Ctx, headers: &HeaderMap) -> Result<(), Failure> {
    if is_operator(ctx, headers).await? {
        Ok(())
    } else {
        Err(ctx.fail(AppError::Unauthenticated))
    }
}

#[derive(Template)]
#[template(path = "operator_signin.html")]
struct SignInPage<'a> {
    ctx: &'a Ctx,
    error: Option<&'static str>,
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

async fn console(ctx: &Ctx, error: Option<&'static str>) -> PageResult {
    let totals = ctx.ok(ctx.app.vaccination.campaign_totals().await)?;
    let rules = ctx.ok(ctx.app.vaccination.eligibility().await)?;
    let mut protocols: Vec<Protocol> = ctx.ok(ctx.app.protocols().await)?;
    protocols.sort_by(|a, b| (a.product, b.version).cmp(&(b.product, a.version)));
    let dead = ctx.ok(ctx.app.accounts.dead_letters().await)?;
    Ok(ctx.page(&ConsolePage {
        ctx,
        centres: totals.centres,
        products: totals
            .products
            .iter()
            .map(|(p, t)| ProductRow {
                name: p.name(),
                doses: t.doses,
                booked: t.booked,
                no_shows: t.no_shows,
            })
            .collect(),
        summary: rules.describe(),
        phases: rules.open,
        chronodose_hours: rules.chronodose_hours,
        protocols: protocols
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
            .collect(),
        error,
        today: jiff::Zoned::now().date().to_string(),
        dead: dead
            .into_iter()
            .map(|d| DeadRow {
                id: d.id,
                kind: d.kind,
                channel: d.channel,
                attempts: d.attempts,
                error: d.last_error.unwrap_or_default(),
                when: d.dead_at.strftime("%Y-%m-%d %H:%M UTC").to_string(),
            })
            .collect(),
    }))
}

pub async fn page(ctx: Ctx, headers: HeaderMap) -> PageResult {
    if !is_operator(&ctx, &headers).await? {
        return Ok(ctx.page(&SignInPage {
            ctx: &ctx,
            error: None,
        }));
    }
    console(&ctx, None).await
}

pub async fn sign_in(mut ctx: Ctx, form: Form) -> PageResult {
    let token = form.text("token");
    match ctx.app.check_operator_token(token, ctx.client).await {
        Ok(()) => {
            ctx.add_cookie(format!(
                "{OPERATOR_COOKIE}={token}; Path=/; HttpOnly; Secure; SameSite=Strict; Max-Age=43200"
            ));
            Ok(ctx.redirect("/operator"))
        }
        Err(AppError::Unauthenticated) => Ok(ctx.page(&SignInPage {
            ctx: &ctx,
            error: Some("operator.bad_token"),
        })),
        Err(e) => Err(ctx.fail(e)),
    }
}

pub async fn sign_out(mut ctx: Ctx, _form: Form) -> PageResult {
    ctx.add_cookie(clear_cookie(OPERATOR_COOKIE));
    Ok(ctx.redirect("/"))
}

pub async fn open_phase(mut ctx: Ctx, headers: HeaderMap, form: Form) -> PageResult {
    require(&ctx, &headers).await?;
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
        Ok(_) => Ok(ctx.redirect_with("/operator", "flash.saved")),
        Err(AppError::Invalid(_)) => console(&ctx, Some("operator.phase_invalid")).await,
        Err(e) => Err(ctx.fail(e)),
    }
}

pub async fn close_phase(
    mut ctx: Ctx,
    headers: HeaderMap,
    Path(id): Path<String>,
    _form: Form,
) -> PageResult {
    require(&ctx, &headers).await?;
    ctx.ok(ctx.app.vaccination.close_phase(&id).await)?;
    Ok(ctx.redirect_with("/operator", "flash.saved"))
}

pub async fn chronodoses(mut ctx: Ctx, headers: HeaderMap, form: Form) -> PageResult {
    require(&ctx, &headers).await?;
    match ctx
        .app
        .vaccination
        .set_chronodoses(form.text("hours").parse().unwrap_or(-1))
        .await
    {
        Ok(_) => Ok(ctx.redirect_with("/operator", "flash.saved")),
        Err(AppError::Invalid(_)) => console(&ctx, Some("operator.chronodose_invalid")).await,
        Err(e) => Err(ctx.fail(e)),
    }
}

pub async fn add_protocol(mut ctx: Ctx, headers: HeaderMap, form: Form) -> PageResult {
    require(&ctx, &headers).await?;
    let window = match (form.opt("min_days"), form.opt("max_days")) {
        (Some(a), Some(b)) => match (a.parse(), b.parse()) {
            (Ok(a), Ok(b)) => Some((a, b)),
            _ => return console(&ctx, Some("operator.protocol_invalid")).await,
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
        Ok(_) => Ok(ctx.redirect_with("/operator", "flash.saved")),
        Err(AppError::Invalid(_)) => console(&ctx, Some("operator.protocol_invalid")).await,
        Err(e) => Err(ctx.fail(e)),
    }
}

/// The export, from the console (same content as the API's).
pub async fn export(
    ctx: Ctx,
    headers: HeaderMap,
    crate::web::context::Query(q): crate::web::context::Query<ExportParams>,
) -> PageResult {
    require(&ctx, &headers).await?;
    let csv = ctx.ok(ctx
        .app
        .vaccination
        .vaccination_export(&q.from, &q.to, false)
        .await)?;
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
pub async fn retry_dead_letter(
    mut ctx: Ctx,
    headers: HeaderMap,
    Path(id): Path<String>,
    _form: Form,
) -> PageResult {
    require(&ctx, &headers).await?;
    ctx.ok(ctx.app.accounts.retry_dead_letter(&id).await)?;
    Ok(ctx.redirect_with("/operator#dead-h", "flash.saved"))
}

/// Puts every dead letter back in the queue.
pub async fn retry_all_dead_letters(mut ctx: Ctx, headers: HeaderMap, _form: Form) -> PageResult {
    require(&ctx, &headers).await?;
    ctx.ok(ctx.app.accounts.retry_all_dead_letters().await)?;
    Ok(ctx.redirect_with("/operator#dead-h", "flash.saved"))
}
