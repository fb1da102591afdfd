//! Merging a patient recorded twice (issue 18, point 1), from the patient's page: find the
//! other record, read what will happen, confirm. The work is `App::merge_patients`.

use super::directory::{search, HitRow};
use crate::services::AppError;
use crate::web::context::{Ctx, Failure, Form, PageResult, Query};
use askama::Template;
use axum::extract::Path;
use careslot_domain::AccountId;
use careslot_store::PracticePatient;
use serde::Deserialize;

#[derive(Deserialize, Default)]
pub struct MergeParams {
    #[serde(default)]
    q: String,
    /// The other record's directory entry, once picked.
    #[serde(default)]
    other: String,
}

/// The record picked and what merging it does, for the confirmation.
pub struct Picked {
    pub entry_id: String,
    pub row: HitRow,
    pub explained: String,
}

#[derive(Template)]
#[template(path = "patient_merge.html")]
struct MergePage<'a> {
    ctx: &'a Ctx,
    account_id: String,
    name: String,
    q: String,
    searched: bool,
    hits: Vec<HitRow>,
    picked: Option<Picked>,
    error: Option<&'static str>,
}

/// The directory entry of the patient whose page it is.
async fn this_entry(ctx: &Ctx, account: &str) -> Result<PracticePatient, Failure> {
    let practice = ctx.ok(ctx.app.practice_of(ctx.caller()?).await)?;
    ctx.ok(ctx
        .app
        .store
        .practice_patient_of_account(&practice.id, &AccountId(account.to_owned()))
        .await
        .map_err(AppError::from))?
        .ok_or_else(|| ctx.fail(AppError::NotFound("patient")))
}

/// Why a merge was refused, in words the desk can act on.
fn refusal(e: &AppError) -> Option<&'static str> {
    match e {
        AppError::Conflict("own-accounts", _) => Some("merge.own_accounts"),
        AppError::Conflict("managed-elsewhere", _) => Some("merge.managed_elsewhere"),
        AppError::Conflict("relative-booking", _) => Some("merge.relative_booking"),
        AppError::Store(careslot_store::StoreError::Conflict(
            careslot_store::ConflictKind::Changed,
        )) => Some("merge.changed"),
        AppError::Invalid(_) => Some("merge.same"),
        _ => None,
    }
}

async fn render(
    ctx: &Ctx,
    account: String,
    p: MergeParams,
    error: Option<&'static str>,
) -> PageResult {
    let caller = ctx.caller()?;
    let entry = this_entry(ctx, &account).await?;
    let this = ctx.ok(ctx.app.patient_file(caller, &entry.id).await)?;
    let q: String = p.q.chars().take(100).collect();
    let (hits, mut error) = match search(ctx, &q).await? {
        Ok(hits) => (hits, error),
        Err(key) => (None, Some(key)),
    };
    let searched = hits.is_some();
    let hits: Vec<HitRow> = hits
        .unwrap_or_default()
        .into_iter()
        .filter(|h| h.entry_id != entry.id)
        .collect();
    let picked = if p.other.is_empty() || p.other == entry.id {
        None
    } else {
        match ctx.app.patient_file(caller, &p.other).await {
            Ok(f) => {
                let row = HitRow::new(ctx, &f.hit);
                let n = f.appointments.len().to_string();
                let (kept, gone) = if f.hit.managed {
                    (
                        this.hit.identity.name.as_str(),
                        f.hit.identity.name.as_str(),
                    )
                } else {
                    (
                        f.hit.identity.name.as_str(),
                        this.hit.identity.name.as_str(),
                    )
                };
                Some(Picked {
                    entry_id: p.other.clone(),
                    explained: ctx.tf(
                        "merge.explained",
                        &[("n", &n), ("kept", kept), ("gone", gone)],
                    ),
                    row,
                })
            }
            Err(AppError::NotFound(_)) => {
                error = Some("merge.gone");
                None
            }
            Err(e) => return Err(ctx.fail(e)),
        }
    };
    Ok(ctx.page(&MergePage {
        ctx,
        account_id: account,
        name: this.hit.identity.name,
        q,
        searched,
        hits,
        picked,
        error,
    }))
}

/// `GET /pro/patients/{account}/merge?q=…&other=…`: search, then the confirmation.
pub async fn page(
    ctx: Ctx,
    Path(account): Path<String>,
    Query(p): Query<MergeParams>,
) -> PageResult {
    render(&ctx, account, p, None).await
}

/// `POST /pro/patients/{account}/merge` (`other`: the entry picked).
pub async fn merge(mut ctx: Ctx, Path(account): Path<String>, form: Form) -> PageResult {
    let caller = ctx.caller()?.clone();
    let entry = this_entry(&ctx, &account).await?;
    let other = form.text("other").to_owned();
    match ctx.app.merge_patients(&caller, &entry.id, &other).await {
        Ok(done) => Ok(ctx.redirect_with(
            &format!("/pro/patients/{}", done.kept_account),
            "flash.patients_merged",
        )),
        Err(e) => match refusal(&e) {
            Some(key) => {
                let p = MergeParams {
                    q: String::new(),
                    other,
                };
                render(&ctx, account, p, Some(key)).await
            }
            None => Err(ctx.fail(e)),
        },
    }
}
