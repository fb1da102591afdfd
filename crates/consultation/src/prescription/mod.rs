//! E-prescriptions without I/O: what a prescription says, its canonical signed encoding,
//! Ed25519 signing and verification, the pharmacist's capability, and the PDF.
//!
//! # The signed bytes (format `careslot-rx/1`)
//!
//! The signature covers the UTF-8 bytes of one JSON object, compact (no whitespace), with
//! exactly these members in exactly this order:
//!
//! ```text
//! {"format":"careslot-rx/1","id":…,"appointment_id":…,"practitioner_id":…,
//!  "practitioner_name":…,"key_id":…,"issued_at":"YYYY-MM-DDTHH:MM:SSZ","patient_name":…,
//!  "medications":[{"name":…,"dosage":…,"duration":…},…],"instructions":…,"salt":…}
//! ```
//!
//! Strings are NFC-normalised before signing and escaped as serde_json does (only `"`, `\`
//! and control characters; everything else as raw UTF-8), so one prescription has exactly
//! one encoding: verification decodes the stored payload, encodes it again and requires the
//! same bytes before checking the signature. `issued_at` is UTC to the second. `salt` is 16
//! random bytes (base64url): the signature is stored beside the sealed payload, and without
//! the salt anyone holding the database and the public key could confirm a guess of the
//! content ("did this patient get this drug?") by checking the signature against it.

pub mod pdf;

use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine;
use careslot_domain::DomainError;
use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use jiff::Timestamp;
use rand::rngs::OsRng;
use rand::RngCore;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use unicode_normalization::UnicodeNormalization;

/// The only payload format so far; a new one gets a new name, old ones stay verifiable.
pub const FORMAT_V1: &str = "careslot-rx/1";
pub const ALGORITHM: &str = "Ed25519";
pub const MAX_MEDICATIONS: usize = 20;
pub const MAX_NAME_CHARS: usize = 200;
pub const MAX_DOSAGE_CHARS: usize = 200;
pub const MAX_DURATION_CHARS: usize = 100;
pub const MAX_INSTRUCTIONS_CHARS: usize = 2000;

/// One line of a prescription.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Medication {
    pub name: String,
    pub dosage: String,
    pub duration: String,
}

/// What the practitioner writes, checked: 1 to 20 lines, every text bounded, NFC.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Content {
    pub medications: Vec<Medication>,
    pub instructions: String,
}

/// One line of text: trimmed, NFC, no control characters, 1..=max characters.
fn line(field: &'static str, n: usize, value: &str, max: usize) -> Result<String, DomainError> {
    let v: String = value.trim().nfc().collect();
    if v.is_empty() {
        return Err(DomainError::new(field, format!("line {n}: required")));
    }
    if v.chars().count() > max {
        return Err(DomainError::new(
            field,
            format!("line {n}: at most {max} characters"),
        ));
    }
    if v.chars().any(char::is_control) {
        return Err(DomainError::new(
            field,
            format!("line {n}: control characters are not allowed"),
        ));
    }
    Ok(v)
}

impl Content {
    pub fn parse(medications: &[Medication], instructions: &str) -> Result<Self, DomainError> {
        if medications.is_empty() || medications.len() > MAX_MEDICATIONS {
            return Err(DomainError::new(
                "medications",
                format!("between 1 and {MAX_MEDICATIONS} lines"),
            ));
        }
        let mut lines = Vec::with_capacity(medications.len());
        for (i, m) in medications.iter().enumerate() {
            let n = i + 1;
            lines.push(Medication {
                name: line("medications.name", n, &m.name, MAX_NAME_CHARS)?,
                dosage: line("medications.dosage", n, &m.dosage, MAX_DOSAGE_CHARS)?,
                duration: line("medications.duration", n, &m.duration, MAX_DURATION_CHARS)?,
            });
        }
        // Newlines are kept (paragraphs); \r\n becomes \n so the signed bytes do not depend
        // on the browser.
        let instructions: String = instructions
            .replace("\r\n", "\n")
            .replace('\r', "\n")
            .trim()
            .nfc()
            .collect();
        if instructions.chars().count() > MAX_INSTRUCTIONS_CHARS {
            return Err(DomainError::new(
                "instructions",
                format!("at most {MAX_INSTRUCTIONS_CHARS} characters"),
            ));
        }
        if instructions.chars().any(|c| c.is_control() && c != '\n') {
            return Err(DomainError::new(
                "instructions",
                "control characters are not allowed",
            ));
        }
        Ok(Self {
            medications: lines,
            instructions,
        })
    }
}

/// The signed statement. Field order is the canonical order (see the module docs).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Payload {
    pub format: String,
    pub id: String,
    pub appointment_id: String,
    pub practitioner_id: String,
    pub practitioner_name: String,
    pub key_id: String,
    pub issued_at: String,
    pub patient_name: String,
    pub medications: Vec<Medication>,
    pub instructions: String,
    pub salt: String,
}

/// `issued_at` as signed: UTC, whole seconds.
pub fn issued_at_text(t: Timestamp) -> String {
    t.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()
}

pub struct NewPayload<'a> {
    pub id: &'a str,
    pub appointment_id: &'a str,
    pub practitioner_id: &'a str,
    pub practitioner_name: &'a str,
    pub key_id: &'a str,
    pub issued_at: Timestamp,
    pub patient_name: &'a str,
    pub content: Content,
}

impl Payload {
    pub fn new(p: NewPayload<'_>) -> Self {
        let mut salt = [0u8; 16];
        OsRng.fill_bytes(&mut salt);
        let nfc = |s: &str| s.nfc().collect::<String>();
        Self {
            format: FORMAT_V1.to_owned(),
            id: p.id.to_owned(),
            appointment_id: p.appointment_id.to_owned(),
            practitioner_id: p.practitioner_id.to_owned(),
            practitioner_name: nfc(p.practitioner_name),
            key_id: p.key_id.to_owned(),
            issued_at: issued_at_text(p.issued_at),
            patient_name: nfc(p.patient_name),
            medications: p.content.medications,
            instructions: p.content.instructions,
            salt: B64.encode(salt),
        }
    }

    /// The canonical bytes: what is signed and what is sealed.
    pub fn canonical(&self) -> Vec<u8> {
        // Serialising a struct of strings and a vector of such structs cannot fail.
        serde_json::to_vec(self).unwrap_or_default()
    }

    /// The payload of stored bytes, only if they are its canonical encoding.
    pub fn from_canonical(bytes: &[u8]) -> Option<Self> {
        let p: Payload = serde_json::from_slice(bytes).ok()?;
        (p.format == FORMAT_V1 && p.canonical() == bytes).then_some(p)
    }
}

/// A new Ed25519 key from the operating system's generator.
pub fn generate_key() -> SigningKey {
    SigningKey::generate(&mut OsRng)
}

pub fn signing_key_from_bytes(bytes: &[u8]) -> Option<SigningKey> {
    let arr: [u8; 32] = bytes.try_into().ok()?;
    Some(SigningKey::from_bytes(&arr))
}

pub fn sign(key: &SigningKey, message: &[u8]) -> [u8; 64] {
    key.sign(message).to_bytes()
}

/// Strict Ed25519 verification (no malleable or small-order encodings).
pub fn verify(public_key: &[u8], message: &[u8], signature: &[u8]) -> bool {
    let (Ok(pk), Ok(sig)) = (
        <[u8; 32]>::try_from(public_key),
        <[u8; 64]>::try_from(signature),
    ) else {
        return false;
    };
    let Ok(vk) = VerifyingKey::from_bytes(&pk) else {
        return false;
    };
    vk.verify_strict(message, &Signature::from_bytes(&sig))
        .is_ok()
}

pub fn b64(bytes: &[u8]) -> String {
    B64.encode(bytes)
}

/// Short fingerprint of a signature for people to compare by eye (printed on the PDF and
/// shown on the verification page): the first 16 hex digits of its SHA-256, in groups.
pub fn fingerprint(signature: &[u8]) -> String {
    let h = hex::encode(&Sha256::digest(signature)[..8]);
    h.as_bytes()
        .chunks(4)
        .map(|c| String::from_utf8_lossy(c).into_owned())
        .collect::<Vec<_>>()
        .join(" ")
        .to_uppercase()
}

/// The pharmacist's capability: 128 random bits, base64url (22 characters).
pub fn new_capability() -> String {
    let mut raw = [0u8; 16];
    OsRng.fill_bytes(&mut raw);
    B64.encode(raw)
}

/// What the database keeps to recognise a capability (hex SHA-256; the capability has 128
/// bits of entropy, so a plain hash cannot be reversed by guessing).
pub fn capability_hash(capability: &str) -> String {
    let mut h = Sha256::new();
    h.update(b"careslot-rx-capability\0");
    h.update(capability.as_bytes());
    hex::encode(h.finalize())
}

/// A capability as sent by a client: base64url of 16 bytes, nothing else.
pub fn is_capability_shaped(c: &str) -> bool {
    c.len() == 22 && B64.decode(c).is_ok_and(|b| b.len() == 16)
}

/// `<base>/rx/<id>#<capability>`: the fragment never leaves the pharmacist's browser, so
/// the capability is in no request line, server log, proxy log or Referer header. The URL
/// itself says nothing about the patient or the treatment.
pub fn verification_url(public_base: &str, id: &str, capability: &str) -> String {
    format!("{}/rx/{id}#{capability}", public_base.trim_end_matches('/'))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn content() -> Content {
        Content::parse(
            &[Medication {
                name: " Paracétamol 500 mg ".into(),
                dosage: "1 comprimé 3×/jour".into(),
                duration: "5 jours".into(),
            }],
            "À prendre au cours des repas.\r\nNe pas dépasser 3 g/jour.",
        )
        .unwrap()
    }

    fn payload() -> Payload {
        Payload::new(NewPayload {
            id: "rx1",
            appointment_id: "a1",
            practitioner_id: "p1",
            practitioner_name: "Dr Zoé Émery",
            key_id: "k1",
            issued_at: "2026-11-28T10:00:00.5Z".parse().unwrap(),
            patient_name: "Jean \"Jo\" Dupont",
            content: content(),
        })
    }

    #[test]
    fn canonical_encoding_is_fixed_and_round_trips() {
        let p = payload();
        let bytes = p.canonical();
        let text = std::str::from_utf8(&bytes).unwrap();
        assert!(text.starts_with(
            "{\"format\":\"careslot-rx/1\",\"id\":\"rx1\",\"appointment_id\":\"a1\",\"practitioner_id\":\"p1\",\"practitioner_name\":\"Dr Zoé Émery\",\"key_id\":\"k1\",\"issued_at\":\"2026-11-28T10:00:00Z\",\"patient_name\":\"Jean \\\"Jo\\\" Dupont\",\"medications\":[{\"name\":\"Paracétamol 500 mg\",\"dosage\":\"1 comprimé 3×/jour\",\"duration\":\"5 jours\"}],\"instructions\":\"À prendre au cours des repas.\\nNe pas dépasser 3 g/jour.\",\"salt\":\""
        ), "{text}");
        assert_eq!(Payload::from_canonical(&bytes), Some(p.clone()));
        // The same content re-encoded with another member order or spacing is not canonical.
        let v: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(
            Payload::from_canonical(&serde_json::to_vec(&v).unwrap()),
            None
        );
        assert_eq!(
            Payload::from_canonical(&serde_json::to_vec_pretty(&p).unwrap()),
            None
        );
    }

    #[test]
    fn signature_verifies_and_tampering_is_detected() {
        let key = generate_key();
        let public = key.verifying_key().to_bytes();
        let msg = payload().canonical();
        let sig = sign(&key, &msg);
        assert!(verify(&public, &msg, &sig));
        let tampered = String::from_utf8(msg.clone())
            .unwrap()
            .replace("500 mg", "1000 mg");
        assert!(!verify(&public, tampered.as_bytes(), &sig));
        let mut flipped = sig;
        flipped[10] ^= 1;
        assert!(!verify(&public, &msg, &flipped));
        let other = generate_key().verifying_key().to_bytes();
        assert!(!verify(&other, &msg, &sig));
        assert!(!verify(&public[..31], &msg, &sig));
    }

    #[test]
    fn content_is_checked() {
        let med = |name: &str| Medication {
            name: name.into(),
            dosage: "1".into(),
            duration: "1 j".into(),
        };
        assert_eq!(Content::parse(&[], "").unwrap_err().field, "medications");
        assert_eq!(
            Content::parse(&vec![med("a"); 21], "").unwrap_err().field,
            "medications"
        );
        assert!(Content::parse(&vec![med("a"); 20], "").is_ok());
        assert_eq!(
            Content::parse(&[med("  ")], "").unwrap_err().field,
            "medications.name"
        );
        assert_eq!(
            Content::parse(&[med(&"x".repeat(201))], "")
                .unwrap_err()
                .field,
            "medications.name"
        );
        assert_eq!(
            Content::parse(&[med("a\u{7}")], "").unwrap_err().field,
            "medications.name"
        );
        assert_eq!(
            Content::parse(&[med("a")], &"y".repeat(2001))
                .unwrap_err()
                .field,
            "instructions"
        );
        // NFD input is stored NFC, so the signed bytes do not depend on the keyboard.
        let nfd = Content::parse(&[med("Parace\u{301}tamol")], "").unwrap();
        assert_eq!(nfd.medications[0].name, "Paracétamol");
    }

    #[test]
    fn capabilities() {
        let c = new_capability();
        assert!(is_capability_shaped(&c));
        assert_ne!(c, new_capability());
        assert_eq!(capability_hash(&c), capability_hash(&c));
        assert!(!is_capability_shaped("short"));
        assert!(!is_capability_shaped(&format!("{c}A")));
        assert_eq!(
            verification_url("https://x.test/", "id1", "cap"),
            "https://x.test/rx/id1#cap"
        );
        assert_eq!(fingerprint(&[1; 64]).len(), 19);
    }
}
