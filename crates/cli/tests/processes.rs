//! The real binary as separate processes: `careslot keyd` and `careslot serve --keyd-url`
//! on loopback. Health data needs keyd; when keyd's process is stopped (SIGSTOP: it hangs)
//! or dies (killed), those requests get 503 with `Retry-After` while search keeps
//! answering, and they work again as soon as keyd is back, without restarting the server.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

fn spawn(args: &[&str], envs: &[(&str, &str)]) -> Killed {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_careslot"));
    cmd.args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .env_remove("DATABASE_URL");
    for (k, v) in envs {
        cmd.env(k, v);
    }
    Killed(cmd.spawn().expect("start careslot"))
}

async fn wait_ready(url: &str) {
    let client = reqwest::Client::new();
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(60) {
        if client.get(url).send().await.is_ok() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{url} never answered");
}

#[tokio::test]
async fn serve_with_a_separate_keyd_process() {
    let dir = tempfile::tempdir().unwrap();
    let (keyd_port, app_port) = (free_port(), free_port());
    let token = "a-long-random-token-for-the-test-0123456789";
    let keyd_dir = dir.path().join("keyd");
    let keyd_bind = format!("127.0.0.1:{keyd_port}");
    let master_file = dir.path().join("master.key");
    let keyd = spawn(
        &[
            "keyd",
            "--data-dir",
            keyd_dir.to_str().unwrap(),
            "--bind",
            &keyd_bind,
            "--master-key-file",
            master_file.to_str().unwrap(),
        ],
        &[("CARESLOT_KEYD_TOKEN", token)],
    );
    wait_ready(&format!("http://{keyd_bind}/v1/sys/health")).await;

    let data = dir.path().join("data");
    let app_bind = format!("127.0.0.1:{app_port}");
    let _app = spawn(
        &[
            "serve",
            "--data-dir",
            data.to_str().unwrap(),
            "--bind",
            &app_bind,
            "--keyd-url",
            &format!("http://{keyd_bind}"),
        ],
        &[("CARESLOT_KEYD_TOKEN", token)],
    );
    let base = format!("http://{app_bind}");
    wait_ready(&format!("{base}/healthz")).await;

    let client = reqwest::Client::new();
    let register = |email: &str| {
        client
            .post(format!("{base}/api/v1/accounts"))
            .json(&serde_json::json!({"email": email, "password": "correct horse battery", "name": "Process Test", "role": "patient"}))
            .send()
    };
    assert_eq!(register("one@example.test").await.unwrap().status(), 201);
    // The app's data directory holds no key material; keyd's directory does.
    assert!(keyd_dir.join("keyd.db").exists());
    assert!(std::fs::read_dir(&data).unwrap().all(|e| !e
        .unwrap()
        .file_name()
        .to_string_lossy()
        .contains("keyd")));

    let search = || client.get(format!("{base}/api/v1/search")).send();
    let unavailable = |r: &reqwest::Response| {
        assert_eq!(r.status(), 503);
        assert_eq!(r.headers()["content-type"], "application/problem+json");
        assert!(
            r.headers().contains_key("retry-after"),
            "503 says when to retry"
        );
    };

    // Stopped: keyd's process hangs (SIGSTOP); the request times out into a 503.
    let keyd_pid = keyd.0.id() as i32;
    // SAFETY: kill(2) on our own child's pid.
    unsafe { libc::kill(keyd_pid, libc::SIGSTOP) };
    let r = register("stopped@example.test").await.unwrap();
    unavailable(&r);
    assert_eq!(
        search().await.unwrap().status(),
        200,
        "search needs no keys"
    );
    // SAFETY: as above.
    unsafe { libc::kill(keyd_pid, libc::SIGCONT) };
    let r = register("resumed@example.test").await.unwrap();
    assert_eq!(r.status(), 201, "keyd resumed: keys again");

    // Killed: refused connections, 503 at once.
    drop(keyd);
    let r = register("two@example.test").await.unwrap();
    unavailable(&r);
    assert_eq!(
        search().await.unwrap().status(),
        200,
        "search needs no keys"
    );

    // Started again on the same directory: the same server serves health data again.
    let _keyd = spawn(
        &[
            "keyd",
            "--data-dir",
            keyd_dir.to_str().unwrap(),
            "--bind",
            &keyd_bind,
            "--master-key-file",
            master_file.to_str().unwrap(),
        ],
        &[("CARESLOT_KEYD_TOKEN", token)],
    );
    wait_ready(&format!("http://{keyd_bind}/v1/sys/health")).await;
    let r = register("three@example.test").await.unwrap();
    assert_eq!(
        r.status(),
        201,
        "keyd back: keys again without restarting serve"
    );
}

/// The server turns transparent huge pages off for itself (see `no_transparent_huge_pages`
/// in main.rs), unless the operator set mimalloc's own option.
#[cfg(target_os = "linux")]
#[tokio::test]
async fn serve_runs_without_transparent_huge_pages() {
    let dir = tempfile::tempdir().unwrap();
    for (envs, expected) in [(vec![], "0"), (vec![("MIMALLOC_ALLOW_THP", "1")], "1")] {
        let port = free_port();
        let data = dir.path().join(format!("data-{port}"));
        let server = spawn(
            &[
                "serve",
                "--data-dir",
                &data.to_string_lossy(),
                "--keys-dir",
                &data.join("keys").to_string_lossy(),
                "--bind",
                &format!("127.0.0.1:{port}"),
            ],
            &envs,
        );
        wait_ready(&format!("http://127.0.0.1:{port}/healthz")).await;
        let status = std::fs::read_to_string(format!("/proc/{}/status", server.0.id())).unwrap();
        let thp = status
            .lines()
            .find_map(|l| l.strip_prefix("THP_enabled:"))
            .map(str::trim);
        assert_eq!(thp, Some(expected), "{envs:?}");
    }
}
