-- The overlap exclusion keyed by a 64-bit hash of the agenda instead of its text id (issue
-- 20, the write path's cost in PostgreSQL). Measured in one session calling the rush's group
-- function (BENCHMARKS.md, 2026-12-07 11:47 UTC session): the exclusion is about a fifth of
-- PostgreSQL's CPU per dose, and comparing text ids through btree_gist's varlena support is
-- the costlier part; keyed by an int8 the same work costs about 8 % less per dose.
--
-- The constraint is at least as strict as before: two reservations of one agenda share the
-- hash, so every overlap refused before is refused now. Two different agendas whose ids
-- hash alike (odds of about 2^-64 a pair) would refuse each other's overlapping places:
-- a refusal, never a double booking. `pool` stays text: a collision there would let an
-- overlap through.
ALTER TABLE reservations ADD CONSTRAINT reservations_no_overlap_by_hash
    EXCLUDE USING gist (hashtextextended(agenda_id, 0) WITH =, int8range(start_s, end_s) WITH &&,
                        pool WITH <>)
    WHERE (status IN ('held', 'booked'));
ALTER TABLE reservations DROP CONSTRAINT reservations_no_overlap;
ALTER TABLE reservations RENAME CONSTRAINT reservations_no_overlap_by_hash TO reservations_no_overlap;
