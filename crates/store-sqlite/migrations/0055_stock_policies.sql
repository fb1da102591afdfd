-- Default dose stock (issue 17 point 4): a centre's doses per opening day and product, for
-- every day without a stock of its own, so imported centres offer slots without a daily
-- chore. A booking on such a day first writes the day's row from the policy
-- (`explicit` = 0), then consumes it through the same conditional update as before, so the
-- CHECK on `used` stays the one backstop. A row the centre set itself (`explicit` = 1)
-- overrides the policy; 0 doses closes the day. A policy change rewrites the non-explicit
-- rows of the days from today on, never below what they already booked.
CREATE TABLE stock_policies (
    agenda_id TEXT NOT NULL REFERENCES agendas(id) ON DELETE CASCADE,
    product   TEXT NOT NULL CHECK (product IN ('comirnaty', 'spikevax', 'vaxzevria', 'jcovden')),
    doses     INTEGER NOT NULL CHECK (doses >= 0 AND doses <= 1000000),
    PRIMARY KEY (agenda_id, product)
) STRICT;

-- Rows written before this migration were all set by hand.
ALTER TABLE dose_stock ADD COLUMN explicit INTEGER NOT NULL DEFAULT 1 CHECK (explicit IN (0, 1));
