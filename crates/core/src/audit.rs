//! The access log: every decryption of health data appends an entry (who read whose data,
//! what, when), sealed and MAC-chained so that the database host can neither read nor
//! silently edit or remove entries.

use crate::{AppResult, Caller, Core};
use careslot_domain::AccountId;
use careslot_store::{AuditRow, NewAuditEntry, AUDIT_MANY_SUBJECTS};
use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

/// An entry about one patient.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Sealed {
    actor: String,
    subject: String,
    what: String,
}

/// An entry about several patients read at once (a page listing them).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct SealedMany {
    actor: String,
    subjects: Vec<String>,
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
    /// capability): `actor` says who it was. Reads of several patients for the same purpose
    /// are one entry naming them all, sealed and chained once: a page may show a thousand
    /// patients, and an entry each was most of such a page's cost.
    pub async fn audit_as(&self, actor: &str, reads: &[(AccountId, &str)]) -> AppResult<()> {
        let at = Timestamp::now();
        let mut by_what: BTreeMap<&str, Vec<&AccountId>> = BTreeMap::new();
        let mut seen: HashSet<(&AccountId, &str)> = HashSet::with_capacity(reads.len());
        for (subject, what) in reads {
            if seen.insert((subject, what)) {
                by_what.entry(what).or_default().push(subject);
            }
        }
        let sealing = |e: serde_json::Error| careslot_store::StoreError::Internal(e.to_string());
        let mut entries: Vec<NewAuditEntry> = Vec::with_capacity(by_what.len());
        for (what, subjects) in by_what {
            let entry = match subjects.as_slice() {
                [subject] => {
                    let plain = serde_json::to_vec(&Sealed {
                        actor: actor.to_owned(),
                        subject: subject.to_string(),
                        what: what.to_owned(),
                    })
                    .map_err(sealing)?;
                    let subject_bidx = self.protect.patient_index(subject);
                    NewAuditEntry {
                        at,
                        subject_bidx,
                        entry_ct: self
                            .protect
                            .seal_audit(&plain, at.as_second(), subject_bidx),
                    }
                }
                _ => {
                    let plain = serde_json::to_vec(&SealedMany {
                        actor: actor.to_owned(),
                        subjects: subjects.iter().map(|s| s.to_string()).collect(),
                        what: what.to_owned(),
                    })
                    .map_err(sealing)?;
                    NewAuditEntry {
                        at,
                        subject_bidx: AUDIT_MANY_SUBJECTS,
                        entry_ct: self.protect.seal_audit(
                            &plain,
                            at.as_second(),
                            AUDIT_MANY_SUBJECTS,
                        ),
                    }
                }
            };
            entries.push(entry);
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
            // The blind index is shared by many patients: only entries naming the caller.
            let (actor, what) = if row.subject_bidx == AUDIT_MANY_SUBJECTS {
                match serde_json::from_slice::<SealedMany>(&plain) {
                    Ok(e) if e.subjects.iter().any(|s| s == caller.id.as_str()) => {
                        (e.actor, e.what)
                    }
                    _ => continue,
                }
            } else {
                match serde_json::from_slice::<Sealed>(&plain) {
                    Ok(e) if e.subject == caller.id.as_str() => (e.actor, e.what),
                    _ => continue,
                }
            };
            out.push(AccessEntry {
                at: row.at,
                actor: AccountId(actor),
                what,
            });
        }
        Ok(out)
    }

    /// Recomputes the whole chain: sequence without gaps, every MAC, every entry opens.
    pub async fn verify_audit(&self) -> AppResult<AuditVerdict> {
        let (mut prev, mut expected, mut rows) = (String::new(), 1i64, 0u64);
        loop {
            let page = self.store.audit_rows(expected - 1, 1000).await?;
            let Some(last) = page.last() else {
                return Ok(AuditVerdict::Intact { rows });
            };
            let index = self.store.audit_subjects(expected - 1, last.seq).await?;
            let mut named: BTreeMap<i64, Vec<i64>> = BTreeMap::new();
            for (seq, subject) in index.named {
                named.entry(seq).or_default().push(subject);
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
                let Ok(plain) = self.protect.open_audit(&row) else {
                    return Ok(AuditVerdict::Broken {
                        seq: row.seq,
                        problem: "entry does not decrypt",
                    });
                };
                let indexed = row.seq <= index.indexed_to;
                if self.subjects_altered(&row, &plain, indexed, named.remove(&row.seq)) {
                    return Ok(AuditVerdict::Broken {
                        seq: row.seq,
                        problem: "entry's patients altered",
                    });
                }
                prev = row.mac;
                expected += 1;
                rows += 1;
            }
        }
    }
}

impl Core {
    /// Whether the patients stored beside a many-patient entry differ from those it seals
    /// (a row of `audit_subjects` removed, added or changed); `named` is sorted. Above the
    /// index's watermark (`indexed` false) the index may be partly built: its rows must
    /// be among the sealed patients.
    fn subjects_altered(
        &self,
        row: &AuditRow,
        plain: &[u8],
        indexed: bool,
        named: Option<Vec<i64>>,
    ) -> bool {
        let named = named.unwrap_or_default();
        if row.subject_bidx != AUDIT_MANY_SUBJECTS {
            return !named.is_empty();
        }
        let Some(sealed) = self.sealed_subjects(plain) else {
            return true;
        };
        if indexed {
            sealed != named
        } else {
            named.iter().any(|s| sealed.binary_search(s).is_err())
        }
    }

    /// The blind indexes of the patients a many-patient entry seals, sorted, once each.
    fn sealed_subjects(&self, plain: &[u8]) -> Option<Vec<i64>> {
        let entry = serde_json::from_slice::<SealedMany>(plain).ok()?;
        let mut sealed: Vec<i64> = entry
            .subjects
            .iter()
            .map(|s| self.protect.patient_index(&AccountId(s.clone())))
            .collect();
        sealed.sort_unstable();
        sealed.dedup();
        Some(sealed)
    }

    /// Brings the patient index of many-patient entries up to the end of the log as it was
    /// when called; returns the number of entries indexed. Safe on several nodes at once: a batch another node
    /// indexed first is dropped and the backlog read again.
    pub async fn index_audit(&self) -> AppResult<usize> {
        let mut indexed = 0;
        loop {
            let backlog = self.store.audit_unindexed(AUDIT_INDEX_BATCH).await?;
            if backlog.up_to == backlog.indexed_to {
                return Ok(indexed);
            }
            let mut named = Vec::new();
            for row in &backlog.entries {
                // An entry that does not open is reported by `audit verify`; it names no
                // one the index could find.
                let Some(subjects) = self
                    .protect
                    .open_audit(row)
                    .ok()
                    .and_then(|plain| self.sealed_subjects(&plain))
                else {
                    tracing::warn!(seq = row.seq, "access-log entry does not open; not indexed");
                    continue;
                };
                named.extend(subjects.into_iter().map(|s| (row.seq, s)));
            }
            if !self
                .store
                .index_audit_subjects(backlog.indexed_to, backlog.up_to, &mut named)
                .await?
            {
                continue;
            }
            indexed += backlog.entries.len();
            // The backlog as it was is done. Entries appended meanwhile wait for the next
            // pass, so that they are indexed in a batch rather than one by one.
            if (backlog.entries.len() as i64) < AUDIT_INDEX_BATCH {
                return Ok(indexed);
            }
        }
    }

    /// Every few seconds, the entries shown since are indexed in one batch: each page of
    /// the patient index is then written once per batch instead of once per page shown.
    pub(crate) fn spawn_audit_indexer(self: &Arc<Self>) {
        let app = Arc::downgrade(self);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(AUDIT_INDEX_EVERY);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                let Some(app) = app.upgrade() else { return };
                if let Err(e) = app.index_audit().await {
                    tracing::warn!(error = %e, "access-log indexer failed; will retry");
                }
            }
        });
    }
}

/// Many-patient entries per indexing batch. The more pages shown in one batch, the fewer
/// times each page of the patient index is written (a practice's pages name the same
/// patients); the store writes a batch in transactions of a few thousand rows.
const AUDIT_INDEX_BATCH: i64 = 64;
/// How often the indexer looks for new entries (a patient's access log opens the entries
/// of the last few seconds, which the index does not have yet).
const AUDIT_INDEX_EVERY: Duration = Duration::from_secs(5);
