-- Visit statuses (issue 18 point 3): when the patient arrived, went in, was done with, or
-- was marked as a no-show. Only a booked appointment may carry arrival, consultation or done
-- times, and only a no-show its no-show time: the database refuses "done" on a cancelled
-- appointment whatever the code does.
ALTER TABLE reservations ADD COLUMN arrived_at BIGINT
    CONSTRAINT reservations_visit_live CHECK (arrived_at IS NULL OR status = 'booked');
ALTER TABLE reservations ADD COLUMN consulting_at BIGINT
    CONSTRAINT reservations_visit_live_c CHECK (consulting_at IS NULL OR status = 'booked');
ALTER TABLE reservations ADD COLUMN done_at BIGINT
    CONSTRAINT reservations_visit_live_d CHECK (done_at IS NULL OR status = 'booked');
ALTER TABLE reservations ADD COLUMN no_show_at BIGINT
    CONSTRAINT reservations_visit_no_show CHECK (no_show_at IS NULL OR status = 'no_show');

-- Who set which status when (undos included): the practice's audit trail. No health data:
-- an appointment id, a status word, a time and the practice member's account.
CREATE TABLE visit_status_log (
    seq            BIGSERIAL PRIMARY KEY,
    reservation_id TEXT NOT NULL REFERENCES reservations(id),
    agenda_id      TEXT NOT NULL,
    status         TEXT NOT NULL CHECK (status IN ('booked', 'arrived', 'in_consultation', 'done', 'no_show')),
    at             BIGINT NOT NULL,
    by_account     TEXT
);
CREATE INDEX visit_status_log_reservation ON visit_status_log(reservation_id, seq);
