-- Reminder delays per practice (issue 14): how many hours before an appointment the email and
-- the SMS reminder go out, set by the practitioner for all their agendas. 0 turns that reminder
-- off. A missing row means the defaults (72 h by email, 24 h by SMS).
CREATE TABLE reminder_delays (
    practitioner_id    TEXT PRIMARY KEY REFERENCES practitioners(id) ON DELETE CASCADE,
    email_hours_before BIGINT NOT NULL CHECK (email_hours_before BETWEEN 0 AND 336),
    sms_hours_before   BIGINT NOT NULL CHECK (sms_hours_before BETWEEN 0 AND 336),
    updated_at         BIGINT NOT NULL
);

-- Earlier-slot alerts (issue 14): a patient asks to be told when a place opens earlier in an
-- agenda, for one motive (sealed under the agenda's key, like a reservation's), optionally only
-- for places starting before `before_s`. Subscription order is (created_at, id).
CREATE TABLE slot_alerts (
    id         TEXT PRIMARY KEY,
    account_id TEXT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    agenda_id  TEXT NOT NULL REFERENCES agendas(id) ON DELETE CASCADE,
    motive_ct  BYTEA NOT NULL,
    before_s   BIGINT,
    created_at BIGINT NOT NULL
);
CREATE INDEX slot_alerts_agenda ON slot_alerts(agenda_id, created_at, id);
CREATE INDEX slot_alerts_account ON slot_alerts(account_id);

-- A booked place that became free (cancellation, move) in an agenda someone watches. At most
-- one row per place, so two alerts never chase the same place. A worker claims due rows
-- (`due_s`, lease `locked_until`) and offers the place to the next subscriber; while an offer
-- runs, `due_s` is its hold's expiry, when the next subscriber's turn comes.
CREATE TABLE freed_places (
    id           TEXT PRIMARY KEY,
    agenda_id    TEXT NOT NULL REFERENCES agendas(id) ON DELETE CASCADE,
    start_s      BIGINT NOT NULL,
    end_s        BIGINT NOT NULL,
    due_s        BIGINT NOT NULL,
    locked_until BIGINT,
    UNIQUE (agenda_id, start_s)
);
CREATE INDEX freed_places_due ON freed_places(due_s);

-- Who was offered which place, with the hold that keeps it for them (one offer per subscriber
-- and place; a hold backs one offer).
CREATE TABLE slot_offers (
    place_id   TEXT NOT NULL REFERENCES freed_places(id) ON DELETE CASCADE,
    alert_id   TEXT NOT NULL REFERENCES slot_alerts(id) ON DELETE CASCADE,
    hold_id    TEXT NOT NULL UNIQUE,
    expires_s  BIGINT NOT NULL,
    PRIMARY KEY (place_id, alert_id)
);
