//! The real `careslot` binary as a child process, and a small HTTP client for the public
//! API, for tests that stop, signal, back up and restore whole nodes.
#![allow(dead_code)]

use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// Where a node keeps its data: its SQLite data directory or a PostgreSQL URL, and the
/// embedded key service's directory.
#[derive(Clone, Debug)]
pub struct Place {
    pub data_dir: PathBuf,
    pub keys_dir: PathBuf,
    pub database_url: Option<String>,
}

impl Place {
    /// `--data-dir`, `--keys-dir` and, on PostgreSQL, `--database-url`.
    pub fn args(&self) -> Vec<String> {
        let mut a = vec![
            "--data-dir".to_owned(),
            self.data_dir.display().to_string(),
            "--keys-dir".to_owned(),
            self.keys_dir.display().to_string(),
        ];
        if let Some(url) = &self.database_url {
            a.push("--database-url".to_owned());
            a.push(url.clone());
        }
        a
    }
}

/// A fresh place under `root` (`name` keeps places apart); on PostgreSQL a new database.
pub async fn new_place(root: &Path, name: &str, postgres: bool) -> Place {
    let database_url = if postgres {
        Some(
            careslot_store_postgres::testing::fresh_database()
                .await
                .expect("PostgreSQL"),
        )
    } else {
        None
    };
    Place {
        data_dir: root.join(name).join("data"),
        keys_dir: root.join(name).join("keys"),
        database_url,
    }
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// `careslot <args>` run to its end: (status, stdout, stderr).
pub fn run(args: &[String]) -> (ExitStatus, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_careslot"))
        .args(args)
        .env_remove("DATABASE_URL")
        .env("CARESLOT_LOG", "warn")
        .output()
        .expect("run careslot");
    (
        out.status,
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// A running `careslot serve`; killed when dropped unless it was stopped.
pub struct Node {
    pub child: Option<Child>,
    pub base: String,
    pub log: PathBuf,
    pub client: reqwest::Client,
}

impl Drop for Node {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Node {
    /// Starts `careslot serve` on `place` with `extra` flags and waits for /healthz.
    pub async fn start(place: &Place, extra: &[&str]) -> Node {
        let port = free_port();
        let log = place
            .data_dir
            .parent()
            .expect("place root")
            .join(format!("serve-{port}.log"));
        std::fs::create_dir_all(log.parent().expect("dir")).expect("log dir");
        let mut args = vec![
            "serve".to_owned(),
            "--bind".to_owned(),
            format!("127.0.0.1:{port}"),
        ];
        args.extend(place.args());
        args.extend(extra.iter().map(|s| s.to_string()));
        let child = Command::new(env!("CARGO_BIN_EXE_careslot"))
            .args(&args)
            .env_remove("DATABASE_URL")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).expect("log file"))
            .spawn()
            .expect("start careslot serve");
        let node = Node {
            child: Some(child),
            base: format!("http://127.0.0.1:{port}"),
            log,
            client: reqwest::Client::new(),
        };
        let started = Instant::now();
        while started.elapsed() < Duration::from_secs(120) {
            if let Ok(r) = node
                .client
                .get(format!("{}/healthz", node.base))
                .send()
                .await
            {
                if r.status() == 200 {
                    return node;
                }
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("careslot serve never answered; log:\n{}", node.log_text());
    }

    pub fn pid(&self) -> i32 {
        self.child.as_ref().map(|c| c.id() as i32).expect("running")
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Sends `signal` and waits up to `within` for the process to end: its exit status and
    /// how long it took, or None if it was still running (then it is killed).
    pub fn signal_and_wait(
        &mut self,
        signal: i32,
        within: Duration,
    ) -> Option<(ExitStatus, Duration)> {
        let mut child = self.child.take().expect("running");
        // SAFETY: kill(2) on our own child's pid.
        unsafe {
            libc::kill(child.id() as i32, signal);
        }
        let sent = Instant::now();
        while sent.elapsed() < within {
            if let Ok(Some(status)) = child.try_wait() {
                return Some((status, sent.elapsed()));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = child.kill();
        let _ = child.wait();
        None
    }

    pub async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (u16, Value) {
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
        let status = resp.status().as_u16();
        let text = resp.text().await.expect("body");
        let value = serde_json::from_str(&text).unwrap_or(Value::String(text));
        (status, value)
    }

    pub async fn get(&self, path: &str, token: Option<&str>) -> (u16, Value) {
        self.call(reqwest::Method::GET, path, token, None).await
    }

    pub async fn post(&self, path: &str, token: Option<&str>, body: Value) -> (u16, Value) {
        self.call(reqwest::Method::POST, path, token, Some(body))
            .await
    }

    /// A POST that comes back after a 503 (password hashing busy), as a client would.
    async fn post_patiently(&self, path: &str, body: Value) -> (u16, Value) {
        for _ in 0..100 {
            let (s, b) = self.post(path, None, body.clone()).await;
            if s != 503 {
                return (s, b);
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        self.post(path, None, body).await
    }

    /// Signs in (with a TOTP code when the account has two-factor authentication); returns
    /// the session token.
    pub async fn sign_in(&self, email: &str) -> String {
        let (s, session) = self
            .post_patiently(
                "/api/v1/sessions",
                json!({"email": email, "password": "correct horse battery"}),
            )
            .await;
        assert_eq!(s, 201, "{session}");
        let token = session["token"].as_str().expect("token").to_owned();
        if session["mfa_required"] == true {
            // Tests running at once may use the same address on their own servers: try the
            // secrets known for it.
            let known = mfa_secrets()
                .lock()
                .expect("secrets")
                .get(email)
                .map_or(0, Vec::len);
            let mut answered = None;
            for i in 0..known {
                let code = next_code(email, i).await;
                let (s, done) = self
                    .post(
                        "/api/v1/sessions/current/mfa",
                        Some(&token),
                        json!({ "code": code }),
                    )
                    .await;
                answered = Some((s, done));
                if s == 200 {
                    break;
                }
            }
            let (s, done) = answered.expect("a two-factor secret for this address");
            assert_eq!(s, 200, "{done}");
        }
        token
    }

    /// Sets up two-factor authentication for the session's account (practice accounts read
    /// patient data only with it), answering with a code computed from the secret.
    pub async fn enrol_mfa(&self, email: &str, token: &str) {
        let (s, enrol) = self.post("/api/v1/me/mfa", Some(token), json!({})).await;
        assert_eq!(s, 201, "{enrol}");
        let secret =
            careslot_identity::mfa::secret_from_base32(enrol["secret"].as_str().expect("secret"))
                .expect("base32");
        let i = {
            let mut secrets = mfa_secrets().lock().expect("secrets");
            let mine = secrets.entry(email.to_owned()).or_default();
            mine.push((secret, -1));
            mine.len() - 1
        };
        let code = next_code(email, i).await;
        let (s, done) = self
            .post(
                "/api/v1/me/mfa/confirm",
                Some(token),
                json!({ "code": code }),
            )
            .await;
        assert_eq!(s, 200, "{done}");
    }

    /// Registers an account with `email` and signs in: (token, account id).
    pub async fn account(&self, role: &str, name: &str, email: &str) -> (String, String) {
        let (s, acc) = self
            .post_patiently(
                "/api/v1/accounts",
                json!({"email": email, "password": "correct horse battery", "name": name, "role": role}),
            )
            .await;
        assert_eq!(s, 201, "{acc}");
        let token = self.sign_in(email).await;
        if role == "practitioner" {
            self.enrol_mfa(email, &token).await;
        }
        (token, acc["id"].as_str().expect("id").to_owned())
    }

    /// A practitioner with one agenda open every day 08:00–18:00 and one 15-minute motive:
    /// (practitioner token, agenda id, motive id).
    pub async fn practice(&self, email: &str) -> (String, String, String) {
        let (token, _) = self.account("practitioner", "Dr Backup", email).await;
        let t = Some(token.as_str());
        let (s, profile) = self
            .call(
                reqwest::Method::PUT,
                "/api/v1/practitioner/profile",
                t,
                Some(json!({"name": "Dr Backup", "specialty": "general-practitioner"})),
            )
            .await;
        assert_eq!(s, 200, "{profile}");
        let (s, place) = self
            .post(
                "/api/v1/places",
                t,
                json!({"name": "Cabinet", "address": "12 rue de Rivoli", "postcode": "75004", "city": "Paris",
                       "country": "FR", "lat": 48.8556, "lon": 2.3590, "timezone": "Europe/Paris"}),
            )
            .await;
        assert_eq!(s, 201, "{place}");
        let (s, agenda) = self
            .post(
                "/api/v1/agendas",
                t,
                json!({"place_id": place["id"], "holidays": null}),
            )
            .await;
        assert_eq!(s, 201, "{agenda}");
        let agenda_id = agenda["id"].as_str().expect("agenda").to_owned();
        let (s, motive) = self
            .post(
                &format!("/api/v1/agendas/{agenda_id}/motives"),
                t,
                json!({"name": "Consultation", "duration_min": 15}),
            )
            .await;
        assert_eq!(s, 201, "{motive}");
        let motive_id = motive["id"].as_str().expect("motive").to_owned();
        let (s, rule) = self
            .post(
                &format!("/api/v1/agendas/{agenda_id}/opening-rules"),
                t,
                json!({"weekdays": [1, 2, 3, 4, 5, 6, 7], "start": "08:00", "end": "18:00", "motive_ids": [motive_id]}),
            )
            .await;
        assert_eq!(s, 201, "{rule}");
        (token, agenda_id, motive_id)
    }

    /// Bookable starts of the agenda over the next week.
    pub async fn slots(&self, agenda: &str, motive: &str) -> Vec<String> {
        let (from, to) = week();
        let (s, body) = self
            .get(
                &format!("/api/v1/agendas/{agenda}/slots?motive_id={motive}&from={from}&to={to}"),
                None,
            )
            .await;
        assert_eq!(s, 200, "{body}");
        body["slots"]
            .as_array()
            .expect("slots")
            .iter()
            .map(|s| s["start"].as_str().expect("start").to_owned())
            .collect()
    }

    /// The practitioner's view of the agenda over the next week (patients' names included).
    pub async fn agenda_appointments(&self, token: &str, agenda: &str) -> Value {
        let (from, to) = week();
        let (s, body) = self
            .get(
                &format!("/api/v1/agendas/{agenda}/appointments?from={from}&to={to}"),
                Some(token),
            )
            .await;
        assert_eq!(s, 200, "{body}");
        body
    }
}

fn week() -> (jiff::civil::Date, jiff::civil::Date) {
    let from = jiff::Zoned::now().date();
    (
        from,
        from.checked_add(jiff::Span::new().days(7)).expect("date"),
    )
}

/// TOTP secrets of the accounts set up here, with the last time step used (the server takes
/// each step once): kept across nodes, since a restored node has the same accounts.
type Secrets = std::collections::HashMap<String, Vec<(Vec<u8>, i64)>>;

fn mfa_secrets() -> &'static std::sync::Mutex<Secrets> {
    static SECRETS: std::sync::OnceLock<std::sync::Mutex<Secrets>> = std::sync::OnceLock::new();
    SECRETS.get_or_init(Default::default)
}

/// A TOTP code of `email`'s `i`-th secret for a time step not used yet (this one or the
/// next; a third sign-in within one step waits for the clock).
async fn next_code(email: &str, i: usize) -> String {
    loop {
        let now = careslot_identity::mfa::step_of(jiff::Timestamp::now().as_second());
        {
            let mut secrets = mfa_secrets().lock().expect("secrets");
            let (secret, last) = secrets
                .get_mut(email)
                .and_then(|v| v.get_mut(i))
                .expect("a two-factor secret");
            if let Some(step) = [now, now + 1].into_iter().find(|s| s > last) {
                *last = step;
                return careslot_identity::mfa::code_at(
                    secret,
                    step * careslot_identity::mfa::STEP_SECONDS,
                );
            }
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}
