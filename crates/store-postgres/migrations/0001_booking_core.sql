CREATE EXTENSION IF NOT EXISTS btree_gist;

-- Booking core. Instants are UTC epoch seconds; local dates are ISO text.
-- Columns ending in _ct are XChaCha20-Poly1305 ciphertexts (see docs/protection.md); _bidx
-- are truncated keyed blind indexes; _uniq a full keyed hash. No health data in the clear.

-- App-wide wrapped keys (blind-index key, audit key), written once.
CREATE TABLE settings (
    name  TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

CREATE TABLE accounts (
    id            TEXT PRIMARY KEY,
    role          TEXT NOT NULL CHECK (role IN ('patient', 'practitioner')),
    password_hash TEXT NOT NULL,
    created_at    BIGINT NOT NULL,
    -- The account's data key, wrapped by its named key "subject-<id>" in the key service.
    wrapped_key   TEXT NOT NULL,
    email_ct      BYTEA NOT NULL,
    name_ct       BYTEA NOT NULL,
    phone_ct      BYTEA,
    birth_date_ct BYTEA,
    email_bidx    BIGINT NOT NULL,
    email_uniq    TEXT NOT NULL UNIQUE
);
CREATE INDEX accounts_email_bidx ON accounts(email_bidx);

CREATE TABLE sessions (
    token_hash TEXT PRIMARY KEY,
    account_id TEXT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX sessions_account ON sessions(account_id);

CREATE TABLE practitioners (
    id         TEXT PRIMARY KEY,
    account_id TEXT NOT NULL UNIQUE REFERENCES accounts(id) ON DELETE CASCADE,
    name       TEXT NOT NULL,
    specialty  TEXT NOT NULL,
    languages  TEXT NOT NULL DEFAULT '',
    bio        TEXT
);

CREATE TABLE places (
    id              TEXT PRIMARY KEY,
    practitioner_id TEXT NOT NULL REFERENCES practitioners(id) ON DELETE CASCADE,
    name            TEXT NOT NULL,
    address         TEXT NOT NULL,
    postcode        TEXT NOT NULL,
    city            TEXT NOT NULL,
    country         TEXT NOT NULL,
    lat             DOUBLE PRECISION NOT NULL CHECK (lat BETWEEN -90 AND 90),
    lon             DOUBLE PRECISION NOT NULL CHECK (lon BETWEEN -180 AND 180),
    timezone        TEXT NOT NULL
);
CREATE INDEX places_practitioner ON places(practitioner_id);

CREATE TABLE agendas (
    id              TEXT PRIMARY KEY,
    practitioner_id TEXT NOT NULL REFERENCES practitioners(id) ON DELETE CASCADE,
    place_id        TEXT NOT NULL REFERENCES places(id),
    timezone        TEXT NOT NULL,
    holidays        TEXT,
    -- The agenda's data key (reservation links, motive labels), wrapped by "agenda-<id>".
    wrapped_key     TEXT NOT NULL
);
CREATE INDEX agendas_practitioner ON agendas(practitioner_id);

CREATE TABLE motives (
    id                TEXT PRIMARY KEY,
    agenda_id         TEXT NOT NULL REFERENCES agendas(id) ON DELETE CASCADE,
    label_ct          BYTEA NOT NULL,
    duration_min      BIGINT NOT NULL CHECK (duration_min BETWEEN 1 AND 1440),
    capacity          BIGINT NOT NULL CHECK (capacity >= 1),
    teleconsultation  BOOLEAN NOT NULL,
    new_patients_only BOOLEAN NOT NULL,
    bookable_online   BOOLEAN NOT NULL,
    min_notice_min    BIGINT NOT NULL CHECK (min_notice_min >= 0),
    max_horizon_days  BIGINT NOT NULL CHECK (max_horizon_days >= 1)
);
CREATE INDEX motives_agenda ON motives(agenda_id);

CREATE TABLE opening_rules (
    id           TEXT PRIMARY KEY,
    agenda_id    TEXT NOT NULL REFERENCES agendas(id) ON DELETE CASCADE,
    weekdays     BIGINT NOT NULL CHECK (weekdays BETWEEN 2 AND 254),
    start_min    BIGINT NOT NULL CHECK (start_min BETWEEN 0 AND 1439),
    end_min      BIGINT NOT NULL CHECK (end_min BETWEEN 1 AND 1440 AND end_min > start_min),
    valid_from   TEXT,
    valid_until  TEXT
);
CREATE INDEX opening_rules_agenda ON opening_rules(agenda_id);

CREATE TABLE opening_rule_motives (
    rule_id   TEXT NOT NULL REFERENCES opening_rules(id) ON DELETE CASCADE,
    motive_id TEXT NOT NULL REFERENCES motives(id) ON DELETE CASCADE,
    PRIMARY KEY (rule_id, motive_id)
);

CREATE TABLE absences (
    id        TEXT PRIMARY KEY,
    agenda_id TEXT NOT NULL REFERENCES agendas(id) ON DELETE CASCADE,
    start_s   BIGINT NOT NULL,
    end_s     BIGINT NOT NULL CHECK (end_s > start_s),
    reason    TEXT
);
CREATE INDEX absences_agenda ON absences(agenda_id, end_s);

-- Holds and appointments. `pool` groups reservations that may share time: a capacity-1
-- reservation's pool is its own id, a pooled one's is 'p:<start>:<end>'.
CREATE TABLE reservations (
    id          TEXT PRIMARY KEY,
    agenda_id   TEXT NOT NULL REFERENCES agendas(id),
    -- Sealed under the agenda's key: which motive, which patient, the patient's note.
    motive_ct   BYTEA NOT NULL,
    patient_ct  BYTEA,
    note_ct     BYTEA,
    patient_bidx BIGINT,
    start_s     BIGINT NOT NULL,
    end_s       BIGINT NOT NULL CHECK (end_s > start_s AND end_s - start_s <= 86400),
    pool        TEXT NOT NULL,
    status      TEXT NOT NULL CHECK (status IN ('held', 'booked', 'cancelled', 'expired', 'no_show')),
    expires_at  BIGINT CHECK (status <> 'held' OR expires_at IS NOT NULL),
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL
);
CREATE INDEX reservations_live ON reservations(agenda_id, start_s) WHERE status IN ('held', 'booked');
CREATE INDEX reservations_agenda ON reservations(agenda_id, start_s);
CREATE INDEX reservations_patient ON reservations(patient_bidx);

-- Overlap exclusion: live reservations of an agenda never overlap unless they share a pool.
ALTER TABLE reservations ADD CONSTRAINT reservations_no_overlap
    EXCLUDE USING gist (agenda_id WITH =, int8range(start_s, end_s) WITH &&, pool WITH <>)
    WHERE (status IN ('held', 'booked'));

-- Places left in each pool, changed only by conditional updates.
CREATE TABLE pool_counters (
    agenda_id TEXT NOT NULL REFERENCES agendas(id),
    start_s   BIGINT NOT NULL,
    end_s     BIGINT NOT NULL,
    capacity  BIGINT NOT NULL CHECK (capacity >= 1),
    taken     BIGINT NOT NULL CHECK (taken >= 0 AND taken <= capacity),
    PRIMARY KEY (agenda_id, start_s, end_s)
);

-- Keyed hashes of (account, Idempotency-Key) and of the request: no link to the account.
CREATE TABLE idempotency_keys (
    key_hash       TEXT PRIMARY KEY,
    request_hash   TEXT NOT NULL,
    reservation_id TEXT NOT NULL REFERENCES reservations(id),
    created_at     BIGINT NOT NULL
);

-- Append-only, MAC-chained log of every decryption of health data.
CREATE TABLE audit_log (
    seq          BIGINT PRIMARY KEY,
    at           BIGINT NOT NULL,
    subject_bidx BIGINT NOT NULL,
    entry_ct     BYTEA NOT NULL,
    mac          TEXT NOT NULL
);
CREATE INDEX audit_log_subject ON audit_log(subject_bidx);
