//! Test harness: the real server on a loopback port over a fresh database (SQLite in a
//! temporary directory, or a new PostgreSQL database), driven over real HTTP.

#![allow(dead_code)]

pub mod host;
pub mod ics;
pub mod smart;
pub mod web;

use careslot_core::protection::Protector;
use careslot_server::services::{App, AppConfig};
use careslot_store::Store;
use careslot_store_postgres::{testing, PgStore};
use careslot_store_sqlite::SqliteStore;
use careslot_vault::{KeyCustody, KeyEngine, LocalCustody, MasterKey};
use reqwest::{Client, Method, StatusCode};
use serde_json::{json, Value};
use std::sync::Arc;
use tokio::sync::oneshot;

#[derive(Clone, Copy, Debug)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Where the data lives, so a server can be restarted on it.
pub enum Db {
    Sqlite(tempfile::TempDir),
    Postgres(String),
}

/// The database and, apart from it, the key service's directory.
pub struct DataLocation {
    pub db: Db,
    pub keys: tempfile::TempDir,
}

pub struct TestServer {
    pub base: String,
    pub client: Client,
    /// The operator's bearer token (every test server has one: see [`app_configured`]).
    pub operator: Option<String>,
    /// The app it serves (its services, e.g. the session cache).
    pub app: App,
    stop: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl TestServer {
    /// Waits until `token` is refused here (401 on `/api/v1/me`). On PostgreSQL a session
    /// revoked on another node ends here when that node's announcement arrives (NOTIFY:
    /// milliseconds); it must within 10 s.
    pub async fn wait_until_refused(&self, token: &str) {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        loop {
            let (s, _) = self
                .call(Method::GET, "/api/v1/me", Some(token), None)
                .await;
            if s == StatusCode::UNAUTHORIZED {
                return;
            }
            assert_eq!(s, StatusCode::OK, "while waiting for a revocation");
            assert!(
                std::time::Instant::now() < deadline,
                "a revoked session still works on this node after 10 s"
            );
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    }

    /// Waits until this node's session cache is empty: after session rows were changed
    /// behind the server's back, their announcement has been heard (nothing to wait for
    /// without a cache).
    pub async fn wait_sessions_forgotten(&self) {
        let Some(cache) = self.app.accounts.session_cache() else {
            return;
        };
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while !cache.is_empty() {
            assert!(
                std::time::Instant::now() < deadline,
                "the session cache did not hear a change made in the database within 10 s"
            );
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    }

    /// Stops accepting, drains, and waits for the server to finish.
    pub async fn stop(mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.task.take() {
            let _ = t.await;
        }
    }
}

pub async fn new_location(backend: Backend) -> DataLocation {
    let db = match backend {
        Backend::Sqlite => Db::Sqlite(tempfile::tempdir().expect("tempdir")),
        Backend::Postgres => Db::Postgres(
            testing::fresh_database()
                .await
                .unwrap_or_else(|e| panic!("{e}")),
        ),
    };
    DataLocation {
        db,
        keys: tempfile::tempdir().expect("keys dir"),
    }
}

pub async fn open_store(loc: &DataLocation) -> Arc<dyn Store> {
    match &loc.db {
        Db::Sqlite(dir) => Arc::new(SqliteStore::open_dir(dir.path()).await.expect("sqlite")),
        Db::Postgres(url) => Arc::new(PgStore::connect(url, 20).await.expect("postgres")),
    }
}

/// The embedded key service over the location's key directory.
pub async fn open_custody(loc: &DataLocation) -> Arc<dyn KeyCustody> {
    let master =
        MasterKey::load_or_create(&loc.keys.path().join("master.key")).expect("master key");
    let engine = KeyEngine::open(loc.keys.path(), master)
        .await
        .expect("key engine");
    Arc::new(LocalCustody::new(Arc::new(engine)))
}

pub async fn app_on(loc: &DataLocation, custody: Arc<dyn KeyCustody>) -> App {
    app_configured(loc, custody, AppConfig::default()).await
}

/// The app over `loc`. Without an operator token in `config`, one is made up, so that
/// tests can verify their practitioners through the operator API ([`TestServer::verify`]).
pub async fn app_configured(
    loc: &DataLocation,
    custody: Arc<dyn KeyCustody>,
    mut config: AppConfig,
) -> App {
    if config.operator_token.is_none() {
        config.operator_token = Some(Arc::new(careslot_vault::SecretToken::generate()));
    }
    let store = open_store(loc).await;
    let protect = Protector::bootstrap(&*store, custody, 16)
        .await
        .expect("protector");
    App::new(store, Arc::new(protect), config)
        .await
        .expect("app")
}

pub async fn start_on(loc: &DataLocation) -> TestServer {
    let custody = open_custody(loc).await;
    start_with(loc, custody).await
}

/// The server over `loc`, with keys from `custody` (an HTTP keyd, in some tests).
pub async fn start_with(loc: &DataLocation, custody: Arc<dyn KeyCustody>) -> TestServer {
    serve_app(app_on(loc, custody).await).await
}

/// A server over a fresh location with this configuration.
pub async fn start_configured(backend: Backend, config: AppConfig) -> (TestServer, DataLocation) {
    let loc = new_location(backend).await;
    let custody = open_custody(&loc).await;
    let app = app_configured(&loc, custody, config).await;
    (serve_app(app).await, loc)
}

pub async fn serve_app(app: App) -> TestServer {
    let operator = app
        .core
        .config
        .operator_token
        .as_ref()
        .map(|t| t.expose().to_owned());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    let (tx, rx) = oneshot::channel::<()>();
    let served = app.clone();
    let task = tokio::spawn(async move {
        careslot_server::api::serve(listener, served, async {
            let _ = rx.await;
        })
        .await
        .expect("serve");
    });
    let client = Client::builder()
        .pool_max_idle_per_host(256)
        .build()
        .expect("client");
    let server = TestServer {
        base,
        client,
        operator,
        app,
        stop: Some(tx),
        task: Some(task),
    };
    let (status, _) = server.call(Method::GET, "/healthz", None, None).await;
    assert_eq!(status, StatusCode::OK);
    server
}

pub async fn start(backend: Backend) -> (TestServer, DataLocation) {
    let loc = new_location(backend).await;
    (start_on(&loc).await, loc)
}

impl TestServer {
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut req = self
            .client
            .request(method, format!("{}{}", self.base, path));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.expect("request");
        let status = resp.status();
        let is_problem = resp
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("application/problem+json"));
        let text = resp.text().await.expect("body");
        let value: Value = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Value::String(text))
        };
        if status.is_client_error() || status.is_server_error() {
            assert!(is_problem, "{status} must be problem+json: {value}");
            assert_eq!(value["status"], status.as_u16(), "{value}");
            assert!(
                value["title"].is_string()
                    && value["detail"].is_string()
                    && value["type"].is_string(),
                "{value}"
            );
        }
        (status, value)
    }

    pub async fn get(&self, path: &str, token: Option<&str>) -> (StatusCode, Value) {
        self.call(Method::GET, path, token, None).await
    }

    pub async fn post(&self, path: &str, token: Option<&str>, body: Value) -> (StatusCode, Value) {
        self.call(Method::POST, path, token, Some(body)).await
    }

    /// A POST that, like a well-behaved client, comes back after `Retry-After` when the
    /// password-hashing pool is saturated (503 authentication-busy), many times at most.
    pub async fn post_retrying_busy(&self, path: &str, body: Value) -> (StatusCode, Value) {
        for _ in 0..100 {
            let (s, b) = self.post(path, None, body.clone()).await;
            if s != StatusCode::SERVICE_UNAVAILABLE
                || b["type"] != "https://careslot.eu/problems/authentication-busy"
            {
                return (s, b);
            }
            tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        }
        self.post(path, None, body).await
    }

    /// Registers an account and logs in; returns (token, account id).
    pub async fn account(&self, role: &str, name: &str) -> (String, String) {
        let email = format!(
            "{}-{}@example.test",
            name.to_lowercase().replace(' ', "."),
            uuid_like()
        );
        let (s, acc) = self
            .post_retrying_busy("/api/v1/accounts", json!({"email": email, "password": "correct horse battery", "name": name, "role": role}))
            .await;
        assert_eq!(s, StatusCode::CREATED, "{acc}");
        let (s, session) = self
            .post_retrying_busy(
                "/api/v1/sessions",
                json!({"email": email, "password": "correct horse battery"}),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{session}");
        let token = session["token"].as_str().expect("token").to_owned();
        // Practice accounts read patient data only with two-factor authentication.
        if role == "practitioner" || role == "assistant" {
            self.enrol_mfa(&token).await;
        }
        (token, acc["id"].as_str().expect("id").to_owned())
    }

    /// Sets up two-factor authentication for the account of `token` and confirms it with a
    /// code computed from the secret (RFC 6238, as an authenticator app would): the session
    /// then counts as having given its second factor. Returns the secret and the recovery
    /// codes.
    pub async fn enrol_mfa(&self, token: &str) -> (Vec<u8>, Vec<String>) {
        let (secret, codes, _) = self.enrol_mfa_code(token).await;
        (secret, codes)
    }

    /// [`TestServer::enrol_mfa`], also returning the TOTP code that confirmed it (spent).
    pub async fn enrol_mfa_code(&self, token: &str) -> (Vec<u8>, Vec<String>, String) {
        let (s, enrol) = self.post("/api/v1/me/mfa", Some(token), json!({})).await;
        assert_eq!(s, StatusCode::CREATED, "{enrol}");
        let secret =
            careslot_identity::mfa::secret_from_base32(enrol["secret"].as_str().expect("secret"))
                .expect("base32 secret");
        let code = totp_now(&secret, 0);
        let (s, codes) = self
            .post("/api/v1/me/mfa/confirm", Some(token), json!({"code": code}))
            .await;
        assert_eq!(s, StatusCode::OK, "{codes}");
        let codes = codes["recovery_codes"]
            .as_array()
            .expect("recovery codes")
            .iter()
            .map(|c| c.as_str().expect("code").to_owned())
            .collect();
        (secret, codes, code)
    }

    /// Signs in an account with two-factor authentication: the password gives a pending
    /// token, the code (`step_offset` time steps from now, -1..=1) completes it.
    pub async fn sign_in_with_code(
        &self,
        email: &str,
        password: &str,
        secret: &[u8],
        step_offset: i64,
    ) -> String {
        let (s, session) = self
            .post_retrying_busy(
                "/api/v1/sessions",
                json!({"email": email, "password": password}),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{session}");
        assert_eq!(session["mfa_required"], true, "{session}");
        let token = session["token"].as_str().expect("token").to_owned();
        let (s, done) = self
            .post(
                "/api/v1/sessions/current/mfa",
                Some(&token),
                json!({"code": totp_now(secret, step_offset)}),
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{done}");
        token
    }

    /// A practitioner with a place in Paris, one agenda open every day 08:00–18:00 (no
    /// holiday closures, so tests do not depend on the date), and one motive.
    /// The practice is verified by the operator (see [`TestServer::verify`]).
    pub async fn practice(&self, name: &str, duration: i64, capacity: i64) -> Practice {
        let p = self.practice_unverified(name, duration, capacity).await;
        self.verify(&p.token, &p.practitioner_id).await;
        p
    }

    /// Like [`TestServer::practice`], its practitioner left unverified: not listed in
    /// search, cannot sign prescriptions.
    pub async fn practice_unverified(&self, name: &str, duration: i64, capacity: i64) -> Practice {
        let (token, _) = self.account("practitioner", name).await;
        self.practice_for(token, name, duration, capacity).await
    }

    /// The same practice for the practitioner account of `token`.
    pub async fn practice_for(
        &self,
        token: String,
        name: &str,
        duration: i64,
        capacity: i64,
    ) -> Practice {
        let t = Some(token.as_str());
        let (s, profile) = self
            .call(Method::PUT, "/api/v1/practitioner/profile", t, Some(json!({"name": name, "specialty": "general-practitioner", "languages": ["fr", "en"]})))
            .await;
        assert_eq!(s, StatusCode::OK, "{profile}");
        let (s, place) = self
            .post(
                "/api/v1/places",
                t,
                json!({"name": "Cabinet", "address": "12 rue de Rivoli", "postcode": "75004", "city": "Paris",
                       "country": "FR", "lat": 48.8556, "lon": 2.3590, "timezone": "Europe/Paris"}),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{place}");
        let (s, agenda) = self
            .post(
                "/api/v1/agendas",
                t,
                json!({"place_id": place["id"], "holidays": null}),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{agenda}");
        let agenda_id = agenda["id"].as_str().expect("agenda id").to_owned();
        let (s, motive) = self
            .post(
                &format!("/api/v1/agendas/{agenda_id}/motives"),
                t,
                json!({"name": "Consultation", "duration_min": duration, "capacity": capacity}),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{motive}");
        let motive_id = motive["id"].as_str().expect("motive id").to_owned();
        let (s, rule) = self
            .post(
                &format!("/api/v1/agendas/{agenda_id}/opening-rules"),
                t,
                json!({"weekdays": [1, 2, 3, 4, 5, 6, 7], "start": "08:00", "end": "18:00", "motive_ids": [motive_id]}),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{rule}");
        let practitioner_id = profile["id"].as_str().expect("pid").to_owned();
        Practice {
            token,
            practitioner_id,
            agenda_id,
            motive_id,
        }
    }

    /// Declares a fresh RPPS number for the practitioner (their bearer `token`) and has the
    /// operator verify it: only verified practitioners are listed and sign prescriptions.
    /// Returns the identifier.
    pub async fn verify(&self, token: &str, practitioner_id: &str) -> String {
        let rpps = fresh_rpps();
        let (s, body) = self
            .call(
                Method::PUT,
                "/api/v1/practitioner/identifier",
                Some(token),
                Some(json!({"scheme": "rpps", "identifier": rpps})),
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{body}");
        assert_eq!(body["status"], "pending", "{body}");
        let op = self.operator.as_deref().expect("operator token");
        let (s, body) = self
            .post(
                &format!("/api/v1/operator/practitioners/{practitioner_id}/verify"),
                Some(op),
                json!({}),
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{body}");
        assert_eq!(body["status"], "verified", "{body}");
        rpps
    }

    /// Slots of a practice over the next week.
    pub async fn slots(&self, p: &Practice) -> Vec<Value> {
        let from = jiff::Zoned::now().date();
        let to = from.checked_add(jiff::Span::new().days(7)).expect("date");
        let (s, body) = self
            .get(
                &format!(
                    "/api/v1/agendas/{}/slots?motive_id={}&from={from}&to={to}",
                    p.agenda_id, p.motive_id
                ),
                None,
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{body}");
        body["slots"].as_array().expect("slots").clone()
    }

    /// Books `start` at the practice's desk (a phone booking) for `patient`: the request's
    /// patient fields (`{"patient": {...}}` or `{"patient_id": ...}`); 201 expected.
    pub async fn desk_book(&self, p: &Practice, start: &Value, patient: Value) -> Value {
        let mut body =
            serde_json::json!({"agenda_id": p.agenda_id, "motive_id": p.motive_id, "start": start});
        body.as_object_mut()
            .expect("object")
            .extend(patient.as_object().expect("object").clone());
        let (s, booked) = self
            .post("/api/v1/practitioner/appointments", Some(&p.token), body)
            .await;
        assert_eq!(s, StatusCode::CREATED, "{booked}");
        booked
    }
}

/// The TOTP code of `secret` for the time step `step_offset` steps from now.
pub fn totp_now(secret: &[u8], step_offset: i64) -> String {
    let now = jiff::Timestamp::now().as_second();
    careslot_identity::mfa::code_at(
        secret,
        now + step_offset * careslot_identity::mfa::STEP_SECONDS,
    )
}

pub struct Practice {
    pub token: String,
    pub practitioner_id: String,
    pub agenda_id: String,
    pub motive_id: String,
}

/// A valid RPPS number, random: "1" and nine random digits, then the Luhn key.
pub fn fresh_rpps() -> String {
    careslot_domain::ProfessionalId::rpps_from(1_000_000_000 + rand_u64() % 1_000_000_000)
        .value()
        .to_owned()
}

pub fn uuid_like() -> String {
    format!("{:x}", rand_u64())
}

fn rand_u64() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0),
    );
    h.finish()
}

/// Generates one `#[tokio::test]` per backend for an async fn taking a `Backend`.
#[macro_export]
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $name() {
                    super::$name($crate::common::Backend::Sqlite).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $name() {
                    super::$name($crate::common::Backend::Postgres).await;
                }
            )*
        }
    };
}

/// A verified account of `role` registered through the service (second factor counted as
/// done), with its address.
pub async fn person(
    app: &App,
    role: careslot_store::Role,
    name: &str,
) -> (careslot_server::services::Caller, String) {
    let email = format!(
        "{}-{}@example.test",
        name.to_lowercase().replace(' ', "."),
        uuid_like()
    );
    let id = app
        .register(
            careslot_server::services::NewIdentity {
                email: &email,
                password: "correct horse battery",
                name,
                role,
                phone: None,
                birth_date: None,
            },
            std::net::Ipv4Addr::LOCALHOST.into(),
        )
        .await
        .expect("register");
    (
        careslot_server::services::Caller {
            id: id.id,
            role,
            second_factor: true,
        },
        email,
    )
}
