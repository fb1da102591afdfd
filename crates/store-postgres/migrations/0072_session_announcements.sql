-- Session caches (issue #20): each node keeps the sessions it authenticated in memory and
-- must hear of every change that could end one or change what it proves, on any node and
-- by any path (sign-out, revocation, a second factor, a password change or reset, erasure,
-- a cascade from a deleted account, even an UPDATE typed by hand). A trigger announces
-- them, so no write path can forget to. The payload is the account id only: no token and
-- nothing about the person. A session's last use (written once a minute) is not announced.
CREATE FUNCTION careslot_session_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('careslot_sessions', OLD.account_id);
    IF TG_OP = 'UPDATE' AND NEW.account_id IS DISTINCT FROM OLD.account_id THEN
        PERFORM pg_notify('careslot_sessions', NEW.account_id);
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER sessions_announce_change
    AFTER DELETE OR UPDATE OF account_id, token_hash, created_at, expires_at, mfa_pending,
        second_factor_at, reauth_at
    ON sessions
    FOR EACH ROW EXECUTE FUNCTION careslot_session_changed();

-- What a cached session proves includes its account's role.
CREATE FUNCTION careslot_account_role_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('careslot_sessions', OLD.id);
    RETURN NULL;
END
$$;

CREATE TRIGGER accounts_announce_role_change
    AFTER UPDATE OF role ON accounts
    FOR EACH ROW WHEN (NEW.role IS DISTINCT FROM OLD.role)
    EXECUTE FUNCTION careslot_account_role_changed();

-- TRUNCATE (a restore, a test) fires no row trigger: it announces "every session" ('*').
CREATE FUNCTION careslot_sessions_truncated() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('careslot_sessions', '*');
    RETURN NULL;
END
$$;

CREATE TRIGGER sessions_announce_truncate
    AFTER TRUNCATE ON sessions
    FOR EACH STATEMENT EXECUTE FUNCTION careslot_sessions_truncated();
