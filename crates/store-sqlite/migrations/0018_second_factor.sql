-- The front door, second part (issue 15): two-factor authentication (TOTP and recovery
-- codes), what a session proved and on which device, and re-authentication.

-- 1 while a session has the password but still waits for its second factor (a "partial"
-- session: it authenticates nothing but the second step). `second_factor_at`: when this
-- session gave a TOTP or recovery code. `reauth_at`: when it last proved the password again
-- (sign-in counts); sensitive changes ask for a recent one. `device`: the User-Agent that
-- signed in, cut short (shown to the account owner only).
ALTER TABLE sessions ADD COLUMN mfa_pending INTEGER NOT NULL DEFAULT 0 CHECK (mfa_pending IN (0, 1));
ALTER TABLE sessions ADD COLUMN second_factor_at INTEGER;
ALTER TABLE sessions ADD COLUMN reauth_at INTEGER;
ALTER TABLE sessions ADD COLUMN device TEXT;

-- One TOTP secret per account, sealed under the account's data key. Until `confirmed_at`
-- the enrolment is pending (a first code confirms it). `last_step` is the last RFC 6238 time
-- step accepted: a code is accepted once (the UPDATE that raises it is the check).
CREATE TABLE mfa_totp (
    account_id   TEXT PRIMARY KEY REFERENCES accounts(id) ON DELETE CASCADE,
    secret_ct    BLOB NOT NULL,
    created_at   INTEGER NOT NULL,
    confirmed_at INTEGER,
    last_step    INTEGER NOT NULL DEFAULT 0 CHECK (last_step >= 0)
) STRICT;

-- Recovery codes, stored as keyed hashes; `used_at` set once (single use).
CREATE TABLE mfa_recovery_codes (
    account_id TEXT NOT NULL REFERENCES mfa_totp(account_id) ON DELETE CASCADE,
    code_hash  TEXT NOT NULL,
    used_at    INTEGER,
    PRIMARY KEY (account_id, code_hash)
) STRICT;
