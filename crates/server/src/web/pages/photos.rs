//! A practitioner's photo (issue 17 point 2): the upload and removal forms of the profile
//! page, and the images at addresses named by their version, cached for good. Outcomes come
//! back to the profile page as a fixed code, mapped to a catalogue message.

use crate::services::AppError;
use crate::web::context::{Ctx, Form, PageResult};
use crate::App;
use axum::extract::multipart::{Multipart, MultipartRejection};
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use careslot_consultation::api::documents::{read_upload, UploadError};
use careslot_core::error::ApiError;
use careslot_domain::AgendaId;
use careslot_scheduling::photo::MAX_PHOTO_BYTES;
use subtle::ConstantTimeEq;

/// What the file input offers; the server decides from the content anyway.
pub const ACCEPT: &str = ".jpg,.jpeg,.png,.webp,image/jpeg,image/png,image/webp";

/// The request body may be the photo and the form's few fields.
pub const BODY_LIMIT: usize = MAX_PHOTO_BYTES + 64 * 1024;

/// Outcome codes carried back to the page: (code, message key, is an error).
pub const OUTCOMES: &[(&str, &str, bool)] = &[
    ("saved", "photo.saved", false),
    ("removed", "photo.removed", false),
    ("too-large", "photo.error_too_large", true),
    ("wrong-type", "photo.error_type", true),
    ("missing", "photo.error_missing", true),
    ("unreadable", "photo.error_type", true),
];

/// The profile page, scrolled to the photo, with an outcome.
fn back(outcome: &str) -> String {
    format!("/pro/onboarding/profile?photo={outcome}#photo")
}

/// The image addresses of a photo version: the public page's and the search card's.
pub fn large_url(agenda: &str, hash: &str) -> String {
    format!("/p/{agenda}/photo/{hash}.jpg")
}

pub fn small_url(agenda: &str, hash: &str) -> String {
    format!("/p/{agenda}/photo/{hash}-small.jpg")
}

/// The upload form's target (multipart, CSRF token in the form).
pub async fn upload(
    ctx: Ctx,
    headers: HeaderMap,
    mp: Result<Multipart, MultipartRejection>,
) -> PageResult {
    let caller = ctx.caller()?.clone();
    if headers
        .get("sec-fetch-site")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v == "cross-site")
    {
        return Err(ctx.fail(AppError::Forbidden("csrf")));
    }
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|n| n > BODY_LIMIT) {
        return Ok(ctx.redirect(&back("too-large")));
    }
    let Ok(mp) = mp else {
        return Ok(ctx.redirect(&back("unreadable")));
    };
    let upload = match read_upload(mp, MAX_PHOTO_BYTES).await {
        Ok(u) => u,
        Err(UploadError::TooLarge) => return Ok(ctx.redirect(&back("too-large"))),
        Err(UploadError::Malformed) => return Ok(ctx.redirect(&back("unreadable"))),
    };
    let sent = upload.csrf.as_deref().unwrap_or("");
    if ctx.csrf.len() < 32 || !bool::from(sent.as_bytes().ct_eq(ctx.csrf.as_bytes())) {
        return Err(ctx.fail(AppError::Forbidden("csrf")));
    }
    if upload.too_large {
        return Ok(ctx.redirect(&back("too-large")));
    }
    let Some((_, content)) = upload.file.filter(|(_, c)| !c.is_empty()) else {
        return Ok(ctx.redirect(&back("missing")));
    };
    match ctx.app.set_my_photo(&caller, content).await {
        Ok(_) => Ok(ctx.redirect(&back("saved"))),
        Err(AppError::TooLarge(_)) => Ok(ctx.redirect(&back("too-large"))),
        Err(AppError::UnsupportedType(_)) => Ok(ctx.redirect(&back("wrong-type"))),
        Err(AppError::BadRequest(_)) => Ok(ctx.redirect(&back("missing"))),
        Err(e) => Err(ctx.fail(e)),
    }
}

pub async fn remove(ctx: Ctx, _form: Form) -> PageResult {
    let caller = ctx.caller()?.clone();
    ctx.ok(ctx.app.remove_my_photo(&caller).await)?;
    Ok(ctx.redirect(&back("removed")))
}

/// `/p/{agenda}/photo/{hash}.jpg` (400 px) or `{hash}-small.jpg` (96 px). An address names
/// one version for ever: a new photo gets a new address, an old one answers 404.
pub async fn serve(
    State(app): State<App>,
    Path((agenda, file)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    let Some(stem) = file.strip_suffix(".jpg") else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let (hash, small) = match stem.strip_suffix("-small") {
        Some(h) => (h, true),
        None => (stem, false),
    };
    let photo = match app.agenda_photo(&AgendaId(agenda)).await {
        Ok(Some(p)) if p.hash == hash => p,
        Ok(_) => return StatusCode::NOT_FOUND.into_response(),
        Err(e) => return ApiError::from(e).into_response(),
    };
    let etag = format!("\"{hash}{}\"", if small { "-s" } else { "" });
    let cache = [
        (
            header::ETAG,
            HeaderValue::from_str(&etag).unwrap_or(HeaderValue::from_static("\"\"")),
        ),
        (
            header::CACHE_CONTROL,
            HeaderValue::from_static("public, max-age=31536000, immutable"),
        ),
    ];
    let matches = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag || t.trim() == "*"));
    if matches {
        return (StatusCode::NOT_MODIFIED, cache).into_response();
    }
    let body = if small { photo.small } else { photo.large };
    (
        cache,
        [(header::CONTENT_TYPE, HeaderValue::from_static("image/jpeg"))],
        body,
    )
        .into_response()
}
