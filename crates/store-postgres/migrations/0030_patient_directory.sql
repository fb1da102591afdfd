-- A practice's patient directory (issue 18, point 1). An entry links a practice to a
-- patient account (made on the phone, or the patient's own after an online booking) and
-- holds the practice's note, sealed under the patient's key. It is found again through
-- `practice_patient_terms`: truncated blind indexes, keyed per practice, of the starts of
-- the name's words, the phone number and the birth date. Nothing here is readable without
-- the key service. Erasing the account deletes its entries and their terms.
CREATE TABLE practice_patients (
    id              TEXT PRIMARY KEY,
    practitioner_id TEXT NOT NULL REFERENCES practitioners(id) ON DELETE CASCADE,
    account_id      TEXT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    note_ct         BYTEA,
    created_at      BIGINT NOT NULL,
    UNIQUE (practitioner_id, account_id)
);
CREATE INDEX practice_patients_account ON practice_patients(account_id);

CREATE TABLE practice_patient_terms (
    practitioner_id TEXT NOT NULL,
    term            BIGINT NOT NULL,
    entry_id        TEXT NOT NULL REFERENCES practice_patients(id) ON DELETE CASCADE,
    PRIMARY KEY (practitioner_id, term, entry_id)
);
CREATE INDEX practice_patient_terms_entry ON practice_patient_terms(entry_id);
