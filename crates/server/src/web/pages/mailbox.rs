//! The demo mailbox (issue 14, part C): with `serve --demo` and no SMTP server, the messages
//! the server sends are files; these pages list them newest first and show one (its plain
//! text, links clickable) so a newcomer can follow a reset link. Outside demo mode the pages
//! do not exist (404).

use crate::demo_mailbox::{self, MailSummary, Piece};
use crate::services::AppError;
use crate::web::context::{Ctx, Failure, PageResult};
use askama::Template;
use axum::extract::Path;
use careslot_store::StoreError;
use std::sync::Arc;

#[derive(Template)]
#[template(path = "mailbox.html")]
struct ListPage<'a> {
    ctx: &'a Ctx,
    messages: Vec<MailSummary>,
}

#[derive(Template)]
#[template(path = "mailbox_message.html")]
struct MessagePage<'a> {
    ctx: &'a Ctx,
    message: MailSummary,
    lines: Vec<Vec<Piece>>,
}

fn dir(ctx: &Ctx) -> Result<Arc<std::path::PathBuf>, Failure> {
    ctx.app
        .demo_mailbox
        .clone()
        .ok_or_else(|| ctx.fail(AppError::NotFound("page")))
}

/// A local disk that cannot be read is a passing fault of the machine, like the database's.
fn unreadable(e: std::io::Error) -> AppError {
    AppError::Store(StoreError::Unavailable(format!(
        "demo mailbox: {}",
        e.kind()
    )))
}

pub async fn list(ctx: Ctx) -> PageResult {
    let dir = dir(&ctx)?;
    let messages = tokio::task::spawn_blocking(move || demo_mailbox::list(&dir))
        .await
        .map_err(|_| ctx.fail(AppError::NotFound("page")))?
        .map_err(|e| ctx.fail(unreadable(e)))?;
    Ok(ctx.page(&ListPage {
        ctx: &ctx,
        messages,
    }))
}

pub async fn show(ctx: Ctx, Path(id): Path<String>) -> PageResult {
    let dir = dir(&ctx)?;
    let opened = tokio::task::spawn_blocking(move || demo_mailbox::open(&dir, &id))
        .await
        .map_err(|_| ctx.fail(AppError::NotFound("message")))?
        .map_err(|e| ctx.fail(unreadable(e)))?
        .ok_or_else(|| ctx.fail(AppError::NotFound("message")))?;
    Ok(ctx.page(&MessagePage {
        ctx: &ctx,
        lines: demo_mailbox::linkify(&opened.text),
        message: opened.summary,
    }))
}
