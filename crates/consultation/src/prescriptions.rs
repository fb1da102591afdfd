//! E-prescriptions: the practitioner signs with their own Ed25519 key, participants read and
//! download them, a pharmacist holding the QR code's capability verifies and dispenses once.
//!
//! Who may do what:
//! - **issue**: only the practitioner whose agenda holds the appointment, in person. Their
//!   assistants run the agenda but do not sign: a signature says "this doctor prescribed
//!   this", and the key that makes it is the practitioner's alone.
//! - **read, download the PDF**: the appointment's participants ([`Scheduling::participation`]).
//! - **verify, dispense**: whoever holds the capability (no account); every read is audited
//!   with the actor "pharmacist via capability".
//!
//! Keys: each practitioner's private key is created on first use and stored only sealed
//! under a data key of its own, wrapped by "signer-<key id>" in key custody. Payloads are
//! sealed under the agenda's data key (like the appointment's motive and patient link).

use super::{AppError, AppResult, Appointment, Caller, Consultation};
use crate::prescription::{self as rx, pdf, Content, Medication, NewPayload, Payload};
use careslot_core::protection::{signer_key_name, subject_key_name, ProtectError};
use careslot_domain::{AccountId, PractitionerId};
use careslot_store::{
    CredentialRecord, PrescriptionRecord, ReservationStatus, Role, SigningKeyRecord, StoreError,
};
use careslot_vault::DataKey;
use ed25519_dalek::SigningKey;
use jiff::Timestamp;
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

/// The actor recorded in the audit log for reads through a capability.
pub const PHARMACIST_ACTOR: &str = "pharmacist via capability";
const TABLE: &str = "prescriptions";

/// A prescription as its participants see it.
#[derive(Debug, Clone)]
pub struct PrescriptionView {
    pub id: String,
    pub appointment_id: String,
    pub issued_at: Timestamp,
    pub practitioner_id: String,
    pub practitioner_name: String,
    pub patient_name: String,
    pub medications: Vec<Medication>,
    pub instructions: String,
    pub key_id: String,
    pub signature: Vec<u8>,
    pub dispensed_at: Option<Timestamp>,
    /// The signature checks against the practitioner's published key.
    pub authentic: bool,
    /// The pharmacist's capability (in the QR code).
    pub capability: String,
    /// The zone of the appointment's place (for displaying times).
    pub tz: jiff::tz::TimeZone,
}

impl PrescriptionView {
    pub fn fingerprint(&self) -> String {
        rx::fingerprint(&self.signature)
    }
}

/// What [`Scheduling::issue_prescription`] answers.
pub type IssuedPrescription = PrescriptionView;

/// A prescription as the pharmacist sees it through the capability.
#[derive(Debug, Clone)]
pub struct Verification {
    pub id: String,
    pub authentic: bool,
    /// The signed content; `None` when the stored payload cannot even be read back.
    pub content: Option<Payload>,
    pub practitioner_id: String,
    pub practitioner_name: String,
    pub issued_at: Timestamp,
    pub dispensed_at: Option<Timestamp>,
    pub fingerprint: String,
    /// The zone of the appointment's place (for displaying times).
    pub tz: jiff::tz::TimeZone,
    /// The prescriber's national identifier and its verification status as of now: a
    /// revocation after signing shows here.
    pub prescriber: CredentialRecord,
}

/// A practitioner's public signing key as published.
#[derive(Debug, Clone)]
pub struct PublishedKey {
    pub key_id: String,
    pub algorithm: String,
    pub public_key: Vec<u8>,
    pub created_at: Timestamp,
}

/// A stored prescription opened with its agenda's key, its signature checked.
struct Opened {
    payload: Option<Payload>,
    authentic: bool,
}

fn corrupt(what: &str) -> AppError {
    AppError::Store(StoreError::Internal(format!("unreadable {what}")))
}

impl Consultation {
    /// The site's public base URL: the configured one, else `http://` and the request's
    /// `Host` (when it looks like a host name), else `http://localhost`.
    pub fn public_base(&self, host: Option<&str>) -> String {
        if let Some(u) = &self.config.public_url {
            return u.trim_end_matches('/').to_owned();
        }
        let host = host.filter(|h| {
            !h.is_empty()
                && h.len() <= 255
                && h.chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':' | '[' | ']'))
        });
        format!("http://{}", host.unwrap_or("localhost"))
    }

    /// Signs a prescription on one of the caller's appointments.
    pub async fn issue_prescription(
        &self,
        caller: &Caller,
        appointment: &str,
        medications: &[Medication],
        instructions: &str,
    ) -> AppResult<IssuedPrescription> {
        let p = self.participation(caller, appointment).await?;
        if p.side != super::Side::Practice || caller.role != Role::Practitioner {
            return Err(AppError::Forbidden(
                "only the appointment's practitioner can sign a prescription",
            ));
        }
        // Only a practitioner the platform verified signs (read now, so a revocation on any
        // node stops the next signature).
        self.require_verified(&p.practitioner).await?;
        let content = Content::parse(medications, instructions)?;
        let a = &p.appointment;
        if a.row.status != ReservationStatus::Booked {
            return Err(AppError::Conflict(
                "appointment-not-booked",
                "prescriptions are written on booked appointments".into(),
            ));
        }
        let patient = a.patient.clone().ok_or(AppError::Conflict(
            "no-patient",
            "this appointment no longer has a patient".into(),
        ))?;
        let patient_name = self
            .patient_display_name(a)
            .await?
            .ok_or(AppError::Conflict(
                "no-patient",
                "this appointment no longer has a patient".into(),
            ))?;
        let practitioner = self
            .store
            .practitioner(&p.practitioner)
            .await?
            .ok_or(AppError::NotFound("practitioner"))?;
        let (key_record, key) = self.signing_key_of(&practitioner.id).await?;

        let id = uuid::Uuid::now_v7().to_string();
        // Whole seconds: what the database stores is what the payload says.
        let issued_at =
            Timestamp::from_second(Timestamp::now().as_second()).map_err(|_| corrupt("clock"))?;
        let payload = Payload::new(NewPayload {
            id: &id,
            appointment_id: a.row.id.as_str(),
            practitioner_id: practitioner.id.as_str(),
            practitioner_name: &practitioner.name,
            key_id: &key_record.id,
            issued_at,
            patient_name: &patient_name,
            content,
        });
        let bytes = payload.canonical();
        let signature = rx::sign(&key, &bytes);
        drop(key);
        let capability = rx::new_capability();
        let view = self.view(&a.row.agenda_id).await?;
        let agenda_key = self.agenda_key(&view.agenda).await?;
        let record = PrescriptionRecord {
            payload_ct: self
                .protect
                .seal(&agenda_key, &bytes, TABLE, "payload", &id),
            capability_ct: self.protect.seal(
                &agenda_key,
                capability.as_bytes(),
                TABLE,
                "capability",
                &id,
            ),
            capability_hash: rx::capability_hash(&capability),
            id: id.clone(),
            reservation_id: a.row.id.clone(),
            practitioner_id: practitioner.id.clone(),
            key_id: key_record.id.clone(),
            issued_at,
            signature: signature.to_vec(),
            dispensed_at: None,
        };
        // The patient hears that a prescription is available (never what it says), with it.
        let outbox = self
            .notice_outbox(
                careslot_scheduling::event_messages::AppointmentNotice::PrescriptionAvailable,
                &patient,
                None,
                careslot_scheduling::event_messages::About {
                    agenda: &a.row.agenda_id,
                    id: &a.row.id,
                    start: a.row.start,
                    end: a.row.end,
                },
                format!("prescription:{id}"),
            )
            .await;
        self.store
            .insert_prescription_with(&record, &outbox)
            .await?;
        self.wake_outbox(&outbox);
        self.audit(caller, &[(patient, "prescription.issue")])
            .await?;
        Ok(PrescriptionView {
            id,
            appointment_id: a.row.id.to_string(),
            issued_at,
            practitioner_id: practitioner.id.to_string(),
            practitioner_name: payload.practitioner_name,
            patient_name: payload.patient_name,
            medications: payload.medications,
            instructions: payload.instructions,
            key_id: key_record.id,
            signature: signature.to_vec(),
            dispensed_at: None,
            authentic: true,
            capability,
            tz: view.tz.clone(),
        })
    }

    /// The prescriptions of an appointment, for its participants (each read audited).
    pub async fn prescriptions(
        &self,
        caller: &Caller,
        appointment: &str,
    ) -> AppResult<Vec<PrescriptionView>> {
        let p = self.participation(caller, appointment).await?;
        let rows = self.store.prescriptions_of(&p.appointment.row.id).await?;
        if rows.is_empty() {
            return Ok(Vec::new());
        }
        let view = self.view(&p.appointment.row.agenda_id).await?;
        let key = self.agenda_key(&view.agenda).await?;
        let mut out = Vec::with_capacity(rows.len());
        for row in rows {
            if let Some(v) = self.participant_view(row, &key, &view.tz).await? {
                out.push(v);
            }
        }
        if let Some(patient) = &p.appointment.patient {
            let whats: Vec<String> = out
                .iter()
                .map(|v| format!("prescription {}", v.id))
                .collect();
            let reads: Vec<(AccountId, &str)> = whats
                .iter()
                .map(|w| (patient.clone(), w.as_str()))
                .collect();
            self.audit(caller, &reads).await?;
        }
        Ok(out)
    }

    /// One prescription of an appointment as a PDF, for its participants (audited).
    pub async fn prescription_pdf(
        &self,
        caller: &Caller,
        appointment: &str,
        id: &str,
        labels: &pdf::Labels<'_>,
        date: impl Fn(Timestamp, &jiff::tz::TimeZone) -> String,
        host: Option<&str>,
    ) -> AppResult<Vec<u8>> {
        let p = self.participation(caller, appointment).await?;
        let row = self
            .store
            .prescription(id)
            .await?
            .filter(|r| r.reservation_id == p.appointment.row.id)
            .ok_or(AppError::NotFound("prescription"))?;
        let view = self.view(&p.appointment.row.agenda_id).await?;
        let key = self.agenda_key(&view.agenda).await?;
        let v = self
            .participant_view(row, &key, &view.tz)
            .await?
            .ok_or_else(|| corrupt("prescription"))?;
        if let Some(patient) = &p.appointment.patient {
            let what = format!("prescription {} pdf", v.id);
            self.audit(caller, &[(patient.clone(), what.as_str())])
                .await?;
        }
        let base = self.public_base(host);
        let url = rx::verification_url(&base, &v.id, &v.capability);
        let printed = format!("{base}/rx/{}", v.id);
        let fingerprint = v.fingerprint();
        let date = date(v.issued_at, &view.tz);
        pdf::render(
            &pdf::Document {
                practitioner: &v.practitioner_name,
                patient: &v.patient_name,
                date: &date,
                medications: &v.medications,
                instructions: &v.instructions,
                id: &v.id,
                fingerprint: &fingerprint,
                url: &url,
                printed_url: &printed,
            },
            labels,
        )
        .ok_or_else(|| corrupt("verification URL"))
    }

    /// [`Consultation::verify_prescription`] for a pharmacist at `client`: wrong ids or
    /// capabilities count on the address's front-door counter (20 free, then 1 s, 2 s, 4 s…
    /// up to 15 minutes), and a blocked address gets 429 before any lookup.
    pub async fn verify_prescription_from(
        &self,
        id: &str,
        capability: &str,
        client: std::net::IpAddr,
    ) -> AppResult<Verification> {
        let door = careslot_identity::front_door::Door::PrescriptionCheck;
        let key = self.door_open(door, client).await?;
        let out = self.verify_prescription(id, capability).await;
        if let Err(AppError::NotFound(_)) = &out {
            self.door_failed(&key).await?;
        }
        out
    }

    /// [`Consultation::dispense_prescription`] behind the same counter as verification.
    pub async fn dispense_prescription_from(
        &self,
        id: &str,
        capability: &str,
        client: std::net::IpAddr,
    ) -> AppResult<Timestamp> {
        let door = careslot_identity::front_door::Door::PrescriptionCheck;
        let key = self.door_open(door, client).await?;
        let out = self.dispense_prescription(id, capability).await;
        if let Err(AppError::NotFound(_)) = &out {
            self.door_failed(&key).await?;
        }
        out
    }

    /// The pharmacist's view through the capability (audited). NotFound for an unknown id
    /// or a wrong capability alike.
    pub async fn verify_prescription(&self, id: &str, capability: &str) -> AppResult<Verification> {
        let (row, patient, key, tz) = self.by_capability(id, capability).await?;
        let opened = self.open_and_verify(&row, &key).await?;
        if let Some(patient) = patient {
            let what = format!("prescription {} verify", row.id);
            self.audit_as(PHARMACIST_ACTOR, &[(patient, what.as_str())])
                .await?;
        }
        let practitioner_name = match &opened.payload {
            Some(p) => p.practitioner_name.clone(),
            None => self
                .store
                .practitioner(&row.practitioner_id)
                .await?
                .map(|p| p.name)
                .unwrap_or_default(),
        };
        let prescriber = self.credential_of(&row.practitioner_id).await?;
        Ok(Verification {
            prescriber,
            fingerprint: rx::fingerprint(&row.signature),
            id: row.id,
            authentic: opened.authentic,
            content: opened.payload,
            practitioner_id: row.practitioner_id.to_string(),
            practitioner_name,
            issued_at: row.issued_at,
            dispensed_at: row.dispensed_at,
            tz,
        })
    }

    /// Marks the prescription dispensed, once: a second attempt is a conflict naming when it
    /// was dispensed; a prescription that fails verification is never dispensed.
    pub async fn dispense_prescription(&self, id: &str, capability: &str) -> AppResult<Timestamp> {
        let (row, patient, key, _) = self.by_capability(id, capability).await?;
        if let Some(at) = row.dispensed_at {
            return Err(already_dispensed(at));
        }
        if !self.open_and_verify(&row, &key).await?.authentic {
            return Err(AppError::Conflict(
                "prescription-not-authentic",
                "this prescription fails verification and cannot be dispensed".into(),
            ));
        }
        let now =
            Timestamp::from_second(Timestamp::now().as_second()).map_err(|_| corrupt("clock"))?;
        if !self.store.dispense_prescription(&row.id, now).await? {
            let at = self
                .store
                .prescription(&row.id)
                .await?
                .and_then(|r| r.dispensed_at)
                .unwrap_or(now);
            return Err(already_dispensed(at));
        }
        if let Some(patient) = patient {
            let what = format!("prescription {} dispense", row.id);
            self.audit_as(PHARMACIST_ACTOR, &[(patient, what.as_str())])
                .await?;
        }
        Ok(now)
    }

    /// A practitioner's published signing keys (public; no health data).
    pub async fn published_keys(&self, practitioner: &str) -> AppResult<Vec<PublishedKey>> {
        let id = PractitionerId(practitioner.to_owned());
        if self.store.practitioner(&id).await?.is_none() {
            return Err(AppError::NotFound("practitioner"));
        }
        Ok(self
            .store
            .signing_keys(&id)
            .await?
            .into_iter()
            .map(|k| PublishedKey {
                key_id: k.id,
                algorithm: k.algorithm,
                public_key: k.public_key,
                created_at: k.created_at,
            })
            .collect())
    }

    /// The prescription whose capability this is, its patient (for the audit) and its
    /// agenda's key.
    async fn by_capability(
        &self,
        id: &str,
        capability: &str,
    ) -> AppResult<(
        PrescriptionRecord,
        Option<AccountId>,
        DataKey,
        jiff::tz::TimeZone,
    )> {
        let not_found = || AppError::NotFound("prescription");
        if !rx::is_capability_shaped(capability) || id.len() > 64 {
            return Err(not_found());
        }
        let row = self.store.prescription(id).await?.ok_or_else(not_found)?;
        let presented = rx::capability_hash(capability);
        if !bool::from(presented.as_bytes().ct_eq(row.capability_hash.as_bytes())) {
            return Err(not_found());
        }
        let reservation = self
            .store
            .reservation(&row.reservation_id)
            .await?
            .ok_or_else(not_found)?;
        let appointment = self.open_reservation(reservation).await?;
        let view = self.view(&appointment.row.agenda_id).await?;
        let key = self.agenda_key(&view.agenda).await?;
        Ok((row, appointment.patient, key, view.tz.clone()))
    }

    /// A stored prescription for a participant; `None` if its payload cannot be read back.
    async fn participant_view(
        &self,
        row: PrescriptionRecord,
        key: &DataKey,
        tz: &jiff::tz::TimeZone,
    ) -> AppResult<Option<PrescriptionView>> {
        let opened = self.open_and_verify(&row, key).await?;
        let Some(payload) = opened.payload else {
            return Ok(None);
        };
        let capability =
            match self
                .protect
                .open_string(key, &row.capability_ct, TABLE, "capability", &row.id)
            {
                Ok(c) => c,
                Err(ProtectError::Corrupt) => return Ok(None),
                Err(e) => return Err(e.into()),
            };
        Ok(Some(PrescriptionView {
            id: row.id,
            appointment_id: row.reservation_id.to_string(),
            issued_at: row.issued_at,
            practitioner_id: row.practitioner_id.to_string(),
            practitioner_name: payload.practitioner_name,
            patient_name: payload.patient_name,
            medications: payload.medications,
            instructions: payload.instructions,
            key_id: row.key_id,
            signature: row.signature,
            dispensed_at: row.dispensed_at,
            authentic: opened.authentic,
            capability,
            tz: tz.clone(),
        }))
    }

    /// Verification recomputes everything from what is stored: the payload must open, be
    /// in canonical form, agree with the row's clear columns, and carry a valid signature
    /// by the practitioner's published key.
    async fn open_and_verify(&self, row: &PrescriptionRecord, key: &DataKey) -> AppResult<Opened> {
        let not = |payload| Opened {
            payload,
            authentic: false,
        };
        let bytes = match self
            .protect
            .open(key, &row.payload_ct, TABLE, "payload", &row.id)
        {
            Ok(b) => Zeroizing::new(b),
            Err(ProtectError::Corrupt) => return Ok(not(None)),
            Err(e) => return Err(e.into()),
        };
        let Some(payload) = Payload::from_canonical(&bytes) else {
            return Ok(not(None));
        };
        let consistent = payload.id == row.id
            && payload.appointment_id == row.reservation_id.as_str()
            && payload.practitioner_id == row.practitioner_id.as_str()
            && payload.key_id == row.key_id
            && payload.issued_at == rx::issued_at_text(row.issued_at);
        let public = match self.store.signing_key(&row.key_id).await? {
            Some(k) if k.practitioner_id == row.practitioner_id && k.algorithm == rx::ALGORITHM => {
                k.public_key
            }
            _ => return Ok(not(Some(payload))),
        };
        let authentic = consistent && rx::verify(&public, &bytes, &row.signature);
        Ok(Opened {
            payload: Some(payload),
            authentic,
        })
    }

    /// The practitioner's signing key in use, created (and its private half sealed) on
    /// first use.
    async fn signing_key_of(
        &self,
        practitioner: &PractitionerId,
    ) -> AppResult<(SigningKeyRecord, SigningKey)> {
        let record = match self.store.current_signing_key(practitioner).await? {
            Some(r) => r,
            None => self.create_signing_key(practitioner).await?,
        };
        let dek = self
            .protect
            .data_key(&signer_key_name(&record.id), &record.wrapped_key)
            .await?;
        let secret = Zeroizing::new(self.protect.open(
            &dek,
            &record.private_ct,
            "signing_keys",
            "private_key",
            &record.id,
        )?);
        let key = rx::signing_key_from_bytes(&secret).ok_or_else(|| corrupt("signing key"))?;
        Ok((record, key))
    }

    async fn create_signing_key(
        &self,
        practitioner: &PractitionerId,
    ) -> AppResult<SigningKeyRecord> {
        let key = rx::generate_key();
        let id = uuid::Uuid::now_v7().to_string();
        let name = signer_key_name(&id);
        let (dek, wrapped) = self.protect.new_data_key(&name).await?;
        let secret = Zeroizing::new(key.to_bytes());
        let record = SigningKeyRecord {
            private_ct: self
                .protect
                .seal(&dek, &secret[..], "signing_keys", "private_key", &id),
            public_key: key.verifying_key().to_bytes().to_vec(),
            id: id.clone(),
            practitioner_id: practitioner.clone(),
            algorithm: rx::ALGORITHM.to_owned(),
            wrapped_key: wrapped,
            created_at: Timestamp::now(),
            retired_at: None,
        };
        let stored = self.store.insert_signing_key(&record).await?;
        if stored.id != id {
            // Another request created the practitioner's key first: ours was never used.
            if let Err(e) = self.protect.destroy(&name).await {
                tracing::warn!(error = %e, "could not destroy an unused signing key's data key");
            }
        } else {
            tracing::info!(key_id = %id, "prescription signing key created");
        }
        Ok(stored)
    }

    /// The name printed on a prescription: the relative's when booked for one, else the
    /// patient's. `None` when the patient was erased.
    async fn patient_display_name(&self, a: &Appointment) -> AppResult<Option<String>> {
        let Some(patient) = &a.patient else {
            return Ok(None);
        };
        let Some(record) = self.store.account(patient).await? else {
            return Ok(None);
        };
        if let Some(rel) = &a.relative {
            let key = self
                .protect
                .data_key(&subject_key_name(patient), &record.wrapped_key)
                .await?;
            if let Some(r) = self
                .store
                .relatives(patient)
                .await?
                .into_iter()
                .find(|r| &r.id == rel)
            {
                return Ok(Some(self.protect.open_string(
                    &key,
                    &r.name_ct,
                    "relatives",
                    "name",
                    r.id.as_str(),
                )?));
            }
        }
        match self.open_identity(&record).await {
            Ok(i) => Ok(Some(i.name)),
            Err(AppError::NotFound(_)) => Ok(None),
            Err(e) => Err(e),
        }
    }
}

fn already_dispensed(at: Timestamp) -> AppError {
    AppError::Conflict(
        "already-dispensed",
        format!(
            "this prescription was already dispensed on {}",
            rx::issued_at_text(at)
        ),
    )
}
