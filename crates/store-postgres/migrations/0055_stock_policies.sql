-- Default dose stock (issue 17 point 4): a centre's doses per opening day and product, for
-- every day without a stock of its own, so imported centres offer slots without a daily
-- chore. A booking on such a day first writes the day's row from the policy
-- (`explicit` false), then consumes it through the same conditional update as before, so
-- the CHECK on `used` stays the one backstop. A row the centre set itself (`explicit`)
-- overrides the policy; 0 doses closes the day. A policy change rewrites the non-explicit
-- rows of the days from today on, never below what they already booked.
CREATE TABLE stock_policies (
    agenda_id TEXT NOT NULL REFERENCES agendas(id) ON DELETE CASCADE,
    product   TEXT NOT NULL CHECK (product IN ('comirnaty', 'spikevax', 'vaxzevria', 'jcovden')),
    doses     BIGINT NOT NULL CHECK (doses >= 0 AND doses <= 1000000),
    PRIMARY KEY (agenda_id, product)
);

-- Rows written before this migration were all set by hand.
ALTER TABLE dose_stock ADD COLUMN explicit BOOLEAN NOT NULL DEFAULT TRUE;

-- The series function of migration 0007, unchanged but for that policy step before a dose
-- consumes its day's stock.
CREATE OR REPLACE FUNCTION careslot_reserve_series(
    p_series TEXT, p_protocol BIGINT, p_now BIGINT,
    p_ids TEXT[], p_agendas TEXT[], p_motives TEXT[], p_motive_cts BYTEA[], p_patient_cts BYTEA[],
    p_bidxs BIGINT[], p_note_cts BYTEA[], p_relative_cts BYTEA[], p_starts BIGINT[], p_days TEXT[],
    p_hold_untils BIGINT[], p_products TEXT[]
) RETURNS SETOF reservations
LANGUAGE plpgsql AS $$
DECLARE
    i INT;
    m RECORD;
    x RECORD;
    v_end BIGINT;
    v_cap BIGINT;
    v_lines BIGINT;
    v_pool TEXT;
    v_row reservations;
    v_used RECORD;
BEGIN
    FOR i IN 1 .. array_length(p_ids, 1) LOOP
        SELECT duration_min, capacity INTO m FROM motives
         WHERE id = p_motives[i] AND agenda_id = p_agendas[i];
        IF NOT FOUND THEN
            RAISE EXCEPTION 'careslot_not_found';
        END IF;
        v_end := p_starts[i] + m.duration_min * 60;
        FOR x IN
            UPDATE reservations SET status = 'expired', updated_at = p_now
             WHERE agenda_id = p_agendas[i] AND status = 'held' AND expires_at <= p_now
               AND start_s > p_starts[i] - 86400 AND start_s < v_end AND end_s > p_starts[i]
            RETURNING id, pool, start_s, end_s
        LOOP
            IF x.pool <> x.id THEN
                UPDATE pool_counters SET taken = taken - 1
                 WHERE agenda_id = p_agendas[i] AND start_s = x.start_s AND end_s = x.end_s AND taken > 0;
            END IF;
            FOR v_used IN DELETE FROM stock_uses WHERE reservation_id = x.id RETURNING agenda_id, product, day LOOP
                UPDATE dose_stock SET used = used - 1
                 WHERE agenda_id = v_used.agenda_id AND product = v_used.product AND day = v_used.day AND used > 0;
            END LOOP;
        END LOOP;
        IF m.capacity > 1 THEN
            SELECT lines INTO v_lines FROM line_overrides WHERE agenda_id = p_agendas[i] AND day = p_days[i];
            v_cap := COALESCE(v_lines, m.capacity);
            v_lines := NULL;
            INSERT INTO pool_counters (agenda_id, start_s, end_s, capacity, taken)
            VALUES (p_agendas[i], p_starts[i], v_end, v_cap, 0)
            ON CONFLICT (agenda_id, start_s, end_s) DO NOTHING;
            UPDATE pool_counters SET taken = taken + 1
             WHERE agenda_id = p_agendas[i] AND start_s = p_starts[i] AND end_s = v_end AND taken < capacity;
            IF NOT FOUND THEN
                RAISE EXCEPTION 'careslot_capacity';
            END IF;
            v_pool := 'p:' || p_starts[i] || ':' || v_end;
        ELSE
            v_pool := p_ids[i];
        END IF;
        INSERT INTO reservations (id, agenda_id, motive_ct, patient_ct, patient_bidx, note_ct, start_s, end_s, pool,
                                  status, expires_at, created_at, updated_at, relative_ct)
        VALUES (p_ids[i], p_agendas[i], p_motive_cts[i], p_patient_cts[i], p_bidxs[i], p_note_cts[i], p_starts[i],
                v_end, v_pool, CASE WHEN p_hold_untils[i] IS NULL THEN 'booked' ELSE 'held' END, p_hold_untils[i],
                p_now, p_now, p_relative_cts[i])
        RETURNING * INTO v_row;
        UPDATE dose_stock SET used = used + 1
         WHERE agenda_id = p_agendas[i] AND product = p_products[i] AND day = p_days[i] AND used < doses;
        IF NOT FOUND THEN
            -- A day without its own stock takes the centre's policy (only then: a day that
            -- has its row, the rush's case, pays nothing more), and tries again.
            INSERT INTO dose_stock (agenda_id, product, day, doses, used, explicit)
            SELECT agenda_id, product, p_days[i], doses, 0, FALSE FROM stock_policies
             WHERE agenda_id = p_agendas[i] AND product = p_products[i]
            ON CONFLICT (agenda_id, product, day) DO NOTHING;
            UPDATE dose_stock SET used = used + 1
             WHERE agenda_id = p_agendas[i] AND product = p_products[i] AND day = p_days[i] AND used < doses;
            IF NOT FOUND THEN
                RAISE EXCEPTION 'careslot_stock';
            END IF;
        END IF;
        INSERT INTO stock_uses (reservation_id, agenda_id, product, day)
        VALUES (p_ids[i], p_agendas[i], p_products[i], p_days[i]);
        INSERT INTO vaccination_series (reservation_id, series_id, dose, protocol_version)
        VALUES (p_ids[i], p_series, i, p_protocol);
        RETURN NEXT v_row;
    END LOOP;
END;
$$;
