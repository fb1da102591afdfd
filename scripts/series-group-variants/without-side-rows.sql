-- Measurement only: the schema's group function without its two side rows per dose
-- (stock_uses, vaccination_series), to see their share (rows, indexes, foreign keys). The
-- function is rewritten from its own definition, so this follows the migrations.
DO $variant$
DECLARE
    src TEXT := pg_get_functiondef('careslot_series_group'::regproc);
    cut TEXT;
BEGIN
    cut := regexp_replace(src,
        'INSERT INTO stock_uses \(reservation_id.*?;\s*INSERT INTO vaccination_series .*?;', '');
    IF cut = src THEN
        RAISE EXCEPTION 'the side rows were not found in careslot_series_group';
    END IF;
    EXECUTE cut;
END
$variant$;
