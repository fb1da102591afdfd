//! E-prescriptions over the API: the practitioner issues, participants list and download,
//! anyone may fetch a practitioner's public keys, and pharmacy software verifies and
//! dispenses with the capability from the QR code, always in the request body (never in
//! the URL, so it is in no access log).

use super::extract::{ApiJson, ApiPath, Caller, ClientIp};
use crate::prescription::{self as rx, pdf, Medication};
use crate::{Consultation, PrescriptionView, Verification};
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use careslot_core::error::{ApiError, Problem};
use careslot_core::i18n::Lang;
use careslot_core::time::format_instant;
use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use utoipa::ToSchema;

#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MedicationBody {
    /// 1 to 200 characters.
    pub name: String,
    /// 1 to 200 characters ("1 tablet three times a day").
    pub dosage: String,
    /// 1 to 100 characters ("5 days").
    pub duration: String,
}

impl From<&Medication> for MedicationBody {
    fn from(m: &Medication) -> Self {
        Self {
            name: m.name.clone(),
            dosage: m.dosage.clone(),
            duration: m.duration.clone(),
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewPrescriptionBody {
    /// 1 to 20 lines.
    pub medications: Vec<MedicationBody>,
    /// Free text, at most 2000 characters.
    #[serde(default)]
    pub instructions: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PractitionerRef {
    pub id: String,
    pub name: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PrescriptionBody {
    pub id: String,
    pub appointment_id: String,
    pub issued_at: String,
    pub practitioner: PractitionerRef,
    pub patient_name: String,
    pub medications: Vec<MedicationBody>,
    pub instructions: String,
    /// The signing key (see `GET /api/v1/practitioners/{id}/signing-keys`).
    pub key_id: String,
    /// Ed25519 signature of the canonical payload, base64url.
    pub signature: String,
    /// What the PDF prints, to compare by eye.
    pub signature_fingerprint: String,
    pub authentic: bool,
    pub dispensed_at: Option<String>,
    /// What the QR code carries: `<public url>/rx/<id>#<capability>`. Whoever holds it can
    /// see and dispense the prescription: hand it only to the patient and their pharmacist.
    pub verification_url: String,
    pub pdf_url: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PrescriptionsBody {
    pub prescriptions: Vec<PrescriptionBody>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SigningKeyBody {
    pub key_id: String,
    /// Always `Ed25519`.
    pub algorithm: String,
    /// The 32-byte public key, base64url without padding.
    pub public_key: String,
    pub created_at: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SigningKeysBody {
    pub keys: Vec<SigningKeyBody>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CapabilityBody {
    /// The part of the verification URL after `#`.
    pub capability: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct VerificationBody {
    pub id: String,
    /// The stored prescription carries a valid signature by the practitioner's published
    /// key. When false, nothing below should be trusted.
    pub authentic: bool,
    pub practitioner: PractitionerRef,
    pub issued_at: String,
    pub patient_name: Option<String>,
    pub medications: Vec<MedicationBody>,
    pub instructions: String,
    pub key_id: Option<String>,
    pub signature_fingerprint: String,
    pub dispensed_at: Option<String>,
    /// The prescriber's verification as of now (not as of signing): a pharmacist must not
    /// dispense on the word of a prescriber who is not `verified`.
    pub prescriber: PrescriberBody,
}

/// The prescriber as the platform knows them now.
#[derive(Debug, Serialize, ToSchema)]
pub struct PrescriberBody {
    /// `verified`, or `unverified`, `pending`, `rejected`, `revoked`: then a warning.
    pub verification: String,
    /// True unless the prescriber is verified now (a revocation after signing included).
    pub warning: bool,
    /// The national identifier, shown only while verified: `rpps`, `lanr` or `it-order`.
    pub scheme: Option<String>,
    pub identifier: Option<String>,
    /// When the prescriber was revoked, if they were.
    pub revoked_at: Option<String>,
}

impl From<&careslot_store::CredentialRecord> for PrescriberBody {
    fn from(c: &careslot_store::CredentialRecord) -> Self {
        use careslot_domain::CredentialStatus as S;
        let verified = c.status == S::Verified;
        let shown = c.identifier.as_ref().filter(|_| verified);
        Self {
            verification: c.status.code().to_owned(),
            warning: !verified,
            scheme: shown.map(|i| i.scheme().code().to_owned()),
            identifier: shown.map(|i| i.value().to_owned()),
            revoked_at: c
                .decided_at
                .filter(|_| c.status == S::Revoked)
                .map(|t| t.to_string()),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DispensedBody {
    pub id: String,
    pub dispensed_at: String,
}

fn host(headers: &HeaderMap) -> Option<&str> {
    headers.get(header::HOST).and_then(|v| v.to_str().ok())
}

fn lang(headers: &HeaderMap) -> Lang {
    headers
        .get(header::ACCEPT_LANGUAGE)
        .and_then(|v| v.to_str().ok())
        .map(Lang::from_accept_language)
        .unwrap_or_default()
}

fn body(app: &Consultation, v: &PrescriptionView, host: Option<&str>) -> PrescriptionBody {
    PrescriptionBody {
        id: v.id.clone(),
        appointment_id: v.appointment_id.clone(),
        issued_at: format_instant(v.issued_at, &v.tz),
        practitioner: PractitionerRef {
            id: v.practitioner_id.clone(),
            name: v.practitioner_name.clone(),
        },
        patient_name: v.patient_name.clone(),
        medications: v.medications.iter().map(MedicationBody::from).collect(),
        instructions: v.instructions.clone(),
        key_id: v.key_id.clone(),
        signature: rx::b64(&v.signature),
        signature_fingerprint: v.fingerprint(),
        authentic: v.authentic,
        dispensed_at: v.dispensed_at.map(|t| format_instant(t, &v.tz)),
        verification_url: rx::verification_url(&app.public_base(host), &v.id, &v.capability),
        pdf_url: format!(
            "/api/v1/appointments/{}/prescriptions/{}/pdf",
            v.appointment_id, v.id
        ),
    }
}

/// The words of the PDF in `lang`.
pub fn pdf_labels(lang: Lang) -> pdf::Labels<'static> {
    pdf::Labels {
        title: lang.t("rx.pdf.title"),
        patient: lang.t("rx.patient"),
        date: lang.t("rx.date"),
        medications: lang.t("rx.medications"),
        dosage: lang.t("rx.dosage"),
        duration: lang.t("rx.duration"),
        instructions: lang.t("rx.instructions"),
        id: lang.t("rx.id"),
        signature: lang.t("rx.signature"),
        scan: lang.t("rx.pdf.scan"),
        truncated: lang.t("rx.pdf.truncated"),
    }
}

/// A prescription PDF response (never cached: it is health data).
pub fn pdf_response(bytes: Vec<u8>, id: &str) -> Response {
    (
        [
            (header::CONTENT_TYPE, "application/pdf".to_owned()),
            (header::CACHE_CONTROL, "no-store".to_owned()),
            (
                header::CONTENT_DISPOSITION,
                format!("inline; filename=\"prescription-{id}.pdf\""),
            ),
        ],
        bytes,
    )
        .into_response()
}

pub fn pdf_date(lang: Lang) -> impl Fn(Timestamp, &jiff::tz::TimeZone) -> String {
    move |t, tz| lang.date_time(&t.to_zoned(tz.clone()))
}

/// Sign a prescription on one of the caller's appointments (the practitioner only; their
/// assistants cannot sign).
#[utoipa::path(post, path = "/api/v1/appointments/{id}/prescriptions", operation_id = "issuePrescription", tag = "prescriptions", security(("bearer" = [])),
    params(("id" = String, Path)), request_body = NewPrescriptionBody,
    responses((status = 201, body = PrescriptionBody), (status = 403, description = "not the practitioner, or practitioner-not-verified: the prescriber is not verified", body = Problem),
              (status = 404, body = Problem), (status = 409, description = "appointment not booked", body = Problem),
              (status = 422, body = Problem)))]
pub async fn issue(
    State(app): State<Arc<Consultation>>,
    Caller(me): Caller,
    ApiPath(id): ApiPath<String>,
    headers: HeaderMap,
    ApiJson(b): ApiJson<NewPrescriptionBody>,
) -> Result<(StatusCode, Json<PrescriptionBody>), ApiError> {
    let meds: Vec<Medication> = b
        .medications
        .into_iter()
        .map(|m| Medication {
            name: m.name,
            dosage: m.dosage,
            duration: m.duration,
        })
        .collect();
    let v = app
        .issue_prescription(&me, &id, &meds, &b.instructions)
        .await?;
    Ok((StatusCode::CREATED, Json(body(&app, &v, host(&headers)))))
}

/// The prescriptions of an appointment, for its patient and its practice (each read is
/// recorded in the patient's access log).
#[utoipa::path(get, path = "/api/v1/appointments/{id}/prescriptions", operation_id = "listPrescriptions", tag = "prescriptions", security(("bearer" = [])),
    params(("id" = String, Path)),
    responses((status = 200, body = PrescriptionsBody), (status = 404, body = Problem)))]
pub async fn list(
    State(app): State<Arc<Consultation>>,
    Caller(me): Caller,
    ApiPath(id): ApiPath<String>,
    headers: HeaderMap,
) -> Result<Json<PrescriptionsBody>, ApiError> {
    let list = app.prescriptions(&me, &id).await?;
    Ok(Json(PrescriptionsBody {
        prescriptions: list.iter().map(|v| body(&app, v, host(&headers))).collect(),
    }))
}

/// The prescription as a one-page A4 PDF with its QR code (in the `Accept-Language`).
#[utoipa::path(get, path = "/api/v1/appointments/{id}/prescriptions/{rx_id}/pdf", tag = "prescriptions", security(("bearer" = [])),
    params(("id" = String, Path), ("rx_id" = String, Path)),
    responses((status = 200, content_type = "application/pdf", description = "the PDF"), (status = 404, body = Problem)))]
pub async fn pdf(
    State(app): State<Arc<Consultation>>,
    Caller(me): Caller,
    ApiPath((id, rx_id)): ApiPath<(String, String)>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let lang = lang(&headers);
    let bytes = app
        .prescription_pdf(
            &me,
            &id,
            &rx_id,
            &pdf_labels(lang),
            pdf_date(lang),
            host(&headers),
        )
        .await?;
    Ok(pdf_response(bytes, &rx_id))
}

/// A practitioner's public signing keys: anyone can check a prescription's signature.
#[utoipa::path(get, path = "/api/v1/practitioners/{id}/signing-keys", tag = "prescriptions",
    params(("id" = String, Path)),
    responses((status = 200, body = SigningKeysBody), (status = 404, body = Problem)))]
pub async fn signing_keys(
    State(app): State<Arc<Consultation>>,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<SigningKeysBody>, ApiError> {
    let keys = app.published_keys(&id).await?;
    Ok(Json(SigningKeysBody {
        keys: keys
            .into_iter()
            .map(|k| SigningKeyBody {
                key_id: k.key_id,
                algorithm: k.algorithm,
                public_key: rx::b64(&k.public_key),
                created_at: k.created_at.to_string(),
            })
            .collect(),
    }))
}

fn verification_body(v: Verification) -> VerificationBody {
    let tz = v.tz.clone();
    let (patient_name, medications, instructions, key_id) = match &v.content {
        Some(p) => (
            Some(p.patient_name.clone()),
            p.medications.iter().map(MedicationBody::from).collect(),
            p.instructions.clone(),
            Some(p.key_id.clone()),
        ),
        None => (None, Vec::new(), String::new(), None),
    };
    VerificationBody {
        id: v.id,
        authentic: v.authentic,
        practitioner: PractitionerRef {
            id: v.practitioner_id,
            name: v.practitioner_name,
        },
        issued_at: format_instant(v.issued_at, &tz),
        patient_name,
        medications,
        instructions,
        key_id,
        signature_fingerprint: v.fingerprint,
        dispensed_at: v.dispensed_at.map(|t| format_instant(t, &tz)),
        prescriber: PrescriberBody::from(&v.prescriber),
    }
}

/// For pharmacy software: the prescription behind a capability, its signature checked
/// against the practitioner's published key. No account needed; the read is audited. Wrong
/// ids or capabilities are throttled per client address (20 free, then 1 s, 2 s, 4 s… up to
/// 15 minutes).
#[utoipa::path(post, path = "/api/v1/prescriptions/{id}/verify", tag = "prescriptions",
    params(("id" = String, Path)), request_body = CapabilityBody,
    responses((status = 200, body = VerificationBody), (status = 404, description = "unknown id or wrong capability", body = Problem),
              (status = 429, description = "too many wrong checks from this address; see Retry-After", body = Problem,
                  headers(("Retry-After" = u64, description = "seconds to wait")))))]
pub async fn verify(
    State(app): State<Arc<Consultation>>,
    ClientIp(client): ClientIp,
    ApiPath(id): ApiPath<String>,
    ApiJson(b): ApiJson<CapabilityBody>,
) -> Result<Json<VerificationBody>, ApiError> {
    let v = app
        .verify_prescription_from(&id, &b.capability, client)
        .await?;
    Ok(Json(verification_body(v)))
}

/// Mark the prescription dispensed. Once only: a second attempt gets 409
/// `already-dispensed`; a prescription failing verification gets 409
/// `prescription-not-authentic`.
#[utoipa::path(post, path = "/api/v1/prescriptions/{id}/dispense", tag = "prescriptions",
    params(("id" = String, Path)), request_body = CapabilityBody,
    responses((status = 200, body = DispensedBody), (status = 404, body = Problem),
              (status = 409, description = "already dispensed, or not authentic", body = Problem)))]
pub async fn dispense(
    State(app): State<Arc<Consultation>>,
    ClientIp(client): ClientIp,
    ApiPath(id): ApiPath<String>,
    ApiJson(b): ApiJson<CapabilityBody>,
) -> Result<Json<DispensedBody>, ApiError> {
    let at = app
        .dispense_prescription_from(&id, &b.capability, client)
        .await?;
    Ok(Json(DispensedBody {
        id,
        dispensed_at: at.to_string(),
    }))
}
