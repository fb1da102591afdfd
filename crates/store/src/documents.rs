//! Storage models of the documents shared on an appointment. The store holds only
//! ciphertexts of a document's name and content, under the document's own data key (itself
//! stored only wrapped by the key service); its type and size stay in the clear.

use careslot_domain::ReservationId;
use jiff::Timestamp;

/// A document's id: a UUIDv7 in text form, like every other id.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DocumentId(pub String);

impl DocumentId {
    pub fn new() -> Self {
        Self(uuid::Uuid::now_v7().to_string())
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl Default for DocumentId {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Display for DocumentId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Which side of the appointment uploaded a document (never which account: for the
/// patient side that would link the appointment to the patient in the clear).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Uploader {
    Patient,
    Practice,
}

impl Uploader {
    pub fn as_str(self) -> &'static str {
        match self {
            Uploader::Patient => "patient",
            Uploader::Practice => "practice",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "patient" => Some(Uploader::Patient),
            "practice" => Some(Uploader::Practice),
            _ => None,
        }
    }
}

/// A document without its content (listings).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DocumentMeta {
    pub id: DocumentId,
    pub reservation_id: ReservationId,
    pub uploaded_by: Uploader,
    /// The type sniffed from the content: `application/pdf`, `image/jpeg` or `image/png`.
    pub content_type: String,
    /// Size of the plaintext content in bytes.
    pub size: u64,
    pub created_at: Timestamp,
    /// The document's data key, wrapped by its named key in the key service.
    pub wrapped_key: String,
    pub name_ct: Vec<u8>,
}

/// A document with its sealed content.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DocumentRecord {
    pub meta: DocumentMeta,
    pub content_ct: Vec<u8>,
}
