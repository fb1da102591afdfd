-- Account verification and address changes (issue 14). Only hashes of tokens and codes are
-- stored; every row belongs to an account and goes with it (erasure deletes the account row).
--
-- Email links: `verify` proves the current address (sign-up, resend); `change` carries the
-- new address, sealed under the account's key, until a link sent to that address is followed.
-- Single use (consuming deletes the row), 24 h (`expires_at`, Unix seconds).
CREATE TABLE email_tokens (
    token_hash   TEXT PRIMARY KEY,
    account_id   TEXT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    purpose      TEXT NOT NULL CHECK (purpose IN ('verify', 'change')),
    new_email_ct BYTEA,
    expires_at   BIGINT NOT NULL,
    created_at   BIGINT NOT NULL,
    CHECK ((purpose = 'change') = (new_email_ct IS NOT NULL))
);
CREATE INDEX email_tokens_account ON email_tokens(account_id);

-- The SMS code proving the account's phone number: at most one live code per account (a new
-- code replaces it), a keyed hash of it, 10 minutes, and the wrong tries so far (5 wrong
-- tries and the code is dead: a new one must be asked for).
CREATE TABLE phone_codes (
    account_id TEXT PRIMARY KEY REFERENCES accounts(id) ON DELETE CASCADE,
    code_hash  TEXT NOT NULL,
    failures   BIGINT NOT NULL DEFAULT 0 CHECK (failures BETWEEN 0 AND 5),
    expires_at BIGINT NOT NULL,
    created_at BIGINT NOT NULL
);
