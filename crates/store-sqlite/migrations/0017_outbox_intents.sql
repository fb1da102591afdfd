-- Appointment messages are queued as intents (issue 14): the booking's transaction writes only
-- what to say and about which appointment (`intent`, `reservation_id`, the start it was about
-- and a move's former start, in milliseconds), and the delivery worker composes the message
-- from the appointment and the recipient as they are when it is sent. Nothing in an intent is
-- personal or needs sealing. Messages that cannot be composed again (a one-time secret in a
-- link) keep their sealed `payload_ct`. Exactly one of the two is set.
--
-- SQLite cannot drop a NOT NULL: the table is rebuilt (nothing references it).
CREATE TABLE outbox_new (
    id                 TEXT PRIMARY KEY,
    channel            TEXT NOT NULL CHECK (channel IN ('email', 'sms')),
    dedupe_key         TEXT NOT NULL UNIQUE,
    account_id         TEXT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    payload_ct         BLOB,
    attempts           INTEGER NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    available_at       INTEGER NOT NULL,
    locked_until       INTEGER,
    last_error         TEXT,
    dead_at            INTEGER,
    created_at         INTEGER NOT NULL,
    subject_account_id TEXT REFERENCES accounts(id) ON DELETE CASCADE,
    intent             TEXT CHECK (intent IN ('confirmation', 'email_reminder', 'sms_reminder',
                                              'cancelled_by_practice', 'cancelled_by_patient',
                                              'moved', 'no_show')),
    reservation_id     TEXT REFERENCES reservations(id) ON DELETE CASCADE,
    start_at           INTEGER,
    previous_at        INTEGER,
    CHECK ((payload_ct IS NULL) <> (intent IS NULL)),
    CHECK (intent IS NULL OR (reservation_id IS NOT NULL AND start_at IS NOT NULL)),
    CHECK ((intent = 'sms_reminder') = (channel = 'sms') OR intent IS NULL)
) STRICT;
INSERT INTO outbox_new (id, channel, dedupe_key, account_id, payload_ct, attempts, available_at,
                        locked_until, last_error, dead_at, created_at, subject_account_id)
SELECT id, channel, dedupe_key, account_id, payload_ct, attempts, available_at,
       locked_until, last_error, dead_at, created_at, subject_account_id
  FROM outbox;
DROP TABLE outbox;
ALTER TABLE outbox_new RENAME TO outbox;
CREATE INDEX outbox_due ON outbox(available_at) WHERE dead_at IS NULL;
CREATE INDEX outbox_account ON outbox(account_id);
CREATE INDEX outbox_subject ON outbox(subject_account_id) WHERE subject_account_id IS NOT NULL;
-- A reservation's deletion cascades here: the lookup needs an index.
CREATE INDEX outbox_reservation ON outbox(reservation_id);
