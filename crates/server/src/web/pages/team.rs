//! Assistants: the practitioner invites one with a single-use link (shown once, valid 72 h)
//! and can remove them; the assistant signs up through the link, then proves the address.

use crate::services::{AppError, Identity};
use crate::web::context::{origin, Ctx, Form, PageResult};
use askama::Template;
use axum::extract::Path;

#[derive(Template)]
#[template(path = "team.html")]
struct TeamPage<'a> {
    ctx: &'a Ctx,
    assistants: Vec<Identity>,
    invitation: Option<InviteLink>,
    error: Option<&'static str>,
}

/// A fresh invitation link on a page (`invite_link.html`).
pub struct InviteLink {
    pub url: String,
    /// What the link is for (a message key).
    pub text: &'static str,
    /// It was also mailed to the invitee.
    pub mailed: bool,
}

async fn render(
    ctx: &Ctx,
    invitation: Option<InviteLink>,
    error: Option<&'static str>,
) -> PageResult {
    let caller = ctx.caller()?;
    let assistants = ctx.ok(ctx.app.assistants(caller).await)?;
    Ok(ctx.page(&TeamPage {
        ctx,
        assistants,
        invitation,
        error,
    }))
}

pub async fn page(ctx: Ctx) -> PageResult {
    render(&ctx, None, None).await
}

/// Makes an invitation link; with an address, the link is also mailed to the assistant
/// (queued with the invitation, in the practice account's language).
pub async fn invite(ctx: Ctx, headers: axum::http::HeaderMap, form: Form) -> PageResult {
    let caller = ctx.caller()?.clone();
    let email = form.opt("email").map(str::trim).filter(|e| !e.is_empty());
    let made = match email {
        Some(e) => ctx.app.invite_assistant_by_mail(&caller, e).await,
        None => ctx.app.invite_assistant(&caller).await,
    };
    let inv = match made {
        Ok(inv) => inv,
        Err(AppError::Invalid(_)) => return render(&ctx, None, Some("team.bad_email")).await,
        Err(e) => return Err(ctx.fail(e)),
    };
    let invitation = InviteLink {
        // The link is for the practitioner to pass on; it names this server as the browser
        // sees it.
        url: format!("{}/invite/{}", origin(&headers), inv.token),
        text: "team.link_text",
        mailed: email.is_some(),
    };
    render(&ctx, Some(invitation), None).await
}

pub async fn remove(mut ctx: Ctx, Path(id): Path<String>, _form: Form) -> PageResult {
    let caller = ctx.caller()?.clone();
    ctx.ok(ctx.app.remove_assistant(&caller, &id).await)?;
    Ok(ctx.redirect_with("/pro/team", "flash.saved"))
}

#[derive(Template)]
#[template(path = "invite.html")]
struct InvitePage<'a> {
    ctx: &'a Ctx,
    token: String,
    error: Option<&'static str>,
    name: String,
    email: String,
    /// The form was taken: "check your mailbox" (also when the address has an account).
    sent: bool,
}

pub async fn accept_page(ctx: Ctx, Path(token): Path<String>) -> PageResult {
    Ok(ctx.page(&InvitePage {
        ctx: &ctx,
        token,
        error: None,
        name: String::new(),
        email: String::new(),
        sent: false,
    }))
}

/// The assistant's sign-up, verify first: a new account and an address that already has one
/// get the same "check your mailbox" page and no session (the link mailed to the address
/// opens the account; the owner of a taken address is told instead).
pub async fn accept(mut ctx: Ctx, Path(token): Path<String>, form: Form) -> PageResult {
    let (email, name, password) = (
        form.text("email"),
        form.text("name"),
        form.get("password").unwrap_or(""),
    );
    match ctx
        .app
        .accept_invitation(
            &token,
            email,
            name,
            password,
            super::account::message_lang(&ctx),
            ctx.client,
        )
        .await
    {
        Ok(_) => Ok(ctx.page(&InvitePage {
            ctx: &ctx,
            token: String::new(),
            error: None,
            name: String::new(),
            email: String::new(),
            sent: true,
        })),
        Err(AppError::NotFound(_)) => Ok(ctx.redirect_with("/", "flash.invite_used")),
        Err(e) => match super::account::signup_error(&e) {
            Some(key) => Ok(ctx.page(&InvitePage {
                ctx: &ctx,
                token,
                error: Some(key),
                name: name.into(),
                email: email.into(),
                sent: false,
            })),
            None => Err(ctx.fail(e)),
        },
    }
}
