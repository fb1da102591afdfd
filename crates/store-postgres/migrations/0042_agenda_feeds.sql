-- An agenda's private calendar subscription (issue 18 point 6): at most one per agenda, made,
-- rotated and revoked by the practice that runs the agenda. As for `calendar_feeds`, the URL's
-- token is never stored: the server derives it from `nonce` with its index key and finds the
-- feed by the token's SHA-256. Rotating replaces nonce and hash (the old URL answers 404);
-- deleting the row revokes the URL. `show_patient_names` (off unless the practice turns it
-- on) puts the patients' names in the events. Times in Unix seconds.
CREATE TABLE agenda_feeds (
    agenda_id          TEXT PRIMARY KEY REFERENCES agendas(id) ON DELETE CASCADE,
    nonce              TEXT NOT NULL,
    token_hash         TEXT NOT NULL UNIQUE,
    show_patient_names BOOLEAN NOT NULL DEFAULT FALSE,
    created_at         BIGINT NOT NULL
);
