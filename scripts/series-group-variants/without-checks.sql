-- Measurement only: the share of the reservation row's rules (one CHECK since 0078).
ALTER TABLE reservations DROP CONSTRAINT reservations_rules;
