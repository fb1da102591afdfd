-- Messages for every event (issue 14, part C).
--
-- A queued message may be ABOUT someone other than its recipient (the practice's "cancelled
-- by the patient" notice names the patient): `subject_account_id` names that person, so
-- erasing them deletes the message too (explicitly, and by the cascade).
ALTER TABLE outbox ADD COLUMN subject_account_id TEXT REFERENCES accounts(id) ON DELETE CASCADE;
CREATE INDEX outbox_subject ON outbox(subject_account_id) WHERE subject_account_id IS NOT NULL;

-- The desk's notification list: a patient cancelled or moved an appointment of the practice.
-- Written in the transaction of the change; the patient's name is read, sealed, from the
-- appointment when shown, so an erased patient leaves no name here. Times in Unix seconds.
CREATE TABLE practice_notices (
    id              TEXT PRIMARY KEY,
    practitioner_id TEXT NOT NULL REFERENCES practitioners(id) ON DELETE CASCADE,
    reservation_id  TEXT NOT NULL REFERENCES reservations(id) ON DELETE CASCADE,
    kind            TEXT NOT NULL CHECK (kind IN ('cancelled', 'moved')),
    start_s         BIGINT NOT NULL,                 -- the appointment's (new) start
    previous_s      BIGINT,                          -- a move's former start
    created_at      BIGINT NOT NULL
);
CREATE INDEX practice_notices_recent ON practice_notices(practitioner_id, created_at);

-- Whether the practice also gets an email when a patient cancels or moves (default on).
ALTER TABLE practitioners ADD COLUMN email_patient_changes BOOLEAN NOT NULL DEFAULT TRUE;
