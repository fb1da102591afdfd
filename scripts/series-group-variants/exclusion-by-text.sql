-- The overlap exclusion as it was before migration 0076: keyed by the agenda's text id.
ALTER TABLE reservations DROP CONSTRAINT reservations_no_overlap;
ALTER TABLE reservations ADD CONSTRAINT reservations_no_overlap
    EXCLUDE USING gist (agenda_id WITH =, int8range(start_s, end_s) WITH &&, pool WITH <>)
    WHERE (status IN ('held', 'booked'));
