-- Vaccination eligibility: campaign phases an operator opens and closes. A patient may book
-- when an open phase admits them: everyone, or from a minimum age, or one of the declared
-- priority groups (comma-separated codes such as health-professional,chronic-condition).
CREATE TABLE vaccination_phases (
    id              TEXT PRIMARY KEY,
    name            TEXT NOT NULL,
    everyone        BIGINT NOT NULL CHECK (everyone IN (0, 1)),
    min_age         BIGINT CHECK (min_age IS NULL OR min_age BETWEEN 0 AND 130),
    priority_groups TEXT NOT NULL DEFAULT '',
    opened_at       BIGINT NOT NULL,
    closed_at       BIGINT,
    CHECK (closed_at IS NULL OR closed_at >= opened_at)
);

-- Until an operator says otherwise, vaccination is open to everyone (the state of a fresh
-- installation; a campaign starts by closing this phase and opening its own).
INSERT INTO vaccination_phases (id, name, everyone, min_age, priority_groups, opened_at)
VALUES ('phase-everyone', 'Everyone', 1, NULL, '', 0);
