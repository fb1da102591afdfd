-- The web app: assistants (a new account role), patient records a practice creates for
-- phone bookings, relatives a patient books for, and assistant invitations.
ALTER TABLE accounts DROP CONSTRAINT accounts_role_check;
ALTER TABLE accounts ADD CONSTRAINT accounts_role_check CHECK (role IN ('patient', 'practitioner', 'assistant'));
-- Set for a patient record a practice made (phone booking): it has no login.
ALTER TABLE accounts ADD COLUMN managed_by TEXT REFERENCES practitioners(id) ON DELETE SET NULL;

-- Who the appointment is for when not the patient: a relative id, sealed under the agenda key.
ALTER TABLE reservations ADD COLUMN relative_ct BYTEA;

-- Sealed under the patient's own data key, like the rest of their identity.
CREATE TABLE relatives (
    id            TEXT PRIMARY KEY,
    account_id    TEXT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    created_at    BIGINT NOT NULL,
    name_ct       BYTEA NOT NULL,
    birth_date_ct BYTEA
);
CREATE INDEX relatives_account ON relatives(account_id);

CREATE TABLE assistants (
    account_id      TEXT PRIMARY KEY REFERENCES accounts(id) ON DELETE CASCADE,
    practitioner_id TEXT NOT NULL REFERENCES practitioners(id) ON DELETE CASCADE,
    created_at      BIGINT NOT NULL
);
CREATE INDEX assistants_practitioner ON assistants(practitioner_id);

-- Single-use invitation links; only the token's hash is stored.
CREATE TABLE invitations (
    token_hash      TEXT PRIMARY KEY,
    practitioner_id TEXT NOT NULL REFERENCES practitioners(id) ON DELETE CASCADE,
    created_at      BIGINT NOT NULL,
    expires_at      BIGINT NOT NULL,
    used_by         TEXT,
    used_at         BIGINT
);
