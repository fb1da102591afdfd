-- The transactional outbox (issue 14): every outgoing message is a row written in the
-- transaction of the change that causes it. `payload_ct` is the rendered message (address,
-- subject, bodies, attachments) sealed under the recipient account's data key, so erasing the
-- account (its key destroyed, its rows deleted) leaves nothing deliverable or readable.
-- Times in milliseconds since the epoch (retries are driven at sub-second steps in tests).
CREATE TABLE outbox (
    id           TEXT PRIMARY KEY,               -- UUIDv7: Message-ID, SMS idempotency key
    channel      TEXT NOT NULL CHECK (channel IN ('email', 'sms')),
    dedupe_key   TEXT NOT NULL UNIQUE,           -- e.g. confirm:<appointment>
    account_id   TEXT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    payload_ct   BLOB NOT NULL,
    attempts     INTEGER NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    available_at INTEGER NOT NULL,
    locked_until INTEGER,
    last_error   TEXT,                           -- never personal data (redacted)
    dead_at      INTEGER,
    created_at   INTEGER NOT NULL
) STRICT;
CREATE INDEX outbox_due ON outbox(available_at) WHERE dead_at IS NULL;
CREATE INDEX outbox_account ON outbox(account_id);

-- Password resets: only the SHA-256 of the token is stored; single use (consuming deletes it,
-- with every other token of the account), 30 minutes (`expires_at`, seconds).
CREATE TABLE password_resets (
    token_hash TEXT PRIMARY KEY,
    account_id TEXT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    expires_at INTEGER NOT NULL,
    created_at INTEGER NOT NULL
) STRICT;
CREATE INDEX password_resets_account ON password_resets(account_id);
