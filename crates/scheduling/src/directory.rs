//! A practice's patient directory (issue 18, point 1): find a patient by the start of a
//! name, a phone number or a birth date, open their file in this practice, keep a note.
//!
//! The host never holds those values in clear. Each entry's terms are truncated blind
//! indexes keyed per practice (`directory:<practitioner>`): the starts (2 to
//! [`PREFIX_MAX`] letters) of every folded word of the name, the phone number and the birth
//! date. A query becomes terms the same way; the store returns the entries holding all of
//! them, and the candidates' identities are opened and checked here, since a truncated
//! index also matches other values (that is what keeps it from identifying anyone).
//!
//! Entries are made by phone bookings (an existing entry with the same phone and name is
//! picked again instead of making a duplicate) and, for patients who book online, by the
//! delivery of the booking's confirmation (off the booking's path).

use super::{AppError, AppResult, Appointment, Caller, Identity, Scheduling};
use careslot_core::protection::subject_key_name;
use careslot_core::search::fold;
use careslot_domain::*;
use careslot_identity::{parse_birth_date, parse_phone};
use careslot_store::*;
use jiff::Timestamp;

/// Longest name prefix indexed: longer query words are cut to it (and checked in full).
pub const PREFIX_MAX: usize = 10;
/// Entries a search shows at most.
pub const SEARCH_LIMIT: usize = 20;
/// Candidates read per search: a truncated index lets some strangers through.
const CANDIDATES: i64 = 200;
/// Words a name query may hold.
const QUERY_WORDS: usize = 4;
const NOTE_MAX: usize = 4000;

/// A directory search: what the words were taken for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DirectoryQuery {
    /// Starts of name words, folded.
    Name(Vec<String>),
    /// A phone number, normalized.
    Phone(String),
    /// A birth date, `YYYY-MM-DD`.
    Birth(String),
}

impl DirectoryQuery {
    /// Reads a desk's search box: a date (`1950-03-14`, `14/03/1950`, `14.03.1950`) is a
    /// birth date, something made of digits (at least 6) a phone number, anything else
    /// the starts of name words (at least 2 letters each).
    pub fn parse(raw: &str) -> Result<Self, DomainError> {
        let raw = raw.trim();
        if let Some(date) = birth_date(raw) {
            return Ok(DirectoryQuery::Birth(date));
        }
        let digits = raw.chars().filter(char::is_ascii_digit).count();
        let phone_like = raw
            .chars()
            .all(|c| c.is_ascii_digit() || matches!(c, '+' | ' ' | '.' | '-' | '(' | ')'));
        if phone_like && digits >= 6 {
            return parse_phone(raw)
                .map(DirectoryQuery::Phone)
                .map_err(|_| DomainError::new("q", "not a phone number"));
        }
        let words: Vec<String> = name_words(raw)
            .into_iter()
            .filter(|w| w.chars().count() >= 2)
            .take(QUERY_WORDS)
            .collect();
        if words.is_empty() {
            return Err(DomainError::new(
                "q",
                "type at least 2 letters of a name, a phone number or a birth date",
            ));
        }
        Ok(DirectoryQuery::Name(words))
    }

    /// Whether an opened identity really matches (the index only narrows the search).
    fn matches(&self, who: &Identity) -> bool {
        match self {
            DirectoryQuery::Name(words) => {
                let name = name_words(&who.name);
                words
                    .iter()
                    .all(|w| name.iter().any(|n| n.starts_with(w.as_str())))
            }
            DirectoryQuery::Phone(p) => who.phone.as_deref().map(phone_key) == Some(phone_key(p)),
            DirectoryQuery::Birth(d) => who.birth_date.as_deref() == Some(d.as_str()),
        }
    }
}

fn birth_date(raw: &str) -> Option<String> {
    let iso = if raw.len() == 10 && (raw.as_bytes()[2] == b'/' || raw.as_bytes()[2] == b'.') {
        // Day first, as people write it in fr/de/it.
        let (d, m, y) = (raw.get(0..2)?, raw.get(3..5)?, raw.get(6..10)?);
        format!("{y}-{m}-{d}")
    } else {
        raw.to_owned()
    };
    if iso.len() != 10 {
        return None;
    }
    parse_birth_date(&iso).ok()
}

/// The folded words of a name ("Hélène d'Arc-Ouest" → hélène → "helene", "d", "arc", "ouest").
fn name_words(name: &str) -> Vec<String> {
    fold(name)
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_owned)
        .collect()
}

/// The last nine digits of a phone number: "06 12 34 56 78" and "+33 6 12 34 56 78" are
/// one number (nine is France's national number; elsewhere still one number in millions).
fn phone_key(phone: &str) -> String {
    let digits: Vec<char> = phone.chars().filter(char::is_ascii_digit).collect();
    digits[digits.len().saturating_sub(9)..].iter().collect()
}

fn prefix(word: &str) -> String {
    word.chars().take(PREFIX_MAX).collect()
}

/// An entry found, with what the desk shows of it.
#[derive(Debug, Clone)]
pub struct DirectoryHit {
    pub entry: PracticePatient,
    pub identity: Identity,
    /// Made by the practice on the phone (no login), not the patient's own account.
    pub managed: bool,
}

/// What a merge did.
#[derive(Debug, Clone)]
pub struct PatientMerged {
    /// The entry left (the patient's own account's, if either was).
    pub kept: String,
    pub kept_account: AccountId,
    /// The practice-made record whose appointments moved; erased next if nothing holds it.
    pub removed_account: AccountId,
    /// Appointments moved (every status).
    pub moved: usize,
}

/// A patient's file in this practice.
#[derive(Debug, Clone)]
pub struct PatientFile {
    pub hit: DirectoryHit,
    /// Their appointments in this practice (booked and no-shows), oldest first.
    pub appointments: Vec<Appointment>,
    pub note: Option<String>,
}

impl Scheduling {
    fn directory_term(&self, practice: &PractitionerId, term: &str) -> i64 {
        self.protect
            .blind_index(&format!("directory:{}", practice.as_str()), term.as_bytes())
    }

    /// The terms an identity is found by.
    fn identity_terms(&self, practice: &PractitionerId, who: &Identity) -> Vec<i64> {
        let mut terms = Vec::new();
        for w in name_words(&who.name) {
            let chars: Vec<char> = w.chars().collect();
            for n in 2..=chars.len().min(PREFIX_MAX) {
                let p: String = chars[..n].iter().collect();
                terms.push(self.directory_term(practice, &format!("n:{p}")));
            }
        }
        if let Some(p) = &who.phone {
            terms.push(self.directory_term(practice, &format!("p:{}", phone_key(p))));
        }
        if let Some(d) = &who.birth_date {
            terms.push(self.directory_term(practice, &format!("b:{d}")));
        }
        terms
    }

    fn query_terms(&self, practice: &PractitionerId, q: &DirectoryQuery) -> Vec<i64> {
        match q {
            DirectoryQuery::Name(words) => words
                .iter()
                .map(|w| self.directory_term(practice, &format!("n:{}", prefix(w))))
                .collect(),
            DirectoryQuery::Phone(p) => {
                vec![self.directory_term(practice, &format!("p:{}", phone_key(p)))]
            }
            DirectoryQuery::Birth(d) => vec![self.directory_term(practice, &format!("b:{d}"))],
        }
    }

    /// Files `account` in `practice`'s directory (or refreshes its terms from the account as
    /// it is now). Idempotent: the delivery worker may do it twice.
    pub async fn file_in_directory(
        &self,
        practice: &PractitionerId,
        account: &AccountId,
    ) -> AppResult<PracticePatient> {
        let record = self
            .store
            .account(account)
            .await?
            .ok_or(AppError::NotFound("patient"))?;
        if record.role != Role::Patient {
            return Err(AppError::NotFound("patient"));
        }
        let who = self.open_identity(&record).await?;
        let terms = self.identity_terms(practice, &who);
        let entry = PracticePatient {
            id: uuid::Uuid::now_v7().to_string(),
            practitioner_id: practice.clone(),
            account_id: account.clone(),
            note_ct: None,
            created_at: Timestamp::now(),
        };
        Ok(self.store.file_practice_patient(&entry, &terms).await?)
    }

    /// Opens the entries' identities (skipping erased ones) and keeps those `q` matches.
    async fn open_hits(
        &self,
        entries: Vec<PracticePatient>,
        q: Option<&DirectoryQuery>,
    ) -> AppResult<Vec<DirectoryHit>> {
        let mut hits = Vec::new();
        for entry in entries {
            let Some(record) = self.store.account(&entry.account_id).await? else {
                continue;
            };
            let identity = match self.open_identity(&record).await {
                Ok(i) => i,
                Err(AppError::NotFound(_)) => continue,
                Err(e) => return Err(e),
            };
            if q.is_some_and(|q| !q.matches(&identity)) {
                continue;
            }
            hits.push(DirectoryHit {
                managed: record.managed_by.is_some(),
                entry,
                identity,
            });
            if hits.len() == SEARCH_LIMIT {
                break;
            }
        }
        Ok(hits)
    }

    /// The caller's practice's patients matching `raw` (at most [`SEARCH_LIMIT`]); every
    /// identity shown is an audited read.
    pub async fn directory_search(
        &self,
        caller: &Caller,
        raw: &str,
    ) -> AppResult<Vec<DirectoryHit>> {
        let me = self.practice_of(caller).await?;
        caller.may_read_patient_data()?;
        let q = DirectoryQuery::parse(raw)?;
        let terms = self.query_terms(&me.id, &q);
        let entries = self
            .store
            .practice_patients_with_terms(&me.id, &terms, CANDIDATES)
            .await?;
        let hits = self.open_hits(entries, Some(&q)).await?;
        let reads: Vec<(AccountId, &str)> = hits
            .iter()
            .map(|h| (h.entry.account_id.clone(), "practice.directory_search"))
            .collect();
        self.audit(caller, &reads).await?;
        Ok(hits)
    }

    /// The entry `id` of the caller's practice; anything else is unknown.
    async fn own_entry(
        &self,
        caller: &Caller,
        id: &str,
    ) -> AppResult<(Practitioner, DirectoryHit)> {
        let me = self.practice_of(caller).await?;
        let entry = self
            .store
            .practice_patient(&me.id, id)
            .await?
            .ok_or(AppError::NotFound("patient"))?;
        let hit = self
            .open_hits(vec![entry], None)
            .await?
            .pop()
            .ok_or(AppError::NotFound("patient"))?;
        Ok((me, hit))
    }

    /// A patient's file in the caller's practice: identity, appointments here, the note
    /// (the read audited).
    pub async fn patient_file(&self, caller: &Caller, id: &str) -> AppResult<PatientFile> {
        caller.may_read_patient_data()?;
        let (me, hit) = self.own_entry(caller, id).await?;
        let account = hit.entry.account_id.clone();
        let (_, appointments) = self.desk_history(caller, &account).await?;
        let note = self.open_note(&me.id, &hit.entry).await?;
        self.audit(caller, &[(account, "practice.patient_file")])
            .await?;
        Ok(PatientFile {
            hit,
            appointments,
            note,
        })
    }

    /// Sets (or, when empty, clears) the practice's note on a patient, sealed under the
    /// patient's key (erasing the patient shreds it).
    pub async fn set_patient_note(&self, caller: &Caller, id: &str, note: &str) -> AppResult<()> {
        caller.may_read_patient_data()?;
        let (me, hit) = self.own_entry(caller, id).await?;
        let note = note.trim();
        if note.chars().count() > NOTE_MAX {
            return Err(DomainError::new("note", "must be at most 4000 characters").into());
        }
        let ct = if note.is_empty() {
            None
        } else {
            Some(self.seal_note(&me.id, &hit.entry, note).await?)
        };
        if !self
            .store
            .set_practice_patient_note(&me.id, &hit.entry.id, ct.as_deref())
            .await?
        {
            return Err(AppError::NotFound("patient"));
        }
        Ok(())
    }

    /// The patient's key, which seals the practice's note on them.
    async fn patient_key(&self, account: &AccountId) -> AppResult<careslot_vault::DataKey> {
        let record = self
            .store
            .account(account)
            .await?
            .ok_or(AppError::NotFound("patient"))?;
        Ok(self
            .protect
            .data_key(&subject_key_name(account), &record.wrapped_key)
            .await?)
    }

    async fn open_note(
        &self,
        practice: &PractitionerId,
        entry: &PracticePatient,
    ) -> AppResult<Option<String>> {
        let Some(ct) = &entry.note_ct else {
            return Ok(None);
        };
        let key = self.patient_key(&entry.account_id).await?;
        Ok(Some(self.protect.open_string(
            &key,
            ct,
            "practice_patients",
            "note",
            &note_row(practice, &entry.id),
        )?))
    }

    async fn seal_note(
        &self,
        practice: &PractitionerId,
        entry: &PracticePatient,
        note: &str,
    ) -> AppResult<Vec<u8>> {
        let key = self.patient_key(&entry.account_id).await?;
        Ok(self.protect.seal(
            &key,
            note.as_bytes(),
            "practice_patients",
            "note",
            &note_row(practice, &entry.id),
        ))
    }

    /// Merges two entries of the caller's practice found to be one person: the appointments
    /// of one move to the other's account, their notes are joined, and one entry is left.
    /// The patient's own account is the one kept (a patient's sign-in is never taken away);
    /// the other must be a record this practice made on the phone. Both own accounts: 409.
    /// The caller then erases the removed record if nothing else holds it (see the server's
    /// `App::merge_patients`).
    pub async fn merge_patients(
        &self,
        caller: &Caller,
        keep: &str,
        other: &str,
    ) -> AppResult<PatientMerged> {
        caller.may_read_patient_data()?;
        if keep == other {
            return Err(
                DomainError::new("duplicate", "choose another patient than this one").into(),
            );
        }
        let (me, a) = self.own_entry(caller, keep).await?;
        let (_, b) = self.own_entry(caller, other).await?;
        let (into, from) =
            match (a.managed, b.managed) {
                (_, true) => (a, b),
                (true, false) => (b, a),
                (false, false) => return Err(AppError::Conflict(
                    "own-accounts",
                    "both are patients' own accounts; only a record made by the practice can be \
                     merged into another"
                        .into(),
                )),
            };
        let from_record = self
            .store
            .account(&from.entry.account_id)
            .await?
            .ok_or(AppError::NotFound("patient"))?;
        if from_record.managed_by.as_ref() != Some(&me.id) {
            return Err(AppError::Conflict(
                "managed-elsewhere",
                "this record was made by another practice".into(),
            ));
        }
        let from_bidx = self.protect.patient_index(&from.entry.account_id);
        let into_bidx = self.protect.patient_index(&into.entry.account_id);
        let mut moves = Vec::new();
        let mut others = Vec::new();
        for row in self.store.reservations_by_patient_index(from_bidx).await? {
            let view = self.view(&row.agenda_id).await?;
            if view.agenda.practitioner_id != me.id {
                continue;
            }
            let a = self.open_reservation(row).await?;
            if a.patient.as_ref() != Some(&from.entry.account_id) {
                others.push(a.row.id);
                continue;
            }
            if a.relative.is_some() {
                return Err(AppError::Conflict(
                    "relative-booking",
                    "an appointment of this record is for a relative; it cannot be moved".into(),
                ));
            }
            let key = self.agenda_key(&view.agenda).await?;
            let patient_ct = self.protect.seal(
                &key,
                into.entry.account_id.as_str().as_bytes(),
                "reservations",
                "patient",
                a.row.id.as_str(),
            );
            moves.push(PatientMove {
                reservation_id: a.row.id,
                patient_ct,
            });
        }
        let note_ct = match self.open_note(&me.id, &from.entry).await? {
            Some(theirs) => {
                let joined = match self.open_note(&me.id, &into.entry).await? {
                    Some(ours) => format!("{ours}\n\n{theirs}"),
                    None => theirs,
                };
                Some(self.seal_note(&me.id, &into.entry, &joined).await?)
            }
            None => None,
        };
        let moved = moves.len();
        self.store
            .merge_practice_patients(&PatientMerge {
                practitioner_id: me.id.clone(),
                into: into.entry.clone(),
                from: from.entry.clone(),
                from_bidx,
                into_bidx,
                others,
                moves,
                note_ct,
                now: Timestamp::now(),
            })
            .await?;
        self.audit(
            caller,
            &[
                (into.entry.account_id.clone(), "practice.patient_merge"),
                (from.entry.account_id.clone(), "practice.patient_merge"),
            ],
        )
        .await?;
        Ok(PatientMerged {
            kept: into.entry.id,
            kept_account: into.entry.account_id,
            removed_account: from.entry.account_id,
            moved,
        })
    }

    /// For a phone booking of `name` and `phone`: the practice's existing patient with
    /// exactly that phone number and name (folded), if any.
    pub(crate) async fn directory_twin(
        &self,
        practice: &PractitionerId,
        name: &str,
        phone: &str,
    ) -> AppResult<Option<AccountId>> {
        let q = DirectoryQuery::Phone(phone.to_owned());
        let terms = self.query_terms(practice, &q);
        let entries = self
            .store
            .practice_patients_with_terms(practice, &terms, CANDIDATES)
            .await?;
        let wanted = name_words(name);
        Ok(self
            .open_hits(entries, Some(&q))
            .await?
            .into_iter()
            .find(|h| name_words(&h.identity.name) == wanted)
            .map(|h| h.entry.account_id))
    }
}

/// What a note's seal is bound to: the practice and the entry (a note cannot be moved to
/// another entry or practice).
fn note_row(practice: &PractitionerId, entry: &str) -> String {
    format!("{}:{entry}", practice.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queries_are_read_as_dates_phones_or_names() {
        assert_eq!(
            DirectoryQuery::parse("14/03/1950"),
            Ok(DirectoryQuery::Birth("1950-03-14".into()))
        );
        assert_eq!(
            DirectoryQuery::parse("1950-03-14"),
            Ok(DirectoryQuery::Birth("1950-03-14".into()))
        );
        assert_eq!(
            DirectoryQuery::parse("06 12 34 56 78"),
            Ok(DirectoryQuery::Phone("0612345678".into()))
        );
        assert_eq!(
            DirectoryQuery::parse("+33 6 12 34 56 78"),
            Ok(DirectoryQuery::Phone("+33612345678".into()))
        );
        assert_eq!(
            DirectoryQuery::parse("  Hélène  DU"),
            Ok(DirectoryQuery::Name(vec!["helene".into(), "du".into()]))
        );
        assert!(DirectoryQuery::parse("a").is_err());
        assert!(DirectoryQuery::parse("").is_err());
        assert!(
            DirectoryQuery::parse("31/02/1950").is_ok_and(|q| matches!(q, DirectoryQuery::Name(_)))
        );
    }

    #[test]
    fn national_and_international_forms_are_one_number() {
        assert_eq!(phone_key("0612345678"), phone_key("+33612345678"));
        assert_eq!(phone_key("+33612345678"), "612345678");
        assert_eq!(phone_key("12345"), "12345");
    }

    #[test]
    fn long_words_are_cut_to_the_indexed_prefix() {
        assert_eq!(prefix("abcdefghijklmnop"), "abcdefghij");
        assert_eq!(
            name_words("Jean-Édouard d'Ornano"),
            vec!["jean", "edouard", "d", "ornano"]
        );
    }
}
