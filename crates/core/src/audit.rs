//! The access log: every decryption of health data appends an entry (who read whose data,
//! what, when), sealed and MAC-chained so that the database host can neither read nor
//! silently edit or remove entries.

use crate::{AppResult, Caller, Core};
use careslot_domain::AccountId;
use careslot_store::NewAuditEntry;
use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use std::collections::HashSet;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Sealed {
    actor: String,
    subject: String,
    what: String,
}

/// One access to a patient's data, as the patient sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessEntry {
    pub at: Timestamp,
    pub actor: AccountId,
    pub what: String,
}

/// Outcome of `careslot audit verify`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuditVerdict {
    Intact { rows: u64 },
    Broken { seq: i64, problem: &'static str },
}

impl Core {
    /// Records that `actor` read the data of each subject (one entry per subject).
    /// Every read of another account's health data passes here, before it is answered: a
    /// practice account without a second factor in this session is refused (`MfaRequired`).
    pub async fn audit(&self, actor: &Caller, reads: &[(AccountId, &str)]) -> AppResult<()> {
        if reads.iter().any(|(subject, _)| *subject != actor.id) {
            actor.may_read_patient_data()?;
        }
        self.audit_as(actor.id.as_str(), reads).await
    }

    /// Same, for a reader without an account (a pharmacist holding a prescription's
    /// capability): `actor` says who it was.
    pub async fn audit_as(&self, actor: &str, reads: &[(AccountId, &str)]) -> AppResult<()> {
        let at = Timestamp::now();
        let mut entries: Vec<NewAuditEntry> = Vec::with_capacity(reads.len());
        // A page may show a thousand patients: a set, not a list, of those already logged.
        let mut seen: HashSet<(&AccountId, &str)> = HashSet::with_capacity(reads.len());
        for (subject, what) in reads {
            if !seen.insert((subject, what)) {
                continue;
            }
            let plain = serde_json::to_vec(&Sealed {
                actor: actor.to_owned(),
                subject: subject.to_string(),
                what: (*what).to_owned(),
            })
            .map_err(|e| careslot_store::StoreError::Internal(e.to_string()))?;
            let subject_bidx = self.protect.patient_index(subject);
            entries.push(NewAuditEntry {
                at,
                subject_bidx,
                entry_ct: self
                    .protect
                    .seal_audit(&plain, at.as_second(), subject_bidx),
            });
        }
        let protect = self.protect.clone();
        self.store
            .append_audit(&entries, &move |prev, row| protect.audit_mac(prev, row))
            .await?;
        Ok(())
    }

    /// Records that an operator (`operator:token` or `operator:<account id>`) did `action`
    /// (to `target`, an id, never personal data) in the operators' action log. Called once
    /// the action succeeded; a failure to record is reported to the caller (the action
    /// stands, the client sees an error and can read the log).
    pub async fn record_operator_action(
        &self,
        actor: &str,
        action: &str,
        target: Option<&str>,
    ) -> AppResult<()> {
        self.store
            .record_operator_action(Timestamp::now(), actor, action, target)
            .await?;
        Ok(())
    }

    /// Who accessed the caller's data.
    pub async fn access_log(&self, caller: &Caller) -> AppResult<Vec<AccessEntry>> {
        let rows = self
            .store
            .audit_rows_for_subject(self.protect.patient_index(&caller.id))
            .await?;
        let mut out = Vec::new();
        for row in rows {
            let Ok(plain) = self.protect.open_audit(&row) else {
                continue;
            };
            let Ok(entry) = serde_json::from_slice::<Sealed>(&plain) else {
                continue;
            };
            if entry.subject == caller.id.as_str() {
                out.push(AccessEntry {
                    at: row.at,
                    actor: AccountId(entry.actor),
                    what: entry.what,
                });
            }
        }
        Ok(out)
    }

    /// Recomputes the whole chain: sequence without gaps, every MAC, every entry opens.
    pub async fn verify_audit(&self) -> AppResult<AuditVerdict> {
        let (mut prev, mut expected, mut rows) = (String::new(), 1i64, 0u64);
        loop {
            let page = self.store.audit_rows(expected - 1, 1000).await?;
            if page.is_empty() {
                return Ok(AuditVerdict::Intact { rows });
            }
            for row in page {
                if row.seq != expected {
                    return Ok(AuditVerdict::Broken {
                        seq: expected,
                        problem: "entry missing",
                    });
                }
                if row.mac != self.protect.audit_mac(&prev, &row) {
                    return Ok(AuditVerdict::Broken {
                        seq: row.seq,
                        problem: "entry altered",
                    });
                }
                if self.protect.open_audit(&row).is_err() {
                    return Ok(AuditVerdict::Broken {
                        seq: row.seq,
                        problem: "entry does not decrypt",
                    });
                }
                prev = row.mac;
                expected += 1;
                rows += 1;
            }
        }
    }
}
