-- What an account chose and proved about its messages (issue 14): the language messages are
-- written in, whether its email address and phone number were verified (SMS reminders go
-- only to a verified number), whether it wants reminders by email and by SMS, and whether
-- its emails may name the visit reason (health data: off unless the patient opts in).
-- A missing row means the defaults. Erasing the account deletes the row.
-- Times in Unix seconds.
CREATE TABLE account_settings (
    account_id        TEXT PRIMARY KEY REFERENCES accounts(id) ON DELETE CASCADE,
    lang              TEXT NOT NULL DEFAULT 'fr' CHECK (lang IN ('fr', 'en', 'de', 'it')),
    email_verified_at INTEGER,
    phone_verified_at INTEGER,
    reminders_email   INTEGER NOT NULL DEFAULT 1 CHECK (reminders_email IN (0, 1)),
    reminders_sms     INTEGER NOT NULL DEFAULT 1 CHECK (reminders_sms IN (0, 1)),
    show_motive       INTEGER NOT NULL DEFAULT 0 CHECK (show_motive IN (0, 1))
) STRICT;
