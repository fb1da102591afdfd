-- Mass vaccination: motives that give a vaccine dose, versioned protocols, dose stock per
-- centre (agenda), product and day, and the link between the doses of a series.

CREATE TABLE motive_vaccines (
    motive_id      TEXT PRIMARY KEY REFERENCES motives(id) ON DELETE CASCADE,
    agenda_id      TEXT NOT NULL REFERENCES agendas(id) ON DELETE CASCADE,
    product        TEXT NOT NULL CHECK (product IN ('comirnaty', 'spikevax', 'vaxzevria', 'jcovden')),
    dose           BIGINT NOT NULL CHECK (dose BETWEEN 1 AND 3),
    -- The motive of the following dose at the same centre (dose 2 after dose 1).
    next_motive_id TEXT REFERENCES motives(id) ON DELETE SET NULL
);
CREATE INDEX motive_vaccines_agenda ON motive_vaccines(agenda_id);

-- Versions are never edited: a change is a new version with its effective date, and each
-- series records the version it was booked under.
CREATE TABLE vaccine_protocols (
    product          TEXT NOT NULL CHECK (product IN ('comirnaty', 'spikevax', 'vaxzevria', 'jcovden')),
    version          BIGINT NOT NULL CHECK (version >= 1),
    effective_from   TEXT NOT NULL,
    second_min_days  BIGINT,
    second_max_days  BIGINT,
    booster_min_days BIGINT NOT NULL CHECK (booster_min_days >= 0),
    created_at       BIGINT NOT NULL,
    PRIMARY KEY (product, version),
    CHECK ((second_min_days IS NULL) = (second_max_days IS NULL)),
    CHECK (second_min_days IS NULL OR (second_min_days >= 1 AND second_max_days >= second_min_days))
);
INSERT INTO vaccine_protocols (product, version, effective_from, second_min_days, second_max_days, booster_min_days, created_at) VALUES
    ('comirnaty', 1, '2021-01-01', 21, 42, 90, 0),
    ('spikevax',  1, '2021-01-01', 28, 42, 90, 0),
    ('vaxzevria', 1, '2021-01-01', 63, 84, 90, 0),
    ('jcovden',   1, '2021-01-01', NULL, NULL, 60, 0);

-- Doses never exceed stock: `used` only moves through conditional updates, and the CHECK
-- is the backstop.
CREATE TABLE dose_stock (
    agenda_id TEXT NOT NULL REFERENCES agendas(id) ON DELETE CASCADE,
    product   TEXT NOT NULL CHECK (product IN ('comirnaty', 'spikevax', 'vaxzevria', 'jcovden')),
    day       TEXT NOT NULL,
    doses     BIGINT NOT NULL CHECK (doses >= 0),
    used      BIGINT NOT NULL DEFAULT 0 CHECK (used >= 0 AND used <= doses),
    PRIMARY KEY (agenda_id, product, day)
);

-- Which stock a booked dose consumed, to give it back when the dose is cancelled.
CREATE TABLE stock_uses (
    reservation_id TEXT PRIMARY KEY REFERENCES reservations(id),
    agenda_id      TEXT NOT NULL,
    product        TEXT NOT NULL,
    day            TEXT NOT NULL,
    FOREIGN KEY (agenda_id, product, day) REFERENCES dose_stock(agenda_id, product, day)
);

-- The doses booked together, with the protocol version that applied.
CREATE TABLE vaccination_series (
    reservation_id   TEXT PRIMARY KEY REFERENCES reservations(id),
    series_id        TEXT NOT NULL,
    dose             BIGINT NOT NULL CHECK (dose BETWEEN 1 AND 3),
    protocol_version BIGINT NOT NULL
);
CREATE INDEX vaccination_series_series ON vaccination_series(series_id);
