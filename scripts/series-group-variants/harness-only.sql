-- Measurement only: the harness alone (building the arrays), the function doing nothing.
CREATE OR REPLACE FUNCTION careslot_series_group(
    s_nows BIGINT[], s_ids TEXT[], s_protocols BIGINT[], s_key_hashes TEXT[], s_request_hashes TEXT[],
    s_first INT[], s_count INT[],
    p_ids TEXT[], p_agendas TEXT[], p_motives TEXT[], p_motive_cts BYTEA[], p_patient_cts BYTEA[],
    p_bidxs BIGINT[], p_note_cts BYTEA[], p_relative_cts BYTEA[], p_starts BIGINT[], p_days TEXT[],
    p_hold_untils BIGINT[], p_products TEXT[]
) RETURNS TABLE (o_req INT, o_state TEXT, o_sqlstate TEXT, o_message TEXT, o_constraint TEXT,
                 o_row reservations)
LANGUAGE plpgsql AS $$ BEGIN RETURN; END $$;
