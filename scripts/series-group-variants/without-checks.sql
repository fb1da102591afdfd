-- Measurement only: the share of the reservation row's check constraints.
ALTER TABLE reservations DROP CONSTRAINT reservations_check, DROP CONSTRAINT reservations_check1,
    DROP CONSTRAINT reservations_own_duration, DROP CONSTRAINT reservations_status_check,
    DROP CONSTRAINT reservations_visit_live, DROP CONSTRAINT reservations_visit_live_c,
    DROP CONSTRAINT reservations_visit_live_d, DROP CONSTRAINT reservations_visit_no_show,
    DROP CONSTRAINT reservations_dose_check;
