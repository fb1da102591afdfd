-- Sites brought in by `careslot import` (the French vaccination-centre list): one row per
-- source record, keyed by a stable key taken from the source, with a hash of the imported
-- fields (a second import of an unchanged record writes nothing) and what it created.

CREATE TABLE imported_sites (
    source_key      TEXT PRIMARY KEY,
    content_hash    TEXT NOT NULL,
    account_id      TEXT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    practitioner_id TEXT NOT NULL REFERENCES practitioners(id) ON DELETE CASCADE,
    -- No place (nor agenda) when the site could not be located at all.
    place_id        TEXT REFERENCES places(id) ON DELETE SET NULL,
    agenda_id       TEXT REFERENCES agendas(id) ON DELETE SET NULL,
    imported_at     INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL
) STRICT;
