-- Instant sign-up, verify first (issue 15 point 7): the booking and onboarding sign-up forms
-- answer "we sent a 6-digit code" whatever the address, and only the code mailed to the
-- address opens a session. One row per attempt, found by the SHA-256 of its ticket (a random
-- token carried by the code page). `account_id` is the account the attempt created; NULL when
-- the address already had one: no code was sent and none can match (the owner got the
-- "you already have an account" mail instead). Only a keyed hash of the code (bound to the
-- ticket); 15 minutes; 5 wrong tries kill it; using it deletes the row. Nothing personal.
CREATE TABLE signup_codes (
    ticket_hash TEXT PRIMARY KEY,
    account_id  TEXT REFERENCES accounts(id) ON DELETE CASCADE,
    code_hash   TEXT NOT NULL,
    failures    INTEGER NOT NULL DEFAULT 0 CHECK (failures BETWEEN 0 AND 5),
    expires_at  INTEGER NOT NULL,
    created_at  INTEGER NOT NULL
) STRICT;
CREATE INDEX signup_codes_account ON signup_codes(account_id);
CREATE INDEX signup_codes_expiry ON signup_codes(expires_at);
