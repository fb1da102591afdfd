-- Measurement only: the reservation row's rules as the nine CHECK constraints they were
-- before 0078, which PostgreSQL reads back from their node text and plans again at each
-- execution of a statement that writes the table. Against the schema as migrated (one
-- CHECK calling `careslot_reservation_rules`), it shows what 0078 saves.
ALTER TABLE reservations
    DROP CONSTRAINT reservations_rules,
    ADD CONSTRAINT reservations_status_check
        CHECK (status IN ('held', 'booked', 'cancelled', 'expired', 'no_show')),
    ADD CONSTRAINT reservations_held_expiry CHECK (status <> 'held' OR expires_at IS NOT NULL),
    ADD CONSTRAINT reservations_span CHECK (end_s > start_s AND end_s - start_s <= 86400),
    ADD CONSTRAINT reservations_own_duration CHECK (own_duration_min IS NULL
        OR (own_duration_min BETWEEN 5 AND 1440 AND end_s - start_s = own_duration_min * 60)),
    ADD CONSTRAINT reservations_visit_live CHECK (arrived_at IS NULL OR status = 'booked'),
    ADD CONSTRAINT reservations_visit_live_c CHECK (consulting_at IS NULL OR status = 'booked'),
    ADD CONSTRAINT reservations_visit_live_d CHECK (done_at IS NULL OR status = 'booked'),
    ADD CONSTRAINT reservations_visit_no_show CHECK (no_show_at IS NULL OR status = 'no_show'),
    ADD CONSTRAINT reservations_dose_check CHECK (
        (vaccine_series IS NULL) = (vaccine_dose IS NULL)
        AND (vaccine_series IS NULL) = (vaccine_protocol IS NULL)
        AND vaccine_dose BETWEEN 1 AND 3 AND (stock_product IS NULL) = (stock_day IS NULL));
