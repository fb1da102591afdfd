-- Measurement only: the share of the foreign keys the write checks.
ALTER TABLE reservations DROP CONSTRAINT reservations_agenda_id_fkey;
ALTER TABLE reservations DROP CONSTRAINT reservations_stock_fkey;
ALTER TABLE pool_counters DROP CONSTRAINT pool_counters_agenda_id_fkey;
ALTER TABLE dose_stock DROP CONSTRAINT dose_stock_agenda_id_fkey;
