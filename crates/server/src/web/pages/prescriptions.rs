//! Prescriptions on the web: the practitioner's form on the desk appointment page, the
//! lists (with PDF links) on the desk and patient appointment pages, and the pharmacist's
//! verification page `/rx/{id}`, which needs no account.
//!
//! The QR code's URL carries the capability after `#`, which browsers never send: the
//! page's script puts it in a form and posts it, so the capability travels only in request
//! bodies (never in a URL the server, a proxy or a Referer could log). Without script the
//! pharmacist types the code into the same form.

use crate::services::{AppError, Caller, PrescriptionView, Verification};
use crate::web::context::{Ctx, Failure, Form, PageResult};
use crate::web::i18n::Lang;
use askama::Template;
use axum::extract::Path;
use axum::http::{header, HeaderMap, StatusCode};
use careslot_consultation::api::prescriptions::{pdf_date, pdf_labels, pdf_response};
use careslot_consultation::prescription::Medication;
use jiff::Timestamp;

/// One issued prescription in a list.
pub struct RxRow {
    /// "Issued on …".
    pub issued_text: String,
    /// The medication names.
    pub summary: String,
    /// "Dispensed on …" or "Not dispensed yet".
    pub status_text: String,
    pub pdf_url: String,
}

fn when(lang: Lang, t: Timestamp, tz: &jiff::tz::TimeZone) -> String {
    lang.date_time(&t.to_zoned(tz.clone()))
}

/// The prescriptions of an appointment for one of its pages (`base`: the page's path).
/// The legend of the form's first medication line.
pub fn first_legend(ctx: &Ctx) -> String {
    ctx.tf("rx.medication_n", &[("n", "1")])
}

pub async fn rows(
    ctx: &Ctx,
    caller: &Caller,
    appointment: &str,
    base: &str,
) -> Result<Vec<RxRow>, Failure> {
    let list = ctx.ok(ctx
        .app
        .consultation
        .prescriptions(caller, appointment)
        .await)?;
    Ok(list
        .iter()
        .map(|v: &PrescriptionView| {
            let issued = when(ctx.lang, v.issued_at, &v.tz);
            RxRow {
                summary: v
                    .medications
                    .iter()
                    .map(|m| m.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
                status_text: match v.dispensed_at {
                    Some(t) => ctx.tf("rx.dispensed_on", &[("date", &when(ctx.lang, t, &v.tz))]),
                    None => ctx.t("rx.not_dispensed").to_owned(),
                },
                pdf_url: format!("{base}/prescriptions/{}/pdf", v.id),
                issued_text: ctx.tf("rx.issued_on", &[("date", &issued)]),
            }
        })
        .collect())
}

/// `POST /pro/appointments/{id}/prescriptions`: lines come as repeated `name`, `dosage`,
/// `duration` fields; lines left entirely empty are ignored.
pub async fn issue(mut ctx: Ctx, Path(id): Path<String>, form: Form) -> PageResult {
    let caller = ctx.caller()?.clone();
    let (names, dosages, durations) = (form.all("name"), form.all("dosage"), form.all("duration"));
    let n = names.len().max(dosages.len()).max(durations.len());
    let field = |v: &[&str], i: usize| v.get(i).copied().unwrap_or("").to_owned();
    let meds: Vec<Medication> = (0..n)
        .map(|i| Medication {
            name: field(&names, i),
            dosage: field(&dosages, i),
            duration: field(&durations, i),
        })
        .filter(|m| {
            !(m.name.trim().is_empty()
                && m.dosage.trim().is_empty()
                && m.duration.trim().is_empty())
        })
        .collect();
    let back = format!("/pro/appointments/{id}");
    match ctx
        .app
        .consultation
        .issue_prescription(&caller, &id, &meds, form.text("instructions"))
        .await
    {
        Ok(_) => Ok(ctx.redirect_with(&format!("{back}#prescriptions"), "flash.rx_issued")),
        Err(AppError::Invalid(_)) => {
            Ok(ctx.redirect_with(&format!("{back}#prescriptions"), "flash.rx_invalid"))
        }
        Err(e) => Err(ctx.fail(e)),
    }
}

/// The PDF, for the appointment's participants (patient and desk pages share it).
pub async fn pdf(
    ctx: Ctx,
    Path((id, rx_id)): Path<(String, String)>,
    headers: HeaderMap,
) -> PageResult {
    let caller = ctx.caller()?;
    let host = headers.get(header::HOST).and_then(|v| v.to_str().ok());
    let bytes = ctx.ok(ctx
        .app
        .consultation
        .prescription_pdf(
            caller,
            &id,
            &rx_id,
            &pdf_labels(ctx.lang),
            pdf_date(ctx.lang),
            host,
        )
        .await)?;
    Ok(pdf_response(bytes, &rx_id))
}

/// What the pharmacist's page shows about a prescription.
pub struct RxResult {
    pub authentic: bool,
    pub verdict: String,
    pub practitioner: String,
    pub patient: Option<String>,
    pub issued: String,
    pub medications: Vec<Medication>,
    pub instructions: String,
    pub fingerprint: String,
    /// "Already dispensed on …" or "Not dispensed yet".
    pub dispense_status: String,
    pub can_dispense: bool,
    /// The prescriber's verified identifier (`RPPS 10001766673`), while verified.
    pub prescriber_id: Option<String>,
    /// Loud warning: the prescriber is not verified (or revoked) as of now.
    pub prescriber_warning: Option<String>,
    /// `verified`, `revoked`…
    pub prescriber_status: &'static str,
}

#[derive(Template)]
#[template(path = "rx_verify.html")]
struct VerifyPage<'a> {
    ctx: &'a Ctx,
    id: String,
    capability: String,
    result: Option<RxResult>,
    not_found: bool,
    /// A message about what was just done ("marked dispensed", "refused").
    notice: Option<&'static str>,
    notice_is_error: bool,
}

fn result(ctx: &Ctx, v: Verification) -> RxResult {
    let issued = when(ctx.lang, v.issued_at, &v.tz);
    let verdict = if v.authentic {
        ctx.tf(
            "rx.verify.authentic",
            &[("name", &v.practitioner_name), ("date", &issued)],
        )
    } else {
        ctx.t("rx.verify.not_authentic").to_owned()
    };
    let (patient, medications, instructions) = match v.content {
        Some(p) => (Some(p.patient_name), p.medications, p.instructions),
        None => (None, Vec::new(), String::new()),
    };
    let c = &v.prescriber;
    let verified = c.status == careslot_domain::CredentialStatus::Verified;
    let prescriber_warning = match c.status {
        careslot_domain::CredentialStatus::Verified => None,
        careslot_domain::CredentialStatus::Revoked => Some(match c.decided_at {
            Some(t) => ctx.tf(
                "credential.rx_revoked",
                &[("date", &when(ctx.lang, t, &v.tz))],
            ),
            None => ctx.t("credential.rx_revoked_undated").to_owned(),
        }),
        _ => Some(ctx.t("credential.rx_unverified").to_owned()),
    };
    RxResult {
        prescriber_id: c
            .identifier
            .as_ref()
            .filter(|_| verified)
            .map(ToString::to_string),
        prescriber_warning,
        prescriber_status: c.status.code(),
        authentic: v.authentic,
        verdict,
        practitioner: v.practitioner_name,
        patient,
        issued,
        medications,
        instructions,
        fingerprint: v.fingerprint,
        dispense_status: match v.dispensed_at {
            Some(t) => ctx.tf("rx.verify.already", &[("date", &when(ctx.lang, t, &v.tz))]),
            None => ctx.t("rx.not_dispensed").to_owned(),
        },
        can_dispense: v.authentic && v.dispensed_at.is_none(),
    }
}

fn page(ctx: &Ctx, id: String, capability: String, result: Option<RxResult>) -> VerifyPage<'_> {
    VerifyPage {
        ctx,
        id,
        capability,
        result,
        not_found: false,
        notice: None,
        notice_is_error: false,
    }
}

/// `GET /rx/{id}`: the code form (its script submits the code from the URL's fragment). It
/// says nothing about whether the id exists.
pub async fn verify_page(ctx: Ctx, Path(id): Path<String>) -> PageResult {
    Ok(ctx.page(&page(&ctx, id, String::new(), None)))
}

/// `POST /rx/{id}` with the capability `c`: authenticity and content (the read is audited).
pub async fn verify(ctx: Ctx, Path(id): Path<String>, form: Form) -> PageResult {
    let capability = form.text("c").to_owned();
    match ctx
        .app
        .consultation
        .verify_prescription_from(&id, &capability, ctx.client)
        .await
    {
        Ok(v) => {
            let r = result(&ctx, v);
            Ok(ctx.page(&page(&ctx, id, capability, Some(r))))
        }
        Err(AppError::NotFound(_)) => {
            let mut p = page(&ctx, id, String::new(), None);
            p.not_found = true;
            let mut resp = ctx.page(&p);
            *resp.status_mut() = StatusCode::NOT_FOUND;
            Ok(resp)
        }
        Err(e) => Err(ctx.fail(e)),
    }
}

/// `POST /rx/{id}/dispense` with the capability `c`: once; a second time is refused and
/// the page says when it was dispensed.
pub async fn dispense(ctx: Ctx, Path(id): Path<String>, form: Form) -> PageResult {
    let capability = form.text("c").to_owned();
    let outcome = ctx
        .app
        .consultation
        .dispense_prescription_from(&id, &capability, ctx.client)
        .await;
    let (notice, is_error, status) = match outcome {
        Ok(_) => ("flash.rx_dispensed", false, StatusCode::OK),
        Err(AppError::Conflict("already-dispensed", _)) => {
            ("rx.verify.refused", true, StatusCode::CONFLICT)
        }
        Err(AppError::Conflict(..)) => {
            ("rx.verify.not_authentic_detail", true, StatusCode::CONFLICT)
        }
        Err(AppError::NotFound(_)) => {
            let mut p = page(&ctx, id, String::new(), None);
            p.not_found = true;
            let mut resp = ctx.page(&p);
            *resp.status_mut() = StatusCode::NOT_FOUND;
            return Ok(resp);
        }
        Err(e) => return Err(ctx.fail(e)),
    };
    let v = ctx.ok(ctx
        .app
        .consultation
        .verify_prescription(&id, &capability)
        .await)?;
    let r = result(&ctx, v);
    let mut p = page(&ctx, id, capability, Some(r));
    p.notice = Some(notice);
    p.notice_is_error = is_error;
    let mut resp = ctx.page(&p);
    *resp.status_mut() = status;
    Ok(resp)
}
