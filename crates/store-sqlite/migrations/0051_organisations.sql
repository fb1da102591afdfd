-- Group practices (issue 18 point 4). An organisation owns its member practitioners'
-- agendas; a practitioner may belong to several (a clinic and a private office). An
-- assistant works for exactly one organisation and runs only the agendas it has a right on.
-- A practitioner's own one-person organisation has the practitioner's id as its id, so it
-- can be created idempotently (INSERT … ON CONFLICT DO NOTHING) with no lookup.
CREATE TABLE organisations (
    id         TEXT PRIMARY KEY,
    name       TEXT NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    created_at INTEGER NOT NULL
) STRICT;

CREATE TABLE organisation_members (
    organisation_id TEXT NOT NULL REFERENCES organisations(id) ON DELETE CASCADE,
    practitioner_id TEXT NOT NULL REFERENCES practitioners(id) ON DELETE CASCADE,
    joined_at       INTEGER NOT NULL,
    PRIMARY KEY (organisation_id, practitioner_id)
) STRICT;
CREATE INDEX organisation_members_practitioner ON organisation_members(practitioner_id);

-- The organisation an assistant works for (one: the account is the key).
CREATE TABLE organisation_assistants (
    account_id      TEXT PRIMARY KEY REFERENCES assistants(account_id) ON DELETE CASCADE,
    organisation_id TEXT NOT NULL REFERENCES organisations(id) ON DELETE CASCADE,
    UNIQUE (account_id, organisation_id)
) STRICT;
CREATE INDEX organisation_assistants_organisation ON organisation_assistants(organisation_id);

-- Lets agenda_rights name an agenda together with its owner.
CREATE UNIQUE INDEX agendas_owner ON agendas(id, practitioner_id);

-- An assistant's right to run one agenda. The foreign keys are the rule: the agenda's owner
-- is a member of the assistant's organisation. An owner leaving the organisation, the
-- assistant leaving or the agenda going takes the right with it.
CREATE TABLE agenda_rights (
    account_id      TEXT NOT NULL,
    agenda_id       TEXT NOT NULL,
    organisation_id TEXT NOT NULL,
    practitioner_id TEXT NOT NULL,
    PRIMARY KEY (account_id, agenda_id),
    FOREIGN KEY (account_id, organisation_id)
        REFERENCES organisation_assistants(account_id, organisation_id) ON DELETE CASCADE,
    FOREIGN KEY (organisation_id, practitioner_id)
        REFERENCES organisation_members(organisation_id, practitioner_id) ON DELETE CASCADE,
    FOREIGN KEY (agenda_id, practitioner_id)
        REFERENCES agendas(id, practitioner_id) ON DELETE CASCADE
) STRICT;
CREATE INDEX agenda_rights_agenda ON agenda_rights(agenda_id);
CREATE INDEX agenda_rights_member ON agenda_rights(organisation_id, practitioner_id);

-- Which organisation an assistant invitation is for (every one written from now on has it).
ALTER TABLE invitations ADD COLUMN organisation_id TEXT REFERENCES organisations(id) ON DELETE CASCADE;

-- Single-use links inviting a practitioner colleague into an organisation; only the
-- token's hash is stored. Accepted by a signed-in practitioner.
CREATE TABLE colleague_invitations (
    token_hash      TEXT PRIMARY KEY,
    organisation_id TEXT NOT NULL REFERENCES organisations(id) ON DELETE CASCADE,
    created_at      INTEGER NOT NULL,
    expires_at      INTEGER NOT NULL,
    used_by         TEXT,
    used_at         INTEGER,
    CHECK ((used_by IS NULL) = (used_at IS NULL))
) STRICT;
CREATE INDEX colleague_invitations_organisation ON colleague_invitations(organisation_id);

-- Existing data: every practitioner with agendas, assistants or invitations gets a
-- one-person organisation; every assistant works for it with a right on each of that
-- practitioner's agendas, so nobody loses access.
INSERT INTO organisations (id, name, created_at)
SELECT p.id, substr(p.name, 1, 200), CAST(strftime('%s', 'now') AS INTEGER) FROM practitioners p
 WHERE EXISTS (SELECT 1 FROM agendas a WHERE a.practitioner_id = p.id)
    OR EXISTS (SELECT 1 FROM assistants s WHERE s.practitioner_id = p.id)
    OR EXISTS (SELECT 1 FROM invitations i WHERE i.practitioner_id = p.id);
INSERT INTO organisation_members (organisation_id, practitioner_id, joined_at)
SELECT id, id, created_at FROM organisations;
INSERT INTO organisation_assistants (account_id, organisation_id)
SELECT account_id, practitioner_id FROM assistants;
INSERT INTO agenda_rights (account_id, agenda_id, organisation_id, practitioner_id)
SELECT s.account_id, a.id, s.practitioner_id, a.practitioner_id
  FROM assistants s JOIN agendas a ON a.practitioner_id = s.practitioner_id;
UPDATE invitations SET organisation_id = practitioner_id;
