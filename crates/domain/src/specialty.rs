//! Specialty codes of the public contract (`GET /api/v1/specialties`).

use crate::DomainError;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Specialty {
    GeneralPractitioner,
    Dentist,
    Pediatrician,
    Dermatologist,
    Gynecologist,
    Ophthalmologist,
    Physiotherapist,
    Psychiatrist,
    Cardiologist,
    Midwife,
    VaccinationCenter,
}

impl Specialty {
    pub const ALL: [Specialty; 11] = [
        Specialty::GeneralPractitioner,
        Specialty::Dentist,
        Specialty::Pediatrician,
        Specialty::Dermatologist,
        Specialty::Gynecologist,
        Specialty::Ophthalmologist,
        Specialty::Physiotherapist,
        Specialty::Psychiatrist,
        Specialty::Cardiologist,
        Specialty::Midwife,
        Specialty::VaccinationCenter,
    ];

    pub fn code(self) -> &'static str {
        match self {
            Specialty::GeneralPractitioner => "general-practitioner",
            Specialty::Dentist => "dentist",
            Specialty::Pediatrician => "pediatrician",
            Specialty::Dermatologist => "dermatologist",
            Specialty::Gynecologist => "gynecologist",
            Specialty::Ophthalmologist => "ophthalmologist",
            Specialty::Physiotherapist => "physiotherapist",
            Specialty::Psychiatrist => "psychiatrist",
            Specialty::Cardiologist => "cardiologist",
            Specialty::Midwife => "midwife",
            Specialty::VaccinationCenter => "vaccination-center",
        }
    }

    /// English display name; the web app translates by code.
    pub fn name_en(self) -> &'static str {
        match self {
            Specialty::GeneralPractitioner => "General practitioner",
            Specialty::Dentist => "Dentist",
            Specialty::Pediatrician => "Pediatrician",
            Specialty::Dermatologist => "Dermatologist",
            Specialty::Gynecologist => "Gynecologist",
            Specialty::Ophthalmologist => "Ophthalmologist",
            Specialty::Physiotherapist => "Physiotherapist",
            Specialty::Psychiatrist => "Psychiatrist",
            Specialty::Cardiologist => "Cardiologist",
            Specialty::Midwife => "Midwife",
            Specialty::VaccinationCenter => "Vaccination centre",
        }
    }

    pub fn parse(code: &str) -> Result<Self, DomainError> {
        Self::ALL
            .into_iter()
            .find(|s| s.code() == code)
            .ok_or_else(|| {
                DomainError::new(
                    "specialty",
                    format!("unknown specialty code {code:?}; see GET /api/v1/specialties"),
                )
            })
    }
}
