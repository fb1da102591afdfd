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
