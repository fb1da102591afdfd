//! The "Documents" section of an appointment page (patient and practice alike): the list
//! with download links, an upload form that works without JavaScript (multipart), and
//! deletion by the side that uploaded. Outcomes come back to the page as a fixed code in the
//! query string, mapped to a catalogue message; nothing the visitor sent is shown back.

use crate::services::{AppError, DocumentInfo, Side};
use crate::web::context::{Ctx, Failure, Form, PageResult};
use crate::web::i18n::Lang;
use axum::extract::multipart::{Multipart, MultipartRejection};
use axum::extract::Path;
use axum::http::HeaderMap;
use careslot_consultation::api::documents::{
    declared_too_large, file_response, read_upload, UploadError,
};
use careslot_store::{ReservationStatus, Uploader};
use subtle::ConstantTimeEq;

/// What the file input offers; the server decides from the content anyway.
pub const ACCEPT: &str = ".pdf,.jpg,.jpeg,.png,application/pdf,image/jpeg,image/png";

/// Outcome codes carried back to the page: (code, message key, is an error).
const OUTCOMES: &[(&str, &str, bool)] = &[
    ("uploaded", "documents.uploaded", false),
    ("deleted", "documents.deleted", false),
    ("too-large", "documents.error_too_large", true),
    ("wrong-type", "documents.error_type", true),
    ("empty", "documents.error_empty", true),
    ("missing", "documents.error_missing", true),
    ("limit", "documents.error_limit", true),
    ("cancelled", "documents.error_cancelled", true),
    ("unreadable", "documents.error_unreadable", true),
];

pub struct DocumentRow {
    pub id: String,
    pub name: String,
    pub kind: &'static str,
    pub size: String,
    pub by: &'static str,
    pub when: String,
    pub mine: bool,
}

/// The section as a template renders it.
pub struct DocumentsSection {
    pub appointment_id: String,
    pub items: Vec<DocumentRow>,
    pub message: Option<&'static str>,
    pub error: bool,
    pub can_upload: bool,
    pub hint: String,
    pub accept: &'static str,
}

fn kind(content_type: &str) -> &'static str {
    match content_type {
        "application/pdf" => "PDF",
        "image/png" => "PNG",
        _ => "JPEG",
    }
}

/// "1.5 MB" in the visitor's language (octets in French).
pub fn human_size(lang: Lang, bytes: u64) -> String {
    let (value, unit) = if bytes >= 1024 * 1024 {
        (bytes as f64 / (1024.0 * 1024.0), "documents.unit_mb")
    } else {
        ((bytes as f64 / 1024.0).max(0.1), "documents.unit_kb")
    };
    let mut n = if value >= 10.0 {
        format!("{value:.0}")
    } else {
        format!("{value:.1}")
    };
    if n.ends_with(".0") {
        n.truncate(n.len() - 2);
    }
    if lang != Lang::En {
        n = n.replace('.', ",");
    }
    format!("{n}\u{a0}{}", lang.t(unit))
}

/// Builds the section for the appointment page; `outcome` is the code of the last action.
pub async fn section(
    ctx: &Ctx,
    appointment: &str,
    outcome: Option<&str>,
) -> Result<DocumentsSection, Failure> {
    let caller = ctx.caller()?;
    let (p, docs) = ctx.ok(ctx
        .app
        .consultation
        .appointment_documents(caller, appointment)
        .await)?;
    let tz = ctx
        .ok(ctx.app.view(&p.appointment.row.agenda_id).await)?
        .tz
        .clone();
    let items = docs
        .iter()
        .map(|d: &DocumentInfo| DocumentRow {
            id: d.id.clone(),
            name: d.name.clone(),
            kind: kind(&d.content_type),
            size: human_size(ctx.lang, d.size),
            by: ctx.t(match d.uploaded_by {
                Uploader::Patient => "documents.by_patient",
                Uploader::Practice => "documents.by_practice",
            }),
            when: ctx.lang.date_time(&d.uploaded_at.to_zoned(tz.clone())),
            mine: d.mine,
        })
        .collect();
    let found = outcome.and_then(|o| OUTCOMES.iter().find(|(code, _, _)| *code == o));
    let max = ctx.app.consultation.documents.max_bytes as u64;
    Ok(DocumentsSection {
        appointment_id: appointment.to_owned(),
        items,
        message: found.map(|(_, key, _)| *key),
        error: found.is_some_and(|(_, _, e)| *e),
        can_upload: p.appointment.row.status != ReservationStatus::Cancelled
            && p.appointment.patient.is_some(),
        // Each side is told who else sees the document.
        hint: ctx.tf(
            match p.side {
                Side::Patient => "documents.hint",
                Side::Practice => "documents.hint_practice",
            },
            &[("size", &human_size(ctx.lang, max))],
        ),
        accept: ACCEPT,
    })
}

/// The appointment page of the caller's side, scrolled to the section with an outcome.
fn back(side: Side, appointment: &str, outcome: &str) -> String {
    let page = match side {
        Side::Patient => format!("/appointments/{appointment}"),
        Side::Practice => format!("/pro/appointments/{appointment}"),
    };
    format!("{page}?documents={outcome}#documents")
}

fn outcome_of(e: &AppError) -> Option<&'static str> {
    match e {
        AppError::TooLarge(_) => Some("too-large"),
        AppError::UnsupportedType(_) => Some("wrong-type"),
        AppError::BadRequest(_) => Some("empty"),
        AppError::Conflict("too-many-documents", _) => Some("limit"),
        AppError::Conflict("appointment-cancelled", _) | AppError::Conflict("no-patient", _) => {
            Some("cancelled")
        }
        _ => None,
    }
}

/// The upload form's target (multipart, CSRF token in the form).
pub async fn upload(
    ctx: Ctx,
    Path(id): Path<String>,
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
    let p = ctx.ok(ctx.app.participation(&caller, &id).await)?;
    let side = p.side;
    if declared_too_large(&headers, &ctx.app.consultation) {
        return Ok(ctx.redirect(&back(side, &id, "too-large")));
    }
    let Ok(mp) = mp else {
        return Ok(ctx.redirect(&back(side, &id, "unreadable")));
    };
    let upload = match read_upload(mp, ctx.app.consultation.documents.max_bytes).await {
        Ok(u) => u,
        Err(UploadError::TooLarge) => return Ok(ctx.redirect(&back(side, &id, "too-large"))),
        Err(UploadError::Malformed) => return Ok(ctx.redirect(&back(side, &id, "unreadable"))),
    };
    let sent = upload.csrf.as_deref().unwrap_or("");
    if ctx.csrf.len() < 32 || !bool::from(sent.as_bytes().ct_eq(ctx.csrf.as_bytes())) {
        return Err(ctx.fail(AppError::Forbidden("csrf")));
    }
    if upload.too_large {
        return Ok(ctx.redirect(&back(side, &id, "too-large")));
    }
    let Some((name, content)) = upload
        .file
        .filter(|(n, c)| !(c.is_empty() && n.as_deref().unwrap_or("").is_empty()))
    else {
        return Ok(ctx.redirect(&back(side, &id, "missing")));
    };
    match ctx
        .app
        .consultation
        .upload_document(&caller, &id, name.as_deref(), &content)
        .await
    {
        Ok(_) => Ok(ctx.redirect(&back(side, &id, "uploaded"))),
        Err(e) => match outcome_of(&e) {
            Some(code) => Ok(ctx.redirect(&back(side, &id, code))),
            None => Err(ctx.fail(e)),
        },
    }
}

/// A download link of the section.
pub async fn download(ctx: Ctx, Path((id, doc_id)): Path<(String, String)>) -> PageResult {
    let caller = ctx.caller()?;
    let file = ctx.ok(ctx
        .app
        .consultation
        .download_document(caller, &id, &doc_id)
        .await)?;
    Ok(file_response(file))
}

/// Deletion by the side that uploaded the document.
pub async fn delete(
    ctx: Ctx,
    Path((id, doc_id)): Path<(String, String)>,
    _form: Form,
) -> PageResult {
    let caller = ctx.caller()?;
    let side = ctx.ok(ctx
        .app
        .consultation
        .delete_document(caller, &id, &doc_id)
        .await)?;
    Ok(ctx.redirect(&back(side, &id, "deleted")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_read_naturally() {
        assert_eq!(human_size(Lang::En, 10 * 1024 * 1024), "10\u{a0}MB");
        assert_eq!(human_size(Lang::Fr, 1536 * 1024), "1,5\u{a0}Mo");
        assert_eq!(human_size(Lang::En, 2048), "2\u{a0}KB");
        assert_eq!(human_size(Lang::De, 10), "0,1\u{a0}KB");
    }
}
