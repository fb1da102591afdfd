//! The account page's forms (issue 14): contact details, message preferences and language,
//! the email verification link (followed from a mail), address and password changes, and
//! the phone's SMS code. Each form posts, then redirects back with a notice or re-renders
//! the page with the mistake to fix.

use super::account::render_account;
use crate::services::{AppError, ProfileUpdate};
use crate::web::context::{Ctx, Form, PageResult, Query};
use askama::Template;
use serde::Deserialize;

#[derive(Template)]
#[template(path = "email_verification.html")]
struct VerifyPage<'a> {
    ctx: &'a Ctx,
    /// The link's token: shows the confirm button (following a link never consumes it, so
    /// mail scanners that open links cannot spend it).
    token: Option<String>,
    /// The outcome, a catalog key.
    outcome: Option<&'static str>,
    ok: bool,
}

#[derive(Deserialize)]
pub struct TokenParam {
    token: Option<String>,
}

pub async fn verify_page(ctx: Ctx, Query(q): Query<TokenParam>) -> PageResult {
    let token = q.token.filter(|t| !t.is_empty() && t.len() <= 128);
    let outcome = token.is_none().then_some("verify.invalid");
    Ok(ctx.page(&VerifyPage {
        ctx: &ctx,
        token,
        outcome,
        ok: false,
    }))
}

pub async fn verify(ctx: Ctx, form: Form) -> PageResult {
    let (outcome, ok) = match ctx.app.confirm_email_token(form.text("token")).await {
        Ok(crate::services::EmailConfirmed::Verified) => ("verify.done", true),
        Ok(crate::services::EmailConfirmed::Changed) => ("verify.changed", true),
        Err(AppError::BadRequest(_)) => ("verify.invalid", false),
        Err(AppError::Store(careslot_store::StoreError::Conflict(_))) => ("verify.taken", false),
        Err(e) => return Err(ctx.fail(e)),
    };
    Ok(ctx.page(&VerifyPage {
        ctx: &ctx,
        token: None,
        outcome: Some(outcome),
        ok,
    }))
}

/// A mistake in a form of the account page, as a catalog key; None when it is not one.
fn form_error(e: &AppError) -> Option<&'static str> {
    match e {
        AppError::Invalid(d) => Some(match d.field {
            "phone" => "account.bad_phone",
            "current_password" => "account.wrong_password",
            "password" => "signup.weak_password",
            "email" => "signup.bad_email",
            "name" => "signup.bad_name",
            "code" => "account.bad_code",
            _ => "error.invalid.detail",
        }),
        AppError::TooManyAttempts { .. } => Some("account.too_many"),
        _ => None,
    }
}

/// Redirects with `flash` on success, re-renders the page with the mistake otherwise.
async fn done(mut ctx: Ctx, out: Result<(), AppError>, flash: &str) -> PageResult {
    match out {
        Ok(()) => Ok(ctx.redirect_with("/account", flash)),
        Err(e) => match form_error(&e) {
            Some(key) => render_account(&ctx, Some(key)).await,
            None => Err(ctx.fail(e)),
        },
    }
}

pub async fn save_contact(ctx: Ctx, form: Form) -> PageResult {
    let caller = ctx.caller()?.clone();
    let update = ProfileUpdate {
        name: Some(form.text("name").to_owned()),
        phone: Some(form.text("phone").to_owned()),
        ..ProfileUpdate::default()
    };
    let out = ctx.app.update_profile(&caller, &update).await.map(|_| ());
    done(ctx, out, "flash.saved").await
}

pub async fn save_preferences(ctx: Ctx, form: Form) -> PageResult {
    let caller = ctx.caller()?.clone();
    let update = ProfileUpdate {
        lang: Some(form.text("lang").to_owned()),
        reminders_email: Some(form.checked("reminders_email")),
        reminders_sms: Some(form.checked("reminders_sms")),
        show_motive: Some(form.checked("show_motive")),
        ..ProfileUpdate::default()
    };
    let out = ctx.app.update_profile(&caller, &update).await.map(|_| ());
    done(ctx, out, "flash.saved").await
}

pub async fn resend_verification(ctx: Ctx, _form: Form) -> PageResult {
    let caller = ctx.caller()?.clone();
    let out = ctx.app.resend_email_verification(&caller).await;
    done(ctx, out, "flash.email_link_sent").await
}

/// With two-factor authentication on, a sensitive change needs the code too: the form's
/// password and code re-authenticate the session first. Some(page) when they do not.
async fn reauth_if_enrolled(ctx: &Ctx, form: &Form) -> Option<PageResult> {
    let caller = ctx.user.as_ref()?.caller.clone();
    match ctx.app.mfa_enabled(&caller.id).await {
        Ok(false) => None,
        Ok(true) => match super::security::reauthenticate(ctx, form).await {
            Ok(()) => None,
            Err(Some(key)) => Some(render_account(ctx, Some(key)).await),
            Err(None) => Some(Err(ctx.fail(AppError::Unauthenticated))),
        },
        Err(e) => Some(Err(ctx.fail(e))),
    }
}

pub async fn change_email(ctx: Ctx, form: Form) -> PageResult {
    let caller = ctx.caller()?.clone();
    if let Some(refused) = reauth_if_enrolled(&ctx, &form).await {
        return refused;
    }
    let out = ctx
        .app
        .request_email_change(
            &caller,
            form.text("new_email"),
            form.get("current_password").unwrap_or(""),
        )
        .await;
    done(ctx, out, "flash.email_link_sent").await
}

pub async fn send_code(ctx: Ctx, _form: Form) -> PageResult {
    let caller = ctx.caller()?.clone();
    let out = ctx.app.request_phone_code(&caller).await;
    done(ctx, out, "flash.code_sent").await
}

pub async fn confirm_code(ctx: Ctx, form: Form) -> PageResult {
    let caller = ctx.caller()?.clone();
    let out = ctx.app.confirm_phone_code(&caller, form.text("code")).await;
    done(ctx, out, "flash.phone_verified").await
}

pub async fn change_password(ctx: Ctx, form: Form) -> PageResult {
    let caller = ctx.caller()?.clone();
    if let Some(refused) = reauth_if_enrolled(&ctx, &form).await {
        return refused;
    }
    let out = ctx
        .app
        .change_password(
            &caller,
            form.get("current_password").unwrap_or(""),
            form.get("password").unwrap_or(""),
            ctx.session_token(),
        )
        .await;
    done(ctx, out, "flash.password_changed").await
}
