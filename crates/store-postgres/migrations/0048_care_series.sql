-- Recurring care (issue 18 point 5): a series of appointments booked together by the practice
-- (e.g. physiotherapy twice a week for six weeks), all or none, through the same overlap
-- rules as any booking. The series only links its appointments: each stays an ordinary
-- reservation (cancelled or moved one at a time, it stays in the series). No health data:
-- an agenda, the practice member's account and the rule's summary (weekdays, interval,
-- count), never the patient or the motive.
CREATE TABLE care_series (
    id         TEXT PRIMARY KEY,
    agenda_id  TEXT NOT NULL REFERENCES agendas(id) ON DELETE CASCADE,
    created_by TEXT NOT NULL,
    rule       TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX care_series_agenda ON care_series(agenda_id);

ALTER TABLE reservations ADD COLUMN series_id TEXT REFERENCES care_series(id) ON DELETE SET NULL;
CREATE INDEX reservations_care_series ON reservations(series_id, start_s) WHERE series_id IS NOT NULL;
