-- The front door (issue 15).
--
-- Sessions remember when they were last used (written at most once a minute), so that
-- practice accounts' sessions end after a period of inactivity. NULL: never used since
-- creation (created_at counts).
ALTER TABLE sessions ADD COLUMN last_used_at BIGINT;

-- Throttling counters, shared by every node. `key` is a scope and a keyed hash of the
-- account's normalized email, or a scope and a client address; never an email in clear.
-- `failures` counts failures since the counter was last forgotten; `blocked_until` is the
-- instant (Unix seconds) before which the key is refused.
CREATE TABLE throttle (
    key             TEXT PRIMARY KEY,
    failures        BIGINT NOT NULL CHECK (failures >= 0),
    last_failure_at BIGINT NOT NULL,
    blocked_until   BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX throttle_last_failure ON throttle(last_failure_at);
