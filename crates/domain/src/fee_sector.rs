//! France's fee sectors (secteurs de conventionnement): what a patient pays above the
//! national insurance's rate depends on them.

use crate::DomainError;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum FeeSector {
    /// Secteur 1: the insurance's rates, no extra fees.
    Sector1,
    /// Secteur 2: fees above the rates are allowed.
    Sector2,
    /// Non conventionné: not under the insurance's agreement; little is reimbursed.
    NonContracted,
}

impl FeeSector {
    pub const ALL: [FeeSector; 3] = [Self::Sector1, Self::Sector2, Self::NonContracted];

    pub fn code(self) -> &'static str {
        match self {
            Self::Sector1 => "sector-1",
            Self::Sector2 => "sector-2",
            Self::NonContracted => "non-contracted",
        }
    }

    pub fn parse(s: &str) -> Result<Self, DomainError> {
        Self::ALL
            .into_iter()
            .find(|f| f.code() == s.trim())
            .ok_or_else(|| {
                DomainError::new("fee_sector", "must be sector-1, sector-2 or non-contracted")
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip() {
        for f in FeeSector::ALL {
            assert_eq!(FeeSector::parse(f.code()).ok(), Some(f));
        }
        assert!(FeeSector::parse("sector-3").is_err());
    }
}
