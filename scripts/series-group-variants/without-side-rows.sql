-- Measurement only: the group function of migration 0066 without its two side rows per
-- dose (stock_uses, vaccination_series), to see their share (rows, indexes, foreign keys).
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
    x RECORD;
    v_end BIGINT;
    v_cap BIGINT;
    v_lines BIGINT;
    v_pool TEXT;
    v_row reservations;
    v_rows reservations[];
    v_used RECORD;
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
                        FOR x IN
                            UPDATE reservations SET status = 'expired', updated_at = p_now
                             WHERE agenda_id = p_agendas[i] AND status = 'held' AND expires_at <= p_now
                               AND start_s > p_starts[i] - 86400 AND start_s < v_end AND end_s > p_starts[i]
                            RETURNING id, pool, start_s, end_s
                        LOOP
                            IF x.pool <> x.id THEN
                                UPDATE pool_counters SET taken = taken - 1
                                 WHERE agenda_id = p_agendas[i] AND start_s = x.start_s AND end_s = x.end_s
                                   AND taken > 0;
                            END IF;
                            FOR v_used IN DELETE FROM stock_uses WHERE reservation_id = x.id
                                          RETURNING agenda_id, product, day LOOP
                                UPDATE dose_stock SET used = used - 1
                                 WHERE agenda_id = v_used.agenda_id AND product = v_used.product
                                   AND day = v_used.day AND used > 0;
                            END LOOP;
                        END LOOP;
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
                    INSERT INTO reservations (id, agenda_id, motive_ct, patient_ct, patient_bidx, note_ct,
                                              start_s, end_s, pool, status, expires_at, created_at,
                                              updated_at, relative_ct)
                    VALUES (p_ids[i], p_agendas[i], p_motive_cts[i], p_patient_cts[i], p_bidxs[i],
                            p_note_cts[i], p_starts[i], v_end, v_pool,
                            CASE WHEN p_hold_untils[i] IS NULL THEN 'booked' ELSE 'held' END,
                            p_hold_untils[i], p_now, p_now, p_relative_cts[i])
                    RETURNING * INTO v_row;
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
