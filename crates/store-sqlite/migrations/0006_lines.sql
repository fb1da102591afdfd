-- Vaccination lines per day: a centre that adds two lines on Saturday overrides the
-- capacity of its pooled motives for that local day. Pool counters of that day take the
-- same capacity, so the database keeps enforcing it.
CREATE TABLE line_overrides (
    agenda_id TEXT NOT NULL REFERENCES agendas(id) ON DELETE CASCADE,
    day       TEXT NOT NULL,
    lines     INTEGER NOT NULL CHECK (lines BETWEEN 1 AND 1000),
    PRIMARY KEY (agenda_id, day)
) STRICT;
