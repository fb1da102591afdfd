//! What patients filter search results by and read on a public page, beside the profile:
//! new patients, fee sector (practitioner), wheelchair access and access details (place).

use super::{AppError, AppResult, Caller, Scheduling};
use careslot_domain::{DomainError, FeeSector, PlaceId, PractitionerId};
use careslot_store::{PlaceAccess, PractitionerFacts};

/// Changes to a practitioner's facts; `None` keeps what is there.
#[derive(Debug, Default)]
pub struct FactsInput {
    pub accepts_new_patients: Option<bool>,
    /// A fee sector code; an empty text clears it.
    pub fee_sector: Option<String>,
}

pub const MAX_ACCESS_DETAILS: usize = 2000;

/// Access details as stored: trimmed, `None` when empty, refused when too long.
pub fn parse_access_details(raw: Option<&str>) -> Result<Option<String>, DomainError> {
    match raw.map(str::trim) {
        None | Some("") => Ok(None),
        Some(t) if t.chars().count() > MAX_ACCESS_DETAILS => Err(DomainError::new(
            "access_details",
            format!("must be at most {MAX_ACCESS_DETAILS} characters"),
        )),
        Some(t) => Ok(Some(t.to_owned())),
    }
}

impl Scheduling {
    /// The caller's facts (as a practitioner).
    pub async fn my_facts(&self, caller: &Caller) -> AppResult<PractitionerFacts> {
        let me = self.practitioner_of(caller).await?;
        Ok(self.store.practitioner_facts(&me.id).await?)
    }

    /// Facts of any practitioner, for their public page.
    pub async fn practitioner_facts(&self, id: &PractitionerId) -> AppResult<PractitionerFacts> {
        Ok(self.store.practitioner_facts(id).await?)
    }

    pub async fn set_my_facts(
        &self,
        caller: &Caller,
        input: FactsInput,
    ) -> AppResult<PractitionerFacts> {
        let me = self.practitioner_of(caller).await?;
        let mut facts = self.store.practitioner_facts(&me.id).await?;
        if let Some(b) = input.accepts_new_patients {
            facts.accepts_new_patients = b;
        }
        if let Some(code) = input.fee_sector {
            facts.fee_sector = match code.trim() {
                "" => None,
                c => Some(FeeSector::parse(c)?),
            };
        }
        self.store.set_practitioner_facts(&me.id, &facts).await?;
        self.refresh_directory(&me.id).await?;
        Ok(facts)
    }

    /// Access of a place, for its public page.
    pub async fn place_access(&self, place: &PlaceId) -> AppResult<PlaceAccess> {
        Ok(self.store.place_access(place).await?)
    }

    /// Sets the access of one of the caller's places (404 for anyone else's).
    pub async fn set_place_access(
        &self,
        caller: &Caller,
        place: &PlaceId,
        wheelchair_access: bool,
        details: Option<&str>,
    ) -> AppResult<PlaceAccess> {
        let me = self.practitioner_of(caller).await?;
        match self.store.place(place).await? {
            Some(p) if p.practitioner_id == me.id => {}
            _ => return Err(AppError::NotFound("place")),
        }
        let access = PlaceAccess {
            wheelchair_access,
            details: parse_access_details(details)?,
        };
        self.store.set_place_access(place, &access).await?;
        self.refresh_directory(&me.id).await?;
        Ok(access)
    }
}
