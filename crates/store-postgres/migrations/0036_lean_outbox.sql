-- A leaner outbox on PostgreSQL too (issue 14: the outbox may cost a booking at most 5 %;
-- SQLite's is 0022_lean_outbox.sql). Each booking queues an intent row; before this, that row
-- also checked three foreign keys (each a `FOR KEY SHARE` lock on the patient's account row or
-- the reservation's: a tuple lock written to the heap and to the WAL) and updated an index on
-- the reservation that served only the cascade.
-- * No foreign keys: nothing may keep a message deliverable after its account is gone, and
--   nothing does: every deletion of an account deletes its queued rows by name first
--   (`account_id` or `subject_account_id`: erasure, an assistant's removal), and a row whose
--   appointment is gone is dropped, never sent, when it falls due (intents are composed from
--   the data as it is then). Reservations are never deleted.
-- * The account index stays (erasure at national scale must not scan the queue), and the
--   subject index, which only practice notices fill.
ALTER TABLE outbox
    DROP CONSTRAINT outbox_account_id_fkey,
    DROP CONSTRAINT outbox_subject_account_id_fkey,
    DROP CONSTRAINT outbox_reservation_id_fkey;
DROP INDEX outbox_reservation;
