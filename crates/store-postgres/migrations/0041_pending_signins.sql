-- Web sign-ups, verify first (issue 15): an account made on the web with a chosen password
-- cannot sign in with it until its address is proven (the link or code mailed there), so that
-- signing in after signing up never tells whether the address was free. `email_pending` is set
-- in the transaction that creates such an account and cleared by the one that proves the
-- address; a pending account is never a verified one. Accounts made through the API, by the
-- importer or the demo, and every account that existed before, are not pending.
ALTER TABLE account_settings ADD COLUMN email_pending BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE account_settings ADD CONSTRAINT account_settings_pending_unverified
    CHECK (NOT email_pending OR email_verified_at IS NULL);
