-- Practitioner verification (issue 15, point 6): the national professional identifier a
-- practitioner declares (RPPS, LANR, Italian order registration), its verification status,
-- and who decided it, when and why. Only verified practitioners are listed in search and
-- sign prescriptions. No row: unverified (nothing declared). Times in Unix seconds.
--
-- An identifier of a professional is public-register data, not patient health data: stored
-- in clear so that a directory import can match it.
CREATE TABLE practitioner_credentials (
    practitioner_id TEXT PRIMARY KEY REFERENCES practitioners(id) ON DELETE CASCADE,
    scheme          TEXT CHECK (scheme IN ('rpps', 'lanr', 'it-order')),
    identifier      TEXT CHECK (length(identifier) BETWEEN 1 AND 40),
    status          TEXT NOT NULL
                    CHECK (status IN ('unverified', 'pending', 'verified', 'rejected', 'revoked')),
    declared_at     INTEGER,
    decided_at      INTEGER,
    -- `operator`, `import:<file name>`, `demo`, `import:sites`.
    decided_by      TEXT CHECK (length(decided_by) <= 200),
    reason          TEXT CHECK (length(reason) <= 2000),
    CHECK ((scheme IS NULL) = (identifier IS NULL)),
    -- Waiting for a decision needs something to decide on; without an identifier only the
    -- operator's own listings (the imported vaccination sites) are verified.
    CHECK (identifier IS NOT NULL OR status IN ('unverified', 'verified', 'revoked')),
    CHECK (status IN ('unverified', 'pending') OR (decided_at IS NOT NULL AND decided_by IS NOT NULL)),
    CHECK (status NOT IN ('rejected', 'revoked') OR reason IS NOT NULL)
) STRICT;
-- One practitioner per verified identifier: a second claim of the same number may be
-- declared (and reviewed) but never verified while the first one is.
CREATE UNIQUE INDEX practitioner_credentials_verified_id ON practitioner_credentials(scheme, identifier)
    WHERE status = 'verified' AND identifier IS NOT NULL;
CREATE INDEX practitioner_credentials_queue ON practitioner_credentials(status, declared_at);
CREATE INDEX practitioner_credentials_identifier ON practitioner_credentials(scheme, identifier);

-- Every change of a credential, appended in the transaction of the change: the audit trail
-- of who declared, verified, rejected or revoked what, when and why. Never updated.
CREATE TABLE practitioner_credential_events (
    seq             INTEGER PRIMARY KEY AUTOINCREMENT,
    practitioner_id TEXT NOT NULL REFERENCES practitioners(id) ON DELETE CASCADE,
    at              INTEGER NOT NULL,
    actor           TEXT NOT NULL CHECK (length(actor) <= 200),
    status          TEXT NOT NULL
                    CHECK (status IN ('unverified', 'pending', 'verified', 'rejected', 'revoked')),
    scheme          TEXT,
    identifier      TEXT,
    reason          TEXT
) STRICT;
CREATE INDEX practitioner_credential_events_of ON practitioner_credential_events(practitioner_id, seq);
CREATE TRIGGER practitioner_credential_events_append_only BEFORE UPDATE ON practitioner_credential_events
BEGIN
    SELECT RAISE(ABORT, 'careslot_append_only');
END;

-- The vaccination sites imported from the health authority's list stay listed: the operator
-- vouches for them.
INSERT INTO practitioner_credentials (practitioner_id, status, decided_at, decided_by)
    SELECT DISTINCT practitioner_id, 'verified', CAST(strftime('%s', 'now') AS INTEGER), 'import:sites'
      FROM imported_sites;
INSERT INTO practitioner_credential_events (practitioner_id, at, actor, status)
    SELECT practitioner_id, decided_at, decided_by, status FROM practitioner_credentials;
