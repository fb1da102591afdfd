-- What the app nodes of one database share besides the domain's tables (issue #16).

-- The waiting room: one row every node reads and updates, so that a ticket issued by one
-- node is honoured by every node and positions are global. `generation` grows with every
-- change of the session (writers replace the row only if it is unchanged since they read
-- it); the arrival counters grow in place, one atomic UPDATE per ticket. The row is created
-- by the first node that reads it (a migrated database stays empty, so that `careslot
-- restore` accepts it).
CREATE TABLE waiting_room (
    id               SMALLINT PRIMARY KEY CHECK (id = 1),
    generation       BIGINT NOT NULL DEFAULT 0 CHECK (generation >= 0),
    active           BOOLEAN NOT NULL DEFAULT FALSE,
    operator_enabled BOOLEAN NOT NULL DEFAULT FALSE,
    auto_active      BOOLEAN NOT NULL DEFAULT FALSE,
    started_ms       BIGINT NOT NULL DEFAULT 0,
    opening_ms       BIGINT NOT NULL DEFAULT 0,
    base             DOUBLE PRECISION NOT NULL DEFAULT 0,
    base_ms          BIGINT NOT NULL DEFAULT 0,
    rate             DOUBLE PRECISION NOT NULL DEFAULT 50 CHECK (rate > 0),
    before_opening   BIGINT NOT NULL DEFAULT 0 CHECK (before_opening >= 0),
    after_opening    BIGINT NOT NULL DEFAULT 0 CHECK (after_opening >= 0),
    last_busy_ms     BIGINT NOT NULL DEFAULT 0
);

-- Video signalling between nodes: an envelope (a room event: who joined, an SDP offer, an
-- ICE candidate...) is written here and its id announced with NOTIFY (whose payload is
-- limited to 8,000 bytes). Nothing here is health data; rows live for a minute.
CREATE UNLOGGED TABLE video_signals (
    id         BIGSERIAL PRIMARY KEY,
    body       TEXT NOT NULL,
    created_ms BIGINT NOT NULL
);
CREATE INDEX video_signals_created ON video_signals (created_ms);

-- Idempotency-Key of vaccination bookings (several doses, one series): keyed hashes of
-- (account, key) and of the request, and the series (hold id) they booked or hold. A retry
-- with the same key books that series (again: the same appointments) and nothing else.
CREATE TABLE series_idempotency (
    key_hash     TEXT PRIMARY KEY,
    request_hash TEXT NOT NULL,
    series_id    TEXT NOT NULL,
    created_at   BIGINT NOT NULL
);
