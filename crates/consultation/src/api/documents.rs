//! Documents shared on an appointment: upload (multipart/form-data, field `file`), list,
//! download and delete, for the appointment's patient and practice only (404 for anyone
//! else). The upload reader and the download response are shared with the web pages.

use super::extract::{ApiPath, Caller};
use crate::{AppError, Consultation, DocumentFile, DocumentInfo};
use axum::extract::multipart::{Multipart, MultipartError, MultipartRejection};
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use careslot_core::error::{ApiError, Problem};
use careslot_core::time::format_instant;
use serde::Serialize;
use std::sync::Arc;
use utoipa::ToSchema;

/// A document as the API shows it.
#[derive(Debug, Serialize, ToSchema)]
pub struct DocumentBody {
    pub id: String,
    /// The file name given at upload.
    pub name: String,
    /// Sniffed from the content: `application/pdf`, `image/jpeg` or `image/png`.
    pub content_type: String,
    /// Bytes.
    pub size: u64,
    pub uploaded_at: String,
    /// `patient` or `practice`.
    pub uploaded_by: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DocumentListBody {
    pub documents: Vec<DocumentBody>,
}

/// The upload form.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct UploadForm {
    /// PDF, JPEG or PNG; the type is read from the content.
    #[schema(value_type = String, format = Binary)]
    file: Vec<u8>,
}

/// The document routes, with a body limit that fits the configured file size.
pub fn routes<S>(app: &Consultation) -> Router<S>
where
    S: Clone + Send + Sync + 'static,
    Arc<Consultation>: axum::extract::FromRef<S>,
    Arc<careslot_identity::Accounts>: axum::extract::FromRef<S>,
{
    Router::new()
        .route("/appointments/{id}/documents", get(list).post(upload))
        .route(
            "/appointments/{id}/documents/{doc_id}",
            get(download).delete(delete),
        )
        .layer(DefaultBodyLimit::max(app.documents.body_limit()))
}

fn body(d: &DocumentInfo, tz: &jiff::tz::TimeZone) -> DocumentBody {
    DocumentBody {
        id: d.id.clone(),
        name: d.name.clone(),
        content_type: d.content_type.clone(),
        size: d.size,
        uploaded_at: format_instant(d.uploaded_at, tz),
        uploaded_by: d.uploaded_by.as_str().to_owned(),
    }
}

/// What a multipart upload carried.
#[derive(Debug, Default)]
pub struct Upload {
    /// The `csrf` field (web form only).
    pub csrf: Option<String>,
    /// The `file` field: the name the client gave and the content, unless too large.
    pub file: Option<(Option<String>, Vec<u8>)>,
    /// The `file` field was larger than the limit (its content was read and dropped).
    pub too_large: bool,
}

#[derive(Debug, PartialEq, Eq)]
pub enum UploadError {
    /// The body went past the request limit.
    TooLarge,
    /// Not multipart/form-data, or broken framing.
    Malformed,
}

fn classify(e: MultipartError) -> UploadError {
    if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
        UploadError::TooLarge
    } else {
        UploadError::Malformed
    }
}

/// Reads the whole body: the file up to `max_bytes` (past that it is read and dropped, so
/// the client gets its answer on a connection it is no longer writing to), a short `csrf`
/// field, and nothing else.
pub async fn read_upload(mut mp: Multipart, max_bytes: usize) -> Result<Upload, UploadError> {
    let mut out = Upload::default();
    while let Some(mut field) = mp.next_field().await.map_err(classify)? {
        let name = field.name().map(str::to_owned);
        match name.as_deref() {
            Some("file") if out.file.is_none() && !out.too_large => {
                let file_name = field.file_name().map(str::to_owned);
                let mut content = Vec::new();
                let mut total = 0usize;
                while let Some(chunk) = field.chunk().await.map_err(classify)? {
                    total = total.saturating_add(chunk.len());
                    if total <= max_bytes {
                        content.extend_from_slice(&chunk);
                    } else if !out.too_large {
                        out.too_large = true;
                        content = Vec::new();
                    }
                }
                if !out.too_large {
                    out.file = Some((file_name, content));
                }
            }
            Some("csrf") => {
                let mut value = Vec::new();
                while let Some(chunk) = field.chunk().await.map_err(classify)? {
                    if value.len() + chunk.len() <= 256 {
                        value.extend_from_slice(&chunk);
                    }
                }
                out.csrf = String::from_utf8(value).ok();
            }
            _ => while field.chunk().await.map_err(classify)?.is_some() {},
        }
    }
    Ok(out)
}

/// A declared body larger than the route accepts is refused before reading it.
pub fn declared_too_large(headers: &HeaderMap, app: &Consultation) -> bool {
    headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
        .is_some_and(|n| n > app.documents.body_limit() as u64)
}

fn too_large(app: &Consultation) -> AppError {
    AppError::TooLarge(format!(
        "file: larger than the limit of {} bytes",
        app.documents.max_bytes
    ))
}

/// RFC 6266 `Content-Disposition: attachment` with an ASCII fallback `filename` and the
/// exact name as RFC 8187 `filename*` (UTF-8, percent-encoded attr-chars).
pub fn content_disposition(name: &str) -> String {
    let fallback: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_graphic() && c != '"' && c != '\\' || c == ' ' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let mut encoded = String::with_capacity(name.len() * 3);
    for b in name.bytes() {
        let attr_char = b.is_ascii_alphanumeric()
            || matches!(
                b,
                b'!' | b'#' | b'$' | b'&' | b'+' | b'-' | b'.' | b'^' | b'_' | b'`' | b'|' | b'~'
            );
        if attr_char {
            encoded.push(b as char);
        } else {
            encoded.push_str(&format!("%{b:02X}"));
        }
    }
    format!("attachment; filename=\"{fallback}\"; filename*=UTF-8''{encoded}")
}

/// The download response: the sniffed type, never rendered inline, never cached.
pub fn file_response(f: DocumentFile) -> Response {
    let mut resp = f.content.into_response();
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_str(&f.info.content_type)
            .unwrap_or(HeaderValue::from_static("application/octet-stream")),
    );
    h.insert(
        header::CONTENT_DISPOSITION,
        HeaderValue::from_str(&content_disposition(&f.info.name))
            .unwrap_or(HeaderValue::from_static("attachment")),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp
}

/// Attach a document to an appointment (patient or practice).
#[utoipa::path(post, path = "/api/v1/appointments/{id}/documents", tag = "documents", security(("bearer" = [])),
    params(("id" = String, Path, description = "appointment id")),
    request_body(content = UploadForm, content_type = "multipart/form-data"),
    responses((status = 201, body = DocumentBody), (status = 404, description = "no such appointment, or not a participant", body = Problem),
              (status = 409, description = "too many documents, or the appointment is cancelled", body = Problem),
              (status = 413, description = "file larger than the limit", body = Problem),
              (status = 415, description = "not a PDF, JPEG or PNG (read from the content)", body = Problem),
              (status = 422, description = "no file field", body = Problem)))]
pub async fn upload(
    State(app): State<Arc<Consultation>>,
    Caller(me): Caller,
    ApiPath(id): ApiPath<String>,
    headers: HeaderMap,
    mp: Result<Multipart, MultipartRejection>,
) -> Result<(StatusCode, Json<DocumentBody>), ApiError> {
    // Only participants may send data at all.
    let p = app.participation(&me, &id).await?;
    if declared_too_large(&headers, &app) {
        return Err(too_large(&app).into());
    }
    let mp = mp.map_err(|_| {
        ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported-media-type",
            "send the file as multipart/form-data in a field named file",
        )
    })?;
    let upload = match read_upload(mp, app.documents.max_bytes).await {
        Ok(u) => u,
        Err(UploadError::TooLarge) => return Err(too_large(&app).into()),
        Err(UploadError::Malformed) => {
            return Err(ApiError::bad_request(
                "the multipart body could not be read",
            ))
        }
    };
    if upload.too_large {
        return Err(too_large(&app).into());
    }
    let (name, content) = upload
        .file
        .ok_or_else(|| ApiError::invalid("file", "a file field is required"))?;
    let info = app
        .upload_document(&me, &id, name.as_deref(), &content)
        .await?;
    let tz = app.view(&p.appointment.row.agenda_id).await?.tz.clone();
    Ok((StatusCode::CREATED, Json(body(&info, &tz))))
}

/// The documents of an appointment (patient or practice).
#[utoipa::path(get, path = "/api/v1/appointments/{id}/documents", operation_id = "listDocuments", tag = "documents", security(("bearer" = [])),
    params(("id" = String, Path, description = "appointment id")),
    responses((status = 200, body = DocumentListBody), (status = 404, body = Problem)))]
pub async fn list(
    State(app): State<Arc<Consultation>>,
    Caller(me): Caller,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<DocumentListBody>, ApiError> {
    let (p, docs) = app.appointment_documents(&me, &id).await?;
    let tz = app.view(&p.appointment.row.agenda_id).await?.tz.clone();
    Ok(Json(DocumentListBody {
        documents: docs.iter().map(|d| body(d, &tz)).collect(),
    }))
}

/// Download a document: its bytes with the sniffed type, as an attachment. Audited.
#[utoipa::path(get, path = "/api/v1/appointments/{id}/documents/{doc_id}", tag = "documents", security(("bearer" = [])),
    params(("id" = String, Path, description = "appointment id"), ("doc_id" = String, Path, description = "document id")),
    responses((status = 200, description = "the file (application/pdf, image/jpeg or image/png)"), (status = 404, body = Problem)))]
pub async fn download(
    State(app): State<Arc<Consultation>>,
    Caller(me): Caller,
    ApiPath((id, doc_id)): ApiPath<(String, String)>,
) -> Result<Response, ApiError> {
    Ok(file_response(
        app.download_document(&me, &id, &doc_id).await?,
    ))
}

/// Delete a document; only the side (patient or practice) that uploaded it may.
#[utoipa::path(delete, path = "/api/v1/appointments/{id}/documents/{doc_id}", tag = "documents", security(("bearer" = [])),
    params(("id" = String, Path, description = "appointment id"), ("doc_id" = String, Path, description = "document id")),
    responses((status = 204, description = "deleted"), (status = 403, description = "uploaded by the other side", body = Problem),
              (status = 404, body = Problem)))]
pub async fn delete(
    State(app): State<Arc<Consultation>>,
    Caller(me): Caller,
    ApiPath((id, doc_id)): ApiPath<(String, String)>,
) -> Result<StatusCode, ApiError> {
    app.delete_document(&me, &id, &doc_id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[cfg(test)]
mod tests {
    use super::content_disposition;

    #[test]
    fn disposition_encodes_names() {
        assert_eq!(
            content_disposition("scan.pdf"),
            "attachment; filename=\"scan.pdf\"; filename*=UTF-8''scan.pdf"
        );
        assert_eq!(
            content_disposition("Résultat \"A\".pdf"),
            "attachment; filename=\"R_sultat _A_.pdf\"; filename*=UTF-8''R%C3%A9sultat%20%22A%22.pdf"
        );
        assert_eq!(
            content_disposition("a;b\\c.png"),
            "attachment; filename=\"a;b_c.png\"; filename*=UTF-8''a%3Bb%5Cc.png"
        );
    }
}
