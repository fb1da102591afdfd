//! Vaccine motives: the protocols in force (products and their dose intervals, read through a
//! short cache) and the link from a motive to a vaccine dose. Scheduling needs them to create
//! and show vaccination motives; the vaccination feature edits the protocols.

use crate::{AppResult, Scheduling};
use careslot_domain::*;
use careslot_store::{MotiveVaccine, StoreError};
use std::sync::Arc;

/// A vaccine link for a new motive.
#[derive(Debug, Clone)]
pub struct VaccineSpec {
    pub product: String,
    pub dose: i64,
    /// The motive of the next dose at the same centre (for dose 1).
    pub next_motive_id: Option<String>,
}

impl Scheduling {
    /// Every protocol version, as read at most a couple of seconds ago.
    pub async fn protocols_in_force(&self) -> AppResult<Arc<Vec<Protocol>>> {
        Ok(self.protocols.get(|| self.store.protocols()).await?)
    }

    /// Links a motive to a vaccine dose (called when the motive is created).
    pub async fn link_vaccine(
        &self,
        agenda: &AgendaId,
        motive: &MotiveId,
        spec: &VaccineSpec,
    ) -> AppResult<MotiveVaccine> {
        let link = MotiveVaccine {
            motive_id: motive.clone(),
            product: VaccineProduct::parse(&spec.product)?,
            dose: Dose::from_number(spec.dose)?,
            next: spec.next_motive_id.as_ref().map(|m| MotiveId(m.clone())),
        };
        match self.store.set_motive_vaccine(agenda, &link).await {
            Ok(()) => {}
            Err(StoreError::NotFound) => {
                return Err(DomainError::new(
                    "vaccine.next_dose.motive_id",
                    "must be a motive of this agenda",
                )
                .into())
            }
            Err(e) => return Err(e.into()),
        }
        self.agendas.invalidate(agenda);
        Ok(link)
    }

    pub async fn protocols(&self) -> AppResult<Vec<Protocol>> {
        Ok(self.protocols_in_force().await?.to_vec())
    }
}
