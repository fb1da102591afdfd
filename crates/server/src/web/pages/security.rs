//! Sign-in's second step, and the account's security page: two-factor authentication (set
//! up with a QR code, recovery codes shown once, removal after re-authentication) and the
//! list of sessions with a revoke button each.

use crate::services::AppError;
use crate::web::context::{safe_path, Ctx, Form, PageResult, Query};
use askama::Template;
use axum::extract::Path;
use base64::Engine;
use careslot_store::{session_public_id, SessionInfo};
use serde::Deserialize;

#[derive(Template)]
#[template(path = "signin_code.html")]
struct CodePage<'a> {
    ctx: &'a Ctx,
    error: Option<&'static str>,
    next: String,
}

#[derive(Deserialize)]
pub struct NextParam {
    next: Option<String>,
}

/// "Enter the code from your app" after a right password.
pub async fn code_page(ctx: Ctx, Query(n): Query<NextParam>) -> PageResult {
    if ctx.pending_token.is_none() {
        return Ok(ctx.redirect("/signin"));
    }
    let next = safe_path(n.next.as_deref().unwrap_or("/")).to_owned();
    Ok(ctx.page(&CodePage {
        ctx: &ctx,
        error: None,
        next,
    }))
}

pub async fn submit_code(mut ctx: Ctx, form: Form) -> PageResult {
    let Some(token) = ctx.pending_token.clone() else {
        return Ok(ctx.redirect("/signin"));
    };
    match ctx
        .app
        .complete_sign_in(&token, form.text("code"), ctx.client)
        .await
    {
        Ok(identity) => {
            ctx.finish_pending(&token, ctx.app.config.session_ttl.as_secs());
            let next = match form.opt("next") {
                Some(n) if n != "/" => safe_path(n).to_owned(),
                _ => super::account::home_of(identity.role).to_owned(),
            };
            Ok(ctx.redirect(&next))
        }
        Err(AppError::BadCode) => Ok(ctx.page(&CodePage {
            ctx: &ctx,
            error: Some("mfa.wrong_code"),
            next: form.text("next").to_owned(),
        })),
        // The pending sign-in is over (expired): start again.
        Err(AppError::Unauthenticated) => Ok(ctx.redirect("/signin")),
        Err(e) => Err(ctx.fail(e)),
    }
}

/// A session as the page lists it.
struct SessionLine {
    id: String,
    device: String,
    created: String,
    last_used: String,
    current: bool,
}

#[derive(Template)]
#[template(path = "security.html")]
struct SecurityPage<'a> {
    ctx: &'a Ctx,
    error: Option<&'static str>,
    /// Sent here because patient data needs two-factor authentication.
    required_notice: bool,
    enabled: bool,
    required: bool,
    /// "N recovery codes left", in the page's language.
    recovery_left_text: String,
    /// A set-up just started: its secret (base32)...
    enrol_secret: Option<String>,
    /// ... and its QR code as a `data:` URI.
    enrol_qr: String,
    /// Recovery codes just made (shown once).
    recovery_codes: Vec<String>,
    sessions: Vec<SessionLine>,
}

#[derive(Deserialize)]
pub struct RequiredParam {
    required: Option<String>,
}

/// The QR code of `data` as an SVG `data:` URI (the CSP allows `img-src data:`).
fn qr_svg(data: &str) -> Option<String> {
    use qrcode::{Color, EcLevel, QrCode};
    let code = QrCode::with_error_correction_level(data.as_bytes(), EcLevel::M).ok()?;
    let n = code.width();
    let colors = code.to_colors();
    let size = n + 8;
    let mut path = String::new();
    for row in 0..n {
        for col in 0..n {
            if colors[row * n + col] == Color::Dark {
                path.push_str(&format!("M{} {}h1v1h-1z", col + 4, row + 4));
            }
        }
    }
    let svg = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {size} {size}\" shape-rendering=\"crispEdges\"><rect width=\"{size}\" height=\"{size}\" fill=\"#fff\"/><path d=\"{path}\" fill=\"#000\"/></svg>"
    );
    Some(format!(
        "data:image/svg+xml;base64,{}",
        base64::engine::general_purpose::STANDARD.encode(svg)
    ))
}

fn when(t: jiff::Timestamp) -> String {
    t.strftime("%Y-%m-%d %H:%M UTC").to_string()
}

async fn render(
    ctx: &Ctx,
    error: Option<&'static str>,
    required_notice: bool,
    enrolment: Option<(String, String)>,
    recovery_codes: Vec<String>,
) -> PageResult {
    let caller = ctx.caller()?.clone();
    let status = ctx.ok(ctx.app.mfa_status(&caller).await)?;
    let current = ctx
        .session_token()
        .map(|t| session_public_id(&careslot_identity::hash_token(t)).to_owned());
    let sessions: Vec<SessionInfo> = ctx.ok(ctx.app.sessions(&caller).await)?;
    let sessions = sessions
        .into_iter()
        .map(|s| SessionLine {
            current: current.as_deref() == Some(s.id.as_str()),
            device: s.device.unwrap_or_default(),
            created: when(s.created_at),
            last_used: when(s.last_used_at),
            id: s.id,
        })
        .collect();
    Ok(ctx.page(&SecurityPage {
        ctx,
        error,
        required_notice,
        enabled: status.enabled,
        required: status.required,
        recovery_left_text: ctx.tf(
            "mfa.recovery_left",
            &[("n", status.recovery_left.to_string().as_str())],
        ),
        enrol_qr: enrolment.as_ref().map(|e| e.1.clone()).unwrap_or_default(),
        enrol_secret: enrolment.map(|e| e.0),
        recovery_codes,
        sessions,
    }))
}

pub async fn page(ctx: Ctx, Query(q): Query<RequiredParam>) -> PageResult {
    if ctx.user.is_none() {
        return Ok(ctx.redirect("/signin?next=%2Faccount%2Fsecurity"));
    }
    render(&ctx, None, q.required.is_some(), None, Vec::new()).await
}

/// Starts a set-up: the secret and its QR code, and the form for the first code.
pub async fn enrol(ctx: Ctx, _form: Form) -> PageResult {
    let caller = ctx.caller()?.clone();
    match ctx.app.mfa_enrol(&caller).await {
        Ok(e) => {
            let qr = qr_svg(&e.uri).unwrap_or_default();
            render(&ctx, None, false, Some((e.secret, qr)), Vec::new()).await
        }
        Err(AppError::Conflict(..)) => render(&ctx, None, false, None, Vec::new()).await,
        Err(e) => Err(ctx.fail(e)),
    }
}

/// The first code confirms the set-up; the recovery codes are shown once.
pub async fn confirm(ctx: Ctx, form: Form) -> PageResult {
    let caller = ctx.caller()?.clone();
    let token = ctx.session_token().unwrap_or("").to_owned();
    match ctx
        .app
        .mfa_confirm(&caller, &token, form.text("code"), ctx.client)
        .await
    {
        Ok(codes) => render(&ctx, None, false, None, codes).await,
        Err(AppError::BadCode) => render(&ctx, Some("mfa.wrong_code"), false, None, vec![]).await,
        Err(AppError::Conflict(..)) => render(&ctx, None, false, None, vec![]).await,
        Err(e) => Err(ctx.fail(e)),
    }
}

/// New recovery codes (the old ones stop working).
pub async fn renew_codes(ctx: Ctx, _form: Form) -> PageResult {
    let caller = ctx.caller()?.clone();
    let codes = ctx.ok(ctx.app.mfa_renew_recovery(&caller).await)?;
    render(&ctx, None, false, None, codes).await
}

/// Removes two-factor authentication after the password (and a code) again.
pub async fn remove(mut ctx: Ctx, form: Form) -> PageResult {
    let caller = ctx.caller()?.clone();
    let token = ctx.session_token().unwrap_or("").to_owned();
    match reauthenticate(&ctx, &form).await {
        Ok(()) => {}
        Err(Some(key)) => return render(&ctx, Some(key), false, None, vec![]).await,
        Err(None) => return Err(ctx.fail(AppError::ReauthRequired)),
    }
    ctx.ok(ctx.app.mfa_remove(&caller, &token).await)?;
    Ok(ctx.redirect_with("/account/security", "flash.mfa_removed"))
}

/// Revokes one of the account's sessions (its cookie or token stops working everywhere).
pub async fn revoke(mut ctx: Ctx, Path(id): Path<String>, _form: Form) -> PageResult {
    let caller = ctx.caller()?.clone();
    ctx.ok(ctx.app.revoke_session(&caller, &id).await)?;
    Ok(ctx.redirect_with("/account/security#sessions-h", "flash.session_revoked"))
}

/// Re-authenticates the page's session with the form's `current_password` (or `password`)
/// and `code`. Err(Some(key)): a message for the form; Err(None): no session.
pub(crate) async fn reauthenticate(ctx: &Ctx, form: &Form) -> Result<(), Option<&'static str>> {
    let (Some(user), Some(token)) = (ctx.user.as_ref(), ctx.session_token()) else {
        return Err(None);
    };
    let password = form
        .get("current_password")
        .or_else(|| form.get("password"))
        .unwrap_or("");
    match ctx
        .app
        .reauthenticate(&user.caller, token, password, form.opt("code"), ctx.client)
        .await
    {
        Ok(()) => Ok(()),
        Err(AppError::BadCredentials) => Err(Some("account.wrong_password")),
        Err(AppError::BadCode) => Err(Some("mfa.wrong_code")),
        Err(AppError::TooManyAttempts { .. }) => Err(Some("error.too_many_attempts.detail")),
        Err(_) => Err(Some("error.unavailable.detail")),
    }
}
