-- A practitioner's photo (issue 17 point 2): public, not health data, so stored in clear.
-- Both sizes are re-encoded JPEGs made by the server (no metadata left); `hash` names the
-- current version in its URL, so the files can be cached for good.
CREATE TABLE practitioner_photos (
    practitioner_id TEXT PRIMARY KEY REFERENCES practitioners(id) ON DELETE CASCADE,
    hash            TEXT NOT NULL CHECK (length(hash) BETWEEN 8 AND 64),
    large           BYTEA NOT NULL,
    small           BYTEA NOT NULL,
    updated_at      BIGINT NOT NULL
);
