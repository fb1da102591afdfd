//! Key custody as the application sees it: create named key-encryption keys, get fresh data
//! keys with their wrapping, unwrap, rewrap, rotate, retire, shred.
//!
//! Two implementations: [`HttpCustody`] talks to keyd (or any OpenBao/Vault transit mount)
//! over HTTP, [`LocalCustody`] drives a [`KeyEngine`] in-process with the same semantics.

use crate::keyd::{KeyConfig, KeyEngine};
use crate::secret::SecretToken;
use crate::{DataKey, VaultError};
use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use reqwest::{Method, StatusCode};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;
use zeroize::Zeroizing;

/// Most items one batch request may carry (keyd rejects larger batches; the HTTP client
/// splits larger inputs into several requests).
pub const MAX_BATCH: usize = 1000;

/// What a named key looks like from outside (never its material).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyInfo {
    pub name: String,
    /// Version used for new wrappings. Versions start at 1.
    pub latest_version: u32,
    /// Oldest version that may still unwrap; older wrappings fail with `Decrypt`.
    pub min_decryption_version: u32,
    /// Vault semantics: 0 means "only the latest"; trimming needs it set.
    pub min_encryption_version: u32,
    /// Versions below this one are destroyed (0 until the first trim).
    pub min_available_version: u32,
    /// Whether [`KeyCustody::delete_key`] is allowed.
    pub deletion_allowed: bool,
    /// Existing versions and their creation time (Unix seconds).
    pub versions: BTreeMap<u32, i64>,
}

/// The application's view of key custody. See the crate documentation for the hierarchy.
#[async_trait::async_trait]
pub trait KeyCustody: Send + Sync + 'static {
    /// Creates the named key if absent (idempotent). `deletable` allows delete_key later.
    async fn create_key(&self, name: &str, deletable: bool) -> Result<(), VaultError>;
    /// A fresh random DEK and its wrapping (`"vault:v<N>:<base64>"`) under the named key's
    /// latest version.
    async fn datakey(&self, name: &str) -> Result<(DataKey, String), VaultError>;
    /// Unwraps many wrapped DEKs of one named key (batch_input). Per-item errors are per item.
    async fn unwrap(
        &self,
        name: &str,
        wrapped: &[String],
    ) -> Result<Vec<Result<DataKey, VaultError>>, VaultError>;
    /// Re-encrypts wrapped values under the latest version (batch).
    async fn rewrap(&self, name: &str, wrapped: &[String]) -> Result<Vec<String>, VaultError>;
    /// Adds a version; returns the new latest version.
    async fn rotate(&self, name: &str) -> Result<u32, VaultError>;
    /// Sets min_decryption_version to `min_version` and trims: older versions are destroyed
    /// and what they wrapped can no longer be unwrapped (rewrap first).
    async fn retire_before(&self, name: &str, min_version: u32) -> Result<(), VaultError>;
    /// Destroys all versions (crypto-shredding); NotFound afterwards.
    async fn delete_key(&self, name: &str) -> Result<(), VaultError>;
    async fn list_keys(&self) -> Result<Vec<String>, VaultError>;
    /// latest_version, min_decryption_version, deletion_allowed, ….
    async fn key_info(&self, name: &str) -> Result<KeyInfo, VaultError>;
}

/// Key names are path segments: 1..=128 of `A-Z a-z 0-9 _ - .`, not `.` or `..`.
pub fn validate_key_name(name: &str) -> Result<(), VaultError> {
    let ok_chars = name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'));
    if name.is_empty() || name.len() > 128 || !ok_chars || name == "." || name == ".." {
        return Err(VaultError::Invalid(
            "a key name is 1 to 128 characters of A-Z a-z 0-9 _ - .".into(),
        ));
    }
    Ok(())
}

/// The key version a wrapped value (`vault:v<N>:…`) was made with, if it is well-formed.
/// Useful to find rows that still need a rewrap before [`KeyCustody::retire_before`].
pub fn wrapped_key_version(wrapped: &str) -> Option<u32> {
    parse_wrapped_prefix(wrapped).map(|(version, _)| version)
}

/// Splits `vault:v<N>:<payload>` into `(N, payload)`; `N` is a positive decimal.
pub(crate) fn parse_wrapped_prefix(wrapped: &str) -> Option<(u32, &str)> {
    let rest = wrapped.strip_prefix("vault:v")?;
    let (version, payload) = rest.split_once(':')?;
    if version.is_empty() || version.len() > 10 || !version.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let version: u32 = version.parse().ok()?;
    (version > 0).then_some((version, payload))
}

// ---------------------------------------------------------------------------------------
// In-process custody
// ---------------------------------------------------------------------------------------

/// [`KeyCustody`] over an in-process [`KeyEngine`] (the embedded single-binary setup and
/// tests). Same semantics as [`HttpCustody`] against keyd, without HTTP.
#[derive(Clone)]
pub struct LocalCustody {
    engine: Arc<KeyEngine>,
}

impl LocalCustody {
    pub fn new(engine: Arc<KeyEngine>) -> Self {
        LocalCustody { engine }
    }

    pub fn engine(&self) -> &Arc<KeyEngine> {
        &self.engine
    }
}

impl std::fmt::Debug for LocalCustody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalCustody").finish_non_exhaustive()
    }
}

#[async_trait::async_trait]
impl KeyCustody for LocalCustody {
    async fn create_key(&self, name: &str, deletable: bool) -> Result<(), VaultError> {
        let info = self.engine.create_key(name, deletable).await?;
        if deletable && !info.deletion_allowed {
            let config = KeyConfig {
                deletion_allowed: Some(true),
                ..KeyConfig::default()
            };
            self.engine.configure(name, config).await?;
        }
        Ok(())
    }

    async fn datakey(&self, name: &str) -> Result<(DataKey, String), VaultError> {
        let (key, wrapped, _version) = self.engine.datakey(name).await?;
        Ok((key, wrapped))
    }

    async fn unwrap(
        &self,
        name: &str,
        wrapped: &[String],
    ) -> Result<Vec<Result<DataKey, VaultError>>, VaultError> {
        let results = self.engine.decrypt_batch(name, wrapped).await?;
        Ok(results
            .into_iter()
            .map(|r| {
                r.and_then(|plain| DataKey::from_bytes(&plain).map_err(|_| VaultError::Decrypt))
            })
            .collect())
    }

    async fn rewrap(&self, name: &str, wrapped: &[String]) -> Result<Vec<String>, VaultError> {
        self.engine
            .rewrap_batch(name, wrapped)
            .await?
            .into_iter()
            .map(|r| r.map(|(ciphertext, _version)| ciphertext))
            .collect()
    }

    async fn rotate(&self, name: &str) -> Result<u32, VaultError> {
        self.engine.rotate(name).await
    }

    async fn retire_before(&self, name: &str, min_version: u32) -> Result<(), VaultError> {
        self.engine.retire_before(name, min_version).await
    }

    async fn delete_key(&self, name: &str) -> Result<(), VaultError> {
        self.engine.delete_key(name).await
    }

    async fn list_keys(&self) -> Result<Vec<String>, VaultError> {
        self.engine.list_keys().await
    }

    async fn key_info(&self, name: &str) -> Result<KeyInfo, VaultError> {
        self.engine.key_info(name).await
    }
}

// ---------------------------------------------------------------------------------------
// HTTP custody
// ---------------------------------------------------------------------------------------

/// [`KeyCustody`] over the transit-shaped HTTP API of keyd, or of a real OpenBao/Vault
/// transit mount: it only relies on the API shape (paths, JSON fields, `vault:v<N>:`
/// wrappings) and never sees key-encryption-key material.
///
/// Timeouts are short (connect 2 s, whole request 5 s) so that a dead keyd turns into
/// [`VaultError::Unavailable`] quickly and the application fails closed.
pub struct HttpCustody {
    base: String,
    mount: String,
    token: SecretToken,
    client: reqwest::Client,
}

/// Connect timeout of [`HttpCustody`].
pub const HTTP_CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// Whole-request timeout of [`HttpCustody`].
pub const HTTP_REQUEST_TIMEOUT: Duration = Duration::from_secs(5);

impl HttpCustody {
    /// `base_url` is the server root (`http://127.0.0.1:8200`), without `/v1`. The transit
    /// mount defaults to `transit`; see [`HttpCustody::with_mount`].
    pub fn new(base_url: &str, token: SecretToken) -> Result<Self, VaultError> {
        Self::with_ca(base_url, token, None)
    }

    /// Like [`HttpCustody::new`], also trusting the PEM certificate(s) in `ca_pem` (a private
    /// CA or keyd's self-signed certificate) for `https://` URLs.
    pub fn with_ca(
        base_url: &str,
        token: SecretToken,
        ca_pem: Option<&[u8]>,
    ) -> Result<Self, VaultError> {
        let base = base_url.trim_end_matches('/').to_string();
        if !(base.starts_with("http://") || base.starts_with("https://")) {
            return Err(VaultError::Invalid(
                "the key custody URL must start with http:// or https://".into(),
            ));
        }
        let mut builder = reqwest::Client::builder()
            .connect_timeout(HTTP_CONNECT_TIMEOUT)
            .timeout(HTTP_REQUEST_TIMEOUT);
        if let Some(pem) = ca_pem {
            for cert in reqwest::Certificate::from_pem_bundle(pem)
                .map_err(|e| VaultError::Invalid(format!("CA certificate: {e}")))?
            {
                builder = builder.add_root_certificate(cert);
            }
        }
        let client = builder
            .build()
            .map_err(|e| VaultError::Internal(format!("cannot build the HTTP client: {e}")))?;
        Ok(HttpCustody {
            base,
            mount: "transit".into(),
            token,
            client,
        })
    }

    /// Uses another transit mount path (an OpenBao/Vault mount such as `careslot-transit`).
    pub fn with_mount(mut self, mount: &str) -> Result<Self, VaultError> {
        let mount = mount.trim_matches('/');
        let ok = !mount.is_empty()
            && mount
                .split('/')
                .all(|segment| validate_key_name(segment).is_ok());
        if !ok {
            return Err(VaultError::Invalid("invalid transit mount path".into()));
        }
        self.mount = mount.to_string();
        Ok(self)
    }

    fn url(&self, tail: &str) -> String {
        format!("{}/v1/{}/{}", self.base, self.mount, tail)
    }

    async fn send(
        &self,
        method: Method,
        tail: &str,
        body: Option<&Value>,
    ) -> Result<Reply, VaultError> {
        let mut request = self
            .client
            .request(method, self.url(tail))
            .header("X-Vault-Token", self.token.expose());
        if let Some(body) = body {
            request = request.json(body);
        }
        let response = request.send().await.map_err(transport_error)?;
        let status = response.status();
        let bytes = response.bytes().await.map_err(transport_error)?;
        Ok(Reply {
            status,
            body: Zeroizing::new(bytes.to_vec()),
        })
    }

    /// Sends and returns the `data` object of a successful reply.
    async fn call<T: DeserializeOwned>(
        &self,
        method: Method,
        tail: &str,
        body: Option<&Value>,
    ) -> Result<T, VaultError> {
        let reply = self.send(method, tail, body).await?;
        if !reply.status.is_success() {
            return Err(error_for(reply.status, &reply.body));
        }
        parse_data(&reply.body)
    }

    /// Sends a batch request and returns its `batch_results`. Vault answers 400 when some
    /// item failed, with the per-item results in the body; those are per-item errors, not a
    /// failed request.
    async fn call_batch<T: DeserializeOwned>(
        &self,
        tail: &str,
        body: &Value,
        expected: usize,
    ) -> Result<Vec<T>, VaultError> {
        let reply = self.send(Method::POST, tail, Some(body)).await?;
        let batch_status = reply.status.is_success()
            || reply.status == StatusCode::BAD_REQUEST
            || reply.status == StatusCode::INTERNAL_SERVER_ERROR;
        if batch_status {
            if let Ok(data) = parse_data::<BatchData<T>>(&reply.body) {
                if data.batch_results.len() != expected {
                    return Err(VaultError::Internal(
                        "key custody returned a batch of the wrong length".into(),
                    ));
                }
                return Ok(data.batch_results);
            }
        }
        Err(error_for(reply.status, &reply.body))
    }

    async fn ensure_deletable(&self, name: &str) -> Result<(), VaultError> {
        let body = json!({ "deletion_allowed": true });
        self.send_expect_ok(Method::POST, &format!("keys/{name}/config"), Some(&body))
            .await
    }

    async fn send_expect_ok(
        &self,
        method: Method,
        tail: &str,
        body: Option<&Value>,
    ) -> Result<(), VaultError> {
        let reply = self.send(method, tail, body).await?;
        if reply.status.is_success() {
            Ok(())
        } else {
            Err(error_for(reply.status, &reply.body))
        }
    }
}

impl std::fmt::Debug for HttpCustody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpCustody")
            .field("base", &self.base)
            .field("mount", &self.mount)
            .field("token", &self.token)
            .finish()
    }
}

struct Reply {
    status: StatusCode,
    body: Zeroizing<Vec<u8>>,
}

#[derive(Deserialize)]
struct Envelope<T> {
    data: Option<T>,
}

#[derive(Deserialize)]
struct ErrorsOnly {
    #[serde(default)]
    errors: Vec<String>,
}

#[derive(Deserialize)]
struct BatchData<T> {
    batch_results: Vec<T>,
}

#[derive(Deserialize)]
struct DatakeyData {
    plaintext: Zeroizing<String>,
    ciphertext: String,
}

#[derive(Deserialize)]
struct PlaintextItem {
    #[serde(default)]
    plaintext: Option<Zeroizing<String>>,
    #[serde(default)]
    error: Option<String>,
}

#[derive(Deserialize)]
struct CiphertextItem {
    #[serde(default)]
    ciphertext: Option<String>,
    #[serde(default)]
    error: Option<String>,
}

#[derive(Deserialize)]
struct KeyListData {
    #[serde(default)]
    keys: Vec<String>,
}

#[derive(Deserialize)]
struct RotateData {
    latest_version: Option<u32>,
}

#[derive(Deserialize)]
struct KeyData {
    name: String,
    latest_version: u32,
    min_decryption_version: u32,
    #[serde(default)]
    min_encryption_version: u32,
    #[serde(default)]
    min_available_version: u32,
    #[serde(default)]
    deletion_allowed: bool,
    #[serde(default)]
    keys: BTreeMap<String, Value>,
}

impl KeyData {
    fn into_info(self) -> KeyInfo {
        let versions = self
            .keys
            .into_iter()
            .filter_map(|(version, created)| {
                let version = version.parse::<u32>().ok()?;
                Some((version, created.as_i64().unwrap_or(0)))
            })
            .collect();
        KeyInfo {
            name: self.name,
            latest_version: self.latest_version,
            min_decryption_version: self.min_decryption_version,
            min_encryption_version: self.min_encryption_version,
            min_available_version: self.min_available_version,
            deletion_allowed: self.deletion_allowed,
            versions,
        }
    }
}

fn parse_data<T: DeserializeOwned>(body: &[u8]) -> Result<T, VaultError> {
    serde_json::from_slice::<Envelope<T>>(body)
        .ok()
        .and_then(|envelope| envelope.data)
        .ok_or_else(|| VaultError::Internal("key custody sent an unexpected reply".into()))
}

fn transport_error(e: reqwest::Error) -> VaultError {
    VaultError::Unavailable(format!("cannot reach key custody: {e}"))
}

/// Maps an unsuccessful reply to an error, Vault's way: 403 denied, 404 not found (Vault
/// also says "not found" with a 400 for some operations), 429/5xx unavailable.
fn error_for(status: StatusCode, body: &[u8]) -> VaultError {
    let messages = serde_json::from_slice::<ErrorsOnly>(body)
        .map(|e| e.errors)
        .unwrap_or_default();
    let first: String = messages
        .first()
        .map(|m| m.chars().take(200).collect())
        .unwrap_or_else(|| status.to_string());
    match status.as_u16() {
        401 | 403 => VaultError::Denied,
        404 => VaultError::NotFound,
        400 if looks_not_found(&first) => VaultError::NotFound,
        400 | 405 | 409 | 413 | 422 => VaultError::Invalid(first),
        429 | 500..=599 => {
            VaultError::Unavailable(format!("key custody answered {status}: {first}"))
        }
        _ => VaultError::Internal(format!("key custody answered {status}")),
    }
}

fn looks_not_found(message: &str) -> bool {
    let m = message.to_ascii_lowercase();
    m.contains("not found") || m.contains("no existing key")
}

fn decode_data_key(plaintext_b64: &str) -> Result<DataKey, VaultError> {
    let raw = Zeroizing::new(
        STANDARD
            .decode(plaintext_b64.as_bytes())
            .map_err(|_| VaultError::Decrypt)?,
    );
    DataKey::from_bytes(&raw).map_err(|_| VaultError::Decrypt)
}

fn ciphertext_batch(chunk: &[String]) -> Value {
    let items: Vec<Value> = chunk.iter().map(|c| json!({ "ciphertext": c })).collect();
    json!({ "batch_input": items })
}

#[async_trait::async_trait]
impl KeyCustody for HttpCustody {
    async fn create_key(&self, name: &str, deletable: bool) -> Result<(), VaultError> {
        validate_key_name(name)?;
        // Plain transit create (Vault ignores unknown fields, so nothing else is sent);
        // deletability is a separate config call, as on OpenBao/Vault.
        self.send_expect_ok(Method::POST, &format!("keys/{name}"), Some(&json!({})))
            .await?;
        if deletable {
            self.ensure_deletable(name).await?;
        }
        Ok(())
    }

    async fn datakey(&self, name: &str) -> Result<(DataKey, String), VaultError> {
        validate_key_name(name)?;
        let data: DatakeyData = self
            .call(
                Method::POST,
                &format!("datakey/plaintext/{name}"),
                Some(&json!({})),
            )
            .await?;
        let key = decode_data_key(&data.plaintext).map_err(|_| {
            VaultError::Internal("key custody sent a data key of the wrong size".into())
        })?;
        if wrapped_key_version(&data.ciphertext).is_none() {
            return Err(VaultError::Internal(
                "key custody sent a malformed wrapped key".into(),
            ));
        }
        Ok((key, data.ciphertext))
    }

    async fn unwrap(
        &self,
        name: &str,
        wrapped: &[String],
    ) -> Result<Vec<Result<DataKey, VaultError>>, VaultError> {
        validate_key_name(name)?;
        let mut out = Vec::with_capacity(wrapped.len());
        for chunk in wrapped.chunks(MAX_BATCH) {
            let body = ciphertext_batch(chunk);
            let items: Vec<PlaintextItem> = self
                .call_batch(&format!("decrypt/{name}"), &body, chunk.len())
                .await?;
            out.extend(
                items
                    .into_iter()
                    .map(|item| match (item.error, item.plaintext) {
                        (Some(e), _) if !e.is_empty() => Err(VaultError::Decrypt),
                        (_, Some(plaintext)) => decode_data_key(&plaintext),
                        _ => Err(VaultError::Decrypt),
                    }),
            );
        }
        Ok(out)
    }

    async fn rewrap(&self, name: &str, wrapped: &[String]) -> Result<Vec<String>, VaultError> {
        validate_key_name(name)?;
        let mut out = Vec::with_capacity(wrapped.len());
        for chunk in wrapped.chunks(MAX_BATCH) {
            let body = ciphertext_batch(chunk);
            let items: Vec<CiphertextItem> = self
                .call_batch(&format!("rewrap/{name}"), &body, chunk.len())
                .await?;
            for item in items {
                match (item.error, item.ciphertext) {
                    (Some(e), _) if !e.is_empty() => return Err(VaultError::Decrypt),
                    (_, Some(c)) if wrapped_key_version(&c).is_some() => out.push(c),
                    _ => return Err(VaultError::Decrypt),
                }
            }
        }
        Ok(out)
    }

    async fn rotate(&self, name: &str) -> Result<u32, VaultError> {
        validate_key_name(name)?;
        let reply = self
            .send(
                Method::POST,
                &format!("keys/{name}/rotate"),
                Some(&json!({})),
            )
            .await?;
        if !reply.status.is_success() {
            return Err(error_for(reply.status, &reply.body));
        }
        // Newer servers answer with the key; older Vault answers 204 with no body.
        match parse_data::<RotateData>(&reply.body) {
            Ok(RotateData {
                latest_version: Some(version),
            }) => Ok(version),
            _ => Ok(self.key_info(name).await?.latest_version),
        }
    }

    async fn retire_before(&self, name: &str, min_version: u32) -> Result<(), VaultError> {
        validate_key_name(name)?;
        let info = self.key_info(name).await?;
        if min_version == 0 || min_version > info.latest_version {
            return Err(VaultError::Invalid(format!(
                "cannot retire below version {min_version}: latest version is {}",
                info.latest_version
            )));
        }
        let target = min_version.max(info.min_decryption_version);
        if info.min_decryption_version < target || info.min_encryption_version < target {
            // Vault refuses to trim while min_encryption_version is 0 ("latest only").
            let body = json!({
                "min_decryption_version": target,
                "min_encryption_version": info.min_encryption_version.max(target),
            });
            self.send_expect_ok(Method::POST, &format!("keys/{name}/config"), Some(&body))
                .await?;
        }
        if info.min_available_version < target {
            let body = json!({ "min_available_version": target });
            self.send_expect_ok(Method::POST, &format!("keys/{name}/trim"), Some(&body))
                .await?;
        }
        Ok(())
    }

    async fn delete_key(&self, name: &str) -> Result<(), VaultError> {
        validate_key_name(name)?;
        self.send_expect_ok(Method::DELETE, &format!("keys/{name}"), None)
            .await
    }

    async fn list_keys(&self) -> Result<Vec<String>, VaultError> {
        let reply = self.send(Method::GET, "keys?list=true", None).await?;
        match reply.status {
            s if s.is_success() => Ok(parse_data::<KeyListData>(&reply.body)?.keys),
            // Vault answers an empty list with 404.
            StatusCode::NOT_FOUND => Ok(Vec::new()),
            s => Err(error_for(s, &reply.body)),
        }
    }

    async fn key_info(&self, name: &str) -> Result<KeyInfo, VaultError> {
        validate_key_name(name)?;
        let data: KeyData = self
            .call(Method::GET, &format!("keys/{name}"), None)
            .await?;
        Ok(data.into_info())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_names() {
        for ok in ["patients", "tenant-42", "a.b_c-D9", &"x".repeat(128)] {
            assert!(validate_key_name(ok).is_ok(), "{ok}");
        }
        for bad in ["", ".", "..", "a/b", "a b", "é", "a?b", &"x".repeat(129)] {
            assert!(validate_key_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn wrapped_versions() {
        assert_eq!(wrapped_key_version("vault:v1:AAAA"), Some(1));
        assert_eq!(wrapped_key_version("vault:v42:"), Some(42));
        assert_eq!(wrapped_key_version("vault:v0:AAAA"), None);
        assert_eq!(wrapped_key_version("vault:v:AAAA"), None);
        assert_eq!(wrapped_key_version("vault:v-1:AAAA"), None);
        assert_eq!(wrapped_key_version("vault:v99999999999:AAAA"), None);
        assert_eq!(wrapped_key_version("vault:1:AAAA"), None);
        assert_eq!(wrapped_key_version("AAAA"), None);
    }

    #[test]
    fn status_mapping() {
        let body = br#"{"errors":["permission denied"]}"#;
        assert_eq!(error_for(StatusCode::FORBIDDEN, body), VaultError::Denied);
        assert_eq!(error_for(StatusCode::NOT_FOUND, b""), VaultError::NotFound);
        let nf = br#"{"errors":["encryption key not found"]}"#;
        assert_eq!(error_for(StatusCode::BAD_REQUEST, nf), VaultError::NotFound);
        let bad = br#"{"errors":["deletion is not allowed for this key"]}"#;
        assert!(
            matches!(error_for(StatusCode::BAD_REQUEST, bad), VaultError::Invalid(m) if m.contains("deletion"))
        );
        assert!(matches!(
            error_for(StatusCode::SERVICE_UNAVAILABLE, b""),
            VaultError::Unavailable(_)
        ));
        assert!(matches!(
            error_for(StatusCode::INTERNAL_SERVER_ERROR, b"{}"),
            VaultError::Unavailable(_)
        ));
        assert!(matches!(
            error_for(StatusCode::TOO_MANY_REQUESTS, b""),
            VaultError::Unavailable(_)
        ));
    }

    #[test]
    fn http_custody_debug_hides_the_token() {
        let token = SecretToken::generate();
        let secret = token.expose().to_string();
        let c = HttpCustody::new("http://127.0.0.1:1/", token).unwrap();
        let shown = format!("{c:?}");
        assert!(!shown.contains(&secret));
        assert!(shown.contains("redacted"));
        assert!(HttpCustody::new("ftp://x", SecretToken::generate()).is_err());
        assert!(c.with_mount("a/../b").is_err());
    }
}
