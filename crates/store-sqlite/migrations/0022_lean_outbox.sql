-- A leaner outbox on SQLite (issue 14: the outbox may cost a booking at most 5 %). Each
-- booking queues one row; before this, that row cost SQLite six B-tree inserts (the rowid
-- table, the primary key, dedupe_key, the due time, the account, the reservation) and two
-- foreign-key lookups. Now it costs three and none:
-- * WITHOUT ROWID: the table is its primary key (ids are UUIDv7, so inserts append);
-- * no foreign keys: nothing may keep a message deliverable after erasure, and nothing does:
--   erasure deletes the account's rows by name (`account_id` or `subject_account_id`), and a
--   row whose appointment or account is gone is dropped, never sent, when it falls due
--   (the worker composes intents from the data as it is then). Reservations are never
--   deleted otherwise.
-- * no index on account or reservation: they served only those cascades; erasure scans the
--   queue, which on SQLite (one practice or group, delivered rows deleted) stays small.
-- PostgreSQL keeps its indexes: erasure at national scale must not scan the queue.
CREATE TABLE outbox_lean (
    id                 TEXT PRIMARY KEY,
    channel            TEXT NOT NULL CHECK (channel IN ('email', 'sms')),
    dedupe_key         TEXT NOT NULL UNIQUE,
    account_id         TEXT NOT NULL,
    payload_ct         BLOB,
    attempts           INTEGER NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    available_at       INTEGER NOT NULL,
    locked_until       INTEGER,
    last_error         TEXT,
    dead_at            INTEGER,
    created_at         INTEGER NOT NULL,
    subject_account_id TEXT,
    intent             TEXT CHECK (intent IN ('confirmation', 'email_reminder', 'sms_reminder',
                                              'cancelled_by_practice', 'cancelled_by_patient',
                                              'moved', 'no_show')),
    reservation_id     TEXT,
    start_at           INTEGER,
    previous_at        INTEGER,
    CHECK ((payload_ct IS NULL) <> (intent IS NULL)),
    CHECK (intent IS NULL OR (reservation_id IS NOT NULL AND start_at IS NOT NULL)),
    CHECK ((intent = 'sms_reminder') = (channel = 'sms') OR intent IS NULL)
) STRICT, WITHOUT ROWID;
INSERT INTO outbox_lean SELECT id, channel, dedupe_key, account_id, payload_ct, attempts,
       available_at, locked_until, last_error, dead_at, created_at, subject_account_id, intent,
       reservation_id, start_at, previous_at
  FROM outbox;
DROP TABLE outbox;
ALTER TABLE outbox_lean RENAME TO outbox;
CREATE INDEX outbox_due ON outbox(available_at) WHERE dead_at IS NULL;
CREATE INDEX outbox_subject ON outbox(subject_account_id) WHERE subject_account_id IS NOT NULL;
