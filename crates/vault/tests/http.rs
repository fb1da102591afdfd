//! keyd over real HTTP on 127.0.0.1: every `KeyCustody` method through `HttpCustody`, the
//! raw transit-shaped API, authentication, limits, and failing closed.

use careslot_vault::keyd::{self, KeyEngine, MasterKey};
use careslot_vault::{
    Aad, HttpCustody, KeyCustody, LocalCustody, SecretToken, VaultError, MAX_BATCH,
};
use serde_json::{json, Value};
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

struct Keyd {
    addr: SocketAddr,
    token: SecretToken,
    engine: Arc<KeyEngine>,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<std::io::Result<()>>,
    _dir: tempfile::TempDir,
}

impl Keyd {
    async fn start() -> Keyd {
        let dir = tempfile::tempdir().unwrap();
        let engine = Arc::new(
            KeyEngine::open(&dir.path().join("keyd"), MasterKey::generate())
                .await
                .unwrap(),
        );
        let token = SecretToken::generate();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(keyd::serve(
            listener,
            engine.clone(),
            token.clone(),
            async move {
                let _ = stopped.await;
            },
        ));
        Keyd {
            addr,
            token,
            engine,
            stop: Some(stop),
            task,
            _dir: dir,
        }
    }

    fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    fn custody(&self) -> HttpCustody {
        HttpCustody::new(&self.url(), self.token.clone()).unwrap()
    }

    async fn stop(mut self) -> SocketAddr {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let addr = self.addr;
        self.task.await.unwrap().unwrap();
        addr
    }

    /// A raw request with the right token; returns status and JSON body (Null if empty).
    async fn raw(&self, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        raw_request(self, method, path, body, Some(self.token.expose())).await
    }
}

async fn raw_request(
    keyd: &Keyd,
    method: &str,
    path: &str,
    body: Option<Value>,
    token: Option<&str>,
) -> (u16, Value) {
    let client = reqwest::Client::new();
    let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
    let mut req = client.request(method, format!("{}{}", keyd.url(), path));
    if let Some(t) = token {
        req = req.header("X-Vault-Token", t);
    }
    if let Some(b) = body {
        req = req.json(&b);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    let bytes = resp.bytes().await.unwrap();
    let value = if bytes.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&bytes).unwrap()
    };
    (status, value)
}

#[tokio::test]
async fn every_custody_method_over_http() {
    let keyd = Keyd::start().await;
    let custody = keyd.custody();

    assert_eq!(custody.list_keys().await.unwrap(), Vec::<String>::new());
    custody.create_key("tenant-1", false).await.unwrap();
    custody.create_key("tenant-1", false).await.unwrap(); // idempotent
    custody.create_key("patient-9", true).await.unwrap();
    assert_eq!(
        custody.list_keys().await.unwrap(),
        vec!["patient-9".to_string(), "tenant-1".to_string()]
    );

    let info = custody.key_info("tenant-1").await.unwrap();
    assert_eq!(info.name, "tenant-1");
    assert_eq!(info.latest_version, 1);
    assert_eq!(info.min_decryption_version, 1);
    assert!(!info.deletion_allowed);
    assert_eq!(info.versions.len(), 1);
    assert!(
        custody
            .key_info("patient-9")
            .await
            .unwrap()
            .deletion_allowed
    );

    // datakey → seal a field → unwrap → open.
    let (dek, wrapped) = custody.datakey("tenant-1").await.unwrap();
    assert!(wrapped.starts_with("vault:v1:"));
    let aad = Aad::new("patients", "last_name", "p-1");
    let sealed = dek.seal_str("Dupont", &aad);
    let unwrapped = custody
        .unwrap("tenant-1", std::slice::from_ref(&wrapped))
        .await
        .unwrap();
    let key = unwrapped[0].as_ref().unwrap();
    assert_eq!(key.open_string(&sealed, &aad).unwrap(), "Dupont");

    // The in-process custody over the same engine agrees.
    let local = LocalCustody::new(keyd.engine.clone());
    let via_local = local
        .unwrap("tenant-1", std::slice::from_ref(&wrapped))
        .await
        .unwrap();
    assert_eq!(via_local[0].as_ref().unwrap().as_bytes(), dek.as_bytes());

    // Rotate; old wrapping still unwraps; rewrap moves it to v2.
    assert_eq!(custody.rotate("tenant-1").await.unwrap(), 2);
    let (_, wrapped_v2) = custody.datakey("tenant-1").await.unwrap();
    assert!(wrapped_v2.starts_with("vault:v2:"));
    let rewrapped = custody
        .rewrap("tenant-1", std::slice::from_ref(&wrapped))
        .await
        .unwrap();
    assert!(rewrapped[0].starts_with("vault:v2:"));
    let both = custody
        .unwrap("tenant-1", &[wrapped.clone(), rewrapped[0].clone()])
        .await
        .unwrap();
    assert_eq!(both[0].as_ref().unwrap().as_bytes(), dek.as_bytes());
    assert_eq!(both[1].as_ref().unwrap().as_bytes(), dek.as_bytes());

    // Retire v1: the old wrapping is dead (per item), the rewrapped one lives.
    custody.retire_before("tenant-1", 2).await.unwrap();
    let info = custody.key_info("tenant-1").await.unwrap();
    assert_eq!(info.min_decryption_version, 2);
    assert_eq!(info.min_available_version, 2);
    assert_eq!(info.versions.keys().copied().collect::<Vec<_>>(), vec![2]);
    let after = custody
        .unwrap("tenant-1", &[wrapped.clone(), rewrapped[0].clone()])
        .await
        .unwrap();
    assert_eq!(after[0].as_ref().unwrap_err(), &VaultError::Decrypt);
    assert_eq!(after[1].as_ref().unwrap().as_bytes(), dek.as_bytes());
    assert_eq!(
        custody.rewrap("tenant-1", &[wrapped]).await.unwrap_err(),
        VaultError::Decrypt
    );
    custody.retire_before("tenant-1", 2).await.unwrap(); // idempotent
    assert!(matches!(
        custody.retire_before("tenant-1", 5).await,
        Err(VaultError::Invalid(_))
    ));

    // Delete: only when allowed; afterwards NotFound and old wrappings are dead forever.
    assert!(matches!(
        custody.delete_key("tenant-1").await,
        Err(VaultError::Invalid(m)) if m.contains("deletion")
    ));
    let (_, shredded) = custody.datakey("patient-9").await.unwrap();
    custody.delete_key("patient-9").await.unwrap();
    assert_eq!(
        custody.key_info("patient-9").await.unwrap_err(),
        VaultError::NotFound
    );
    assert_eq!(
        custody
            .unwrap("patient-9", std::slice::from_ref(&shredded))
            .await
            .unwrap_err(),
        VaultError::NotFound
    );
    assert_eq!(
        custody.delete_key("patient-9").await.unwrap_err(),
        VaultError::NotFound
    );
    assert_eq!(
        custody.rotate("patient-9").await.unwrap_err(),
        VaultError::NotFound
    );
    custody.create_key("patient-9", true).await.unwrap();
    let dead = custody.unwrap("patient-9", &[shredded]).await.unwrap();
    assert_eq!(dead[0].as_ref().unwrap_err(), &VaultError::Decrypt);

    // Bad names never leave the client.
    assert!(matches!(
        custody.key_info("../sys").await,
        Err(VaultError::Invalid(_))
    ));

    keyd.stop().await;
}

#[tokio::test]
async fn large_batches_are_split_by_the_client() {
    let keyd = Keyd::start().await;
    let custody = keyd.custody();
    custody.create_key("bulk", false).await.unwrap();
    let (_, one) = custody.datakey("bulk").await.unwrap();
    let many = vec![one; MAX_BATCH + 5];
    let out = custody.unwrap("bulk", &many).await.unwrap();
    assert_eq!(out.len(), MAX_BATCH + 5);
    assert!(out.iter().all(Result::is_ok));
    let rewrapped = custody.rewrap("bulk", &many).await.unwrap();
    assert_eq!(rewrapped.len(), MAX_BATCH + 5);
    keyd.stop().await;
}

#[tokio::test]
async fn wrong_or_missing_token_is_denied() {
    let keyd = Keyd::start().await;
    keyd.custody().create_key("k", false).await.unwrap();

    let wrong = HttpCustody::new(&keyd.url(), SecretToken::generate()).unwrap();
    assert_eq!(wrong.list_keys().await.unwrap_err(), VaultError::Denied);
    assert_eq!(wrong.datakey("k").await.unwrap_err(), VaultError::Denied);
    assert_eq!(
        wrong.create_key("x", true).await.unwrap_err(),
        VaultError::Denied
    );
    assert_eq!(wrong.delete_key("k").await.unwrap_err(), VaultError::Denied);
    assert_eq!(
        wrong.key_info("nope").await.unwrap_err(),
        VaultError::Denied
    );

    let (status, body) = raw_request(&keyd, "GET", "/v1/transit/keys/k", None, None).await;
    assert_eq!(status, 403);
    assert_eq!(body, json!({ "errors": ["permission denied"] }));
    // Unknown paths are not revealed without a token either.
    let (status, _) = raw_request(&keyd, "GET", "/v1/secret/data/x", None, None).await;
    assert_eq!(status, 403);

    // Authorization: Bearer works too.
    let resp = reqwest::Client::new()
        .get(format!("{}/v1/transit/keys/k", keyd.url()))
        .header("Authorization", format!("Bearer {}", keyd.token.expose()))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);

    // Health needs no token.
    let (status, body) = raw_request(&keyd, "GET", "/v1/sys/health", None, None).await;
    assert_eq!(status, 200);
    assert_eq!(body["sealed"], json!(false));
    keyd.stop().await;
}

#[tokio::test]
async fn a_stopped_keyd_fails_closed() {
    let keyd = Keyd::start().await;
    let custody = keyd.custody();
    custody.create_key("k", false).await.unwrap();
    let (_, wrapped) = custody.datakey("k").await.unwrap();
    keyd.stop().await;

    let started = std::time::Instant::now();
    assert!(matches!(
        custody.datakey("k").await,
        Err(VaultError::Unavailable(_))
    ));
    assert!(matches!(
        custody.unwrap("k", &[wrapped]).await,
        Err(VaultError::Unavailable(_))
    ));
    assert!(matches!(
        custody.list_keys().await,
        Err(VaultError::Unavailable(_))
    ));
    assert!(matches!(
        custody.rotate("k").await,
        Err(VaultError::Unavailable(_))
    ));
    assert!(started.elapsed() < std::time::Duration::from_secs(5));
    assert_eq!(VaultError::Unavailable(String::new()).http_status(), 503);
}

#[tokio::test]
async fn raw_transit_api() {
    let keyd = Keyd::start().await;

    // Create with deletion_allowed in the body; read back in Vault's shape.
    let (status, body) = keyd
        .raw(
            "POST",
            "/v1/transit/keys/t",
            Some(json!({ "deletion_allowed": true })),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = keyd.raw("GET", "/v1/transit/keys/t", None).await;
    assert_eq!(status, 200);
    let d = &body["data"];
    assert_eq!(d["name"], "t");
    assert_eq!(d["latest_version"], 1);
    assert_eq!(d["min_decryption_version"], 1);
    assert_eq!(d["deletion_allowed"], true);
    assert!(d["keys"]["1"].as_i64().unwrap() > 1_600_000_000);

    // LIST verb and ?list=true.
    for (method, path) in [
        ("LIST", "/v1/transit/keys"),
        ("GET", "/v1/transit/keys?list=true"),
    ] {
        let (status, body) = keyd.raw(method, path, None).await;
        assert_eq!(status, 200);
        assert_eq!(body["data"]["keys"], json!(["t"]));
    }

    // encrypt / decrypt single.
    let (status, body) = keyd
        .raw(
            "POST",
            "/v1/transit/encrypt/t",
            Some(json!({ "plaintext": "aGVsbG8=" })),
        )
        .await;
    assert_eq!(status, 200);
    let ct = body["data"]["ciphertext"].as_str().unwrap().to_string();
    assert!(ct.starts_with("vault:v1:"));
    assert_eq!(body["data"]["key_version"], 1);
    let (status, body) = keyd
        .raw(
            "POST",
            "/v1/transit/decrypt/t",
            Some(json!({ "ciphertext": ct })),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(body["data"]["plaintext"], "aGVsbG8=");

    // Batch with one bad item: 400 with per-item results, references echoed.
    let batch = json!({ "batch_input": [
        { "ciphertext": ct, "reference": "a" },
        { "ciphertext": "vault:v1:AAAA", "reference": "b" },
    ]});
    let (status, body) = keyd
        .raw("POST", "/v1/transit/decrypt/t", Some(batch.clone()))
        .await;
    assert_eq!(status, 400);
    let results = body["data"]["batch_results"].as_array().unwrap();
    assert_eq!(results[0]["plaintext"], "aGVsbG8=");
    assert_eq!(results[0]["reference"], "a");
    assert!(results[0].get("error").is_none());
    assert_eq!(results[1]["error"], "decryption failed");
    assert_eq!(results[1]["reference"], "b");
    let mut partial = batch;
    partial["partial_failure_response_code"] = json!(207);
    let (status, _) = keyd
        .raw("POST", "/v1/transit/decrypt/t", Some(partial))
        .await;
    assert_eq!(status, 207);

    // Single undecryptable: 400 with errors.
    let (status, body) = keyd
        .raw(
            "POST",
            "/v1/transit/decrypt/t",
            Some(json!({ "ciphertext": "vault:v1:AAAA" })),
        )
        .await;
    assert_eq!(status, 400);
    assert_eq!(body["errors"], json!(["decryption failed"]));

    // datakey plaintext/wrapped.
    let (status, body) = keyd
        .raw("POST", "/v1/transit/datakey/plaintext/t", None)
        .await;
    assert_eq!(status, 200);
    assert_eq!(body["data"]["plaintext"].as_str().unwrap().len(), 44);
    assert_eq!(body["data"]["key_version"], 1);
    let (status, body) = keyd
        .raw("POST", "/v1/transit/datakey/wrapped/t", None)
        .await;
    assert_eq!(status, 200);
    assert!(body["data"].get("plaintext").is_none());
    assert!(body["data"]["ciphertext"]
        .as_str()
        .unwrap()
        .starts_with("vault:v1:"));
    let (status, _) = keyd
        .raw(
            "POST",
            "/v1/transit/datakey/plaintext/t",
            Some(json!({ "bits": 512 })),
        )
        .await;
    assert_eq!(status, 400);

    // rewrap single, after a rotation through the raw API.
    let (status, body) = keyd.raw("POST", "/v1/transit/keys/t/rotate", None).await;
    assert_eq!(status, 200);
    assert_eq!(body["data"]["latest_version"], 2);
    let (status, body) = keyd
        .raw(
            "POST",
            "/v1/transit/rewrap/t",
            Some(json!({ "ciphertext": ct })),
        )
        .await;
    assert_eq!(status, 200);
    assert!(body["data"]["ciphertext"]
        .as_str()
        .unwrap()
        .starts_with("vault:v2:"));

    // hmac single, batch, and with the algorithm in the path.
    let (status, body) = keyd
        .raw(
            "POST",
            "/v1/transit/hmac/t",
            Some(json!({ "input": "aGVsbG8=" })),
        )
        .await;
    assert_eq!(status, 200);
    let mac = body["data"]["hmac"].as_str().unwrap().to_string();
    assert!(mac.starts_with("vault:v2:"));
    let (_, body) = keyd
        .raw(
            "POST",
            "/v1/transit/hmac/t/sha2-256",
            Some(json!({ "input": "aGVsbG8=" })),
        )
        .await;
    assert_eq!(body["data"]["hmac"], json!(mac));
    let (status, body) = keyd
        .raw(
            "POST",
            "/v1/transit/hmac/t",
            Some(json!({ "batch_input": [{ "input": "aGVsbG8=" }, { "input": "!!" }] })),
        )
        .await;
    assert_eq!(status, 400);
    assert_eq!(body["data"]["batch_results"][0]["hmac"], json!(mac));
    assert!(body["data"]["batch_results"][1]["error"].is_string());
    let (status, _) = keyd
        .raw(
            "POST",
            "/v1/transit/hmac/t/sha2-512",
            Some(json!({ "input": "aGVsbG8=" })),
        )
        .await;
    assert_eq!(status, 400);

    // config + trim with Vault's rules.
    let (status, body) = keyd
        .raw(
            "POST",
            "/v1/transit/keys/t/trim",
            Some(json!({ "min_available_version": 2 })),
        )
        .await;
    assert_eq!(status, 400, "trim needs min_encryption_version: {body}");
    let (status, _) = keyd
        .raw(
            "POST",
            "/v1/transit/keys/t/config",
            Some(json!({ "min_decryption_version": 2, "min_encryption_version": 2 })),
        )
        .await;
    assert_eq!(status, 200);
    let (status, body) = keyd
        .raw(
            "POST",
            "/v1/transit/keys/t/trim",
            Some(json!({ "min_available_version": 2 })),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(body["data"]["keys"].as_object().unwrap().len(), 1);

    // Errors: unknown key 404, unknown path 404, wrong method 405, bad JSON 400.
    let (status, body) = keyd.raw("GET", "/v1/transit/keys/nope", None).await;
    assert_eq!(status, 404);
    assert!(body["errors"].is_array());
    let (status, _) = keyd
        .raw(
            "POST",
            "/v1/transit/decrypt/nope",
            Some(json!({ "ciphertext": ct })),
        )
        .await;
    assert_eq!(status, 404);
    let (status, _) = keyd.raw("GET", "/v1/transit/nothing", None).await;
    assert_eq!(status, 404);
    let (status, _) = keyd.raw("PUT", "/v1/transit/keys/t/rotate", None).await;
    assert_eq!(status, 405);
    let resp = reqwest::Client::new()
        .post(format!("{}/v1/transit/encrypt/t", keyd.url()))
        .header("X-Vault-Token", keyd.token.expose())
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 400);

    // Limits: batch over 1000 items, body over 1 MiB.
    let items: Vec<Value> = (0..=MAX_BATCH)
        .map(|_| json!({ "ciphertext": ct }))
        .collect();
    let (status, body) = keyd
        .raw(
            "POST",
            "/v1/transit/decrypt/t",
            Some(json!({ "batch_input": items })),
        )
        .await;
    assert_eq!(status, 400);
    assert!(body["errors"][0].as_str().unwrap().contains("batch"));
    let big = "A".repeat(keyd::BODY_LIMIT + 16);
    let (status, body) = keyd
        .raw(
            "POST",
            "/v1/transit/encrypt/t",
            Some(json!({ "plaintext": big })),
        )
        .await;
    assert_eq!(status, 413);
    assert!(body["errors"].is_array());

    // Delete via DELETE.
    let (status, _) = keyd.raw("DELETE", "/v1/transit/keys/t", None).await;
    assert_eq!(status, 204);
    let (status, _) = keyd.raw("GET", "/v1/transit/keys/t", None).await;
    assert_eq!(status, 404);

    keyd.stop().await;
}

/// keyd over TLS: a client trusting keyd's certificate works; one that does not is refused.
#[tokio::test]
async fn keyd_serves_over_tls() {
    use careslot_vault::keyd::{serve_tls, tls_config, TlsFiles};
    use careslot_vault::{HttpCustody, KeyCustody, KeyEngine, MasterKey, SecretToken};
    use std::sync::Arc;

    let dir = tempfile::tempdir().unwrap();
    let certified = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    let cert_pem = certified.cert.pem();
    std::fs::write(dir.path().join("cert.pem"), &cert_pem).unwrap();
    std::fs::write(
        dir.path().join("key.pem"),
        certified.signing_key.serialize_pem(),
    )
    .unwrap();
    let tls = tls_config(&TlsFiles {
        cert_pem: dir.path().join("cert.pem"),
        key_pem: dir.path().join("key.pem"),
    })
    .unwrap();
    let engine = Arc::new(
        KeyEngine::open(&dir.path().join("keys"), MasterKey::generate())
            .await
            .unwrap(),
    );
    let token = SecretToken::generate();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let server_token = SecretToken::new(token.expose()).unwrap();
    tokio::spawn(async move {
        let _ = serve_tls(listener, engine, server_token, tls, async {
            let _ = rx.await;
        })
        .await;
    });
    let url = format!("https://localhost:{port}");
    let trusted = HttpCustody::with_ca(
        &url,
        SecretToken::new(token.expose()).unwrap(),
        Some(cert_pem.as_bytes()),
    )
    .unwrap();
    trusted.create_key("tls-check", true).await.unwrap();
    let (key, wrapped) = trusted.datakey("tls-check").await.unwrap();
    let back = trusted.unwrap("tls-check", &[wrapped]).await.unwrap();
    assert_eq!(back[0].as_ref().unwrap().as_bytes(), key.as_bytes());
    let untrusting = HttpCustody::new(&url, SecretToken::new(token.expose()).unwrap()).unwrap();
    assert!(
        untrusting.list_keys().await.is_err(),
        "an unknown certificate must be refused"
    );
    let _ = tx.send(());
}
