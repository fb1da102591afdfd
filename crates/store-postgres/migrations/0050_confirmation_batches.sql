-- Booking confirmations queued a group at a time (issue 14: the outbox may cost a booking at
-- most 5 %). A booking's only message is its confirmation, due at once; the group commit that
-- books N appointments now writes one row here naming the N (reservation, patient, start),
-- instead of N outbox rows of four index entries each: one heap tuple and one primary-key
-- entry per group. The delivery worker leases a batch as it leases a message, composes each
-- confirmation from the data as it is then (as for every intent), and in one transaction
-- deletes the batch and queues, as ordinary outbox rows, only the confirmations that failed
-- (backoff, dead letters and the operator's retry then work as for any message). A
-- confirmation keeps the id it was queued with (its Message-ID), so a
-- retry never sends a second message.
-- * No due-time index: a batch is due when written and never backs off; claims read the
--   primary key in order (UUIDv7: oldest first) and skip leased rows.
-- * No account index: erasure rewrites the batches naming the account by a scan of this table,
--   which holds only confirmations not yet sent (seconds of bookings, even in a rush).
CREATE TABLE outbox_batches (
    id           TEXT PRIMARY KEY,      -- UUIDv7
    entries      TEXT NOT NULL,         -- 'message reservation account start_ms', comma-separated
    size         INTEGER NOT NULL CHECK (size > 0),
    attempts     BIGINT NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    locked_until BIGINT,
    created_at   BIGINT NOT NULL
);
