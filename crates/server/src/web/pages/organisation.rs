//! The organisation page (issue 18 point 4): name a group practice, invite a practitioner
//! colleague or an assistant with a single-use link, and tick the agendas each assistant
//! may run. A practitioner in several organisations switches between them here and on the
//! grid; a colleague joins with the link while signed in.

use crate::services::{AppError, Identity};
use crate::web::context::{Ctx, Form, PageResult, Query};
use askama::Template;
use axum::extract::Path;
use axum::http::{header, HeaderMap};
use careslot_store::{Organisation, Practitioner};
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
}

#[derive(Template)]
#[template(path = "organisation.html")]
struct OrganisationPage<'a> {
    ctx: &'a Ctx,
    org: Organisation,
    /// Every organisation of the caller (the switcher, when more than one).
    orgs: Vec<Organisation>,
    members: Vec<Practitioner>,
    assistants: Vec<AssistantRights>,
    /// A fresh link to pass on, and what it is for (a message key).
    link: Option<(String, &'static str)>,
    error: Option<&'static str>,
}

async fn render(
    ctx: &Ctx,
    org: Option<&str>,
    link: Option<(String, &'static str)>,
    error: Option<&'static str>,
) -> PageResult {
    let caller = ctx.caller()?;
    let orgs = ctx.ok(ctx.app.my_organisations(caller).await)?;
    let org = ctx.ok(ctx.app.current_organisation(caller, org).await)?;
    let members = ctx.ok(ctx.app.organisation_members(caller, org.id.as_str()).await)?;
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
        link,
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

/// This server's origin as the browser sees it (the links are passed on by hand).
fn origin(headers: &HeaderMap) -> String {
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .filter(|h| {
            h.chars()
                .all(|c| c.is_ascii_alphanumeric() || ".-:[]".contains(c))
        })
        .unwrap_or("localhost");
    let scheme = headers
        .get("x-forwarded-proto")
        .and_then(|v| v.to_str().ok())
        .filter(|v| *v == "https")
        .unwrap_or("http");
    format!("{scheme}://{host}")
}

pub async fn invite_colleague(
    ctx: Ctx,
    Path(id): Path<String>,
    headers: HeaderMap,
    _form: Form,
) -> PageResult {
    let caller = ctx.caller()?.clone();
    let inv = ctx.ok(ctx.app.invite_colleague(&caller, &id).await)?;
    let link = format!(
        "{}/pro/organisation/join?token={}",
        origin(&headers),
        inv.token
    );
    render(&ctx, Some(&id), Some((link, "org.colleague_link")), None).await
}

pub async fn invite_assistant(
    ctx: Ctx,
    Path(id): Path<String>,
    headers: HeaderMap,
    _form: Form,
) -> PageResult {
    let caller = ctx.caller()?.clone();
    let inv = ctx.ok(ctx.app.invite_organisation_assistant(&caller, &id).await)?;
    let link = format!("{}/invite/{}", origin(&headers), inv.token);
    render(&ctx, Some(&id), Some((link, "org.assistant_link")), None).await
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
