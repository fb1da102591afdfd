-- Issue #16. On PostgreSQL this migration also shares the waiting room and the video
-- signalling between the app nodes of one database; SQLite serves one node, which keeps
-- both in memory.

-- Idempotency-Key of vaccination bookings (several doses, one series): keyed hashes of
-- (account, key) and of the request, and the series (hold id) they booked or hold. A retry
-- with the same key books that series (again: the same appointments) and nothing else.
CREATE TABLE series_idempotency (
    key_hash     TEXT PRIMARY KEY,
    request_hash TEXT NOT NULL,
    series_id    TEXT NOT NULL,
    created_at   BIGINT NOT NULL
);
