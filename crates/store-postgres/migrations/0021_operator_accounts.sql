-- Operator accounts (issue 15, point 5): the platform's operators (health authority, platform
-- staff) become named accounts with roles instead of one shared token in a cookie. The
-- bearer token of `serve --operator-token-file` stays, for automation, with every role.
-- Times in Unix seconds.

-- accounts.role must allow 'operator' (the constraint 0002 named). Every existing row
-- satisfies the wider one.
ALTER TABLE accounts DROP CONSTRAINT accounts_role_check;
ALTER TABLE accounts ADD CONSTRAINT accounts_role_check
    CHECK (role IN ('patient', 'practitioner', 'assistant', 'operator'));

-- One row per operator account: who created it (`token`, `cli`, or an operator's
-- `operator:<account id>`), and when it was disabled (its sessions are deleted then, and it
-- cannot sign in again).
CREATE TABLE operators (
    account_id  TEXT PRIMARY KEY REFERENCES accounts(id) ON DELETE CASCADE,
    created_at  BIGINT NOT NULL,
    created_by  TEXT NOT NULL CHECK (length(created_by) BETWEEN 1 AND 200),
    disabled_at BIGINT
);

-- What an operator may do: `campaign` (vaccination phases, chronodoses, protocols, totals,
-- export, the waiting room), `verification` (the practitioner review queue), `messages`
-- (dead letters). Read on every request, so a change applies at once on every node.
CREATE TABLE operator_roles (
    account_id TEXT NOT NULL REFERENCES operators(account_id) ON DELETE CASCADE,
    role       TEXT NOT NULL CHECK (role IN ('campaign', 'verification', 'messages')),
    PRIMARY KEY (account_id, role)
);

-- Who did what among the operator's actions (phases, chronodoses, protocols, exports, dead
-- letters, the waiting room, operator accounts): `actor` is `operator:token` or
-- `operator:<account id>`; `target` an id (never personal data). Never updated.
CREATE TABLE operator_actions (
    seq    BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at     BIGINT NOT NULL,
    actor  TEXT NOT NULL CHECK (length(actor) BETWEEN 1 AND 200),
    action TEXT NOT NULL CHECK (length(action) BETWEEN 1 AND 100),
    target TEXT CHECK (length(target) <= 200)
);
CREATE TRIGGER operator_actions_append_only BEFORE UPDATE ON operator_actions
    FOR EACH ROW EXECUTE FUNCTION careslot_append_only();
