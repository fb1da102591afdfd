//! keyd, the key-custody service: a [`KeyEngine`] holding named key-encryption keys (with
//! versions) in its own SQLite file, and an HTTP API shaped like the OpenBao/HashiCorp
//! Vault **transit** secrets engine, so that a real transit mount can replace it.
//!
//! keyd runs as its own process, with its own data directory, its own master key and its
//! own API token; the application database host never sees any of them.
//!
//! # API (all under `/v1`, JSON, token in `X-Vault-Token` or `Authorization: Bearer`)
//!
//! | route | does |
//! | --- | --- |
//! | `POST /transit/keys/{name}` | create (idempotent); body may carry `deletion_allowed` |
//! | `GET /transit/keys/{name}` | `name`, `latest_version`, `min_decryption_version`, `deletion_allowed`, `keys: {"1": unix time}`, … |
//! | `GET /transit/keys?list=true`, `LIST /transit/keys` | `{"data":{"keys":[…]}}` |
//! | `POST /transit/keys/{name}/rotate` | new latest version |
//! | `POST /transit/keys/{name}/config` | `min_decryption_version`, `min_encryption_version`, `deletion_allowed` |
//! | `POST /transit/keys/{name}/trim` | `min_available_version`: destroys older versions |
//! | `DELETE /transit/keys/{name}` | destroys every version (needs `deletion_allowed`) |
//! | `POST /transit/datakey/plaintext/{name}` | fresh 256-bit key: `plaintext`, `ciphertext`, `key_version` (`…/wrapped/…` omits the plaintext) |
//! | `POST /transit/encrypt/{name}` | `plaintext` (base64) or `batch_input` |
//! | `POST /transit/decrypt/{name}` | `ciphertext` or `batch_input` → `plaintext` / `batch_results` |
//! | `POST /transit/rewrap/{name}` | re-encrypts under the latest version (single or batch) |
//! | `POST /transit/hmac/{name}` | `input` (base64) or `batch_input` → `hmac: "vault:v1:…"` (HMAC-SHA256) |
//! | `GET /sys/health` | 200, no token needed |
//!
//! Errors are Vault's: `{"errors": ["…"]}` with 400 (bad input, undecryptable item, rule
//! violated), 403 (token), 404 (no such key), 405, 413 (body over 1 MiB), 500/503. Batches
//! hold at most 1000 items; when some item fails the reply is 400 with every item's result
//! in `data.batch_results` (like transit; `partial_failure_response_code` is honoured).
//!
//! Wrapped values are `vault:v<version>:<base64(0x01 || nonce || ciphertext+tag)>`,
//! XChaCha20-Poly1305 under the key version's material with AAD = key name + version.
//!
//! # TLS
//! keyd speaks plain HTTP. That is fine on loopback or a private socket on the same host;
//! across hosts put it behind a TLS-terminating reverse proxy (or use OpenBao/Vault, which
//! do TLS themselves). Built-in TLS "when configured" is not implemented yet and can come
//! later; [`crate::HttpCustody`] already speaks `https://`.

mod api;
mod engine;

pub use crate::secret::SecretToken;
pub use api::{router, serve, serve_tls, tls_config, TlsFiles, BODY_LIMIT};
pub use engine::{KeyConfig, KeyEngine, MasterKey, DB_FILE};

#[cfg(test)]
mod tests {
    use super::*;
    use crate::custody::{KeyCustody, LocalCustody};
    use crate::{Aad, VaultError};
    use std::path::Path;
    use std::sync::Arc;

    async fn engine(dir: &Path) -> Arc<KeyEngine> {
        Arc::new(KeyEngine::open(dir, MasterKey::generate()).await.unwrap())
    }

    fn contains(haystack: &[u8], needle: &[u8]) -> bool {
        haystack.windows(needle.len()).any(|w| w == needle)
    }

    /// Every byte of every file under `dir`.
    fn read_all_files(dir: &Path) -> Vec<(String, Vec<u8>)> {
        let mut out = Vec::new();
        for entry in std::fs::read_dir(dir).unwrap() {
            let entry = entry.unwrap();
            if entry.file_type().unwrap().is_file() {
                out.push((
                    entry.file_name().to_string_lossy().into_owned(),
                    std::fs::read(entry.path()).unwrap(),
                ));
            }
        }
        out
    }

    #[tokio::test]
    async fn rotation_retirement_and_rewrap() {
        let dir = tempfile::tempdir().unwrap();
        let custody = LocalCustody::new(engine(dir.path()).await);
        custody.create_key("tenant-1", false).await.unwrap();
        custody.create_key("tenant-1", false).await.unwrap(); // idempotent

        let (dek1, wrapped1) = custody.datakey("tenant-1").await.unwrap();
        assert!(wrapped1.starts_with("vault:v1:"));
        let aad = Aad::new("patients", "notes", "row-1");
        let sealed = dek1.seal(b"asthma", &aad);

        assert_eq!(custody.rotate("tenant-1").await.unwrap(), 2);
        let (_dek2, wrapped2) = custody.datakey("tenant-1").await.unwrap();
        assert!(wrapped2.starts_with("vault:v2:"));

        // The old wrapping still unwraps after rotation.
        let got = custody
            .unwrap("tenant-1", &[wrapped1.clone(), wrapped2.clone()])
            .await
            .unwrap();
        let k1 = got[0].as_ref().unwrap();
        assert_eq!(k1.open(&sealed, &aad).unwrap(), b"asthma");
        assert!(got[1].is_ok());

        // Rewrap moves it to the latest version; same DEK inside.
        let rewrapped = custody
            .rewrap("tenant-1", std::slice::from_ref(&wrapped1))
            .await
            .unwrap();
        assert!(rewrapped[0].starts_with("vault:v2:"));
        assert_eq!(crate::wrapped_key_version(&rewrapped[0]), Some(2));
        let again = custody.unwrap("tenant-1", &rewrapped).await.unwrap();
        assert_eq!(again[0].as_ref().unwrap().as_bytes(), dek1.as_bytes());

        // Retire v1: its wrappings fail with Decrypt, the rewrapped one still works.
        custody.retire_before("tenant-1", 2).await.unwrap();
        let info = custody.key_info("tenant-1").await.unwrap();
        assert_eq!(info.min_decryption_version, 2);
        assert_eq!(info.min_available_version, 2);
        assert_eq!(info.versions.keys().copied().collect::<Vec<_>>(), vec![2]);
        let after = custody
            .unwrap("tenant-1", &[wrapped1.clone(), rewrapped[0].clone()])
            .await
            .unwrap();
        assert_eq!(after[0].as_ref().unwrap_err(), &VaultError::Decrypt);
        assert!(after[1].is_ok());
        assert_eq!(
            custody.rewrap("tenant-1", &[wrapped1]).await.unwrap_err(),
            VaultError::Decrypt
        );
        // Retiring below the current minimum is a no-op; above the latest is invalid.
        custody.retire_before("tenant-1", 1).await.unwrap();
        assert!(matches!(
            custody.retire_before("tenant-1", 3).await,
            Err(VaultError::Invalid(_))
        ));
    }

    #[tokio::test]
    async fn per_item_errors_do_not_fail_the_batch() {
        let dir = tempfile::tempdir().unwrap();
        let custody = LocalCustody::new(engine(dir.path()).await);
        custody.create_key("k", false).await.unwrap();
        custody.create_key("other", false).await.unwrap();
        let (_, good) = custody.datakey("k").await.unwrap();
        let (_, foreign) = custody.datakey("other").await.unwrap();
        let mut tampered = good.clone();
        tampered.pop();
        tampered.push(if good.ends_with('A') { 'B' } else { 'A' });
        let inputs = vec![
            good.clone(),
            foreign,                 // other key's wrapping: AAD binds the name
            tampered,                // flipped base64 char
            "vault:v9:AAAA".into(),  // future version
            "not a wrapping".into(), // malformed
            good.replace("vault:v1:", "vault:v1:!"), // bad base64
        ];
        let out = custody.unwrap("k", &inputs).await.unwrap();
        assert!(out[0].is_ok());
        for r in &out[1..] {
            assert_eq!(r.as_ref().unwrap_err(), &VaultError::Decrypt);
        }
        assert_eq!(custody.unwrap("k", &[]).await.unwrap().len(), 0);
        assert_eq!(
            custody.unwrap("missing", &inputs).await.unwrap_err(),
            VaultError::NotFound
        );
    }

    #[tokio::test]
    async fn delete_shreds_for_good() {
        let dir = tempfile::tempdir().unwrap();
        let eng = engine(dir.path()).await;
        let custody = LocalCustody::new(eng.clone());
        custody.create_key("fixed", false).await.unwrap();
        assert!(matches!(
            custody.delete_key("fixed").await,
            Err(VaultError::Invalid(_))
        ));

        custody.create_key("patient-7", true).await.unwrap();
        assert!(
            custody
                .key_info("patient-7")
                .await
                .unwrap()
                .deletion_allowed
        );
        let (_, wrapped) = custody.datakey("patient-7").await.unwrap();
        let sealed_v1 = eng.sealed_material_for_tests("patient-7", 1).await.unwrap();
        let files = read_all_files(dir.path());
        assert!(files.iter().any(|(_, bytes)| contains(bytes, &sealed_v1)));
        custody.delete_key("patient-7").await.unwrap();

        assert_eq!(
            custody.key_info("patient-7").await.unwrap_err(),
            VaultError::NotFound
        );
        assert_eq!(
            custody
                .unwrap("patient-7", std::slice::from_ref(&wrapped))
                .await
                .unwrap_err(),
            VaultError::NotFound
        );
        assert_eq!(
            custody.delete_key("patient-7").await.unwrap_err(),
            VaultError::NotFound
        );
        assert_eq!(
            custody.datakey("patient-7").await.unwrap_err(),
            VaultError::NotFound
        );
        assert_eq!(
            custody.list_keys().await.unwrap(),
            vec!["fixed".to_string()]
        );

        // Re-creating the name makes a new, unrelated key: the old wrapping stays dead.
        custody.create_key("patient-7", true).await.unwrap();
        let out = custody.unwrap("patient-7", &[wrapped]).await.unwrap();
        assert_eq!(out[0].as_ref().unwrap_err(), &VaultError::Decrypt);

        // secure_delete + WAL truncation: the destroyed sealed bytes are gone from the files.
        for (file, bytes) in read_all_files(dir.path()) {
            assert!(!contains(&bytes, &sealed_v1), "sealed v1 still in {file}");
        }
    }

    #[tokio::test]
    async fn data_directory_holds_no_raw_key_material() {
        let dir = tempfile::tempdir().unwrap();
        let master = MasterKey::generate();
        let master_bytes = *master.bytes_for_tests();
        let eng = Arc::new(KeyEngine::open(dir.path(), master).await.unwrap());
        let custody = LocalCustody::new(eng.clone());
        let mut raw = Vec::new();
        for name in ["a", "b", "c"] {
            custody.create_key(name, true).await.unwrap();
            custody.rotate(name).await.unwrap();
            for version in [1, 2] {
                raw.push(eng.raw_material_for_tests(name, version).await.unwrap());
            }
            let (dek, _) = custody.datakey(name).await.unwrap();
            raw.push(*dek.as_bytes());
        }
        let files = read_all_files(dir.path());
        assert!(files.iter().any(|(f, b)| f == DB_FILE && !b.is_empty()));
        // The scan does see stored material (sealed), so its silence below means something.
        let sealed = eng.sealed_material_for_tests("a", 1).await.unwrap();
        assert!(files.iter().any(|(_, bytes)| contains(bytes, &sealed)));
        for (file, bytes) in &files {
            assert!(!contains(bytes, &master_bytes), "master key in {file}");
            for key in &raw {
                assert!(!contains(bytes, key), "raw key bytes in {file}");
                // Not even a 16-byte half of one.
                assert!(!contains(bytes, &key[..16]), "key fragment in {file}");
            }
        }
    }

    #[tokio::test]
    async fn a_data_dir_only_opens_with_its_master_key() {
        let dir = tempfile::tempdir().unwrap();
        let master = MasterKey::generate();
        let b64 = master.to_base64();
        let eng = KeyEngine::open(dir.path(), master).await.unwrap();
        eng.create_key("k", false).await.unwrap();
        let (_, wrapped, _) = eng.datakey("k").await.unwrap();
        eng.close().await;

        let wrong = KeyEngine::open(dir.path(), MasterKey::generate()).await;
        assert_eq!(wrong.unwrap_err(), VaultError::Denied);

        let again = KeyEngine::open(dir.path(), MasterKey::from_base64(&b64).unwrap())
            .await
            .unwrap();
        let out = again.decrypt_batch("k", &[wrapped]).await.unwrap();
        assert_eq!(out[0].as_ref().unwrap().len(), 32);
    }

    #[tokio::test]
    async fn vault_rules_for_config_and_trim() {
        let dir = tempfile::tempdir().unwrap();
        let eng = engine(dir.path()).await;
        eng.create_key("k", false).await.unwrap();
        eng.rotate("k").await.unwrap();
        eng.rotate("k").await.unwrap(); // v3
        let cfg = |d: Option<u32>, e: Option<u32>| KeyConfig {
            min_decryption_version: d,
            min_encryption_version: e,
            deletion_allowed: None,
        };
        assert!(eng.configure("k", cfg(Some(4), None)).await.is_err());
        // Trim needs min_encryption_version.
        assert!(eng.trim("k", 1).await.is_err());
        assert!(eng.configure("k", cfg(Some(3), Some(2))).await.is_err());
        eng.configure("k", cfg(Some(2), Some(2))).await.unwrap();
        assert!(eng.trim("k", 3).await.is_err());
        let info = eng.trim("k", 2).await.unwrap();
        assert_eq!(
            info.versions.keys().copied().collect::<Vec<_>>(),
            vec![2, 3]
        );
        assert!(eng.trim("k", 1).await.is_err()); // cannot go back
                                                  // Cannot re-enable decryption of a destroyed version.
        assert!(eng.configure("k", cfg(Some(1), None)).await.is_err());
        // min 0 is forced to 1 like Vault, which is still below min_available here.
        assert!(eng.configure("k", cfg(Some(0), None)).await.is_err());
    }

    #[tokio::test]
    async fn names_are_validated() {
        let dir = tempfile::tempdir().unwrap();
        let eng = engine(dir.path()).await;
        for bad in ["", "a/b", "..", "x y"] {
            assert!(matches!(
                eng.create_key(bad, false).await,
                Err(VaultError::Invalid(_))
            ));
        }
    }

    #[test]
    fn master_key_forms() {
        let m = MasterKey::generate();
        assert_eq!(format!("{m:?}"), "MasterKey(**redacted**)");
        let b64 = m.to_base64();
        let back = MasterKey::from_base64(&format!("  {}\n", b64.as_str())).unwrap();
        assert_eq!(back.bytes_for_tests(), m.bytes_for_tests());
        assert!(MasterKey::from_base64("AAAA").is_err());
        assert!(MasterKey::from_base64("not base64!").is_err());
        assert!(MasterKey::from_bytes(&[1; 31]).is_err());

        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keyd-master.key");
        let a = MasterKey::load_or_create(&path).unwrap();
        let b = MasterKey::load_or_create(&path).unwrap();
        assert_eq!(a.bytes_for_tests(), b.bytes_for_tests());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }
}
