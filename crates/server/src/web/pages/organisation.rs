//! The organisation page (issue 18 point 4): name a group practice, invite a practitioner
//! colleague or an assistant with a single-use link (mailed when an address is given), tick
//! the agendas each assistant may run, leave, or remove a member or an assistant (each
//! stated before it is confirmed). A practitioner in several organisations switches between
//! them here and on the grid; a colleague joins with the link while signed in.

use super::team::InviteLink;
use crate::services::{AppError, Identity, Invitee};
use crate::web::context::{origin, Ctx, Form, PageResult, Query};
use askama::Template;
use axum::extract::Path;
use axum::http::HeaderMap;
use careslot_store::Organisation;
use serde::Deserialize;

#[derive(Deserialize)]
pub struct OrgParams {
    org: Option<String>,
    token: Option<String>,
}

pub struct AgendaCheck {
    pub id: String,
    pub label: String,
    pub checked: bool,
}

pub struct AssistantRights {
    pub who: Identity,
    pub agendas: Vec<AgendaCheck>,
    /// What removing them does, stated before it is confirmed.
    pub remove_confirm: String,
}

/// A member practitioner, with what taking them out would do (the caller: leaving).
pub struct MemberRow {
    pub id: String,
    pub name: String,
    pub is_me: bool,
    pub remove_label: String,
    pub remove_confirm: String,
}

#[derive(Template)]
#[template(path = "organisation.html")]
struct OrganisationPage<'a> {
    ctx: &'a Ctx,
    org: Organisation,
    /// Every organisation of the caller (the switcher, when more than one).
    orgs: Vec<Organisation>,
    members: Vec<MemberRow>,
    assistants: Vec<AssistantRights>,
    /// A fresh link to pass on (`invite_link.html`).
    invitation: Option<InviteLink>,
    error: Option<&'static str>,
}

async fn render(
    ctx: &Ctx,
    org: Option<&str>,
    invitation: Option<InviteLink>,
    error: Option<&'static str>,
) -> PageResult {
    let caller = ctx.caller()?;
    let lang = ctx.lang;
    let orgs = ctx.ok(ctx.app.my_organisations(caller).await)?;
    let org = ctx.ok(ctx.app.current_organisation(caller, org).await)?;
    let me = ctx.ok(ctx.app.practice_of(caller).await)?;
    let members = ctx
        .ok(ctx.app.organisation_members(caller, org.id.as_str()).await)?
        .into_iter()
        .map(|m| {
            let args = [("name", m.name.as_str()), ("org", org.name.as_str())];
            let is_me = m.id == me.id;
            MemberRow {
                id: m.id.to_string(),
                remove_label: lang.tf("org.remove_member", &args),
                remove_confirm: if is_me {
                    lang.tf("org.leave_confirm", &args)
                } else {
                    lang.tf("org.remove_member_confirm", &args)
                },
                name: m.name.clone(),
                is_me,
            }
        })
        .collect();
    let agendas = ctx.ok(ctx
        .app
        .practice_agendas(caller, Some(org.id.as_str()))
        .await)?;
    let mut assistants = Vec::new();
    for (who, rights) in ctx.ok(ctx
        .app
        .organisation_assistants(caller, org.id.as_str())
        .await)?
    {
        assistants.push(AssistantRights {
            remove_confirm: lang.tf(
                "org.remove_assistant_confirm",
                &[("name", who.name.as_str()), ("org", org.name.as_str())],
            ),
            agendas: agendas
                .iter()
                .map(|(e, _)| AgendaCheck {
                    id: e.agenda_id.to_string(),
                    label: format!("{} — {} — {}", e.name, e.place.name, e.place.city),
                    checked: rights.contains(&e.agenda_id),
                })
                .collect(),
            who,
        });
    }
    Ok(ctx.page(&OrganisationPage {
        ctx,
        org,
        orgs,
        members,
        assistants,
        invitation,
        error,
    }))
}

pub async fn page(ctx: Ctx, Query(p): Query<OrgParams>) -> PageResult {
    render(&ctx, p.org.as_deref(), None, None).await
}

pub async fn create(mut ctx: Ctx, form: Form) -> PageResult {
    let caller = ctx.caller()?.clone();
    match ctx
        .app
        .create_organisation(&caller, form.text("name"))
        .await
    {
        Ok(org) => {
            Ok(ctx.redirect_with(&format!("/pro/organisation?org={}", org.id), "flash.saved"))
        }
        Err(AppError::Invalid(_)) => render(&ctx, None, None, Some("org.bad_name")).await,
        Err(e) => Err(ctx.fail(e)),
    }
}

pub async fn rename(mut ctx: Ctx, Path(id): Path<String>, form: Form) -> PageResult {
    let caller = ctx.caller()?.clone();
    match ctx
        .app
        .rename_organisation(&caller, &id, form.text("name"))
        .await
    {
        Ok(_) => Ok(ctx.redirect_with(&format!("/pro/organisation?org={id}"), "flash.saved")),
        Err(AppError::Invalid(_)) => render(&ctx, Some(&id), None, Some("org.bad_name")).await,
        Err(e) => Err(ctx.fail(e)),
    }
}

pub async fn invite_colleague(
    ctx: Ctx,
    Path(id): Path<String>,
    headers: HeaderMap,
    form: Form,
) -> PageResult {
    invite(ctx, id, &headers, &form, Invitee::Colleague).await
}

pub async fn invite_assistant(
    ctx: Ctx,
    Path(id): Path<String>,
    headers: HeaderMap,
    form: Form,
) -> PageResult {
    invite(ctx, id, &headers, &form, Invitee::Assistant).await
}

/// A fresh single-use link for `invitee`, shown to pass on (it names this server as the
/// browser sees it) and mailed when the form gives an address.
async fn invite(
    ctx: Ctx,
    id: String,
    headers: &HeaderMap,
    form: &Form,
    invitee: Invitee,
) -> PageResult {
    let caller = ctx.caller()?.clone();
    let email = form.opt("email").map(str::trim).filter(|e| !e.is_empty());
    let inv = match ctx
        .app
        .invite_to_organisation(&caller, &id, invitee, email)
        .await
    {
        Ok(inv) => inv,
        Err(AppError::Invalid(_)) => {
            return render(&ctx, Some(&id), None, Some("team.bad_email")).await
        }
        Err(e) => return Err(ctx.fail(e)),
    };
    let (url, text) = match invitee {
        Invitee::Colleague => (
            format!(
                "{}/pro/organisation/join?token={}",
                origin(headers),
                inv.token
            ),
            "org.colleague_link",
        ),
        Invitee::Assistant => (
            format!("{}/invite/{}", origin(headers), inv.token),
            "org.assistant_link",
        ),
    };
    let invitation = InviteLink {
        url,
        text,
        mailed: email.is_some(),
    };
    render(&ctx, Some(&id), Some(invitation), None).await
}

/// Takes a member out of the organisation (the caller: leaving it); refused with the reason
/// for its last member or a practitioner's only organisation.
pub async fn remove_member(
    mut ctx: Ctx,
    Path((id, member)): Path<(String, String)>,
    _form: Form,
) -> PageResult {
    let caller = ctx.caller()?.clone();
    let me = ctx.ok(ctx.app.practice_of(&caller).await)?;
    match ctx.app.remove_member(&caller, &id, &member).await {
        Ok(()) if member == me.id.as_str() => {
            Ok(ctx.redirect_with("/pro/organisation", "flash.org_left"))
        }
        Ok(()) => Ok(ctx.redirect_with(&format!("/pro/organisation?org={id}"), "flash.saved")),
        Err(AppError::Conflict(slug, _)) => {
            let error = match slug {
                "last-member" => "org.last_member",
                _ => "org.only_organisation",
            };
            render(&ctx, Some(&id), None, Some(error)).await
        }
        Err(e) => Err(ctx.fail(e)),
    }
}

pub async fn remove_assistant(
    mut ctx: Ctx,
    Path((id, assistant)): Path<(String, String)>,
    _form: Form,
) -> PageResult {
    let caller = ctx.caller()?.clone();
    ctx.ok(ctx
        .app
        .remove_organisation_assistant(&caller, &id, &assistant)
        .await)?;
    Ok(ctx.redirect_with(&format!("/pro/organisation?org={id}"), "flash.saved"))
}

pub async fn set_rights(
    mut ctx: Ctx,
    Path((id, assistant)): Path<(String, String)>,
    form: Form,
) -> PageResult {
    let caller = ctx.caller()?.clone();
    let agendas: Vec<String> = form.all("agenda").into_iter().map(str::to_owned).collect();
    ctx.ok(ctx
        .app
        .set_assistant_rights(&caller, &id, &assistant, &agendas)
        .await)?;
    Ok(ctx.redirect_with(&format!("/pro/organisation?org={id}"), "flash.rights_saved"))
}

#[derive(Template)]
#[template(path = "organisation_join.html")]
struct JoinPage<'a> {
    ctx: &'a Ctx,
    token: String,
}

pub async fn join_page(ctx: Ctx, Query(p): Query<OrgParams>) -> PageResult {
    ctx.caller()?;
    Ok(ctx.page(&JoinPage {
        ctx: &ctx,
        token: p.token.unwrap_or_default(),
    }))
}

pub async fn join(mut ctx: Ctx, form: Form) -> PageResult {
    let caller = ctx.caller()?.clone();
    match ctx.app.join_organisation(&caller, form.text("token")).await {
        Ok(org) => Ok(ctx.redirect_with(
            &format!("/pro/organisation?org={}", org.id),
            "flash.org_joined",
        )),
        Err(AppError::NotFound(_)) => {
            Ok(ctx.redirect_with("/pro/organisation", "flash.invite_used"))
        }
        Err(e) => Err(ctx.fail(e)),
    }
}
