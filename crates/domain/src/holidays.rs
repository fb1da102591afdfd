//! National public holidays that close an agenda by default.

use crate::DomainError;
use jiff::civil::Date;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Country {
    France,
    Germany,
    Italy,
}

impl Country {
    /// ISO 3166-1 alpha-2 code, as stored and as in the API.
    pub fn code(self) -> &'static str {
        match self {
            Country::France => "FR",
            Country::Germany => "DE",
            Country::Italy => "IT",
        }
    }

    pub fn parse(code: &str) -> Result<Self, DomainError> {
        match code.trim().to_ascii_uppercase().as_str() {
            "FR" => Ok(Country::France),
            "DE" => Ok(Country::Germany),
            "IT" => Ok(Country::Italy),
            _ => Err(DomainError::new("country", "supported countries are FR, DE and IT")),
        }
    }

    /// Whether `date` is a national public holiday of this country.
    pub fn is_holiday(self, date: Date) -> bool {
        let _ = date;
        unimplemented!("holidays")
    }
}
