-- E-prescriptions: practitioners' Ed25519 signing keys and the prescriptions they sign.

-- A practitioner's signing keys. The public key is published; the private key is stored
-- only sealed under a data key of its own, wrapped by "signer-<id>" in key custody.
CREATE TABLE signing_keys (
    id              TEXT PRIMARY KEY,
    practitioner_id TEXT NOT NULL REFERENCES practitioners(id) ON DELETE CASCADE,
    algorithm       TEXT NOT NULL CHECK (algorithm = 'Ed25519'),
    public_key      BYTEA NOT NULL CHECK (octet_length(public_key) = 32),
    wrapped_key     TEXT NOT NULL,
    private_ct      BYTEA NOT NULL,
    created_at      BIGINT NOT NULL,
    retired_at      BIGINT
);
-- One key in use per practitioner: two first uses racing create one key, not two.
CREATE UNIQUE INDEX signing_keys_current ON signing_keys(practitioner_id) WHERE retired_at IS NULL;

-- A signed prescription. The canonical payload (patient name, medications, instructions)
-- is sealed under the agenda's data key; the signature covers that payload. The pharmacist's
-- capability (the secret in the QR code) is looked up by its hash; a sealed copy lets the
-- participants download the PDF again. Dispensing happens once: a conditional UPDATE on
-- dispensed_at IS NULL.
CREATE TABLE prescriptions (
    id              TEXT PRIMARY KEY,
    reservation_id  TEXT NOT NULL REFERENCES reservations(id),
    practitioner_id TEXT NOT NULL REFERENCES practitioners(id),
    key_id          TEXT NOT NULL REFERENCES signing_keys(id),
    issued_at       BIGINT NOT NULL,
    payload_ct      BYTEA NOT NULL,
    signature       BYTEA NOT NULL CHECK (octet_length(signature) = 64),
    capability_hash TEXT NOT NULL UNIQUE,
    capability_ct   BYTEA NOT NULL,
    dispensed_at    BIGINT CHECK (dispensed_at IS NULL OR dispensed_at >= issued_at)
);
CREATE INDEX prescriptions_reservation ON prescriptions(reservation_id, issued_at);
