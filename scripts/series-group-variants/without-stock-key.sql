-- Measurement only: the share of the one foreign key a dose's stock columns keep (0077).
ALTER TABLE reservations DROP CONSTRAINT reservations_stock_fkey;
