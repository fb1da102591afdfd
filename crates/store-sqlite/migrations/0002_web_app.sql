-- The web app: assistants (a new account role), patient records a practice creates for
-- phone bookings, relatives a patient books for, and assistant invitations.
--
-- SQLite cannot alter a CHECK constraint, and rebuilding `accounts` is not possible here:
-- sqlx runs the migration in a transaction, where foreign keys cannot be switched off, so
-- dropping the old table would cascade to sessions and practitioners. Loosening a CHECK
-- (every existing row still satisfies it) is one of the schema edits SQLite documents as
-- safe through writable_schema; RESET makes this connection reread the schema.
PRAGMA writable_schema = ON;
UPDATE sqlite_schema
   SET sql = replace(sql, 'CHECK (role IN (''patient'', ''practitioner''))',
                          'CHECK (role IN (''patient'', ''practitioner'', ''assistant''))')
 WHERE type = 'table' AND name = 'accounts';
PRAGMA writable_schema = RESET;

-- Set for a patient record a practice made (phone booking): it has no login.
ALTER TABLE accounts ADD COLUMN managed_by TEXT REFERENCES practitioners(id) ON DELETE SET NULL;

-- Who the appointment is for when not the patient: a relative id, sealed under the agenda key.
ALTER TABLE reservations ADD COLUMN relative_ct BLOB;

-- Sealed under the patient's own data key, like the rest of their identity.
CREATE TABLE relatives (
    id            TEXT PRIMARY KEY,
    account_id    TEXT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    created_at    INTEGER NOT NULL,
    name_ct       BLOB NOT NULL,
    birth_date_ct BLOB
) STRICT;
CREATE INDEX relatives_account ON relatives(account_id);

CREATE TABLE assistants (
    account_id      TEXT PRIMARY KEY REFERENCES accounts(id) ON DELETE CASCADE,
    practitioner_id TEXT NOT NULL REFERENCES practitioners(id) ON DELETE CASCADE,
    created_at      INTEGER NOT NULL
) STRICT;
CREATE INDEX assistants_practitioner ON assistants(practitioner_id);

-- Single-use invitation links; only the token's hash is stored.
CREATE TABLE invitations (
    token_hash      TEXT PRIMARY KEY,
    practitioner_id TEXT NOT NULL REFERENCES practitioners(id) ON DELETE CASCADE,
    created_at      INTEGER NOT NULL,
    expires_at      INTEGER NOT NULL,
    used_by         TEXT,
    used_at         INTEGER
) STRICT;
