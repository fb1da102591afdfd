-- The web app: assistants (a new account role), patient records a practice creates for
-- phone bookings, relatives a patient books for, and assistant invitations.

-- accounts.role must allow 'assistant'. SQLite cannot alter a CHECK, and the usual table
-- rebuild (foreign keys off, copy, drop, rename) is impossible here: sqlx 0.8 runs every
-- SQLite migration inside a transaction (it ignores `-- no-transaction` for SQLite), where
-- `PRAGMA foreign_keys = OFF` is a no-op, so `DROP TABLE accounts` would cascade into
-- sessions and practitioners and delete them. Instead, the procedure SQLite documents for
-- loosening a constraint without touching stored rows (lang_altertable.html, "other kinds
-- of table schema changes"): every existing row satisfies the wider CHECK.
PRAGMA writable_schema = ON;
UPDATE sqlite_schema
   SET sql = replace(sql, 'CHECK (role IN (''patient'', ''practitioner''))',
                          'CHECK (role IN (''patient'', ''practitioner'', ''assistant''))')
 WHERE type = 'table' AND name = 'accounts';
-- RESET rereads the schema on this connection: the ADD COLUMN below splices the stored
-- CREATE text at offsets taken from the parsed schema, which must be the edited one. That
-- ADD COLUMN also bumps the schema cookie, so every other connection rereads it too.
PRAGMA writable_schema = RESET;

-- The edit above fails silently if the text is not found: stop (and roll back) instead.
CREATE TEMP TABLE migration_0002_check (edited INTEGER NOT NULL CHECK (edited = 1));
INSERT INTO migration_0002_check
SELECT count(*) FROM sqlite_schema
 WHERE type = 'table' AND name = 'accounts' AND sql LIKE '%''practitioner'', ''assistant''))%';
DROP TABLE migration_0002_check;

-- Set for a patient record a practice made (phone booking): it has no login. Such records
-- outlive the practice that made them (they may hold appointments elsewhere).
ALTER TABLE accounts ADD COLUMN managed_by TEXT REFERENCES practitioners(id) ON DELETE SET NULL;
-- Deleting a practitioner looks up its managed records; most accounts have none.
CREATE INDEX accounts_managed_by ON accounts(managed_by) WHERE managed_by IS NOT NULL;

-- Who the appointment is for when not the patient: a relative id, sealed under the agenda
-- key like the patient link, and stripped with it.
ALTER TABLE reservations ADD COLUMN relative_ct BLOB;

-- People a patient books for, sealed under the patient's own data key like the rest of
-- their identity; erasing the patient erases them.
CREATE TABLE relatives (
    id            TEXT PRIMARY KEY,
    account_id    TEXT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    created_at    INTEGER NOT NULL,
    name_ct       BLOB NOT NULL,
    birth_date_ct BLOB
) STRICT;
CREATE INDEX relatives_account ON relatives(account_id);

-- An assistant works for exactly one practitioner (the account is the primary key).
CREATE TABLE assistants (
    account_id      TEXT PRIMARY KEY REFERENCES accounts(id) ON DELETE CASCADE,
    practitioner_id TEXT NOT NULL REFERENCES practitioners(id) ON DELETE CASCADE,
    created_at      INTEGER NOT NULL
) STRICT;
CREATE INDEX assistants_practitioner ON assistants(practitioner_id);

-- Single-use invitation links; only the token's hash is stored. `used_by` is deliberately
-- not a foreign key: an invitation stays used after its assistant is removed.
CREATE TABLE invitations (
    token_hash      TEXT PRIMARY KEY,
    practitioner_id TEXT NOT NULL REFERENCES practitioners(id) ON DELETE CASCADE,
    created_at      INTEGER NOT NULL,
    expires_at      INTEGER NOT NULL,
    used_by         TEXT,
    used_at         INTEGER,
    CHECK ((used_by IS NULL) = (used_at IS NULL))
) STRICT;
CREATE INDEX invitations_practitioner ON invitations(practitioner_id);
