-- A vaccine dose's series and stock on its reservation row (issue 20, the write path's cost
-- in PostgreSQL). Before, each dose wrote two side rows: `stock_uses` (which day's stock it
-- consumed, to give it back once) and `vaccination_series` (its series, dose number and
-- protocol version). Measured in one session calling the rush's group function
-- (BENCHMARKS.md, 2026-12-07 11:47 UTC session), those rows with their indexes and three
-- foreign keys were about a quarter of PostgreSQL's CPU per dose.
--
-- Same meaning as the tables they replace:
-- - `vaccine_series`, `vaccine_dose`, `vaccine_protocol`: set for a dose of a series, for good;
-- - `stock_product`, `stock_day`: the day's stock the dose holds (of its own agenda), set
--   while it holds it, NULL again once a cancellation or a lapsed hold gave it back, so a
--   dose gives its stock back at most once;
-- - the stock's foreign key stays (now on the reservation), and a CHECK keeps each group of
--   columns all set or all NULL.
ALTER TABLE reservations
    ADD COLUMN vaccine_series TEXT,
    ADD COLUMN vaccine_dose BIGINT,
    ADD COLUMN vaccine_protocol BIGINT,
    ADD COLUMN stock_product TEXT,
    ADD COLUMN stock_day TEXT;

-- Both side tables were written with the reservation's own agenda; a row that is not would
-- be lost by the move, so the migration stops instead.
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM stock_uses u JOIN reservations r ON r.id = u.reservation_id
                WHERE u.agenda_id <> r.agenda_id) THEN
        RAISE EXCEPTION 'careslot: a stock use names another agenda than its reservation';
    END IF;
END;
$$;
UPDATE reservations r SET vaccine_series = s.series_id, vaccine_dose = s.dose,
                          vaccine_protocol = s.protocol_version
  FROM vaccination_series s WHERE s.reservation_id = r.id;
UPDATE reservations r SET stock_product = u.product, stock_day = u.day
  FROM stock_uses u WHERE u.reservation_id = r.id;
DROP TABLE stock_uses;
DROP TABLE vaccination_series;

ALTER TABLE reservations
    ADD CONSTRAINT reservations_dose_check CHECK (
        (vaccine_series IS NULL) = (vaccine_dose IS NULL) AND (vaccine_series IS NULL) = (vaccine_protocol IS NULL)
        AND vaccine_dose BETWEEN 1 AND 3 AND (stock_product IS NULL) = (stock_day IS NULL)),
    ADD CONSTRAINT reservations_stock_fkey FOREIGN KEY (agenda_id, stock_product, stock_day)
        REFERENCES dose_stock (agenda_id, product, day);
CREATE INDEX reservations_vaccine_series ON reservations (vaccine_series) WHERE vaccine_series IS NOT NULL;

-- The lapsed holds' sweep (0073): a dose gives its stock back from its own row.
CREATE OR REPLACE FUNCTION careslot_sweep_lapsed_holds(p_agenda TEXT, p_start BIGINT, p_end BIGINT,
                                                       p_now BIGINT) RETURNS VOID
LANGUAGE plpgsql AS $$
DECLARE
    x RECORD;
BEGIN
    FOR x IN
        UPDATE reservations SET status = 'expired', updated_at = p_now
         WHERE agenda_id = p_agenda AND status = 'held' AND expires_at <= p_now
           AND start_s > p_start - 86400 AND start_s < p_end AND end_s > p_start
        RETURNING id, pool, start_s, end_s, stock_product, stock_day
    LOOP
        IF x.pool <> x.id THEN
            UPDATE pool_counters SET taken = taken - 1
             WHERE agenda_id = p_agenda AND start_s = x.start_s AND end_s = x.end_s AND taken > 0;
        END IF;
        IF x.stock_day IS NOT NULL THEN
            UPDATE reservations SET stock_product = NULL, stock_day = NULL WHERE id = x.id;
            UPDATE dose_stock SET used = used - 1
             WHERE agenda_id = p_agenda AND product = x.stock_product AND day = x.stock_day
               AND used > 0;
        END IF;
    END LOOP;
END;
$$;

-- The group's series (0066): the sweep above instead of its own copy, the day's dose taken
-- before the row that names it, and no side rows.
CREATE OR REPLACE FUNCTION careslot_series_group(
    s_nows BIGINT[], s_ids TEXT[], s_protocols BIGINT[], s_key_hashes TEXT[], s_request_hashes TEXT[],
    s_first INT[], s_count INT[],
    p_ids TEXT[], p_agendas TEXT[], p_motives TEXT[], p_motive_cts BYTEA[], p_patient_cts BYTEA[],
    p_bidxs BIGINT[], p_note_cts BYTEA[], p_relative_cts BYTEA[], p_starts BIGINT[], p_days TEXT[],
    p_hold_untils BIGINT[], p_products TEXT[]
) RETURNS TABLE (o_req INT, o_state TEXT, o_sqlstate TEXT, o_message TEXT, o_constraint TEXT,
                 o_row reservations)
LANGUAGE plpgsql AS $$
DECLARE
    s INT;
    i INT;
    m RECORD;
    v_end BIGINT;
    v_cap BIGINT;
    v_lines BIGINT;
    v_pool TEXT;
    v_row reservations;
    v_rows reservations[];
    v_state TEXT;
    v_sqlstate TEXT;
    v_message TEXT;
    v_constraint TEXT;
    p_now BIGINT;
    v_stale BOOLEAN;
BEGIN
    FOR s IN 1 .. coalesce(array_length(s_ids, 1), 0) LOOP
        p_now := s_nows[s];
        v_rows := '{}';
        v_state := 'ok';
        v_sqlstate := NULL;
        v_message := NULL;
        v_constraint := NULL;
        BEGIN
            IF s_key_hashes[s] IS NOT NULL THEN
                INSERT INTO series_idempotency (key_hash, request_hash, series_id, created_at)
                VALUES (s_key_hashes[s], s_request_hashes[s], s_ids[s], p_now)
                ON CONFLICT (key_hash) DO NOTHING;
                IF NOT FOUND THEN
                    v_state := 'replay';
                END IF;
            END IF;
            IF v_state = 'ok' THEN
                -- One probe of the held-expiry index per series: when no hold anywhere is
                -- past its expiry, the per-dose sweep below would change nothing (the rush's
                -- case: holds are booked or dropped long before they expire).
                PERFORM 1 FROM reservations WHERE status = 'held' AND expires_at <= p_now LIMIT 1;
                v_stale := FOUND;
                FOR i IN s_first[s] .. s_first[s] + s_count[s] - 1 LOOP
                    SELECT duration_min, capacity INTO m FROM motives
                     WHERE id = p_motives[i] AND agenda_id = p_agendas[i];
                    IF NOT FOUND THEN
                        RAISE EXCEPTION 'careslot_not_found';
                    END IF;
                    v_end := p_starts[i] + m.duration_min * 60;
                    IF v_stale THEN
                        PERFORM careslot_sweep_lapsed_holds(p_agendas[i], p_starts[i], v_end, p_now);
                    END IF;
                    IF m.capacity > 1 THEN
                        SELECT lines INTO v_lines FROM line_overrides
                         WHERE agenda_id = p_agendas[i] AND day = p_days[i];
                        v_cap := COALESCE(v_lines, m.capacity);
                        v_lines := NULL;
                        -- The place taken in one statement (0007 inserts, then updates):
                        -- a new counter starts with this place taken; an existing one
                        -- gives one only while below its capacity.
                        INSERT INTO pool_counters AS c (agenda_id, start_s, end_s, capacity, taken)
                        VALUES (p_agendas[i], p_starts[i], v_end, v_cap, 1)
                        ON CONFLICT (agenda_id, start_s, end_s)
                        DO UPDATE SET taken = c.taken + 1 WHERE c.taken < c.capacity;
                        IF NOT FOUND THEN
                            RAISE EXCEPTION 'careslot_capacity';
                        END IF;
                        v_pool := 'p:' || p_starts[i] || ':' || v_end;
                    ELSE
                        v_pool := p_ids[i];
                    END IF;
                    -- The day's dose first: the row names it (a foreign key checked at the
                    -- end of the INSERT), and a day without its own stock writes it from the
                    -- centre's policy here.
                    UPDATE dose_stock SET used = used + 1
                     WHERE agenda_id = p_agendas[i] AND product = p_products[i] AND day = p_days[i]
                       AND used < doses;
                    IF NOT FOUND THEN
                        INSERT INTO dose_stock (agenda_id, product, day, doses, used, explicit)
                        SELECT agenda_id, product, p_days[i], doses, 0, FALSE FROM stock_policies
                         WHERE agenda_id = p_agendas[i] AND product = p_products[i]
                        ON CONFLICT (agenda_id, product, day) DO NOTHING;
                        UPDATE dose_stock SET used = used + 1
                         WHERE agenda_id = p_agendas[i] AND product = p_products[i]
                           AND day = p_days[i] AND used < doses;
                        IF NOT FOUND THEN
                            RAISE EXCEPTION 'careslot_stock';
                        END IF;
                    END IF;
                    INSERT INTO reservations (id, agenda_id, motive_ct, patient_ct, patient_bidx, note_ct,
                                              start_s, end_s, pool, status, expires_at, created_at,
                                              updated_at, relative_ct, vaccine_series, vaccine_dose,
                                              vaccine_protocol, stock_product, stock_day)
                    VALUES (p_ids[i], p_agendas[i], p_motive_cts[i], p_patient_cts[i], p_bidxs[i],
                            p_note_cts[i], p_starts[i], v_end, v_pool,
                            CASE WHEN p_hold_untils[i] IS NULL THEN 'booked' ELSE 'held' END,
                            p_hold_untils[i], p_now, p_now, p_relative_cts[i], s_ids[s],
                            i - s_first[s] + 1, s_protocols[s], p_products[i], p_days[i])
                    RETURNING * INTO v_row;
                    v_rows := v_rows || v_row;
                END LOOP;
            END IF;
        EXCEPTION WHEN OTHERS THEN
            GET STACKED DIAGNOSTICS v_sqlstate = RETURNED_SQLSTATE, v_message = MESSAGE_TEXT,
                                    v_constraint = CONSTRAINT_NAME;
            v_state := 'error';
            v_rows := '{}';
        END;
        -- Rows are sent only once the series' block stands: a row returned inside it would
        -- stay in the answer even if the block were rolled back.
        IF v_state = 'ok' THEN
            FOREACH v_row IN ARRAY v_rows LOOP
                o_req := s; o_state := 'ok'; o_sqlstate := NULL; o_message := NULL;
                o_constraint := NULL; o_row := v_row;
                RETURN NEXT;
            END LOOP;
        ELSE
            o_req := s; o_state := v_state; o_sqlstate := v_sqlstate; o_message := v_message;
            o_constraint := NULL; o_row := NULL;
            IF v_constraint <> '' THEN
                o_constraint := v_constraint;
            END IF;
            RETURN NEXT;
        END IF;
    END LOOP;
END;
$$;

-- One series outside a group (0007, 0055): the group function's steps for a group of one,
-- its refusal raised again as the statement's error (same SQLSTATE, message and
-- constraint, which the store maps as before).
CREATE OR REPLACE FUNCTION careslot_reserve_series(
    p_series TEXT, p_protocol BIGINT, p_now BIGINT,
    p_ids TEXT[], p_agendas TEXT[], p_motives TEXT[], p_motive_cts BYTEA[], p_patient_cts BYTEA[],
    p_bidxs BIGINT[], p_note_cts BYTEA[], p_relative_cts BYTEA[], p_starts BIGINT[], p_days TEXT[],
    p_hold_untils BIGINT[], p_products TEXT[]
) RETURNS SETOF reservations
LANGUAGE plpgsql AS $$
DECLARE
    g RECORD;
BEGIN
    FOR g IN
        SELECT * FROM careslot_series_group(
            ARRAY[p_now], ARRAY[p_series], ARRAY[p_protocol], ARRAY[NULL::TEXT], ARRAY[NULL::TEXT],
            ARRAY[1], ARRAY[coalesce(array_length(p_ids, 1), 0)],
            p_ids, p_agendas, p_motives, p_motive_cts, p_patient_cts, p_bidxs, p_note_cts,
            p_relative_cts, p_starts, p_days, p_hold_untils, p_products)
    LOOP
        IF g.o_state <> 'ok' THEN
            RAISE EXCEPTION USING ERRCODE = g.o_sqlstate, MESSAGE = g.o_message,
                                  CONSTRAINT = coalesce(g.o_constraint, '');
        END IF;
        RETURN NEXT g.o_row;
    END LOOP;
END;
$$;

-- Held series confirmed in one call (0075): their doses read from their rows.
CREATE OR REPLACE FUNCTION careslot_book_series_group(
    b_nows BIGINT[], b_series TEXT[], b_bidxs BIGINT[], b_key_hashes TEXT[], b_request_hashes TEXT[]
) RETURNS TABLE (o_req INT, o_state TEXT, o_sqlstate TEXT, o_message TEXT, o_constraint TEXT,
                 o_fresh BOOLEAN, o_row reservations)
LANGUAGE plpgsql AS $$
DECLARE
    b INT;
    k RECORD;
    d reservations;
    v_rows reservations[];
    v_ids TEXT[];
    v_row reservations;
    v_fresh BOOLEAN;
    v_open BOOLEAN;
    v_done INT;
    v_state TEXT;
    v_sqlstate TEXT;
    v_message TEXT;
    v_constraint TEXT;
BEGIN
    FOR b IN 1 .. coalesce(array_length(b_series, 1), 0) LOOP
        v_rows := '{}';
        v_fresh := FALSE;
        v_state := 'ok';
        v_sqlstate := NULL;
        v_message := NULL;
        v_constraint := NULL;
        BEGIN
            IF b_key_hashes[b] IS NOT NULL THEN
                INSERT INTO series_idempotency (key_hash, request_hash, series_id, created_at)
                VALUES (b_key_hashes[b], b_request_hashes[b], b_series[b], b_nows[b])
                ON CONFLICT (key_hash) DO NOTHING;
                IF NOT FOUND THEN
                    SELECT request_hash, series_id INTO k FROM series_idempotency
                     WHERE key_hash = b_key_hashes[b];
                    IF k.request_hash <> b_request_hashes[b] OR k.series_id <> b_series[b] THEN
                        RAISE EXCEPTION 'careslot_key_mismatch';
                    END IF;
                END IF;
            END IF;
            SELECT coalesce(array_agg(r ORDER BY r.vaccine_dose), '{}') INTO v_rows
              FROM reservations r
             WHERE r.vaccine_series = b_series[b] AND r.patient_bidx = b_bidxs[b];
            IF cardinality(v_rows) = 0 THEN
                RAISE EXCEPTION 'careslot_not_found';
            END IF;
            v_ids := '{}';
            -- Every dose booked already: asked again, nothing to book. Else each dose in
            -- order must be a live hold (a booked one among held ones cannot be booked
            -- "all or none").
            v_open := FALSE;
            FOREACH d IN ARRAY v_rows LOOP
                v_open := v_open OR d.status <> 'booked';
            END LOOP;
            IF v_open THEN
                FOREACH d IN ARRAY v_rows LOOP
                    IF d.status = 'held' AND d.expires_at > b_nows[b] THEN
                        v_ids := v_ids || d.id;
                    ELSIF d.status IN ('held', 'expired') THEN
                        RAISE EXCEPTION 'careslot_hold_expired';
                    ELSE
                        RAISE EXCEPTION 'careslot_not_live';
                    END IF;
                END LOOP;
                WITH booked AS (
                    UPDATE reservations SET status = 'booked', expires_at = NULL,
                                            updated_at = b_nows[b]
                     WHERE id = ANY (v_ids) AND status = 'held'
                    RETURNING reservations AS r)
                SELECT coalesce(array_agg(booked.r ORDER BY array_position(v_ids, (booked.r).id)), '{}'),
                       count(*)
                  INTO v_rows, v_done FROM booked;
                IF v_done < cardinality(v_ids) THEN
                    RAISE EXCEPTION 'careslot_hold_expired';
                END IF;
                v_fresh := TRUE;
            END IF;
        EXCEPTION WHEN OTHERS THEN
            GET STACKED DIAGNOSTICS v_sqlstate = RETURNED_SQLSTATE, v_message = MESSAGE_TEXT,
                                    v_constraint = CONSTRAINT_NAME;
            v_state := 'error';
            v_rows := '{}';
        END;
        -- Rows are sent only once the request's block stands.
        IF v_state = 'ok' THEN
            FOREACH v_row IN ARRAY v_rows LOOP
                o_req := b; o_state := 'ok'; o_sqlstate := NULL; o_message := NULL;
                o_constraint := NULL; o_fresh := v_fresh; o_row := v_row;
                RETURN NEXT;
            END LOOP;
        ELSE
            o_req := b; o_state := v_state; o_sqlstate := v_sqlstate; o_message := v_message;
            o_constraint := NULL; o_fresh := NULL; o_row := NULL;
            IF v_constraint <> '' THEN
                o_constraint := v_constraint;
            END IF;
            RETURN NEXT;
        END IF;
    END LOOP;
END;
$$;
