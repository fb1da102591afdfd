-- A writer's whole group of single holds and bookings in one call (issue 20, "one round trip
-- per group"; series have theirs since 0066). Each request arrives as one entry of each
-- array and is applied under its own exception block, by the same steps as the store's
-- statement path (`Reservations::reserve_in`, which SQLite runs): the motive read, the
-- stale holds of the place swept, a pooled motive's place taken from its counter, the row
-- inserted, its Idempotency-Key recorded. A refused request rolls back only its own block
-- and reports its SQLSTATE, message and constraint, which the store maps as it maps a
-- statement's error. A key seen before does nothing and answers 'replay': the store then
-- runs that request on its statement path (the same request replays its reservation;
-- another is refused).
--
-- One row per request, in order: 'ok' with the reservation, 'error' or 'replay' without.
-- Before this, each request cost five round trips on the writer's connection (savepoint,
-- motive, sweep, insert, release), during which the whole group waited.
-- The holds past their expiry that overlap a place stop holding it: each gives back its
-- pool place and its dose (the same steps as the series functions' sweep, 0007 and 0066,
-- which a later replacement of those functions can call instead of their own copy).
CREATE FUNCTION careslot_sweep_lapsed_holds(p_agenda TEXT, p_start BIGINT, p_end BIGINT,
                                            p_now BIGINT) RETURNS VOID
LANGUAGE plpgsql AS $$
DECLARE
    x RECORD;
    v_used RECORD;
BEGIN
    FOR x IN
        UPDATE reservations SET status = 'expired', updated_at = p_now
         WHERE agenda_id = p_agenda AND status = 'held' AND expires_at <= p_now
           AND start_s > p_start - 86400 AND start_s < p_end AND end_s > p_start
        RETURNING id, pool, start_s, end_s
    LOOP
        IF x.pool <> x.id THEN
            UPDATE pool_counters SET taken = taken - 1
             WHERE agenda_id = p_agenda AND start_s = x.start_s AND end_s = x.end_s AND taken > 0;
        END IF;
        FOR v_used IN DELETE FROM stock_uses WHERE reservation_id = x.id
                      RETURNING agenda_id, product, day LOOP
            UPDATE dose_stock SET used = used - 1
             WHERE agenda_id = v_used.agenda_id AND product = v_used.product
               AND day = v_used.day AND used > 0;
        END LOOP;
    END LOOP;
END;
$$;

CREATE FUNCTION careslot_reserve_group(
    p_nows BIGINT[], p_ids TEXT[], p_agendas TEXT[], p_motives TEXT[], p_motive_cts BYTEA[],
    p_patient_cts BYTEA[], p_bidxs BIGINT[], p_note_cts BYTEA[], p_relative_cts BYTEA[],
    p_starts BIGINT[], p_days TEXT[], p_hold_untils BIGINT[], p_key_hashes TEXT[],
    p_request_hashes TEXT[]
) RETURNS TABLE (o_req INT, o_state TEXT, o_sqlstate TEXT, o_message TEXT, o_constraint TEXT,
                 o_row reservations)
LANGUAGE plpgsql AS $$
DECLARE
    i INT;
    m RECORD;
    v_end BIGINT;
    v_cap BIGINT;
    v_lines BIGINT;
    v_pool TEXT;
    v_row reservations;
    v_state TEXT;
    v_sqlstate TEXT;
    v_message TEXT;
    v_constraint TEXT;
    v_stale BOOLEAN;
BEGIN
    -- One probe of the held-expiry index for the whole group: when no hold anywhere is past
    -- its expiry at the group's latest instant, no request's sweep would change anything.
    PERFORM 1 FROM reservations
     WHERE status = 'held' AND expires_at <= (SELECT max(n) FROM unnest(p_nows) AS n) LIMIT 1;
    v_stale := FOUND;
    FOR i IN 1 .. coalesce(array_length(p_ids, 1), 0) LOOP
        v_state := 'ok';
        v_sqlstate := NULL;
        v_message := NULL;
        v_constraint := NULL;
        v_row := NULL;
        BEGIN
            IF p_key_hashes[i] IS NOT NULL THEN
                PERFORM 1 FROM idempotency_keys WHERE key_hash = p_key_hashes[i];
                IF FOUND THEN
                    v_state := 'replay';
                END IF;
            END IF;
            IF v_state = 'ok' THEN
                SELECT duration_min, capacity INTO m FROM motives
                 WHERE id = p_motives[i] AND agenda_id = p_agendas[i];
                IF NOT FOUND THEN
                    RAISE EXCEPTION 'careslot_not_found';
                END IF;
                v_end := p_starts[i] + m.duration_min * 60;
                IF v_stale THEN
                    PERFORM careslot_sweep_lapsed_holds(p_agendas[i], p_starts[i], v_end, p_nows[i]);
                END IF;
                IF m.capacity > 1 THEN
                    v_lines := NULL;
                    IF p_days[i] IS NOT NULL THEN
                        SELECT lines INTO v_lines FROM line_overrides
                         WHERE agenda_id = p_agendas[i] AND day = p_days[i];
                    END IF;
                    v_cap := COALESCE(v_lines, m.capacity);
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
                        p_hold_untils[i], p_nows[i], p_nows[i], p_relative_cts[i])
                RETURNING * INTO v_row;
                IF p_key_hashes[i] IS NOT NULL THEN
                    INSERT INTO idempotency_keys (key_hash, request_hash, reservation_id, created_at)
                    VALUES (p_key_hashes[i], p_request_hashes[i], p_ids[i], p_nows[i]);
                END IF;
            END IF;
        EXCEPTION WHEN OTHERS THEN
            GET STACKED DIAGNOSTICS v_sqlstate = RETURNED_SQLSTATE, v_message = MESSAGE_TEXT,
                                    v_constraint = CONSTRAINT_NAME;
            v_state := 'error';
            v_row := NULL;
        END;
        o_req := i; o_state := v_state; o_sqlstate := v_sqlstate; o_message := v_message;
        o_constraint := NULL; o_row := NULL;
        IF v_state = 'ok' THEN
            o_row := v_row;
        ELSIF v_constraint <> '' THEN
            o_constraint := v_constraint;
        END IF;
        RETURN NEXT;
    END LOOP;
END;
$$;
