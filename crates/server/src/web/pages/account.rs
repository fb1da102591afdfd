//! Signing in and up (patients), signing out, the account page with relatives, erasure.

use crate::services::{AppError, Caller, NewIdentity, Relative};
use crate::web::context::Query;
use crate::web::context::{Ctx, Failure, Form, PageResult};
use askama::Template;
use axum::extract::Path;
use careslot_store::Role;
use serde::Deserialize;

#[derive(Template)]
#[template(path = "signin.html")]
struct SignInPage<'a> {
    ctx: &'a Ctx,
    error: Option<&'static str>,
    email: String,
    next: String,
    /// "Send the confirmation email again" was asked for (whatever the address).
    resent: bool,
}

#[derive(Template)]
#[template(path = "signup.html")]
struct SignUpPage<'a> {
    ctx: &'a Ctx,
    error: Option<&'static str>,
    email: String,
    name: String,
    /// The sign-up was taken: "check your mailbox" (also when the address has an account).
    sent: bool,
}

#[derive(Template)]
#[template(path = "password_reset.html")]
struct PasswordResetPage<'a> {
    ctx: &'a Ctx,
    error: Option<&'static str>,
    /// The token of the link followed: shows the new-password form.
    token: Option<String>,
    /// The request was taken (whatever the address).
    sent: bool,
}

#[derive(Deserialize)]
pub struct TokenParam {
    token: Option<String>,
}

/// "Forgot password": the request form, or the new-password form of a link.
pub async fn password_reset_page(ctx: Ctx, Query(q): Query<TokenParam>) -> PageResult {
    Ok(ctx.page(&PasswordResetPage {
        ctx: &ctx,
        error: None,
        token: q.token.filter(|t| !t.is_empty() && t.len() <= 128),
        sent: false,
    }))
}

/// Sends a link if the address has an account; the page says the same either way.
pub async fn request_password_reset(ctx: Ctx, form: Form) -> PageResult {
    if let Err(e) = ctx
        .app
        .request_password_reset_from(form.text("email"), ctx.client)
        .await
    {
        return Err(ctx.fail(e));
    }
    Ok(ctx.page(&PasswordResetPage {
        ctx: &ctx,
        error: None,
        token: None,
        sent: true,
    }))
}

/// Sets the new password; every session of the account ends, the visitor signs in again.
pub async fn password_reset(mut ctx: Ctx, form: Form) -> PageResult {
    let token = form.text("token").to_owned();
    match ctx
        .app
        .confirm_password_reset(&token, form.get("password").unwrap_or(""))
        .await
    {
        Ok(()) => Ok(ctx.redirect_with("/signin", "flash.password_reset")),
        Err(AppError::BadRequest(_)) => Ok(ctx.page(&PasswordResetPage {
            ctx: &ctx,
            error: Some("password_reset.invalid"),
            token: None,
            sent: false,
        })),
        Err(AppError::Invalid(_)) => Ok(ctx.page(&PasswordResetPage {
            ctx: &ctx,
            error: Some("signup.weak_password"),
            token: Some(token),
            sent: false,
        })),
        Err(e) => Err(ctx.fail(e)),
    }
}

#[derive(Deserialize)]
pub struct NextParam {
    next: Option<String>,
}

pub async fn signin_page(ctx: Ctx, Query(n): Query<NextParam>) -> PageResult {
    let next = crate::web::context::safe_path(n.next.as_deref().unwrap_or("")).to_owned();
    Ok(ctx.page(&SignInPage {
        ctx: &ctx,
        error: None,
        email: String::new(),
        next,
        resent: false,
    }))
}

/// "Send the confirmation email again", from the sign-in page: a new link goes to the
/// address if it has an account whose address is not proven yet; the page says the same
/// whatever the address.
pub async fn resend_verification(ctx: Ctx, form: Form) -> PageResult {
    let email = form.text("email");
    if let Err(e) = ctx.app.resend_verification_from(email, ctx.client).await {
        return Err(ctx.fail(e));
    }
    Ok(ctx.page(&SignInPage {
        ctx: &ctx,
        error: None,
        email: String::new(),
        next: String::new(),
        resent: true,
    }))
}

/// Where each kind of account lands after signing in.
pub(crate) fn home_of(role: Role) -> &'static str {
    match role {
        Role::Patient => "/appointments",
        Role::Practitioner | Role::Assistant => "/pro/agenda",
        Role::Operator => "/operator",
    }
}

pub async fn sign_in(mut ctx: Ctx, form: Form) -> PageResult {
    let email = form.text("email");
    let device = ctx.device.clone();
    match ctx
        .app
        .sign_in(
            email,
            form.get("password").unwrap_or(""),
            ctx.client,
            device.as_deref(),
        )
        .await
    {
        Ok(s) => {
            let next = match form.opt("next") {
                Some(n) if n != "/" => crate::web::context::safe_path(n).to_owned(),
                _ => home_of(s.identity.role).to_owned(),
            };
            if s.mfa_pending {
                ctx.start_pending(&s.token);
                let next: String = form_urlencoded::byte_serialize(next.as_bytes()).collect();
                return Ok(ctx.redirect(&format!("/signin/code?next={next}")));
            }
            ctx.start_session(&s.token, ctx.app.config.session_ttl.as_secs());
            Ok(ctx.redirect(&next))
        }
        Err(AppError::BadCredentials) => Ok(ctx.page(&SignInPage {
            ctx: &ctx,
            error: Some("signin.failed"),
            email: email.to_owned(),
            next: form.text("next").to_owned(),
            resent: false,
        })),
        Err(e) => Err(ctx.fail(e)),
    }
}

pub async fn signup_page(ctx: Ctx) -> PageResult {
    Ok(ctx.page(&SignUpPage {
        ctx: &ctx,
        error: None,
        email: String::new(),
        name: String::new(),
        sent: false,
    }))
}

/// The messages' language of the page being shown.
pub fn message_lang(ctx: &Ctx) -> careslot_messages::Lang {
    careslot_messages::Lang::parse(ctx.lang.code()).unwrap_or(careslot_messages::Lang::Fr)
}

/// Patients' sign-up, verify first: a fresh account and an address that already has one get
/// the same "check your mailbox" page (and no session), so the form never reveals an
/// address; the owner of a taken address gets a mail saying so. The fresh account's password
/// opens no session until the link mailed to it is followed (signing in before answers as a
/// wrong password does).
pub async fn sign_up(ctx: Ctx, form: Form) -> PageResult {
    let created = ctx
        .app
        .sign_up_pending(
            NewIdentity {
                email: form.text("email"),
                password: form.get("password").unwrap_or(""),
                name: form.text("name"),
                role: Role::Patient,
                phone: form.opt("phone"),
                birth_date: form.opt("birth_date"),
            },
            message_lang(&ctx),
            ctx.client,
        )
        .await;
    let error = match created {
        Ok(()) => None,
        Err(e) => match signup_error(&e) {
            Some(key) => Some(key),
            None => return Err(ctx.fail(e)),
        },
    };
    Ok(ctx.page(&SignUpPage {
        ctx: &ctx,
        error,
        email: form.text("email").to_owned(),
        name: form.text("name").to_owned(),
        sent: error.is_none(),
    }))
}

/// Maps a sign-up failure a person can fix to a message key.
pub fn signup_error(e: &AppError) -> Option<&'static str> {
    match e {
        AppError::Invalid(d) => Some(match d.field {
            "email" => "signup.bad_email",
            "password" => "signup.weak_password",
            "name" => "signup.bad_name",
            "phone" => "signup.bad_phone",
            "birth_date" => "signup.bad_birth_date",
            _ => "error.invalid.detail",
        }),
        AppError::Store(careslot_store::StoreError::Conflict(
            careslot_store::ConflictKind::EmailTaken,
        )) => Some("signup.email_taken"),
        _ => None,
    }
}

/// The code step of an instant sign-up, as a page or a page's top (onboarding): where the
/// code was sent, the ticket, and the ways out.
pub struct PendingCode {
    pub ticket: String,
    pub email: String,
    /// "We sent a 6-digit code to …", translated.
    pub sent_to: String,
    /// "I already have an account: sign in", keeping the context.
    pub signin_href: String,
    pub resent: bool,
}

impl PendingCode {
    pub fn new(ctx: &Ctx, ticket: String, email: &str, signin_href: String) -> Self {
        let email = email.trim().to_owned();
        PendingCode {
            sent_to: ctx.lang.tf("signup_code.sent_to", &[("email", &email)]),
            ticket,
            email,
            signin_href,
            resent: false,
        }
    }

    /// The pending code carried by a submitted code form.
    pub fn from_form(ctx: &Ctx, form: &Form, signin_href: String) -> Self {
        Self::new(
            ctx,
            form.text("ticket").to_owned(),
            form.text("email"),
            signin_href,
        )
    }
}

#[derive(Template)]
#[template(path = "signup_code.html")]
struct CodePage<'a> {
    ctx: &'a Ctx,
    pending: &'a PendingCode,
    /// Where the code form posts.
    action: &'a str,
    /// The flow's context to carry (the vaccination series chosen).
    hidden: &'a [(String, String)],
    error: Option<&'static str>,
}

/// The "type the code we sent" page of an instant sign-up.
pub fn code_page(
    ctx: &Ctx,
    pending: &PendingCode,
    action: &str,
    hidden: &[(String, String)],
    error: Option<&'static str>,
) -> PageResult {
    Ok(ctx.page(&CodePage {
        ctx,
        pending,
        action,
        hidden,
        error,
    }))
}

/// Every instant sign-up form (booking, vaccination, onboarding), verify first: the account
/// is created from the form's name, email, password (and a patient's optional phone and
/// birth date) and a code is mailed, or — for an address that has an account — its owner is
/// told; either way the answer is the ticket of a code page, so it never reveals the address.
/// `Ok(Err(key))` is a mistake the person can fix, to show on the form.
pub async fn start_instant_signup(
    ctx: &mut Ctx,
    form: &Form,
    role: Role,
) -> Result<Result<String, &'static str>, Failure> {
    let patient = role == Role::Patient;
    let started = ctx
        .app
        .start_signup(
            NewIdentity {
                email: form.text("email"),
                password: form.get("password").unwrap_or(""),
                name: form.text("name"),
                role,
                phone: form.opt("phone").filter(|_| patient),
                birth_date: form.opt("birth_date").filter(|_| patient),
            },
            message_lang(ctx),
            ctx.client,
        )
        .await;
    match started {
        Ok(ticket) => Ok(Ok(ticket)),
        Err(e) => match signup_error(&e) {
            Some(key) => Ok(Err(key)),
            None => Err(ctx.fail(e)),
        },
    }
}

/// What a submitted code form did.
pub enum CodeStep {
    /// The right code: the session is open (and `ctx.user` set).
    SignedIn(Caller),
    /// Show the code form again: after a refused code (`error`) or a new code sent.
    Again {
        error: Option<&'static str>,
        resent: bool,
    },
}

/// A submitted code form: `step=resend` sends a new code, anything else checks the code.
pub async fn code_step(ctx: &mut Ctx, form: &Form) -> Result<CodeStep, Failure> {
    let ticket = form.text("ticket");
    if form.text("step") == "resend" {
        ctx.ok(ctx.app.resend_signup_code(ticket, ctx.client).await)?;
        return Ok(CodeStep::Again {
            error: None,
            resent: true,
        });
    }
    let identity = match ctx
        .app
        .confirm_signup_code(ticket, form.text("code"), ctx.client)
        .await
    {
        Ok(identity) => identity,
        Err(AppError::Invalid(_)) => {
            return Ok(CodeStep::Again {
                error: Some("signup_code.wrong"),
                resent: false,
            })
        }
        Err(e) => return Err(ctx.fail(e)),
    };
    // The password was checked when the account was made: open the session directly.
    let token = ctx.ok(ctx.app.open_session(&identity.id).await)?;
    ctx.start_session(&token, ctx.app.config.session_ttl.as_secs());
    let caller = Caller {
        id: identity.id,
        role: identity.role,
        second_factor: false,
    };
    ctx.user = Some(crate::web::context::User {
        caller: caller.clone(),
        // A new account has no practice yet.
        vaccination_centre: false,
    });
    Ok(CodeStep::SignedIn(caller))
}

pub async fn sign_out(mut ctx: Ctx, _form: Form) -> PageResult {
    ctx.sign_out().await?;
    Ok(ctx.redirect_with("/", "flash.signed_out"))
}

#[derive(Template)]
#[template(path = "account.html")]
struct AccountPage<'a> {
    ctx: &'a Ctx,
    name: String,
    email: String,
    phone: String,
    relatives: Vec<Relative>,
    alerts: Vec<AlertRow>,
    error: Option<&'static str>,
    settings: careslot_store::AccountSettings,
}

/// An earlier-slot alert on the account page: where it watches, and the place held for it.
pub struct AlertRow {
    pub id: String,
    /// `/p/{agenda}?motive={motive}`: the slots it watches.
    pub slots_url: String,
    pub since: String,
    pub before: Option<String>,
    /// `/book/{hold}` while a place is held for this alert.
    pub offer_url: Option<String>,
}

pub(super) async fn render_account(ctx: &Ctx, error: Option<&'static str>) -> PageResult {
    let caller = ctx.caller()?;
    if caller.role != Role::Patient {
        return Ok(ctx.redirect("/pro/agenda"));
    }
    let view = ctx.ok(ctx.app.account_view(caller).await)?;
    let relatives = ctx.ok(ctx.app.relatives(caller).await)?;
    let me = view.identity;
    let alerts = ctx
        .ok(ctx.app.alerts_of(caller).await)?
        .into_iter()
        .map(|v| AlertRow {
            slots_url: format!("/p/{}?motive={}", v.alert.agenda_id, v.motive_id),
            since: ctx
                .lang
                .date_time(&v.alert.created_at.to_zoned(v.tz.clone())),
            before: v
                .alert
                .before
                .map(|b| ctx.lang.date_time(&b.to_zoned(v.tz.clone()))),
            offer_url: v.offers.first().map(|o| format!("/book/{}", o.hold_id)),
            id: v.alert.id,
        })
        .collect();
    Ok(ctx.page(&AccountPage {
        ctx,
        name: me.name,
        email: me.email,
        phone: me.phone.unwrap_or_default(),
        relatives,
        alerts,
        error,
        settings: view.settings,
    }))
}

pub async fn account(ctx: Ctx) -> PageResult {
    render_account(&ctx, None).await
}

pub async fn add_relative(mut ctx: Ctx, form: Form) -> PageResult {
    let caller = ctx.caller()?.clone();
    match ctx
        .app
        .add_relative(
            &caller,
            form.text("relative_name"),
            form.opt("relative_birth_date"),
        )
        .await
    {
        Ok(_) => Ok(ctx.redirect_with("/account", "flash.relative_added")),
        Err(AppError::Invalid(_)) => render_account(&ctx, Some("booking.bad_relative")).await,
        Err(e) => Err(ctx.fail(e)),
    }
}

pub async fn remove_relative(mut ctx: Ctx, Path(id): Path<String>, _form: Form) -> PageResult {
    let caller = ctx.caller()?.clone();
    ctx.ok(ctx.app.remove_relative(&caller, &id).await)?;
    Ok(ctx.redirect_with("/account", "flash.relative_removed"))
}

/// Erasure from the account page: the same crypto-shredding as `DELETE /api/v1/me`.
pub async fn erase(mut ctx: Ctx, form: Form) -> PageResult {
    let caller = ctx.caller()?.clone();
    if !form.checked("confirm") {
        return render_account(&ctx, Some("account.erase_confirm_needed")).await;
    }
    // The password again (and the code where two-factor authentication is on).
    match super::security::reauthenticate(&ctx, &form).await {
        Ok(()) => {}
        Err(Some(key)) => return render_account(&ctx, Some(key)).await,
        Err(None) => return Err(ctx.fail(AppError::Unauthenticated)),
    }
    ctx.ok(ctx.app.erase(&caller.id).await)?;
    ctx.end_session();
    Ok(ctx.redirect_with("/", "flash.account_erased"))
}

/// "Tell me if an earlier place opens" from a practitioner's slots page (issue 14).
pub async fn add_alert(mut ctx: Ctx, form: Form) -> PageResult {
    let caller = ctx.caller()?.clone();
    let before = form.opt("before");
    match ctx
        .app
        .subscribe_alert(
            &caller,
            form.text("agenda_id"),
            form.text("motive_id"),
            before,
        )
        .await
    {
        Ok(_) => Ok(ctx.redirect_with("/account#alerts-h", "flash.alert_added")),
        Err(AppError::Invalid(_)) => render_account(&ctx, Some("account.alert_invalid")).await,
        Err(e) => Err(ctx.fail(e)),
    }
}

pub async fn remove_alert(mut ctx: Ctx, Path(id): Path<String>, _form: Form) -> PageResult {
    let caller = ctx.caller()?.clone();
    ctx.ok(ctx.app.delete_alert(&caller, &id).await)?;
    Ok(ctx.redirect_with("/account#alerts-h", "flash.alert_removed"))
}
