-- An appointment's own length (issue 18 point 2: the desk resizes it on the time grid).
-- NULL: the length of its motive, as booked; minutes once the practice changed it, kept when
-- the appointment moves. The new end is in end_s like any other, so the exclusion constraint
-- (reservations_no_overlap on int8range(start_s, end_s)) refuses a length that runs into
-- another live reservation.
ALTER TABLE reservations ADD COLUMN own_duration_min BIGINT
    CONSTRAINT reservations_own_duration CHECK (own_duration_min IS NULL
        OR (own_duration_min BETWEEN 5 AND 1440 AND end_s - start_s = own_duration_min * 60));
