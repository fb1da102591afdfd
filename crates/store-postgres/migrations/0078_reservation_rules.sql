-- The reservation row's nine CHECK constraints as one CHECK that calls a function (issue
-- 20, the write path's cost in PostgreSQL). The rules do not change.
--
-- Why: at each execution of a statement that writes a table, PostgreSQL reads every CHECK
-- of the table back from its stored node text and plans it again (`ExecRelCheck` keeps
-- the prepared rules per executor state only). The reservation's nine CHECKs are 9.7 KB
-- of node text. On a copy of the table with no index, one INSERT from a plpgsql loop cost
-- about 41 µs with them and 6 µs without, so the rules were most of the row's own cost.
-- Every dose, single booking, confirmation and cancellation pays it. The function's body
-- is compiled once per session and its expression's plan is kept, so the CHECK left to
-- plan is one call over fourteen columns: about 7 µs on the same copy (BENCHMARKS.md,
-- session of 2026-12-07 18:26 UTC).
--
-- A broken rule still fails the statement with SQLSTATE 23514 (check_violation) and names
-- its rule as the constraint: the store maps `reservations_visit_*` to "not live" as
-- before (0045). Rules that had generated names get descriptive ones:
-- `reservations_check` is `reservations_span` and `reservations_check1` is
-- `reservations_held_expiry`. As in a CHECK, a rule whose value is NULL passes.
CREATE FUNCTION careslot_reservation_rules(
    p_status TEXT, p_expires_at BIGINT, p_start_s BIGINT, p_end_s BIGINT,
    p_own_duration_min BIGINT, p_arrived_at BIGINT, p_consulting_at BIGINT, p_done_at BIGINT,
    p_no_show_at BIGINT, p_vaccine_series TEXT, p_vaccine_dose BIGINT,
    p_vaccine_protocol BIGINT, p_stock_product TEXT, p_stock_day TEXT
) RETURNS BOOLEAN
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$
DECLARE
    v_rule TEXT;
BEGIN
    -- One expression: the first broken rule's name, or NULL when every rule holds.
    v_rule := CASE
        WHEN (p_status IN ('held', 'booked', 'cancelled', 'expired', 'no_show')) IS FALSE
            THEN 'reservations_status_check'
        WHEN (p_status <> 'held' OR p_expires_at IS NOT NULL) IS FALSE
            THEN 'reservations_held_expiry'
        WHEN (p_end_s > p_start_s AND p_end_s - p_start_s <= 86400) IS FALSE
            THEN 'reservations_span'
        WHEN (p_own_duration_min IS NULL
              OR (p_own_duration_min BETWEEN 5 AND 1440
                  AND p_end_s - p_start_s = p_own_duration_min * 60)) IS FALSE
            THEN 'reservations_own_duration'
        WHEN (p_arrived_at IS NULL OR p_status = 'booked') IS FALSE
            THEN 'reservations_visit_live'
        WHEN (p_consulting_at IS NULL OR p_status = 'booked') IS FALSE
            THEN 'reservations_visit_live_c'
        WHEN (p_done_at IS NULL OR p_status = 'booked') IS FALSE
            THEN 'reservations_visit_live_d'
        WHEN (p_no_show_at IS NULL OR p_status = 'no_show') IS FALSE
            THEN 'reservations_visit_no_show'
        WHEN ((p_vaccine_series IS NULL) = (p_vaccine_dose IS NULL)
              AND (p_vaccine_series IS NULL) = (p_vaccine_protocol IS NULL)
              AND p_vaccine_dose BETWEEN 1 AND 3
              AND (p_stock_product IS NULL) = (p_stock_day IS NULL)) IS FALSE
            THEN 'reservations_dose_check'
    END;
    IF v_rule IS NULL THEN
        RETURN TRUE;
    END IF;
    RAISE EXCEPTION 'new row for relation "reservations" violates check constraint "%"', v_rule
        USING ERRCODE = 'check_violation', CONSTRAINT = v_rule, TABLE = 'reservations';
END;
$$;

ALTER TABLE reservations
    DROP CONSTRAINT reservations_status_check,
    DROP CONSTRAINT reservations_check1,
    DROP CONSTRAINT reservations_check,
    DROP CONSTRAINT reservations_own_duration,
    DROP CONSTRAINT reservations_visit_live,
    DROP CONSTRAINT reservations_visit_live_c,
    DROP CONSTRAINT reservations_visit_live_d,
    DROP CONSTRAINT reservations_visit_no_show,
    DROP CONSTRAINT reservations_dose_check,
    ADD CONSTRAINT reservations_rules CHECK (careslot_reservation_rules(
        status, expires_at, start_s, end_s, own_duration_min, arrived_at, consulting_at,
        done_at, no_show_at, vaccine_series, vaccine_dose, vaccine_protocol, stock_product,
        stock_day));
