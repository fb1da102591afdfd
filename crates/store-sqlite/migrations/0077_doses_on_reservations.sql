-- A vaccine dose's series and stock on its reservation row, as on PostgreSQL (its migration
-- 0077, which says why): `vaccine_series`, `vaccine_dose` and `vaccine_protocol` for a dose of a
-- series, for good; `stock_product` and `stock_day` while the dose holds that day's stock
-- of its own agenda, NULL again once given back. SQLite cannot add a table constraint to
-- an existing table, so each group's all-or-none rule is a CHECK on its last column, and
-- the stock's foreign key (a composite one) is not declared: the statement path writes the
-- columns right after taking the day's dose in the same transaction.
ALTER TABLE reservations ADD COLUMN vaccine_series TEXT;
ALTER TABLE reservations ADD COLUMN vaccine_dose INTEGER;
ALTER TABLE reservations ADD COLUMN vaccine_protocol INTEGER
    CHECK ((vaccine_series IS NULL) = (vaccine_dose IS NULL) AND (vaccine_series IS NULL) = (vaccine_protocol IS NULL)
           AND (vaccine_dose IS NULL OR vaccine_dose BETWEEN 1 AND 3));
ALTER TABLE reservations ADD COLUMN stock_product TEXT;
ALTER TABLE reservations ADD COLUMN stock_day TEXT
    CHECK ((stock_product IS NULL) = (stock_day IS NULL));

UPDATE reservations
   SET vaccine_series = (SELECT s.series_id FROM vaccination_series s WHERE s.reservation_id = reservations.id),
       vaccine_dose = (SELECT s.dose FROM vaccination_series s WHERE s.reservation_id = reservations.id),
       vaccine_protocol = (SELECT s.protocol_version FROM vaccination_series s WHERE s.reservation_id = reservations.id)
 WHERE id IN (SELECT reservation_id FROM vaccination_series);
UPDATE reservations
   SET stock_product = (SELECT u.product FROM stock_uses u WHERE u.reservation_id = reservations.id),
       stock_day = (SELECT u.day FROM stock_uses u WHERE u.reservation_id = reservations.id)
 WHERE id IN (SELECT reservation_id FROM stock_uses);
DROP TABLE stock_uses;
DROP TABLE vaccination_series;
CREATE INDEX reservations_vaccine_series ON reservations(vaccine_series) WHERE vaccine_series IS NOT NULL;
