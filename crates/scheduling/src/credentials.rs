//! Practitioner verification (issue 15, point 6). A practitioner declares their national
//! professional identifier (RPPS, LANR, Italian order registration); an operator verifies,
//! rejects or revokes it from the review queue, or a national directory file verifies the
//! declarations it confirms. Only verified practitioners are listed in search and the feeds
//! (the directory index leaves the others out) and sign prescriptions.
//!
//! Every change is written with its history entry (who, when, why) in one transaction; the
//! database keeps one verified practitioner per identifier.

use super::{AppError, AppResult, Caller, Scheduling};
use careslot_core::search::fold;
use careslot_domain::{
    professional_id::parse_reason, CredentialStatus, IdScheme, PractitionerId, ProfessionalId,
};
use careslot_store::{
    ConflictKind, CredentialDecision, CredentialEvent, CredentialListing, CredentialRecord,
    StoreError,
};
use jiff::Timestamp;

/// How many credentials the review queue lists at most.
pub const QUEUE_SHOWN: i64 = 500;

/// One row of a national directory file: an identifier and the name it is registered under.
#[derive(Debug, Clone)]
pub struct DirectoryRow {
    pub identifier: ProfessionalId,
    pub name: String,
    pub profession: String,
}

/// What a directory import did, row by row.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct DirectoryImportReport {
    /// Rows read (invalid ones included).
    pub rows: u64,
    /// Rows whose identifier is malformed or whose name is missing.
    pub invalid: u64,
    /// Practitioners verified by this import.
    pub verified: u64,
    /// Declarations of a row's identifier that were verified already.
    pub already_verified: u64,
    /// Declarations of a row's identifier under another name: left as they are.
    pub name_mismatch: u64,
    /// Declarations rejected or revoked by an operator: an import does not overrule them.
    pub skipped_decided: u64,
    /// Declarations that matched but whose identifier another practitioner holds verified.
    pub conflicts: u64,
    /// Rows nobody declared.
    pub not_declared: u64,
}

/// Words of a name without diacritics, case and titles, sorted: "Dr Hélène MARTIN" and
/// "Martin Helene" compare equal.
pub fn name_key(name: &str) -> Vec<String> {
    const TITLES: &[&str] = &[
        "dr",
        "docteur",
        "doctor",
        "doktor",
        "dott",
        "ssa",
        "dottssa",
        "dottoressa",
        "pr",
        "prof",
        "professeur",
        "professor",
        "med",
        "m",
        "mme",
        "mr",
        "mrs",
        "ms",
        "herr",
        "frau",
        "sig",
        "sigra",
    ];
    let folded = fold(name);
    let mut words: Vec<String> = folded
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty() && !TITLES.contains(w))
        .map(str::to_owned)
        .collect();
    words.sort();
    words
}

fn not_allowed_from(status: CredentialStatus, to: CredentialStatus) -> AppError {
    AppError::Conflict(
        "credential-state",
        format!("a {} credential cannot become {}", status.code(), to.code()),
    )
}

impl Scheduling {
    /// The caller (a practitioner with a profile) declares their identifier; it waits for
    /// review. Declaring another identifier while verified takes the listing down until the
    /// new one is verified.
    pub async fn declare_identifier(
        &self,
        caller: &Caller,
        scheme: &str,
        value: &str,
    ) -> AppResult<CredentialRecord> {
        let me = self.practitioner_of(caller).await?;
        let id = ProfessionalId::parse(IdScheme::parse(scheme)?, value)?;
        let record = self
            .store
            .declare_credential(&me.id, &id, Timestamp::now())
            .await?;
        self.refresh_directory(&me.id).await?;
        Ok(record)
    }

    /// The caller's credential (unverified when nothing was declared).
    pub async fn my_credential(&self, caller: &Caller) -> AppResult<CredentialRecord> {
        let me = self.practitioner_of(caller).await?;
        Ok(self.store.credential(&me.id).await?)
    }

    /// A practitioner's credential (unverified when nothing was declared).
    pub async fn credential_of(
        &self,
        practitioner: &PractitionerId,
    ) -> AppResult<CredentialRecord> {
        Ok(self.store.credential(practitioner).await?)
    }

    /// Refuses with [`AppError::NotVerified`] unless the practitioner is verified now (read
    /// from the database, so a revocation on another node counts at once).
    pub async fn require_verified(&self, practitioner: &PractitionerId) -> AppResult<()> {
        match self.store.credential(practitioner).await?.status {
            CredentialStatus::Verified => Ok(()),
            _ => Err(AppError::NotVerified),
        }
    }

    /// The operator's queue: credentials in `status` (pending by default), oldest first.
    pub async fn review_queue(
        &self,
        status: Option<CredentialStatus>,
    ) -> AppResult<Vec<CredentialListing>> {
        Ok(self.store.credentials(status, QUEUE_SHOWN).await?)
    }

    /// A credential's history, oldest first.
    pub async fn credential_history(
        &self,
        practitioner: &PractitionerId,
    ) -> AppResult<Vec<CredentialEvent>> {
        Ok(self.store.credential_events(practitioner).await?)
    }

    /// An operator verifies, rejects or revokes a practitioner's declaration. A reason is
    /// required to reject or revoke. 404 for an unknown practitioner or one who declared
    /// nothing, 409 when the credential's status does not allow it or the identifier is
    /// verified for someone else.
    pub async fn decide_credential(
        &self,
        practitioner: &str,
        to: CredentialStatus,
        reason: Option<&str>,
        actor: &str,
    ) -> AppResult<CredentialRecord> {
        if practitioner.is_empty() || practitioner.len() > 64 {
            return Err(AppError::NotFound("practitioner"));
        }
        let practitioner = PractitionerId(practitioner.to_owned());
        let from = CredentialStatus::decidable_from(to);
        if from.is_empty() {
            return Err(AppError::BadRequest(
                "a decision is verify, reject or revoke".into(),
            ));
        }
        let reason = parse_reason(reason, to != CredentialStatus::Verified)?;
        let current = self.store.credential(&practitioner).await?;
        if current.status == CredentialStatus::Unverified {
            return Err(AppError::NotFound("declared identifier"));
        }
        let decided = self
            .store
            .decide_credential(&CredentialDecision {
                practitioner: &practitioner,
                from,
                to,
                identifier: None,
                actor,
                reason: reason.as_deref(),
                at: Timestamp::now(),
            })
            .await
            .map_err(|e| match e {
                StoreError::Conflict(ConflictKind::Duplicate) => AppError::Conflict(
                    "identifier-taken",
                    "another practitioner holds this identifier verified".into(),
                ),
                e => e.into(),
            })?;
        let Some(record) = decided else {
            // Changed since it was read (or never allowed): say what it is now.
            let now = self.store.credential(&practitioner).await?;
            return Err(not_allowed_from(now.status, to));
        };
        self.refresh_directory(&practitioner).await?;
        tracing::info!(
            practitioner = %practitioner,
            status = record.status.code(),
            actor,
            "practitioner credential decided"
        );
        Ok(record)
    }

    /// Verifies the pending declarations a national directory confirms: same identifier and
    /// same name (see [`name_key`]). Rejected or revoked declarations stay as they are (an
    /// operator decided), and so do those under another name.
    pub async fn import_directory(
        &self,
        rows: &[DirectoryRow],
        invalid: u64,
        actor: &str,
    ) -> AppResult<DirectoryImportReport> {
        let mut report = DirectoryImportReport {
            rows: rows.len() as u64 + invalid,
            invalid,
            ..Default::default()
        };
        for row in rows {
            let declared = self.store.credentials_declaring(&row.identifier).await?;
            if declared.is_empty() {
                report.not_declared += 1;
                continue;
            }
            let key = name_key(&row.name);
            for d in declared {
                let c = &d.credential;
                match c.status {
                    CredentialStatus::Verified => {
                        report.already_verified += 1;
                        continue;
                    }
                    CredentialStatus::Rejected | CredentialStatus::Revoked => {
                        report.skipped_decided += 1;
                        continue;
                    }
                    CredentialStatus::Pending | CredentialStatus::Unverified => {}
                }
                if key.is_empty() || name_key(&d.name) != key {
                    report.name_mismatch += 1;
                    continue;
                }
                let outcome = self
                    .store
                    .decide_credential(&CredentialDecision {
                        practitioner: &c.practitioner_id,
                        from: &[CredentialStatus::Pending],
                        to: CredentialStatus::Verified,
                        identifier: Some(&row.identifier),
                        actor,
                        reason: None,
                        at: Timestamp::now(),
                    })
                    .await;
                match outcome {
                    Ok(Some(_)) => {
                        report.verified += 1;
                        self.refresh_directory(&c.practitioner_id).await?;
                    }
                    // Changed meanwhile (declared anew, or decided by an operator).
                    Ok(None) => report.skipped_decided += 1,
                    Err(StoreError::Conflict(ConflictKind::Duplicate)) => report.conflicts += 1,
                    Err(e) => return Err(e.into()),
                }
            }
        }
        Ok(report)
    }
}

/// How often every node looks for credential changes made elsewhere.
const WATCH_EVERY: std::time::Duration = std::time::Duration::from_secs(2);
/// How far back each look reaches: on PostgreSQL a change's sequence number is taken before
/// its commit, so a later-committing change may carry a lower number than one already seen.
const WATCH_LOOKBACK: i64 = 256;

impl Scheduling {
    /// Keeps this node's search index in step with credential changes made by other nodes
    /// or processes (`careslot import practitioners`): every couple of seconds, the
    /// practitioners whose credential changed since `seq` have their directory rows
    /// reloaded. `seq` is the change sequence read before the index was first loaded.
    pub fn spawn_credential_watch(self: &std::sync::Arc<Self>, seq: i64) {
        let app = std::sync::Arc::downgrade(self);
        tokio::spawn(async move {
            let mut seen: std::collections::BTreeSet<i64> = std::collections::BTreeSet::new();
            let mut high = seq;
            let mut tick = tokio::time::interval(WATCH_EVERY);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                let Some(app) = app.upgrade() else { return };
                let from = (high - WATCH_LOOKBACK).max(seq);
                let changes = match app.store.credentials_changed_since(from, 1000).await {
                    Ok(c) => c,
                    Err(e) => {
                        tracing::warn!(error = %e, "credential watch failed; will retry");
                        continue;
                    }
                };
                let mut todo: Vec<PractitionerId> = Vec::new();
                for (n, p) in changes {
                    if seen.insert(n) && !todo.contains(&p) {
                        todo.push(p);
                    }
                    high = high.max(n);
                }
                for p in &todo {
                    if let Err(e) = app.refresh_directory(p).await {
                        tracing::warn!(error = %e, "directory refresh failed; will retry");
                    }
                }
                let floor = high - WATCH_LOOKBACK;
                seen = seen.split_off(&floor);
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::name_key;

    #[test]
    fn names_match_without_titles_case_accents_or_order() {
        assert_eq!(name_key("Dr Hélène MARTIN"), name_key("martin helene"));
        assert_eq!(name_key("Dott.ssa Giulia Rossi"), name_key("ROSSI Giulia"));
        assert_ne!(name_key("Hélène Martin"), name_key("Hélène Martinez"));
        assert!(name_key("Dr.").is_empty());
    }
}
