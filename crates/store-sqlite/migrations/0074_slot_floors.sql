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
    floor_s   INTEGER,
    version   INTEGER NOT NULL CHECK (version >= 0)
) STRICT;

CREATE TRIGGER slot_floors_booking_deleted AFTER DELETE ON reservations
WHEN OLD.status = 'booked'
BEGIN
    INSERT INTO slot_floors (agenda_id, floor_s, version) VALUES (OLD.agenda_id, NULL, 1)
    ON CONFLICT (agenda_id) DO UPDATE
       SET floor_s = min(floor_s, OLD.start_s - 86400), version = version + 1;
END;

CREATE TRIGGER slot_floors_booking_freed AFTER UPDATE OF status, start_s, end_s, agenda_id, pool
ON reservations
WHEN OLD.status = 'booked'
 AND (NEW.status <> 'booked' OR NEW.start_s <> OLD.start_s OR NEW.end_s <> OLD.end_s
      OR NEW.agenda_id <> OLD.agenda_id OR NEW.pool <> OLD.pool)
BEGIN
    INSERT INTO slot_floors (agenda_id, floor_s, version) VALUES (OLD.agenda_id, NULL, 1)
    ON CONFLICT (agenda_id) DO UPDATE
       SET floor_s = min(floor_s, OLD.start_s - 86400), version = version + 1;
END;

-- Anything else that shapes an agenda's slots makes its floor unknown.
CREATE TRIGGER slot_floors_motives_insert AFTER INSERT ON motives
BEGIN
    INSERT INTO slot_floors (agenda_id, floor_s, version) VALUES (NEW.agenda_id, NULL, 1)
    ON CONFLICT (agenda_id) DO UPDATE SET floor_s = NULL, version = version + 1;
END;

CREATE TRIGGER slot_floors_motives_update AFTER UPDATE ON motives
BEGIN
    INSERT INTO slot_floors (agenda_id, floor_s, version) VALUES (NEW.agenda_id, NULL, 1)
    ON CONFLICT (agenda_id) DO UPDATE SET floor_s = NULL, version = version + 1;
END;

CREATE TRIGGER slot_floors_motives_update_old AFTER UPDATE ON motives
WHEN NEW.agenda_id <> OLD.agenda_id
BEGIN
    INSERT INTO slot_floors (agenda_id, floor_s, version) VALUES (OLD.agenda_id, NULL, 1)
    ON CONFLICT (agenda_id) DO UPDATE SET floor_s = NULL, version = version + 1;
END;

CREATE TRIGGER slot_floors_motives_delete AFTER DELETE ON motives
BEGIN
    INSERT INTO slot_floors (agenda_id, floor_s, version) VALUES (OLD.agenda_id, NULL, 1)
    ON CONFLICT (agenda_id) DO UPDATE SET floor_s = NULL, version = version + 1;
END;

CREATE TRIGGER slot_floors_opening_rules_insert AFTER INSERT ON opening_rules
BEGIN
    INSERT INTO slot_floors (agenda_id, floor_s, version) VALUES (NEW.agenda_id, NULL, 1)
    ON CONFLICT (agenda_id) DO UPDATE SET floor_s = NULL, version = version + 1;
END;

CREATE TRIGGER slot_floors_opening_rules_update AFTER UPDATE ON opening_rules
BEGIN
    INSERT INTO slot_floors (agenda_id, floor_s, version) VALUES (NEW.agenda_id, NULL, 1)
    ON CONFLICT (agenda_id) DO UPDATE SET floor_s = NULL, version = version + 1;
END;

CREATE TRIGGER slot_floors_opening_rules_update_old AFTER UPDATE ON opening_rules
WHEN NEW.agenda_id <> OLD.agenda_id
BEGIN
    INSERT INTO slot_floors (agenda_id, floor_s, version) VALUES (OLD.agenda_id, NULL, 1)
    ON CONFLICT (agenda_id) DO UPDATE SET floor_s = NULL, version = version + 1;
END;

CREATE TRIGGER slot_floors_opening_rules_delete AFTER DELETE ON opening_rules
BEGIN
    INSERT INTO slot_floors (agenda_id, floor_s, version) VALUES (OLD.agenda_id, NULL, 1)
    ON CONFLICT (agenda_id) DO UPDATE SET floor_s = NULL, version = version + 1;
END;

CREATE TRIGGER slot_floors_motive_vaccines_insert AFTER INSERT ON motive_vaccines
BEGIN
    INSERT INTO slot_floors (agenda_id, floor_s, version) VALUES (NEW.agenda_id, NULL, 1)
    ON CONFLICT (agenda_id) DO UPDATE SET floor_s = NULL, version = version + 1;
END;

CREATE TRIGGER slot_floors_motive_vaccines_update AFTER UPDATE ON motive_vaccines
BEGIN
    INSERT INTO slot_floors (agenda_id, floor_s, version) VALUES (NEW.agenda_id, NULL, 1)
    ON CONFLICT (agenda_id) DO UPDATE SET floor_s = NULL, version = version + 1;
END;

CREATE TRIGGER slot_floors_motive_vaccines_update_old AFTER UPDATE ON motive_vaccines
WHEN NEW.agenda_id <> OLD.agenda_id
BEGIN
    INSERT INTO slot_floors (agenda_id, floor_s, version) VALUES (OLD.agenda_id, NULL, 1)
    ON CONFLICT (agenda_id) DO UPDATE SET floor_s = NULL, version = version + 1;
END;

CREATE TRIGGER slot_floors_motive_vaccines_delete AFTER DELETE ON motive_vaccines
BEGIN
    INSERT INTO slot_floors (agenda_id, floor_s, version) VALUES (OLD.agenda_id, NULL, 1)
    ON CONFLICT (agenda_id) DO UPDATE SET floor_s = NULL, version = version + 1;
END;

CREATE TRIGGER slot_floors_stock_policies_insert AFTER INSERT ON stock_policies
BEGIN
    INSERT INTO slot_floors (agenda_id, floor_s, version) VALUES (NEW.agenda_id, NULL, 1)
    ON CONFLICT (agenda_id) DO UPDATE SET floor_s = NULL, version = version + 1;
END;

CREATE TRIGGER slot_floors_stock_policies_update AFTER UPDATE ON stock_policies
BEGIN
    INSERT INTO slot_floors (agenda_id, floor_s, version) VALUES (NEW.agenda_id, NULL, 1)
    ON CONFLICT (agenda_id) DO UPDATE SET floor_s = NULL, version = version + 1;
END;

CREATE TRIGGER slot_floors_stock_policies_update_old AFTER UPDATE ON stock_policies
WHEN NEW.agenda_id <> OLD.agenda_id
BEGIN
    INSERT INTO slot_floors (agenda_id, floor_s, version) VALUES (OLD.agenda_id, NULL, 1)
    ON CONFLICT (agenda_id) DO UPDATE SET floor_s = NULL, version = version + 1;
END;

CREATE TRIGGER slot_floors_stock_policies_delete AFTER DELETE ON stock_policies
BEGIN
    INSERT INTO slot_floors (agenda_id, floor_s, version) VALUES (OLD.agenda_id, NULL, 1)
    ON CONFLICT (agenda_id) DO UPDATE SET floor_s = NULL, version = version + 1;
END;

CREATE TRIGGER slot_floors_line_overrides_insert AFTER INSERT ON line_overrides
BEGIN
    INSERT INTO slot_floors (agenda_id, floor_s, version) VALUES (NEW.agenda_id, NULL, 1)
    ON CONFLICT (agenda_id) DO UPDATE SET floor_s = NULL, version = version + 1;
END;

CREATE TRIGGER slot_floors_line_overrides_update AFTER UPDATE ON line_overrides
BEGIN
    INSERT INTO slot_floors (agenda_id, floor_s, version) VALUES (NEW.agenda_id, NULL, 1)
    ON CONFLICT (agenda_id) DO UPDATE SET floor_s = NULL, version = version + 1;
END;

CREATE TRIGGER slot_floors_line_overrides_update_old AFTER UPDATE ON line_overrides
WHEN NEW.agenda_id <> OLD.agenda_id
BEGIN
    INSERT INTO slot_floors (agenda_id, floor_s, version) VALUES (OLD.agenda_id, NULL, 1)
    ON CONFLICT (agenda_id) DO UPDATE SET floor_s = NULL, version = version + 1;
END;

CREATE TRIGGER slot_floors_line_overrides_delete AFTER DELETE ON line_overrides
BEGIN
    INSERT INTO slot_floors (agenda_id, floor_s, version) VALUES (OLD.agenda_id, NULL, 1)
    ON CONFLICT (agenda_id) DO UPDATE SET floor_s = NULL, version = version + 1;
END;

CREATE TRIGGER slot_floors_absences_update AFTER UPDATE ON absences
BEGIN
    INSERT INTO slot_floors (agenda_id, floor_s, version) VALUES (OLD.agenda_id, NULL, 1)
    ON CONFLICT (agenda_id) DO UPDATE SET floor_s = NULL, version = version + 1;
END;

CREATE TRIGGER slot_floors_absences_delete AFTER DELETE ON absences
BEGIN
    INSERT INTO slot_floors (agenda_id, floor_s, version) VALUES (OLD.agenda_id, NULL, 1)
    ON CONFLICT (agenda_id) DO UPDATE SET floor_s = NULL, version = version + 1;
END;

CREATE TRIGGER slot_floors_dose_stock_insert AFTER INSERT ON dose_stock
WHEN NEW.explicit = 1
BEGIN
    INSERT INTO slot_floors (agenda_id, floor_s, version) VALUES (NEW.agenda_id, NULL, 1)
    ON CONFLICT (agenda_id) DO UPDATE SET floor_s = NULL, version = version + 1;
END;

CREATE TRIGGER slot_floors_dose_stock_update AFTER UPDATE ON dose_stock
WHEN NEW.doses - NEW.used > OLD.doses - OLD.used OR NEW.day <> OLD.day
  OR NEW.product <> OLD.product OR NEW.agenda_id <> OLD.agenda_id
BEGIN
    INSERT INTO slot_floors (agenda_id, floor_s, version) VALUES (OLD.agenda_id, NULL, 1)
    ON CONFLICT (agenda_id) DO UPDATE SET floor_s = NULL, version = version + 1;
END;

CREATE TRIGGER slot_floors_dose_stock_delete AFTER DELETE ON dose_stock
BEGIN
    INSERT INTO slot_floors (agenda_id, floor_s, version) VALUES (OLD.agenda_id, NULL, 1)
    ON CONFLICT (agenda_id) DO UPDATE SET floor_s = NULL, version = version + 1;
END;

CREATE TRIGGER slot_floors_agendas_update AFTER UPDATE OF timezone, holidays ON agendas
BEGIN
    INSERT INTO slot_floors (agenda_id, floor_s, version) VALUES (OLD.id, NULL, 1)
    ON CONFLICT (agenda_id) DO UPDATE SET floor_s = NULL, version = version + 1;
END;

CREATE TRIGGER slot_floors_rule_motives_insert AFTER INSERT ON opening_rule_motives
BEGIN
    INSERT INTO slot_floors (agenda_id, floor_s, version)
    SELECT agenda_id, NULL, 1 FROM opening_rules WHERE id = NEW.rule_id
    ON CONFLICT (agenda_id) DO UPDATE SET floor_s = NULL, version = version + 1;
END;

CREATE TRIGGER slot_floors_rule_motives_delete AFTER DELETE ON opening_rule_motives
BEGIN
    INSERT INTO slot_floors (agenda_id, floor_s, version)
    SELECT agenda_id, NULL, 1 FROM opening_rules WHERE id = OLD.rule_id
    ON CONFLICT (agenda_id) DO UPDATE SET floor_s = NULL, version = version + 1;
END;
