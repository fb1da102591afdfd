-- An access-log entry may name many patients: a page that shows a practice's week (about a
-- thousand patients) is one sealed, MAC-chained entry (`subject_bidx` = -1) instead of one
-- entry each. Each patient named still finds it through this table, by blind index;
-- `careslot audit verify` checks these rows against the sealed list, so removing one is
-- detected like any other change to the log.
CREATE TABLE audit_subjects (
    seq          INTEGER NOT NULL,
    subject_bidx INTEGER NOT NULL,
    PRIMARY KEY (seq, subject_bidx)
) STRICT, WITHOUT ROWID;
CREATE INDEX audit_subjects_subject ON audit_subjects(subject_bidx);
