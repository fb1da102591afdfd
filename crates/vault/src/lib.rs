//! Health-data protection for careslot: field encryption, blind indexes, and key custody.
//!
//! The database host must only ever hold ciphertext. This crate provides the pieces:
//!
//! # Key hierarchy
//!
//! ```text
//! master key (32 bytes, given to keyd at start; never in any database)
//!   └─ seals, in keyd's own SQLite file ─▶ named keys, each with versions 1, 2, …
//!        (key-encryption keys, KEKs: "tenant-42", "patient-7", …)
//!          └─ wrap ─▶ data keys (DEKs), stored in the app database only as
//!               "vault:v<N>:<base64>" (never in the clear)
//!                 └─ seal ─▶ fields: 0x01 || nonce || XChaCha20-Poly1305(ciphertext+tag),
//!                      bound to (table, column, row) by the AAD
//! ```
//!
//! * [`crypto`]: [`DataKey`] seals and opens fields under an [`Aad`]; [`IndexKey`] derives
//!   truncated blind indexes for equality lookups (CipherSweet's design) and full keyed
//!   hashes for uniqueness constraints.
//! * [`custody`]: the [`KeyCustody`] trait the application uses — create a named key, get a
//!   fresh DEK with its wrapping ([`KeyCustody::datakey`]), unwrap DEKs in batches, rewrap
//!   under the latest version, rotate, retire old versions, delete. [`HttpCustody`] talks
//!   HTTP to keyd; [`LocalCustody`] runs the engine in-process.
//! * [`keyd`]: the key-custody service — [`KeyEngine`] (storage and semantics) and
//!   [`keyd::router`]/[`keyd::serve`] (the HTTP API). It runs as its own process with its own
//!   data directory, master key and token.
//!
//! Rotation: [`KeyCustody::rotate`] adds a version used for new wrappings; old wrappings keep
//! unwrapping until [`KeyCustody::retire_before`] (after a [`KeyCustody::rewrap`] pass)
//! destroys the old versions. Erasure is crypto-shredding: [`KeyCustody::delete_key`]
//! destroys every version of a named key, so the wrapped DEKs under it — including copies in
//! old database backups — can never be unwrapped again.
//!
//! Failure: when keyd cannot be reached, calls return [`VaultError::Unavailable`] within
//! a few seconds and the application answers 503 ([`VaultError::http_status`]); there is no
//! degraded mode that would serve or store plaintext.
//!
//! # Substituting OpenBao or HashiCorp Vault
//!
//! keyd's API has the shape of the transit secrets engine, so [`HttpCustody`] works against
//! a real transit mount unchanged:
//!
//! * Enable transit (`bao secrets enable transit`, or `-path=…` and
//!   [`HttpCustody::with_mount`]) and give careslot a token whose policy allows the
//!   `transit/keys/*`, `transit/datakey/plaintext/*`, `transit/decrypt/*` and
//!   `transit/rewrap/*` paths it uses.
//! * Same paths and JSON: `keys/{name}` (create/read/delete), `keys/{name}/rotate`,
//!   `keys/{name}/config`, `keys/{name}/trim`, `datakey/plaintext/{name}`, `decrypt/{name}`
//!   with `batch_input`, `rewrap/{name}`. Deletability is Vault's `deletion_allowed` key
//!   config, which [`KeyCustody::create_key`] sets with a `config` call when asked for a
//!   deletable key; [`KeyCustody::retire_before`] sets `min_decryption_version` and
//!   `min_encryption_version` (Vault refuses to trim without the latter) and then trims.
//! * Vault's default key type is `aes256-gcm96`, keyd's is XChaCha20-Poly1305. That does not
//!   matter: [`HttpCustody`] never sees key-encryption-key material and only depends on the
//!   API shape and the opaque `vault:v<N>:…` wrappings. (Wrappings are of course not
//!   portable between keyd and Vault: migrate by unwrapping with one and wrapping with the
//!   other.)
//! * Vault answers some "key not found" cases with 400 rather than 404, and an empty key
//!   list with 404; [`HttpCustody`] maps both.

pub mod crypto;
pub mod custody;
mod error;
pub mod keyd;
mod secret;

pub use crypto::{Aad, DataKey, IndexKey};
pub use custody::{
    validate_key_name, wrapped_key_version, HttpCustody, KeyCustody, KeyInfo, LocalCustody,
    MAX_BATCH,
};
pub use error::VaultError;
pub use keyd::{KeyConfig, KeyEngine, MasterKey};
pub use secret::{SecretToken, KEY_LEN};
