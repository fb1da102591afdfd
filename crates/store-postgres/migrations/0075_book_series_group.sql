-- A writer's held series confirmed in one call (issue 20, "same for confirmations"): before
-- this, each confirmation cost the writer's connection six round trips (savepoint, key,
-- doses, one update per dose, release) while the whole group waited. Each request arrives
-- as one entry of each array and is applied under its own exception block, by the same
-- steps as the store's statement path (`Reservations::book_series_in`, which SQLite runs):
-- - its Idempotency-Key recorded; a key seen before must carry the same request and name
--   the same series, else 'careslot_key_mismatch';
-- - the patient's doses of the series read in dose order; none: 'careslot_not_found';
-- - every dose booked already: the same doses again, booking nothing ('ok', fresh false);
-- - else every dose must be a live hold ('careslot_hold_expired' when one lapsed or
--   expired, 'careslot_not_live' otherwise), and all are booked together.
-- One row per dose in dose order ('ok', with `o_fresh` true when booked now), or one row
-- 'error' for a refused request.
CREATE FUNCTION careslot_book_series_group(
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
            SELECT coalesce(array_agg(r ORDER BY s.dose), '{}') INTO v_rows
              FROM vaccination_series s JOIN reservations r ON r.id = s.reservation_id
             WHERE s.series_id = b_series[b] AND r.patient_bidx = b_bidxs[b];
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
