-- The transactional outbox (issue 14): every outgoing message is a row written in the
-- transaction of the change that causes it. `payload_ct` is the rendered message (address,
-- subject, bodies, attachments) sealed under the recipient account's data key, so erasing the
-- account (its key destroyed, its rows deleted) leaves nothing deliverable or readable.
-- Times in milliseconds since the epoch (retries are driven at sub-second steps in tests).
-- Workers claim due rows with FOR UPDATE SKIP LOCKED and a lease (`locked_until`); an
-- enqueue announces itself with NOTIFY careslot_outbox.
CREATE TABLE outbox (
    id           TEXT PRIMARY KEY,               -- UUIDv7: Message-ID, SMS idempotency key
    channel      TEXT NOT NULL CHECK (channel IN ('email', 'sms')),
    dedupe_key   TEXT NOT NULL UNIQUE,           -- e.g. confirm:<appointment>
    account_id   TEXT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    payload_ct   BYTEA NOT NULL,
    attempts     BIGINT NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    available_at BIGINT NOT NULL,
    locked_until BIGINT,
    last_error   TEXT,                           -- never personal data (redacted)
    dead_at      BIGINT,
    created_at   BIGINT NOT NULL
);
CREATE INDEX outbox_due ON outbox(available_at) WHERE dead_at IS NULL;
CREATE INDEX outbox_account ON outbox(account_id);

-- Password resets: only the SHA-256 of the token is stored; single use (consuming deletes it,
-- with every other token of the account), 30 minutes (`expires_at`, seconds).
CREATE TABLE password_resets (
    token_hash TEXT PRIMARY KEY,
    account_id TEXT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    expires_at BIGINT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX password_resets_account ON password_resets(account_id);
