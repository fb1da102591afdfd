-- The web app: assistants (a new account role), patient records a practice creates for
-- phone bookings, relatives a patient books for, and assistant invitations.

-- accounts.role must allow 'assistant'. The CHECK was declared inline in 0001, so it has
-- PostgreSQL's generated name. Every existing row satisfies the wider one.
ALTER TABLE accounts DROP CONSTRAINT accounts_role_check;
ALTER TABLE accounts ADD CONSTRAINT accounts_role_check
    CHECK (role IN ('patient', 'practitioner', 'assistant'));

-- Set for a patient record a practice made (phone booking): it has no login. Such records
-- outlive the practice that made them (they may hold appointments elsewhere).
ALTER TABLE accounts ADD COLUMN managed_by TEXT REFERENCES practitioners(id) ON DELETE SET NULL;
-- Deleting a practitioner looks up its managed records; most accounts have none.
CREATE INDEX accounts_managed_by ON accounts(managed_by) WHERE managed_by IS NOT NULL;

-- Who the appointment is for when not the patient: a relative id, sealed under the agenda
-- key like the patient link, and stripped with it.
ALTER TABLE reservations ADD COLUMN relative_ct BYTEA;

-- People a patient books for, sealed under the patient's own data key like the rest of
-- their identity; erasing the patient erases them.
CREATE TABLE relatives (
    id            TEXT PRIMARY KEY,
    account_id    TEXT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    created_at    BIGINT NOT NULL,
    name_ct       BYTEA NOT NULL,
    birth_date_ct BYTEA
);
CREATE INDEX relatives_account ON relatives(account_id);

-- An assistant works for exactly one practitioner (the account is the primary key).
CREATE TABLE assistants (
    account_id      TEXT PRIMARY KEY REFERENCES accounts(id) ON DELETE CASCADE,
    practitioner_id TEXT NOT NULL REFERENCES practitioners(id) ON DELETE CASCADE,
    created_at      BIGINT NOT NULL
);
CREATE INDEX assistants_practitioner ON assistants(practitioner_id);

-- Single-use invitation links; only the token's hash is stored. `used_by` is deliberately
-- not a foreign key: an invitation stays used after its assistant is removed.
CREATE TABLE invitations (
    token_hash      TEXT PRIMARY KEY,
    practitioner_id TEXT NOT NULL REFERENCES practitioners(id) ON DELETE CASCADE,
    created_at      BIGINT NOT NULL,
    expires_at      BIGINT NOT NULL,
    used_by         TEXT,
    used_at         BIGINT,
    CHECK ((used_by IS NULL) = (used_at IS NULL))
);
CREATE INDEX invitations_practitioner ON invitations(practitioner_id);
