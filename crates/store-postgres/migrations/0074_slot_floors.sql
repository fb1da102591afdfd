-- Slot floors (issue #17 point 3): per agenda, an instant before which no slot can start,
-- now or later, so that a restarted node ranks search results by earliest slot before it
-- has read the agendas' reservations (tens of millions at national scale). A node writes an
-- agenda's floor from its view (its earliest slot, lowered to account for holds that may
-- lapse), only if `version` is still the one it read before loading that view. Every change
-- that may free a slot bumps `version` here, by trigger, so no write path can forget it:
-- - a booked reservation cancelled, moved or deleted lowers the floor by a day (a
--   reservation lasts at most a day, so the slots it freed start after that);
-- - anything else that shapes the slots (motives, rules, absences lifted, stock, lines,
--   the agenda's zone or holidays) makes the floor unknown (NULL).
-- Bookings and holds only take slots: they do not touch this table. A NULL floor, or no row,
-- means "unknown"; a row may outlive its agenda (harmless: only the directory's agendas are
-- read).
CREATE TABLE slot_floors (
    agenda_id TEXT NOT NULL PRIMARY KEY,
    floor_s   BIGINT,
    version   BIGINT NOT NULL CHECK (version >= 0)
);

-- `lowered_to` NULL: the floor becomes unknown; else it becomes at most that.
CREATE FUNCTION careslot_floor_lower(agenda TEXT, lowered_to BIGINT) RETURNS void
LANGUAGE sql AS $$
    INSERT INTO slot_floors (agenda_id, floor_s, version) VALUES (agenda, NULL, 1)
    ON CONFLICT (agenda_id) DO UPDATE
       SET floor_s = CASE WHEN lowered_to IS NULL OR slot_floors.floor_s IS NULL THEN NULL
                          ELSE LEAST(slot_floors.floor_s, lowered_to) END,
           version = slot_floors.version + 1;
$$;

CREATE FUNCTION careslot_floor_booking_freed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM careslot_floor_lower(OLD.agenda_id, OLD.start_s - 86400);
    RETURN NULL;
END
$$;

CREATE TRIGGER slot_floors_booking_deleted AFTER DELETE ON reservations
    FOR EACH ROW WHEN (OLD.status = 'booked')
    EXECUTE FUNCTION careslot_floor_booking_freed();

CREATE TRIGGER slot_floors_booking_freed AFTER UPDATE OF status, start_s, end_s, agenda_id, pool
    ON reservations
    FOR EACH ROW WHEN (OLD.status = 'booked'
        AND (NEW.status <> 'booked' OR NEW.start_s <> OLD.start_s OR NEW.end_s <> OLD.end_s
             OR NEW.agenda_id <> OLD.agenda_id OR NEW.pool <> OLD.pool))
    EXECUTE FUNCTION careslot_floor_booking_freed();

-- Anything else that shapes an agenda's slots makes its floor unknown: rows naming their
-- agenda in `agenda_id`.
CREATE FUNCTION careslot_floor_unknown() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP <> 'DELETE' THEN
        PERFORM careslot_floor_lower(NEW.agenda_id, NULL);
    END IF;
    IF TG_OP = 'DELETE' OR (TG_OP = 'UPDATE' AND NEW.agenda_id <> OLD.agenda_id) THEN
        PERFORM careslot_floor_lower(OLD.agenda_id, NULL);
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER slot_floors_motives AFTER INSERT OR UPDATE OR DELETE ON motives
    FOR EACH ROW EXECUTE FUNCTION careslot_floor_unknown();
CREATE TRIGGER slot_floors_opening_rules AFTER INSERT OR UPDATE OR DELETE ON opening_rules
    FOR EACH ROW EXECUTE FUNCTION careslot_floor_unknown();
CREATE TRIGGER slot_floors_motive_vaccines AFTER INSERT OR UPDATE OR DELETE ON motive_vaccines
    FOR EACH ROW EXECUTE FUNCTION careslot_floor_unknown();
CREATE TRIGGER slot_floors_stock_policies AFTER INSERT OR UPDATE OR DELETE ON stock_policies
    FOR EACH ROW EXECUTE FUNCTION careslot_floor_unknown();
CREATE TRIGGER slot_floors_line_overrides AFTER INSERT OR UPDATE OR DELETE ON line_overrides
    FOR EACH ROW EXECUTE FUNCTION careslot_floor_unknown();
-- An absence only takes slots when added.
CREATE TRIGGER slot_floors_absences AFTER UPDATE OR DELETE ON absences
    FOR EACH ROW EXECUTE FUNCTION careslot_floor_unknown();
-- Stock: a row written from the policy (not explicit) or a dose taken changes nothing a
-- floor bounds; a row set by hand, more doses left, or a row gone may free slots.
CREATE TRIGGER slot_floors_dose_stock_insert AFTER INSERT ON dose_stock
    FOR EACH ROW WHEN (NEW.explicit)
    EXECUTE FUNCTION careslot_floor_unknown();
CREATE TRIGGER slot_floors_dose_stock_update AFTER UPDATE ON dose_stock
    FOR EACH ROW WHEN (NEW.doses - NEW.used > OLD.doses - OLD.used OR NEW.day <> OLD.day
                       OR NEW.product <> OLD.product OR NEW.agenda_id <> OLD.agenda_id)
    EXECUTE FUNCTION careslot_floor_unknown();
CREATE TRIGGER slot_floors_dose_stock_delete AFTER DELETE ON dose_stock
    FOR EACH ROW EXECUTE FUNCTION careslot_floor_unknown();

CREATE FUNCTION careslot_floor_agenda_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM careslot_floor_lower(OLD.id, NULL);
    RETURN NULL;
END
$$;
CREATE TRIGGER slot_floors_agendas AFTER UPDATE OF timezone, holidays ON agendas
    FOR EACH ROW EXECUTE FUNCTION careslot_floor_agenda_changed();

-- opening_rule_motives names its rule, not its agenda (a rule deleted first has fired its
-- own trigger, and then names no agenda here).
CREATE FUNCTION careslot_floor_rule_motive() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    agenda TEXT;
BEGIN
    SELECT agenda_id INTO agenda FROM opening_rules
     WHERE id = CASE WHEN TG_OP = 'DELETE' THEN OLD.rule_id ELSE NEW.rule_id END;
    IF agenda IS NOT NULL THEN
        PERFORM careslot_floor_lower(agenda, NULL);
    END IF;
    RETURN NULL;
END
$$;
CREATE TRIGGER slot_floors_rule_motives AFTER INSERT OR DELETE ON opening_rule_motives
    FOR EACH ROW EXECUTE FUNCTION careslot_floor_rule_motive();
