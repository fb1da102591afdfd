//! Documents shared on an appointment by its patient and its practice (the practitioner or
//! an assistant): PDF, JPEG or PNG, the type read from the content itself.
//!
//! Each document has its own data key, made by the key service under the named key
//! `document-<id>` and stored only wrapped; its file name and content are sealed under that
//! key with associated data naming the document, so a ciphertext moved to another row does
//! not open. Deleting a document, or erasing its patient, destroys that named key.
//! Every listing and every download is an audited read of the patient's data.

use super::{AppError, AppResult, Caller, Consultation, Participation, Side};
use careslot_core::protection::{document_key_name, ProtectError};
use careslot_domain::ReservationId;
use careslot_store::{DocumentId, DocumentMeta, DocumentRecord, ReservationStatus, Uploader};
use careslot_vault::DataKey;
use jiff::Timestamp;

const TABLE: &str = "documents";
/// Longest file name kept (characters); longer ones are cut.
const MAX_NAME_CHARS: usize = 200;

/// Limits on shared documents.
#[derive(Debug, Clone)]
pub struct DocumentsConfig {
    /// Largest accepted file, in bytes.
    pub max_bytes: usize,
    /// Most documents one appointment may hold.
    pub max_per_appointment: u32,
}

impl Default for DocumentsConfig {
    fn default() -> Self {
        Self {
            max_bytes: 10 * 1024 * 1024,
            max_per_appointment: 20,
        }
    }
}

impl DocumentsConfig {
    /// The request body a document upload may have: the file, its multipart framing and
    /// room to read past the limit. A too-large file within this is read to its end and
    /// dropped, so the client (which, in HTTP/1.1, is still sending) gets the 413 cleanly; a
    /// reply sent mid-upload is often lost to the connection reset that follows it. Bodies
    /// declared larger than this get the 413 at once, without reading.
    pub fn body_limit(&self) -> usize {
        self.max_bytes.saturating_mul(2).saturating_add(1024 * 1024)
    }
}

/// The accepted types, told apart by their first bytes (a declared type or extension is
/// never trusted).
pub fn sniff(content: &[u8]) -> Option<&'static str> {
    const PNG: &[u8] = b"\x89PNG\r\n\x1a\n";
    if content.starts_with(b"%PDF-") {
        Some("application/pdf")
    } else if content.starts_with(PNG) {
        Some("image/png")
    } else if content.starts_with(&[0xFF, 0xD8, 0xFF]) {
        Some("image/jpeg")
    } else {
        None
    }
}

fn extension(content_type: &str) -> &'static str {
    match content_type {
        "application/pdf" => "pdf",
        "image/png" => "png",
        _ => "jpg",
    }
}

/// The name shown and offered on download: the last path segment the browser sent, without
/// control characters, at most [`MAX_NAME_CHARS`]; a neutral name when nothing is left.
pub fn clean_file_name(raw: Option<&str>, content_type: &str) -> String {
    let last = raw.unwrap_or("").rsplit(['/', '\\']).next().unwrap_or("");
    let cleaned: String = last
        .chars()
        .filter(|c| {
            !c.is_control() && !matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
        })
        .take(MAX_NAME_CHARS)
        .collect();
    let cleaned = cleaned.trim();
    if cleaned.is_empty() || cleaned == "." || cleaned == ".." {
        format!("document.{}", extension(content_type))
    } else {
        cleaned.to_owned()
    }
}

/// A document as its participants see it.
#[derive(Debug, Clone)]
pub struct DocumentInfo {
    pub id: String,
    pub name: String,
    pub content_type: String,
    pub size: u64,
    pub uploaded_at: Timestamp,
    pub uploaded_by: Uploader,
    /// Whether the caller's side uploaded it (and so may delete it).
    pub mine: bool,
}

/// A downloaded document.
#[derive(Debug, Clone)]
pub struct DocumentFile {
    pub info: DocumentInfo,
    pub content: Vec<u8>,
}

fn uploader_of(side: Side) -> Uploader {
    match side {
        Side::Patient => Uploader::Patient,
        Side::Practice => Uploader::Practice,
    }
}

/// A destroyed document key means the document is gone.
fn erased_is_gone(e: ProtectError) -> AppError {
    match e {
        ProtectError::Erased => AppError::NotFound("document"),
        other => other.into(),
    }
}

impl Consultation {
    /// The message telling the appointment's other party that a document was added: to the
    /// patient when the practice uploads, to the practitioner when the patient does (then
    /// it is about the patient, and erasing the patient deletes it).
    async fn document_added_outbox(
        &self,
        p: &careslot_scheduling::Participation,
        meta: &DocumentMeta,
    ) -> careslot_store::OutboxWrite {
        use careslot_scheduling::event_messages::{About, AppointmentNotice};
        let Some(patient) = p.appointment.patient.clone() else {
            return Default::default();
        };
        let row = &p.appointment.row;
        let site = self.message_site();
        let (to, link) = match p.side {
            Side::Practice => (
                patient.clone(),
                format!("{}/appointments/{}", site.public_url, row.id),
            ),
            Side::Patient => match self.store.practitioner(&p.practitioner).await {
                Ok(Some(pr)) => (
                    pr.account_id,
                    format!("{}/pro/appointments/{}", site.public_url, row.id),
                ),
                Ok(None) => return Default::default(),
                Err(e) => {
                    tracing::warn!(error = %e, "document message not prepared");
                    return Default::default();
                }
            },
        };
        self.notice_outbox(
            AppointmentNotice::DocumentAdded { link },
            &to,
            Some(&patient),
            About {
                agenda: &row.agenda_id,
                id: &row.id,
                start: row.start,
                end: row.end,
            },
            format!("document:{}", meta.id),
        )
        .await
    }

    /// Stores a document on the appointment for one of its participants.
    pub async fn upload_document(
        &self,
        caller: &Caller,
        appointment: &str,
        file_name: Option<&str>,
        content: &[u8],
    ) -> AppResult<DocumentInfo> {
        let p = self.participation(caller, appointment).await?;
        if content.len() > self.documents.max_bytes {
            return Err(AppError::TooLarge(format!(
                "file: larger than the limit of {} bytes",
                self.documents.max_bytes
            )));
        }
        if content.is_empty() {
            return Err(AppError::BadRequest("file: the file is empty".into()));
        }
        let content_type = sniff(content).ok_or(AppError::UnsupportedType(
            "file: only PDF, JPEG and PNG files are accepted (the type is read from the content)",
        ))?;
        if p.appointment.row.status == ReservationStatus::Cancelled {
            return Err(AppError::Conflict(
                "appointment-cancelled",
                "documents cannot be added to a cancelled appointment".into(),
            ));
        }
        if p.appointment.patient.is_none() {
            return Err(AppError::Conflict(
                "no-patient",
                "this appointment no longer has a patient".into(),
            ));
        }
        let name = clean_file_name(file_name, content_type);
        let id = DocumentId::new();
        let key_name = document_key_name(&id);
        let (key, wrapped) = self.protect.new_data_key(&key_name).await?;
        let record = DocumentRecord {
            meta: DocumentMeta {
                reservation_id: p.appointment.row.id.clone(),
                uploaded_by: uploader_of(p.side),
                content_type: content_type.to_owned(),
                size: content.len() as u64,
                created_at: Timestamp::now(),
                wrapped_key: wrapped,
                name_ct: self
                    .protect
                    .seal(&key, name.as_bytes(), TABLE, "name", id.as_str()),
                id: id.clone(),
            },
            content_ct: self
                .protect
                .seal(&key, content, TABLE, "content", id.as_str()),
        };
        // The other party hears that a document was added (never its name), with the upload.
        let outbox = self.document_added_outbox(&p, &record.meta).await;
        let stored = self
            .store
            .insert_document_with(&record, self.documents.max_per_appointment, &outbox)
            .await;
        if matches!(stored, Ok(true)) {
            self.wake_outbox(&outbox);
        }
        if !matches!(stored, Ok(true)) {
            // Nothing was stored: the fresh key must not linger in the key service.
            if let Err(e) = self.protect.destroy(&key_name).await {
                tracing::warn!(error = %e, "could not destroy an unused document key");
            }
        }
        if !stored? {
            return Err(AppError::Conflict(
                "too-many-documents",
                format!(
                    "an appointment holds at most {} documents",
                    self.documents.max_per_appointment
                ),
            ));
        }
        Ok(DocumentInfo {
            id: id.to_string(),
            name,
            content_type: content_type.to_owned(),
            size: record.meta.size,
            uploaded_at: record.meta.created_at,
            uploaded_by: record.meta.uploaded_by,
            mine: true,
        })
    }

    async fn document_key(&self, meta: &DocumentMeta) -> AppResult<DataKey> {
        self.protect
            .data_key(&document_key_name(&meta.id), &meta.wrapped_key)
            .await
            .map_err(erased_is_gone)
    }

    fn document_info(
        &self,
        p: &Participation,
        key: &DataKey,
        meta: &DocumentMeta,
    ) -> AppResult<DocumentInfo> {
        let name = self
            .protect
            .open_string(key, &meta.name_ct, TABLE, "name", meta.id.as_str())?;
        Ok(DocumentInfo {
            id: meta.id.to_string(),
            name,
            content_type: meta.content_type.clone(),
            size: meta.size,
            uploaded_at: meta.created_at,
            uploaded_by: meta.uploaded_by,
            mine: meta.uploaded_by == uploader_of(p.side),
        })
    }

    /// The documents of an appointment, for one of its participants (an audited read).
    pub async fn appointment_documents(
        &self,
        caller: &Caller,
        appointment: &str,
    ) -> AppResult<(Participation, Vec<DocumentInfo>)> {
        let p = self.participation(caller, appointment).await?;
        let Some(patient) = p.appointment.patient.clone() else {
            return Ok((p, Vec::new()));
        };
        let metas = self.store.documents(&p.appointment.row.id).await?;
        let mut out = Vec::with_capacity(metas.len());
        for meta in &metas {
            match self.document_key(meta).await {
                Ok(key) => out.push(self.document_info(&p, &key, meta)?),
                // Shredded while we looked (deleted, or its patient erased): not there.
                Err(AppError::NotFound(_)) => continue,
                Err(e) => return Err(e),
            }
        }
        if !out.is_empty() {
            self.audit(caller, &[(patient, "documents.list")]).await?;
        }
        Ok((p, out))
    }

    /// One document's content, for one of the appointment's participants; every download
    /// is recorded in the patient's access log.
    pub async fn download_document(
        &self,
        caller: &Caller,
        appointment: &str,
        document: &str,
    ) -> AppResult<DocumentFile> {
        let p = self.participation(caller, appointment).await?;
        let patient = p
            .appointment
            .patient
            .clone()
            .ok_or(AppError::NotFound("document"))?;
        let record = self
            .store
            .document(&p.appointment.row.id, &DocumentId(document.to_owned()))
            .await?
            .ok_or(AppError::NotFound("document"))?;
        let key = self.document_key(&record.meta).await?;
        let info = self.document_info(&p, &key, &record.meta)?;
        let content = self.protect.open(
            &key,
            &record.content_ct,
            TABLE,
            "content",
            record.meta.id.as_str(),
        )?;
        self.audit(caller, &[(patient, "document.download")])
            .await?;
        Ok(DocumentFile { info, content })
    }

    /// Deletes a document; only the side that uploaded it may. Its key is destroyed first,
    /// so copies of the row in backups can no longer be opened.
    pub async fn delete_document(
        &self,
        caller: &Caller,
        appointment: &str,
        document: &str,
    ) -> AppResult<Side> {
        let p = self.participation(caller, appointment).await?;
        let id = DocumentId(document.to_owned());
        let record = self
            .store
            .document(&p.appointment.row.id, &id)
            .await?
            .ok_or(AppError::NotFound("document"))?;
        let side = uploader_of(p.side);
        if record.meta.uploaded_by != side {
            return Err(AppError::Forbidden(
                "only the side that uploaded a document can delete it",
            ));
        }
        self.protect.destroy(&document_key_name(&id)).await?;
        if !self
            .store
            .delete_document(&p.appointment.row.id, &id, side)
            .await?
        {
            return Err(AppError::NotFound("document"));
        }
        Ok(p.side)
    }

    /// Erasure: destroys the key of every document of these appointments, then the rows.
    pub async fn shred_documents(&self, appointments: &[ReservationId]) -> AppResult<u64> {
        for id in self.store.document_ids_of(appointments).await? {
            self.protect.destroy(&document_key_name(&id)).await?;
        }
        Ok(self.store.delete_documents_of(appointments).await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sniffs_from_content_only() {
        assert_eq!(sniff(b"%PDF-1.7\n..."), Some("application/pdf"));
        assert_eq!(sniff(b"\x89PNG\r\n\x1a\n\0\0"), Some("image/png"));
        assert_eq!(
            sniff(&[0xFF, 0xD8, 0xFF, 0xE0, 0, 0x10]),
            Some("image/jpeg")
        );
        for bad in [
            &b""[..],
            b"%PDF",
            b"hello %PDF-1.7",
            b"<html>",
            b"GIF89a",
            b"\x89PNG\r\n",
            &[0xFF, 0xD8],
        ] {
            assert_eq!(sniff(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn file_names() {
        assert_eq!(
            clean_file_name(Some("C:\\Users\\a\\scan.pdf"), "application/pdf"),
            "scan.pdf"
        );
        assert_eq!(
            clean_file_name(Some("../../etc/x.png"), "image/png"),
            "x.png"
        );
        assert_eq!(
            clean_file_name(Some(" ordonnance\n.pdf "), "application/pdf"),
            "ordonnance.pdf"
        );
        assert_eq!(
            clean_file_name(Some("a\u{202E}fdp.exe"), "application/pdf"),
            "afdp.exe"
        );
        assert_eq!(clean_file_name(None, "image/jpeg"), "document.jpg");
        assert_eq!(clean_file_name(Some("dir/"), "image/png"), "document.png");
        assert_eq!(
            clean_file_name(Some(&"é".repeat(500)), "application/pdf")
                .chars()
                .count(),
            MAX_NAME_CHARS
        );
    }
}
