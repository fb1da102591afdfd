-- Measurement only: the overlap exclusion's share.
ALTER TABLE reservations DROP CONSTRAINT reservations_no_overlap;
