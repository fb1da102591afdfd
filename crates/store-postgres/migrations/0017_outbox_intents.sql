-- Appointment messages are queued as intents (issue 14): the booking's transaction writes only
-- what to say and about which appointment (`intent`, `reservation_id`, the start it was about
-- and a move's former start, in milliseconds), and the delivery worker composes the message
-- from the appointment and the recipient as they are when it is sent. Nothing in an intent is
-- personal or needs sealing. Messages that cannot be composed again (a one-time secret in a
-- link) keep their sealed `payload_ct`. Exactly one of the two is set.
ALTER TABLE outbox ALTER COLUMN payload_ct DROP NOT NULL;
ALTER TABLE outbox
    ADD COLUMN intent TEXT CHECK (intent IN ('confirmation', 'email_reminder', 'sms_reminder',
                                             'cancelled_by_practice', 'cancelled_by_patient',
                                             'moved', 'no_show')),
    ADD COLUMN reservation_id TEXT REFERENCES reservations(id) ON DELETE CASCADE,
    ADD COLUMN start_at BIGINT,
    ADD COLUMN previous_at BIGINT,
    ADD CONSTRAINT outbox_payload_or_intent CHECK ((payload_ct IS NULL) <> (intent IS NULL)),
    ADD CONSTRAINT outbox_intent_appointment
        CHECK (intent IS NULL OR (reservation_id IS NOT NULL AND start_at IS NOT NULL)),
    ADD CONSTRAINT outbox_intent_channel
        CHECK ((intent = 'sms_reminder') = (channel = 'sms') OR intent IS NULL);
-- A reservation's deletion cascades here: the lookup needs an index.
CREATE INDEX outbox_reservation ON outbox(reservation_id) WHERE reservation_id IS NOT NULL;
