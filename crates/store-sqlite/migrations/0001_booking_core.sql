-- Booking core. Instants are UTC epoch seconds; local dates are ISO text.
-- Columns ending in _ct are XChaCha20-Poly1305 ciphertexts (see docs/protection.md); _bidx
-- are truncated keyed blind indexes; _uniq a full keyed hash. No health data in the clear.

-- App-wide wrapped keys (blind-index key, audit key), written once.
CREATE TABLE settings (
    name  TEXT PRIMARY KEY,
    value TEXT NOT NULL
) STRICT;

CREATE TABLE accounts (
    id            TEXT PRIMARY KEY,
    role          TEXT NOT NULL CHECK (role IN ('patient', 'practitioner')),
    password_hash TEXT NOT NULL,
    created_at    INTEGER NOT NULL,
    -- The account's data key, wrapped by its named key "subject-<id>" in the key service.
    wrapped_key   TEXT NOT NULL,
    email_ct      BLOB NOT NULL,
    name_ct       BLOB NOT NULL,
    phone_ct      BLOB,
    birth_date_ct BLOB,
    email_bidx    INTEGER NOT NULL,
    email_uniq    TEXT NOT NULL UNIQUE
) STRICT;
CREATE INDEX accounts_email_bidx ON accounts(email_bidx);

CREATE TABLE sessions (
    token_hash TEXT PRIMARY KEY,
    account_id TEXT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
) STRICT;
CREATE INDEX sessions_account ON sessions(account_id);

CREATE TABLE practitioners (
    id         TEXT PRIMARY KEY,
    account_id TEXT NOT NULL UNIQUE REFERENCES accounts(id) ON DELETE CASCADE,
    name       TEXT NOT NULL,
    specialty  TEXT NOT NULL,
    languages  TEXT NOT NULL DEFAULT '',
    bio        TEXT
) STRICT;

CREATE TABLE places (
    id              TEXT PRIMARY KEY,
    practitioner_id TEXT NOT NULL REFERENCES practitioners(id) ON DELETE CASCADE,
    name            TEXT NOT NULL,
    address         TEXT NOT NULL,
    postcode        TEXT NOT NULL,
    city            TEXT NOT NULL,
    country         TEXT NOT NULL,
    lat             REAL NOT NULL CHECK (lat BETWEEN -90 AND 90),
    lon             REAL NOT NULL CHECK (lon BETWEEN -180 AND 180),
    timezone        TEXT NOT NULL
) STRICT;
CREATE INDEX places_practitioner ON places(practitioner_id);

CREATE TABLE agendas (
    id              TEXT PRIMARY KEY,
    practitioner_id TEXT NOT NULL REFERENCES practitioners(id) ON DELETE CASCADE,
    place_id        TEXT NOT NULL REFERENCES places(id),
    timezone        TEXT NOT NULL,
    holidays        TEXT,
    -- The agenda's data key (reservation links, motive labels), wrapped by "agenda-<id>".
    wrapped_key     TEXT NOT NULL
) STRICT;
CREATE INDEX agendas_practitioner ON agendas(practitioner_id);

CREATE TABLE motives (
    id                TEXT PRIMARY KEY,
    agenda_id         TEXT NOT NULL REFERENCES agendas(id) ON DELETE CASCADE,
    label_ct          BLOB NOT NULL,
    duration_min      INTEGER NOT NULL CHECK (duration_min BETWEEN 1 AND 1440),
    capacity          INTEGER NOT NULL CHECK (capacity >= 1),
    teleconsultation  INTEGER NOT NULL,
    new_patients_only INTEGER NOT NULL,
    bookable_online   INTEGER NOT NULL,
    min_notice_min    INTEGER NOT NULL CHECK (min_notice_min >= 0),
    max_horizon_days  INTEGER NOT NULL CHECK (max_horizon_days >= 1)
) STRICT;
CREATE INDEX motives_agenda ON motives(agenda_id);

CREATE TABLE opening_rules (
    id           TEXT PRIMARY KEY,
    agenda_id    TEXT NOT NULL REFERENCES agendas(id) ON DELETE CASCADE,
    weekdays     INTEGER NOT NULL CHECK (weekdays BETWEEN 2 AND 254),
    start_min    INTEGER NOT NULL CHECK (start_min BETWEEN 0 AND 1439),
    end_min      INTEGER NOT NULL CHECK (end_min BETWEEN 1 AND 1440 AND end_min > start_min),
    valid_from   TEXT,
    valid_until  TEXT
) STRICT;
CREATE INDEX opening_rules_agenda ON opening_rules(agenda_id);

CREATE TABLE opening_rule_motives (
    rule_id   TEXT NOT NULL REFERENCES opening_rules(id) ON DELETE CASCADE,
    motive_id TEXT NOT NULL REFERENCES motives(id) ON DELETE CASCADE,
    PRIMARY KEY (rule_id, motive_id)
) STRICT;

CREATE TABLE absences (
    id        TEXT PRIMARY KEY,
    agenda_id TEXT NOT NULL REFERENCES agendas(id) ON DELETE CASCADE,
    start_s   INTEGER NOT NULL,
    end_s     INTEGER NOT NULL CHECK (end_s > start_s),
    reason    TEXT
) STRICT;
CREATE INDEX absences_agenda ON absences(agenda_id, end_s);

-- Holds and appointments. `pool` groups reservations that may share time: a capacity-1
-- reservation's pool is its own id, a pooled one's is 'p:<start>:<end>'.
CREATE TABLE reservations (
    id          TEXT PRIMARY KEY,
    agenda_id   TEXT NOT NULL REFERENCES agendas(id),
    -- Sealed under the agenda's key: which motive, which patient, the patient's note.
    motive_ct   BLOB NOT NULL,
    patient_ct  BLOB,
    note_ct     BLOB,
    patient_bidx INTEGER,
    start_s     INTEGER NOT NULL,
    end_s       INTEGER NOT NULL CHECK (end_s > start_s AND end_s - start_s <= 86400),
    pool        TEXT NOT NULL,
    status      TEXT NOT NULL CHECK (status IN ('held', 'booked', 'cancelled', 'expired', 'no_show')),
    expires_at  INTEGER CHECK (status <> 'held' OR expires_at IS NOT NULL),
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL
) STRICT;
CREATE INDEX reservations_live ON reservations(agenda_id, start_s) WHERE status IN ('held', 'booked');
CREATE INDEX reservations_agenda ON reservations(agenda_id, start_s);
CREATE INDEX reservations_patient ON reservations(patient_bidx);

-- Overlap exclusion, enforced by the database on every write (the PostgreSQL schema uses an
-- exclusion constraint for the same rule). Reservations last at most a day, which bounds
-- the index range scanned.
CREATE TRIGGER reservations_no_overlap_insert BEFORE INSERT ON reservations
WHEN NEW.status IN ('held', 'booked')
BEGIN
    SELECT RAISE(ABORT, 'careslot_reservation_overlap')
    WHERE EXISTS (
        SELECT 1 FROM reservations r
        WHERE r.agenda_id = NEW.agenda_id
          AND r.status IN ('held', 'booked')
          AND r.start_s > NEW.start_s - 86400
          AND r.start_s < NEW.end_s
          AND r.end_s > NEW.start_s
          AND r.pool <> NEW.pool
    );
END;

CREATE TRIGGER reservations_no_overlap_update BEFORE UPDATE OF status, start_s, end_s, pool ON reservations
WHEN NEW.status IN ('held', 'booked')
BEGIN
    SELECT RAISE(ABORT, 'careslot_reservation_overlap')
    WHERE EXISTS (
        SELECT 1 FROM reservations r
        WHERE r.agenda_id = NEW.agenda_id
          AND r.id <> NEW.id
          AND r.status IN ('held', 'booked')
          AND r.start_s > NEW.start_s - 86400
          AND r.start_s < NEW.end_s
          AND r.end_s > NEW.start_s
          AND r.pool <> NEW.pool
    );
END;

-- Places left in each pool, changed only by conditional updates.
CREATE TABLE pool_counters (
    agenda_id TEXT NOT NULL REFERENCES agendas(id),
    start_s   INTEGER NOT NULL,
    end_s     INTEGER NOT NULL,
    capacity  INTEGER NOT NULL CHECK (capacity >= 1),
    taken     INTEGER NOT NULL CHECK (taken >= 0 AND taken <= capacity),
    PRIMARY KEY (agenda_id, start_s, end_s)
) STRICT;

-- Keyed hashes of (account, Idempotency-Key) and of the request: no link to the account.
CREATE TABLE idempotency_keys (
    key_hash       TEXT PRIMARY KEY,
    request_hash   TEXT NOT NULL,
    reservation_id TEXT NOT NULL REFERENCES reservations(id),
    created_at     INTEGER NOT NULL
) STRICT;

-- Append-only, MAC-chained log of every decryption of health data.
CREATE TABLE audit_log (
    seq          INTEGER PRIMARY KEY,
    at           INTEGER NOT NULL,
    subject_bidx INTEGER NOT NULL,
    entry_ct     BLOB NOT NULL,
    mac          TEXT NOT NULL
) STRICT;
CREATE INDEX audit_log_subject ON audit_log(subject_bidx);
