//! The transit-shaped HTTP API of keyd (see the module documentation of [`crate::keyd`]).

use super::engine::{KeyConfig, KeyEngine};
use crate::custody::{KeyInfo, MAX_BATCH};
use crate::secret::SecretToken;
use crate::VaultError;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, Path, Request, State};
use axum::http::{header, HeaderMap, Method, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;
use zeroize::Zeroizing;

/// Largest request body keyd accepts.
pub const BODY_LIMIT: usize = 1024 * 1024;

#[derive(Clone)]
struct AppState {
    engine: Arc<KeyEngine>,
    token: Arc<SecretToken>,
}

/// The keyd HTTP API over `engine`. Every route except `GET /v1/sys/health` needs `token`
/// in `X-Vault-Token` (or `Authorization: Bearer …`).
pub fn router(engine: Arc<KeyEngine>, token: SecretToken) -> Router {
    let state = AppState {
        engine,
        token: Arc::new(token),
    };
    Router::new()
        .route("/v1/sys/health", get(health))
        .route("/v1/transit/keys", get(list_keys).fallback(list_keys_other))
        .route(
            "/v1/transit/keys/",
            get(list_keys).fallback(list_keys_other),
        )
        .route(
            "/v1/transit/keys/{name}",
            post(create_key).get(read_key).delete(delete_key),
        )
        .route("/v1/transit/keys/{name}/rotate", post(rotate_key))
        .route("/v1/transit/keys/{name}/config", post(config_key))
        .route("/v1/transit/keys/{name}/trim", post(trim_key))
        .route("/v1/transit/datakey/{kind}/{name}", post(datakey))
        .route("/v1/transit/encrypt/{name}", post(encrypt))
        .route("/v1/transit/decrypt/{name}", post(decrypt))
        .route("/v1/transit/rewrap/{name}", post(rewrap))
        .route("/v1/transit/hmac/{name}", post(hmac))
        .route(
            "/v1/transit/hmac/{name}/{algorithm}",
            post(hmac_with_algorithm),
        )
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(middleware::from_fn_with_state(state.clone(), require_token))
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .with_state(state)
}

/// Serves the keyd API on `listener` until `shutdown` completes, then drains connections.
pub async fn serve(
    listener: tokio::net::TcpListener,
    engine: Arc<KeyEngine>,
    token: SecretToken,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router(engine, token))
        .with_graceful_shutdown(shutdown)
        .await
}

/// Certificate chain and private key (PEM files) for serving keyd over TLS.
pub struct TlsFiles {
    pub cert_pem: std::path::PathBuf,
    pub key_pem: std::path::PathBuf,
}

/// Loads a PEM certificate chain and key into a rustls server configuration (ring provider).
pub fn tls_config(files: &TlsFiles) -> Result<Arc<rustls::ServerConfig>, VaultError> {
    use rustls_pki_types::pem::PemObject;
    use rustls_pki_types::{CertificateDer, PrivateKeyDer};
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(&files.cert_pem)
        .map_err(|e| VaultError::Invalid(format!("TLS certificate: {e}")))?
        .collect::<Result<_, _>>()
        .map_err(|e| VaultError::Invalid(format!("TLS certificate: {e}")))?;
    if certs.is_empty() {
        return Err(VaultError::Invalid(
            "TLS certificate file holds no certificate".into(),
        ));
    }
    let key = PrivateKeyDer::from_pem_file(&files.key_pem)
        .map_err(|e| VaultError::Invalid(format!("TLS key: {e}")))?;
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| VaultError::Invalid(format!("TLS: {e}")))?
    .with_no_client_auth()
    .with_single_cert(certs, key)
    .map_err(|e| VaultError::Invalid(format!("TLS: {e}")))?;
    Ok(Arc::new(config))
}

/// Serves keyd over TLS until `shutdown` resolves.
pub async fn serve_tls(
    listener: std::net::TcpListener,
    engine: Arc<KeyEngine>,
    token: SecretToken,
    tls: Arc<rustls::ServerConfig>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let handle = axum_server::Handle::new();
    let stopper = handle.clone();
    tokio::spawn(async move {
        shutdown.await;
        stopper.graceful_shutdown(Some(std::time::Duration::from_secs(5)));
    });
    listener.set_nonblocking(true)?;
    axum_server::from_tcp_rustls(
        listener,
        axum_server::tls_rustls::RustlsConfig::from_config(tls),
    )?
    .handle(handle)
    .serve(router(engine, token).into_make_service())
    .await
}

// ---------------------------------------------------------------------------------------
// Errors and plumbing
// ---------------------------------------------------------------------------------------

/// An error reply in Vault's shape: `{"errors": ["…"]}`.
struct ApiError {
    status: StatusCode,
    message: String,
}

impl ApiError {
    fn new(status: StatusCode, message: impl Into<String>) -> Self {
        ApiError {
            status,
            message: message.into(),
        }
    }

    fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, message)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status, Json(json!({ "errors": [self.message] }))).into_response()
    }
}

impl From<VaultError> for ApiError {
    fn from(e: VaultError) -> Self {
        match e {
            VaultError::NotFound => Self::new(StatusCode::NOT_FOUND, "key not found"),
            VaultError::Denied => Self::new(StatusCode::FORBIDDEN, "permission denied"),
            VaultError::Decrypt => Self::bad_request("decryption failed"),
            VaultError::Invalid(m) => Self::bad_request(m),
            VaultError::Unavailable(m) => {
                tracing::error!(error = %m, "keyd: storage unavailable");
                Self::new(StatusCode::SERVICE_UNAVAILABLE, "storage unavailable")
            }
            VaultError::Internal(m) => {
                tracing::error!(error = %m, "keyd: internal error");
                Self::new(StatusCode::INTERNAL_SERVER_ERROR, "internal error")
            }
        }
    }
}

type ApiResult = Result<Response, ApiError>;

/// `{"data": …}`. Serialised straight from typed values (no intermediate `Value`), so the
/// only copy of a plaintext outside its zeroizing holder is the response body itself.
#[derive(Serialize)]
struct DataEnvelope<T: Serialize> {
    data: T,
}

#[derive(Serialize)]
struct BatchResults<T: Serialize> {
    batch_results: Vec<BatchItem<T>>,
}

/// `{"data": …}` with status 200.
fn data(value: impl Serialize) -> Response {
    (StatusCode::OK, Json(DataEnvelope { data: value })).into_response()
}

/// Parses an optional JSON body: an empty body is the type's default.
fn parse_body<T: DeserializeOwned + Default>(
    body: Result<Bytes, BytesRejection>,
) -> Result<T, ApiError> {
    let body =
        body.map_err(|e| ApiError::new(e.status(), "request body too large or unreadable"))?;
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    serde_json::from_slice(&body).map_err(|_| ApiError::bad_request("invalid JSON body"))
}

fn check_batch_len(len: usize) -> Result<(), ApiError> {
    if len == 0 {
        return Err(ApiError::bad_request("missing batch input to process"));
    }
    if len > MAX_BATCH {
        return Err(ApiError::bad_request(format!(
            "batch too large: at most {MAX_BATCH} items"
        )));
    }
    Ok(())
}

/// Decodes each batch item's base64 field; a missing or bad item fails alone.
fn decode_batch<'a>(
    fields: impl Iterator<Item = Option<&'a str>>,
    missing: &str,
) -> Vec<Result<Zeroizing<Vec<u8>>, String>> {
    fields
        .map(|f| match f {
            Some(text) => decode_b64(text),
            None => Err(missing.to_owned()),
        })
        .collect()
}

/// The successfully decoded items, in order, for the engine's batch call.
fn decoded_ok(decoded: &[Result<Zeroizing<Vec<u8>>, String>]) -> Vec<&[u8]> {
    decoded
        .iter()
        .filter_map(|d| d.as_ref().ok().map(|v| v.as_slice()))
        .collect()
}

fn decode_b64(text: &str) -> Result<Zeroizing<Vec<u8>>, String> {
    STANDARD
        .decode(text.as_bytes())
        .map(Zeroizing::new)
        .map_err(|_| "input is not valid base64".to_string())
}

/// A base64 plaintext in a response, wiped once serialised.
#[derive(Serialize)]
#[serde(transparent)]
struct PlainB64(Zeroizing<String>);

impl PlainB64 {
    fn encode(bytes: &[u8]) -> Self {
        PlainB64(Zeroizing::new(STANDARD.encode(bytes)))
    }
}

/// One `batch_results` entry: the fields of a success, or `error`.
#[derive(Serialize)]
struct BatchItem<T: Serialize> {
    #[serde(flatten)]
    ok: Option<T>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    reference: Option<String>,
}

/// A batch answer the way transit gives it: 200 when every item succeeded, else 400 with
/// the per-item results in the body (or `partial_failure_response_code` when at least one
/// item succeeded).
fn batch_response<T: Serialize>(items: Vec<BatchItem<T>>, partial_code: Option<u16>) -> Response {
    let failures = items.iter().filter(|i| i.error.is_some()).count();
    let status = if failures == 0 {
        StatusCode::OK
    } else if failures < items.len() {
        partial_code
            .and_then(|c| StatusCode::from_u16(c).ok())
            .unwrap_or(StatusCode::BAD_REQUEST)
    } else {
        StatusCode::BAD_REQUEST
    };
    let body = DataEnvelope {
        data: BatchResults {
            batch_results: items,
        },
    };
    (status, Json(body)).into_response()
}

fn item_error(e: &VaultError) -> String {
    match e {
        VaultError::Decrypt => "decryption failed".into(),
        VaultError::Invalid(m) => m.clone(),
        _ => "internal error".into(),
    }
}

// ---------------------------------------------------------------------------------------
// Authentication
// ---------------------------------------------------------------------------------------

async fn require_token(State(state): State<AppState>, request: Request, next: Next) -> Response {
    if request.uri().path() == "/v1/sys/health" {
        return next.run(request).await;
    }
    if presented_token(request.headers()).is_some_and(|t| state.token.matches(t)) {
        next.run(request).await
    } else {
        ApiError::new(StatusCode::FORBIDDEN, "permission denied").into_response()
    }
}

fn presented_token(headers: &HeaderMap) -> Option<&[u8]> {
    if let Some(v) = headers.get("x-vault-token") {
        return Some(v.as_bytes());
    }
    let auth = headers.get(header::AUTHORIZATION)?.as_bytes();
    let scheme = auth.get(..7)?;
    scheme.eq_ignore_ascii_case(b"bearer ").then(|| &auth[7..])
}

// ---------------------------------------------------------------------------------------
// Handlers
// ---------------------------------------------------------------------------------------

async fn health() -> Response {
    (
        StatusCode::OK,
        Json(json!({ "initialized": true, "sealed": false, "standby": false })),
    )
        .into_response()
}

async fn not_found() -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, "unsupported path")
}

async fn method_not_allowed() -> ApiError {
    ApiError::new(StatusCode::METHOD_NOT_ALLOWED, "unsupported operation")
}

async fn list_keys(State(state): State<AppState>) -> ApiResult {
    let keys = state.engine.list_keys().await?;
    Ok(data(json!({ "keys": keys })))
}

/// Vault's `LIST` verb (anything else is 405).
async fn list_keys_other(State(state): State<AppState>, method: Method) -> ApiResult {
    if method.as_str() == "LIST" {
        list_keys(State(state)).await
    } else {
        Err(ApiError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "unsupported operation",
        ))
    }
}

fn key_json(info: &KeyInfo) -> Value {
    let keys: BTreeMap<String, i64> = info
        .versions
        .iter()
        .map(|(v, created)| (v.to_string(), *created))
        .collect();
    json!({
        "name": info.name,
        "type": "xchacha20-poly1305",
        "derived": false,
        "exportable": false,
        "allow_plaintext_backup": false,
        "deletion_allowed": info.deletion_allowed,
        "latest_version": info.latest_version,
        "min_decryption_version": info.min_decryption_version,
        "min_encryption_version": info.min_encryption_version,
        "min_available_version": info.min_available_version,
        "supports_encryption": true,
        "supports_decryption": true,
        "supports_derivation": false,
        "supports_signing": false,
        "keys": keys,
    })
}

#[derive(Deserialize, Default)]
struct CreateBody {
    #[serde(default, rename = "type")]
    key_type: Option<String>,
    #[serde(default)]
    deletion_allowed: Option<bool>,
    #[serde(default)]
    derived: Option<bool>,
    #[serde(default)]
    exportable: Option<bool>,
}

async fn create_key(
    State(state): State<AppState>,
    Path(name): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult {
    let body: CreateBody = parse_body(body)?;
    if let Some(t) = body.key_type.as_deref() {
        if t != "xchacha20-poly1305" {
            return Err(ApiError::bad_request(format!(
                "unsupported key type {t:?}: keyd only has xchacha20-poly1305"
            )));
        }
    }
    if body.derived == Some(true) || body.exportable == Some(true) {
        return Err(ApiError::bad_request(
            "derived and exportable keys are not supported",
        ));
    }
    let info = state
        .engine
        .create_key(&name, body.deletion_allowed.unwrap_or(false))
        .await?;
    Ok(data(key_json(&info)))
}

async fn read_key(State(state): State<AppState>, Path(name): Path<String>) -> ApiResult {
    let info = state.engine.key_info(&name).await?;
    Ok(data(key_json(&info)))
}

async fn delete_key(State(state): State<AppState>, Path(name): Path<String>) -> ApiResult {
    state.engine.delete_key(&name).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn rotate_key(State(state): State<AppState>, Path(name): Path<String>) -> ApiResult {
    state.engine.rotate(&name).await?;
    let info = state.engine.key_info(&name).await?;
    Ok(data(key_json(&info)))
}

#[derive(Deserialize, Default)]
struct ConfigBody {
    #[serde(default)]
    min_decryption_version: Option<u32>,
    #[serde(default)]
    min_encryption_version: Option<u32>,
    #[serde(default)]
    deletion_allowed: Option<bool>,
}

async fn config_key(
    State(state): State<AppState>,
    Path(name): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult {
    let body: ConfigBody = parse_body(body)?;
    let config = KeyConfig {
        min_decryption_version: body.min_decryption_version,
        min_encryption_version: body.min_encryption_version,
        deletion_allowed: body.deletion_allowed,
    };
    let info = state.engine.configure(&name, config).await?;
    Ok(data(key_json(&info)))
}

#[derive(Deserialize, Default)]
struct TrimBody {
    #[serde(default)]
    min_available_version: Option<u32>,
}

async fn trim_key(
    State(state): State<AppState>,
    Path(name): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult {
    let body: TrimBody = parse_body(body)?;
    let version = body
        .min_available_version
        .ok_or_else(|| ApiError::bad_request("missing min_available_version"))?;
    let info = state.engine.trim(&name, version).await?;
    Ok(data(key_json(&info)))
}

#[derive(Deserialize, Default)]
struct DatakeyBody {
    #[serde(default)]
    bits: Option<u32>,
}

async fn datakey(
    State(state): State<AppState>,
    Path((kind, name)): Path<(String, String)>,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult {
    let body: DatakeyBody = parse_body(body)?;
    let with_plaintext = match kind.as_str() {
        "plaintext" => true,
        "wrapped" => false,
        _ => {
            return Err(ApiError::bad_request(
                "datakey type must be plaintext or wrapped",
            ))
        }
    };
    if body.bits.is_some_and(|b| b != 256) {
        return Err(ApiError::bad_request("keyd only issues 256-bit data keys"));
    }
    let (key, ciphertext, key_version) = state.engine.datakey(&name).await?;
    let plaintext = with_plaintext.then(|| PlainB64::encode(key.as_bytes()));
    Ok(data(DatakeyOut {
        plaintext,
        ciphertext,
        key_version,
    }))
}

#[derive(Serialize)]
struct DatakeyOut {
    #[serde(skip_serializing_if = "Option::is_none")]
    plaintext: Option<PlainB64>,
    ciphertext: String,
    key_version: u32,
}

#[derive(Deserialize, Default)]
struct EncryptBody {
    #[serde(default)]
    plaintext: Option<Zeroizing<String>>,
    #[serde(default)]
    batch_input: Option<Vec<EncryptItem>>,
    #[serde(default)]
    partial_failure_response_code: Option<u16>,
}

#[derive(Deserialize)]
struct EncryptItem {
    #[serde(default)]
    plaintext: Option<Zeroizing<String>>,
    #[serde(default)]
    reference: Option<String>,
}

#[derive(Serialize)]
struct CiphertextOut {
    ciphertext: String,
    key_version: u32,
}

async fn encrypt(
    State(state): State<AppState>,
    Path(name): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult {
    let body: EncryptBody = parse_body(body)?;
    let Some(batch) = body.batch_input else {
        let plaintext = body
            .plaintext
            .ok_or_else(|| ApiError::bad_request("missing plaintext to encrypt"))?;
        let plain = decode_b64(&plaintext).map_err(ApiError::bad_request)?;
        let mut out = state.engine.encrypt_batch(&name, &[&plain]).await?;
        let (ciphertext, key_version) = out
            .pop()
            .ok_or_else(|| ApiError::from(VaultError::Internal("empty encrypt result".into())))?;
        return Ok(data(CiphertextOut {
            ciphertext,
            key_version,
        }));
    };
    check_batch_len(batch.len())?;
    let decoded = decode_batch(
        batch
            .iter()
            .map(|item| item.plaintext.as_deref().map(String::as_str)),
        "missing plaintext to encrypt",
    );
    let good = decoded_ok(&decoded);
    let mut wrapped = state.engine.encrypt_batch(&name, &good).await?.into_iter();
    let mut items = Vec::with_capacity(batch.len());
    for (item, decoded) in batch.into_iter().zip(&decoded) {
        let result = match decoded {
            Ok(_) => wrapped
                .next()
                .map(|(ciphertext, key_version)| CiphertextOut {
                    ciphertext,
                    key_version,
                })
                .ok_or_else(|| "internal error".to_string()),
            Err(e) => Err(e.clone()),
        };
        items.push(batch_item(result, item.reference));
    }
    Ok(batch_response(items, body.partial_failure_response_code))
}

fn batch_item<T: Serialize>(result: Result<T, String>, reference: Option<String>) -> BatchItem<T> {
    match result {
        Ok(ok) => BatchItem {
            ok: Some(ok),
            error: None,
            reference,
        },
        Err(error) => BatchItem {
            ok: None,
            error: Some(error),
            reference,
        },
    }
}

#[derive(Deserialize, Default)]
struct CiphertextBody {
    #[serde(default)]
    ciphertext: Option<String>,
    #[serde(default)]
    batch_input: Option<Vec<CiphertextItem>>,
    #[serde(default)]
    partial_failure_response_code: Option<u16>,
}

#[derive(Deserialize)]
struct CiphertextItem {
    #[serde(default)]
    ciphertext: Option<String>,
    #[serde(default)]
    reference: Option<String>,
}

/// The ciphertexts of a decrypt/rewrap body, whether single or batch. Missing ones are
/// empty strings (which fail per item as malformed).
fn ciphertexts(body: &CiphertextBody) -> Result<(Vec<String>, bool), ApiError> {
    match &body.batch_input {
        Some(batch) => {
            check_batch_len(batch.len())?;
            let cts = batch
                .iter()
                .map(|i| i.ciphertext.clone().unwrap_or_default())
                .collect();
            Ok((cts, true))
        }
        None => {
            let ct = body
                .ciphertext
                .clone()
                .filter(|c| !c.is_empty())
                .ok_or_else(|| ApiError::bad_request("missing ciphertext"))?;
            Ok((vec![ct], false))
        }
    }
}

fn references(body: CiphertextBody) -> Vec<Option<String>> {
    body.batch_input
        .map(|b| b.into_iter().map(|i| i.reference).collect())
        .unwrap_or_default()
}

#[derive(Serialize)]
struct PlaintextOut {
    plaintext: PlainB64,
}

async fn decrypt(
    State(state): State<AppState>,
    Path(name): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult {
    let body: CiphertextBody = parse_body(body)?;
    let (cts, is_batch) = ciphertexts(&body)?;
    let results = state.engine.decrypt_batch(&name, &cts).await?;
    if !is_batch {
        let plain = results
            .into_iter()
            .next()
            .ok_or_else(|| ApiError::from(VaultError::Internal("empty decrypt result".into())))??;
        return Ok(data(PlaintextOut {
            plaintext: PlainB64::encode(&plain),
        }));
    }
    let partial = body.partial_failure_response_code;
    let items = results
        .into_iter()
        .zip(references(body))
        .map(|(r, reference)| {
            let r = r
                .map(|plain| PlaintextOut {
                    plaintext: PlainB64::encode(&plain),
                })
                .map_err(|e| item_error(&e));
            batch_item(r, reference)
        })
        .collect();
    Ok(batch_response(items, partial))
}

async fn rewrap(
    State(state): State<AppState>,
    Path(name): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult {
    let body: CiphertextBody = parse_body(body)?;
    let (cts, is_batch) = ciphertexts(&body)?;
    let results = state.engine.rewrap_batch(&name, &cts).await?;
    if !is_batch {
        let (ciphertext, key_version) = results
            .into_iter()
            .next()
            .ok_or_else(|| ApiError::from(VaultError::Internal("empty rewrap result".into())))??;
        return Ok(data(CiphertextOut {
            ciphertext,
            key_version,
        }));
    }
    let partial = body.partial_failure_response_code;
    let items = results
        .into_iter()
        .zip(references(body))
        .map(|(r, reference)| {
            let r = r
                .map(|(ciphertext, key_version)| CiphertextOut {
                    ciphertext,
                    key_version,
                })
                .map_err(|e| item_error(&e));
            batch_item(r, reference)
        })
        .collect();
    Ok(batch_response(items, partial))
}

#[derive(Deserialize, Default)]
struct HmacBody {
    #[serde(default)]
    input: Option<Zeroizing<String>>,
    #[serde(default)]
    batch_input: Option<Vec<HmacItem>>,
    #[serde(default)]
    algorithm: Option<String>,
    #[serde(default)]
    partial_failure_response_code: Option<u16>,
}

#[derive(Deserialize)]
struct HmacItem {
    #[serde(default)]
    input: Option<Zeroizing<String>>,
    #[serde(default)]
    reference: Option<String>,
}

#[derive(Serialize)]
struct HmacOut {
    hmac: String,
}

async fn hmac(
    State(state): State<AppState>,
    Path(name): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult {
    let body: HmacBody = parse_body(body)?;
    let algorithm = body.algorithm.clone();
    hmac_inner(state, name, algorithm, body).await
}

async fn hmac_with_algorithm(
    State(state): State<AppState>,
    Path((name, algorithm)): Path<(String, String)>,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult {
    let body: HmacBody = parse_body(body)?;
    hmac_inner(state, name, Some(algorithm), body).await
}

async fn hmac_inner(
    state: AppState,
    name: String,
    algorithm: Option<String>,
    body: HmacBody,
) -> ApiResult {
    if let Some(a) = algorithm.as_deref() {
        if a != "sha2-256" {
            return Err(ApiError::bad_request(
                "unsupported algorithm: keyd only has sha2-256",
            ));
        }
    }
    let Some(batch) = body.batch_input else {
        let input = body
            .input
            .ok_or_else(|| ApiError::bad_request("missing input to process"))?;
        let raw = decode_b64(&input).map_err(ApiError::bad_request)?;
        let mut out = state.engine.hmac_batch(&name, &[&raw]).await?;
        let hmac = out
            .pop()
            .ok_or_else(|| ApiError::from(VaultError::Internal("empty hmac result".into())))?;
        return Ok(data(HmacOut { hmac }));
    };
    check_batch_len(batch.len())?;
    let decoded = decode_batch(
        batch
            .iter()
            .map(|item| item.input.as_deref().map(String::as_str)),
        "missing input to process",
    );
    let good = decoded_ok(&decoded);
    let mut macs = state.engine.hmac_batch(&name, &good).await?.into_iter();
    let mut items = Vec::with_capacity(batch.len());
    for (item, decoded) in batch.into_iter().zip(&decoded) {
        let result = match decoded {
            Ok(_) => macs
                .next()
                .map(|hmac| HmacOut { hmac })
                .ok_or_else(|| "internal error".to_string()),
            Err(e) => Err(e.clone()),
        };
        items.push(batch_item(result, item.reference));
    }
    Ok(batch_response(items, body.partial_failure_response_code))
}
