-- Measurement only: the reservation row's CHECK constraints as one. PostgreSQL parses every
-- CHECK of a table from its stored text (`stringToNode`) and prepares it again at each
-- execution of a statement that writes the table (ExecRelCheck, per ResultRelInfo), so
-- each INSERT of a dose pays for all of them; one constraint with the same rules shows
-- what the per-constraint part of that costs.
DO $variant$
DECLARE
    rules TEXT;
    names TEXT;
BEGIN
    SELECT string_agg('(' || substr(pg_get_constraintdef(oid), 7) || ')', ' AND ' ORDER BY conname),
           string_agg('DROP CONSTRAINT ' || quote_ident(conname), ', ' ORDER BY conname)
      INTO rules, names
      FROM pg_constraint WHERE conrelid = 'reservations'::regclass AND contype = 'c';
    EXECUTE 'ALTER TABLE reservations ' || names;
    EXECUTE 'ALTER TABLE reservations ADD CONSTRAINT reservations_rules CHECK (' || rules || ')';
END
$variant$;
