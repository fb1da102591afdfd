//! Erasure (crypto-shredding) of a patient, across every feature that holds their data.

use crate::App;
use careslot_core::AppResult;
use careslot_domain::AccountId;

impl App {
    /// Erasure: documents shared on the patient's appointments are shredded, then the
    /// account's key is destroyed in the key service (so that even backups cannot be read)
    /// and the account goes; its appointments stay in their agendas without identity.
    /// Returns how many appointments lost their patient.
    pub async fn erase(&self, id: &AccountId) -> AppResult<usize> {
        self.accounts.erasable(id).await?;
        let mine = self.scheduling.own_reservation_ids(id).await?;
        // Documents shared on those appointments are the patient's health data too.
        self.consultation.shred_documents(&mine).await?;
        self.accounts.erase_identity(id, &mine).await?;
        Ok(mine.len())
    }
}

impl App {
    /// Merges two patients of the caller's practice (see
    /// [`careslot_scheduling::Scheduling::merge_patients`]), then erases the practice-made
    /// record left without appointments anywhere: nothing about a person is kept that no
    /// appointment needs. A record still booked in another agenda is kept.
    pub async fn merge_patients(
        &self,
        caller: &careslot_core::Caller,
        keep: &str,
        other: &str,
    ) -> AppResult<careslot_scheduling::directory::PatientMerged> {
        let merged = self.scheduling.merge_patients(caller, keep, other).await?;
        let gone = &merged.removed_account;
        if self.scheduling.own_reservation_ids(gone).await?.is_empty() {
            self.accounts.erase_identity(gone, &[]).await?;
        }
        Ok(merged)
    }
}
