//! The practice's patient directory on the web (issue 18, point 1): search by the start of
//! a name, a phone number or a birth date; each patient's page (`desk::patient`) shows the
//! file and the practice's note.

use crate::services::AppError;
use crate::web::context::{Ctx, Form, PageResult, Query};
use askama::Template;
use axum::extract::Path;
use careslot_domain::AccountId;
use careslot_scheduling::directory::DirectoryHit;
use serde::Deserialize;

/// One row of a search's results, as the pages show it.
pub struct HitRow {
    pub entry_id: String,
    pub account_id: String,
    pub name: String,
    pub phone: String,
    pub birth_date: String,
    pub managed: bool,
    /// "Book for <name>" (the pick button on the desk's booking page).
    pub book_label: String,
}

impl HitRow {
    pub fn new(ctx: &Ctx, h: &DirectoryHit) -> Self {
        Self {
            entry_id: h.entry.id.clone(),
            account_id: h.entry.account_id.to_string(),
            name: h.identity.name.clone(),
            phone: h.identity.phone.clone().unwrap_or_default(),
            birth_date: h.identity.birth_date.clone().unwrap_or_default(),
            managed: h.managed,
            book_label: ctx.tf("desk.book_for", &[("name", &h.identity.name)]),
        }
    }
}

/// Runs a desk search: `Ok(None)` when nothing was asked, `Err(key)` for a query the person
/// can fix (too short, not a number).
pub async fn search(
    ctx: &Ctx,
    q: &str,
) -> Result<Result<Option<Vec<HitRow>>, &'static str>, crate::web::context::Failure> {
    if q.trim().is_empty() {
        return Ok(Ok(None));
    }
    let caller = ctx.caller()?;
    match ctx.app.directory_search(caller, q).await {
        Ok(hits) => Ok(Ok(Some(hits.iter().map(|h| HitRow::new(ctx, h)).collect()))),
        Err(AppError::Invalid(_)) => Ok(Err("directory.search_hint")),
        Err(e) => Err(ctx.fail(e)),
    }
}

#[derive(Deserialize, Default)]
pub struct SearchParams {
    #[serde(default)]
    q: String,
}

#[derive(Template)]
#[template(path = "directory.html")]
struct DirectoryPage<'a> {
    ctx: &'a Ctx,
    q: String,
    searched: bool,
    hits: Vec<HitRow>,
    count: String,
    error: Option<&'static str>,
}

pub async fn page(ctx: Ctx, Query(p): Query<SearchParams>) -> PageResult {
    // The desk only: a patient or an operator gets the usual refusal.
    ctx.ok(ctx.app.practice_of(ctx.caller()?).await)?;
    let q: String = p.q.chars().take(100).collect();
    let (hits, error) = match search(&ctx, &q).await? {
        Ok(hits) => (hits, None),
        Err(key) => (None, Some(key)),
    };
    let searched = hits.is_some();
    let hits = hits.unwrap_or_default();
    let count = ctx.tf("directory.count", &[("n", &hits.len().to_string())]);
    Ok(ctx.page(&DirectoryPage {
        ctx: &ctx,
        q,
        searched,
        hits,
        count,
        error,
    }))
}

/// Saves the practice's note on the patient whose page it is.
pub async fn save_note(mut ctx: Ctx, Path(account): Path<String>, form: Form) -> PageResult {
    let caller = ctx.caller()?.clone();
    let practice = ctx.ok(ctx.app.practice_of(&caller).await)?;
    let entry = ctx
        .ok(ctx
            .app
            .store
            .practice_patient_of_account(&practice.id, &AccountId(account.clone()))
            .await
            .map_err(AppError::from))?
        .ok_or_else(|| ctx.fail(AppError::NotFound("patient")))?;
    match ctx
        .app
        .set_patient_note(&caller, &entry.id, form.text("note"))
        .await
    {
        Ok(()) => Ok(ctx.redirect_with(&format!("/pro/patients/{account}"), "flash.note_saved")),
        Err(AppError::Invalid(_)) => Ok(ctx.redirect_with(
            &format!("/pro/patients/{account}"),
            "directory.note_too_long",
        )),
        Err(e) => Err(ctx.fail(e)),
    }
}
