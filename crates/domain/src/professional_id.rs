//! National identifiers of health professionals, parsed with their country's check rules,
//! and the verification status a practitioner's declared identifier goes through.
//!
//! - France, RPPS (Répertoire partagé des professionnels de santé): 11 digits, the last a
//!   Luhn key over the first ten (every published RPPS number checked passes it).
//! - Germany, LANR (lebenslange Arztnummer): 9 digits: a 6-digit number, a check digit,
//!   and the 2-digit specialty group. The check digit: digits 1–6 weighted 4, 9, 4, 9, 4, 9
//!   from the left, summed; the check is 10 minus the sum modulo 10 (0 when that is 10).
//! - Italy: the registration with the professional order of a province, the province's
//!   two-letter code (sigla) and the registration number (no national check key).

use crate::DomainError;

/// Which national register an identifier belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum IdScheme {
    /// France: RPPS number.
    Rpps,
    /// Germany: lebenslange Arztnummer.
    Lanr,
    /// Italy: registration with the order of a province.
    ItOrder,
}

impl IdScheme {
    pub const ALL: [IdScheme; 3] = [IdScheme::Rpps, IdScheme::Lanr, IdScheme::ItOrder];

    pub fn code(self) -> &'static str {
        match self {
            IdScheme::Rpps => "rpps",
            IdScheme::Lanr => "lanr",
            IdScheme::ItOrder => "it-order",
        }
    }

    pub fn parse(code: &str) -> Result<Self, DomainError> {
        match code.trim().to_ascii_lowercase().as_str() {
            "rpps" => Ok(IdScheme::Rpps),
            "lanr" => Ok(IdScheme::Lanr),
            "it-order" => Ok(IdScheme::ItOrder),
            _ => Err(DomainError::new(
                "scheme",
                "must be one of rpps, lanr, it-order",
            )),
        }
    }
}

/// A national professional identifier in its canonical form: RPPS and LANR as bare digits,
/// the Italian registration as `PROVINCE-NUMBER` (`RM-12345`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ProfessionalId {
    scheme: IdScheme,
    value: String,
}

/// Italian provinces (and metropolitan cities) by their sigla: each has its orders.
const IT_PROVINCES: &[&str] = &[
    "AG", "AL", "AN", "AO", "AP", "AQ", "AR", "AT", "AV", "BA", "BG", "BI", "BL", "BN", "BO", "BR",
    "BS", "BT", "BZ", "CA", "CB", "CE", "CH", "CL", "CN", "CO", "CR", "CS", "CT", "CZ", "EN", "FC",
    "FE", "FG", "FI", "FM", "FR", "GE", "GO", "GR", "IM", "IS", "KR", "LC", "LE", "LI", "LO", "LT",
    "LU", "MB", "MC", "ME", "MI", "MN", "MO", "MS", "MT", "NA", "NO", "NU", "OR", "PA", "PC", "PD",
    "PE", "PG", "PI", "PN", "PO", "PR", "PT", "PU", "PV", "PZ", "RA", "RC", "RE", "RG", "RI", "RM",
    "RN", "RO", "SA", "SI", "SO", "SP", "SR", "SS", "SU", "SV", "TA", "TE", "TN", "TO", "TP", "TR",
    "TS", "TV", "UD", "VA", "VB", "VC", "VE", "VI", "VR", "VT", "VV",
];

/// Digits of `raw` once spaces, dots and dashes people type are dropped; None if anything
/// else is there.
fn digits_only(raw: &str) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    for c in raw.chars() {
        match c {
            ' ' | '.' | '-' | '\u{a0}' => {}
            '0'..='9' => out.push(c as u8 - b'0'),
            _ => return None,
        }
    }
    Some(out)
}

/// Luhn: from the right, every second digit doubled (minus 9 above 9); valid when the sum
/// is a multiple of 10.
fn luhn_ok(digits: &[u8]) -> bool {
    let sum: u32 = digits
        .iter()
        .rev()
        .enumerate()
        .map(|(i, &d)| {
            let d = u32::from(d);
            if i % 2 == 1 {
                let twice = d * 2;
                if twice > 9 {
                    twice - 9
                } else {
                    twice
                }
            } else {
                d
            }
        })
        .sum();
    sum.is_multiple_of(10)
}

/// The LANR's seventh digit, from its first six.
fn lanr_check(first_six: &[u8]) -> u8 {
    let sum: u32 = first_six
        .iter()
        .enumerate()
        .map(|(i, &d)| u32::from(d) * if i % 2 == 0 { 4 } else { 9 })
        .sum();
    ((10 - sum % 10) % 10) as u8
}

fn text(digits: &[u8]) -> String {
    digits.iter().map(|d| char::from(b'0' + d)).collect()
}

impl ProfessionalId {
    /// Parses `value` as an identifier of `scheme`; the error names the `identifier` field.
    pub fn parse(scheme: IdScheme, value: &str) -> Result<Self, DomainError> {
        let bad = |m: &str| DomainError::new("identifier", m);
        let value = value.trim();
        if value.is_empty() || value.len() > 40 {
            return Err(bad("must be given (at most 40 characters)"));
        }
        let canonical = match scheme {
            IdScheme::Rpps => {
                let d = digits_only(value).ok_or_else(|| bad("an RPPS number has only digits"))?;
                if d.len() != 11 {
                    return Err(bad("an RPPS number has 11 digits"));
                }
                if !luhn_ok(&d) {
                    return Err(bad("this RPPS number's check key (last digit) is wrong"));
                }
                text(&d)
            }
            IdScheme::Lanr => {
                let d = digits_only(value).ok_or_else(|| bad("a LANR has only digits"))?;
                if d.len() != 9 {
                    return Err(bad("a LANR has 9 digits"));
                }
                if lanr_check(&d[..6]) != d[6] {
                    return Err(bad("this LANR's check digit (7th digit) is wrong"));
                }
                text(&d)
            }
            IdScheme::ItOrder => {
                // "RM 12345", "rm-12345", "RM/012345": province, then the number.
                let upper = value.to_ascii_uppercase();
                let province: String = upper
                    .chars()
                    .take_while(char::is_ascii_alphabetic)
                    .collect();
                if !IT_PROVINCES.contains(&province.as_str()) {
                    return Err(bad(
                        "an Italian registration starts with the province code of the order (RM, MI, …)",
                    ));
                }
                let rest = upper[province.len()..].trim_start_matches([' ', '-', '/', '.']);
                let d = digits_only(rest)
                    .filter(|d| !d.is_empty() && d.len() <= 7)
                    .ok_or_else(|| {
                        bad("an Italian registration is the province code then a number of 1 to 7 digits")
                    })?;
                let number = text(&d);
                let number = number.trim_start_matches('0');
                if number.is_empty() {
                    return Err(bad("the registration number cannot be 0"));
                }
                format!("{province}-{number}")
            }
        };
        Ok(Self {
            scheme,
            value: canonical,
        })
    }

    /// An identifier read back from storage (already canonical) or from a directory file.
    pub fn parse_codes(scheme: &str, value: &str) -> Result<Self, DomainError> {
        Self::parse(IdScheme::parse(scheme)?, value)
    }

    pub fn scheme(&self) -> IdScheme {
        self.scheme
    }

    pub fn value(&self) -> &str {
        &self.value
    }

    /// A valid RPPS number from any ten digits (demo data and tests): the Luhn key appended.
    pub fn rpps_from(ten: u64) -> Self {
        let mut d: Vec<u8> = format!("{:010}", ten % 10_000_000_000)
            .bytes()
            .map(|b| b - b'0')
            .collect();
        d.push(0);
        let key = (0..10u8)
            .find(|&k| {
                d[10] = k;
                luhn_ok(&d)
            })
            .unwrap_or(0);
        d[10] = key;
        Self {
            scheme: IdScheme::Rpps,
            value: text(&d),
        }
    }
}

impl std::fmt::Display for ProfessionalId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let label = match self.scheme {
            IdScheme::Rpps => "RPPS",
            IdScheme::Lanr => "LANR",
            IdScheme::ItOrder => "Ordine",
        };
        write!(f, "{label} {}", self.value)
    }
}

/// Where a practitioner stands. `Unverified` (nothing declared) → `Pending` (declared,
/// waiting for an operator or a directory import) → `Verified` | `Rejected`; a verified
/// practitioner may be `Revoked`. Only `Verified` practitioners are listed and sign.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CredentialStatus {
    Unverified,
    Pending,
    Verified,
    Rejected,
    Revoked,
}

impl CredentialStatus {
    pub const ALL: [CredentialStatus; 5] = [
        CredentialStatus::Unverified,
        CredentialStatus::Pending,
        CredentialStatus::Verified,
        CredentialStatus::Rejected,
        CredentialStatus::Revoked,
    ];

    pub fn code(self) -> &'static str {
        match self {
            CredentialStatus::Unverified => "unverified",
            CredentialStatus::Pending => "pending",
            CredentialStatus::Verified => "verified",
            CredentialStatus::Rejected => "rejected",
            CredentialStatus::Revoked => "revoked",
        }
    }

    pub fn parse(code: &str) -> Result<Self, DomainError> {
        Self::ALL
            .into_iter()
            .find(|s| s.code() == code)
            .ok_or_else(|| {
                DomainError::new(
                    "status",
                    "must be one of unverified, pending, verified, rejected, revoked",
                )
            })
    }

    /// The statuses an operator's decision may start from: verify a pending, rejected or
    /// revoked declaration (a mistake undone), reject a pending one, revoke a verified one.
    pub fn decidable_from(target: CredentialStatus) -> &'static [CredentialStatus] {
        use CredentialStatus as S;
        match target {
            S::Verified => &[S::Pending, S::Rejected, S::Revoked],
            S::Rejected => &[S::Pending],
            S::Revoked => &[S::Verified],
            S::Unverified | S::Pending => &[],
        }
    }
}

/// Why an operator rejects or revokes: required, kept short (it is shown to the
/// practitioner and kept in the history).
pub fn parse_reason(raw: Option<&str>, required: bool) -> Result<Option<String>, DomainError> {
    let reason = raw.map(str::trim).filter(|r| !r.is_empty());
    match reason {
        None if required => Err(DomainError::new("reason", "must be given")),
        None => Ok(None),
        Some(r) if r.chars().count() > 500 => {
            Err(DomainError::new("reason", "must be at most 500 characters"))
        }
        Some(r) if r.chars().any(char::is_control) => {
            Err(DomainError::new("reason", "must be one line of text"))
        }
        Some(r) => Ok(Some(r.to_owned())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rpps_numbers_published_by_practitioners_pass_and_typos_fail() {
        // Numbers practitioners publish on their own pages and in the ANS FHIR examples.
        for n in ["10001766673", "10005173140", "10002727377", "100 0148 8492"] {
            let id = ProfessionalId::parse(IdScheme::Rpps, n).unwrap();
            assert_eq!(id.value().len(), 11);
        }
        assert!(
            ProfessionalId::parse(IdScheme::Rpps, "10001766674").is_err(),
            "key"
        );
        assert!(
            ProfessionalId::parse(IdScheme::Rpps, "1000176667").is_err(),
            "length"
        );
        assert!(
            ProfessionalId::parse(IdScheme::Rpps, "1000176667X").is_err(),
            "digits"
        );
        let e = ProfessionalId::parse(IdScheme::Rpps, "").unwrap_err();
        assert_eq!(e.field, "identifier");
    }

    #[test]
    fn generated_rpps_numbers_are_valid() {
        for ten in [0u64, 1, 1_000_123_456, 9_999_999_999] {
            let id = ProfessionalId::rpps_from(ten);
            assert!(ProfessionalId::parse(IdScheme::Rpps, id.value()).is_ok());
        }
    }

    #[test]
    fn lanr_check_digit() {
        // 123456: 1·4 + 2·9 + 3·4 + 4·9 + 5·4 + 6·9 = 144 → check 6; specialty group 01.
        assert_eq!(lanr_check(&[1, 2, 3, 4, 5, 6]), 6);
        assert_eq!(
            ProfessionalId::parse(IdScheme::Lanr, "123456601")
                .unwrap()
                .value(),
            "123456601"
        );
        assert!(ProfessionalId::parse(IdScheme::Lanr, "123456501").is_err());
        assert!(ProfessionalId::parse(IdScheme::Lanr, "12345660").is_err());
        // A sum that is a multiple of ten gives 0, not 10.
        assert_eq!(lanr_check(&[0, 0, 0, 0, 0, 0]), 0);
    }

    #[test]
    fn italian_registrations() {
        let id = ProfessionalId::parse(IdScheme::ItOrder, " rm 012345 ").unwrap();
        assert_eq!(id.value(), "RM-12345");
        assert_eq!(
            ProfessionalId::parse(IdScheme::ItOrder, "MI-7")
                .unwrap()
                .value(),
            "MI-7"
        );
        assert!(
            ProfessionalId::parse(IdScheme::ItOrder, "XX 1234").is_err(),
            "province"
        );
        assert!(
            ProfessionalId::parse(IdScheme::ItOrder, "RM").is_err(),
            "number"
        );
        assert!(
            ProfessionalId::parse(IdScheme::ItOrder, "RM 0").is_err(),
            "zero"
        );
        assert!(
            ProfessionalId::parse(IdScheme::ItOrder, "RM 12345678").is_err(),
            "long"
        );
    }

    #[test]
    fn statuses_and_reasons() {
        for s in CredentialStatus::ALL {
            assert_eq!(CredentialStatus::parse(s.code()).unwrap(), s);
        }
        assert!(CredentialStatus::decidable_from(CredentialStatus::Revoked)
            .contains(&CredentialStatus::Verified));
        assert!(parse_reason(Some("  "), true).is_err());
        assert_eq!(parse_reason(None, false).unwrap(), None);
        assert!(parse_reason(Some("a\nb"), true).is_err());
    }
}
