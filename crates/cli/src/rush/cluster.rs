//! `bench rush --nodes N`: N `careslot serve` processes on the rush's database, behind
//! HAProxy (started with its own generated configuration) when N > 1, and what happens to
//! them during the rush: one killed (`--kill-one`), or each stopped and restarted in turn
//! (`--rolling-restart`).

use super::setup::{free_addr, until_ok, Prepared, Server};
use anyhow::Context;
use serde_json::{json, Value};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

/// What happens to the nodes during the rush.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Chaos {
    None,
    /// SIGKILL one node in the middle of the rush (it stays down).
    KillOne,
    /// SIGKILL a node this many times during the rush (each one in turn), starting it
    /// again after each kill.
    KillRounds(usize),
    /// SIGTERM each node in turn, wait for it to exit, start it again, wait until ready.
    RollingRestart,
}

pub struct Cluster {
    nodes: Vec<Option<Server>>,
    addrs: Vec<SocketAddr>,
    balancer: Option<tokio::process::Child>,
    /// Where the load generator sends its requests: the balancer, or the one node.
    pub addr: SocketAddr,
    _dir: tempfile::TempDir,
    token_file: PathBuf,
    extra: Vec<String>,
}

/// The HAProxy binary: `$HAPROXY_PATH`, else `haproxy` on the PATH or in /usr/sbin.
fn haproxy_path() -> PathBuf {
    if let Some(p) = std::env::var_os("HAPROXY_PATH") {
        return PathBuf::from(p);
    }
    let sbin = Path::new("/usr/sbin/haproxy");
    if sbin.exists() {
        return sbin.to_owned();
    }
    PathBuf::from("haproxy")
}

/// The balancer's configuration: round robin over the nodes, health checked on /readyz
/// (a stopping node fails it at once), a request whose connection failed or came back
/// empty sent again to another node (`retry-on`, `option redispatch`); bookings carry an
/// Idempotency-Key, so a request sent twice books once.
pub fn haproxy_config(front: SocketAddr, nodes: &[SocketAddr]) -> String {
    let mut cfg = format!(
        "global\n    maxconn 4096\n\n\
         defaults\n    mode http\n    timeout connect 1s\n    timeout client 60s\n\
         \x20   timeout server 60s\n    timeout http-keep-alive 10s\n    retries 3\n\
         \x20   option redispatch 1\n    retry-on conn-failure empty-response junk-response\n\
         \x20   option http-keep-alive\n\n\
         frontend careslot\n    bind {front}\n    default_backend nodes\n\n\
         backend nodes\n    balance roundrobin\n    option httpchk GET /readyz\n\
         \x20   http-check expect status 200\n    default-server inter 300ms fall 2 rise 1\n"
    );
    for (i, a) in nodes.iter().enumerate() {
        cfg.push_str(&format!("    server node{i} {a} check\n"));
    }
    cfg
}

impl Cluster {
    /// Starts `n` nodes (and HAProxy in front when n > 1), ready to serve.
    pub async fn start(
        prepared: &Prepared,
        token_file: &Path,
        n: usize,
        extra: &[String],
    ) -> anyhow::Result<Self> {
        let dir = tempfile::tempdir()?;
        let mut nodes = Vec::with_capacity(n);
        let mut addrs = Vec::with_capacity(n);
        for _ in 0..n.max(1) {
            let s = Server::start(prepared, token_file, extra).await?;
            addrs.push(s.addr);
            nodes.push(Some(s));
        }
        let (balancer, addr) = if n > 1 {
            let front = free_addr()?;
            let cfg = dir.path().join("haproxy.cfg");
            std::fs::write(&cfg, haproxy_config(front, &addrs))?;
            let child = tokio::process::Command::new(haproxy_path())
                .arg("-db")
                .arg("-f")
                .arg(&cfg)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::inherit())
                .kill_on_drop(true)
                .spawn()
                .context("cannot start haproxy (apt-get install haproxy, or set HAPROXY_PATH)")?;
            until_ok(front, "/readyz", Duration::from_secs(30)).await?;
            (Some(child), front)
        } else {
            (None, addrs[0])
        };
        Ok(Self {
            nodes,
            addrs,
            balancer,
            addr,
            _dir: dir,
            token_file: token_file.to_owned(),
            extra: extra.to_vec(),
        })
    }

    /// The first node's process id (for the CPU report), 0 if it is down.
    pub fn first_pid(&self) -> u32 {
        self.nodes
            .first()
            .and_then(|n| n.as_ref())
            .map_or(0, |s| s.pid)
    }

    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    /// Carries out `chaos` while the rush runs (it started `span` ago at most): what was
    /// done, with instants in seconds since `start`.
    pub async fn run_chaos(
        &mut self,
        prepared: &Prepared,
        chaos: Chaos,
        start: Instant,
        span: Duration,
    ) -> Value {
        let at = |i: Instant| ((i - start).as_secs_f64() * 1000.0).round() / 1000.0;
        match chaos {
            Chaos::None => Value::Null,
            Chaos::KillOne => {
                tokio::time::sleep(span / 2).await;
                let victim = self.nodes.len() - 1;
                let Some(mut node) = self.nodes[victim].take() else {
                    return Value::Null;
                };
                let killed_at = Instant::now();
                node.signal(libc::SIGKILL);
                node.wait_exit(Duration::from_secs(10)).await;
                json!({"killed_node": victim, "signal": "SIGKILL", "at_s": at(killed_at)})
            }
            Chaos::KillRounds(rounds) => {
                let mut steps = Vec::new();
                let pause = span / (rounds as u32 + 1);
                for r in 0..rounds {
                    tokio::time::sleep(pause).await;
                    let i = r % self.nodes.len();
                    let Some(mut node) = self.nodes[i].take() else {
                        continue;
                    };
                    let killed = Instant::now();
                    node.signal(libc::SIGKILL);
                    node.wait_exit(Duration::from_secs(10)).await;
                    let ready = match Server::start_at(
                        prepared,
                        &self.token_file,
                        &self.extra,
                        self.addrs[i],
                    )
                    .await
                    {
                        Ok(s) => {
                            let ok = until_ok(s.addr, "/readyz", Duration::from_secs(60))
                                .await
                                .is_ok();
                            self.nodes[i] = Some(s);
                            ok
                        }
                        Err(e) => {
                            eprintln!("rush: node {i} did not restart: {e:#}");
                            false
                        }
                    };
                    steps.push(json!({"round": r, "node": i, "killed_at_s": at(killed),
                                      "ready": ready, "ready_at_s": at(Instant::now())}));
                }
                json!({"signal": "SIGKILL", "kill_rounds": steps})
            }
            Chaos::RollingRestart => {
                tokio::time::sleep(Duration::from_millis(1000)).await;
                let mut steps = Vec::new();
                for i in 0..self.nodes.len() {
                    let Some(mut node) = self.nodes[i].take() else {
                        continue;
                    };
                    let term = Instant::now();
                    node.signal(libc::SIGTERM);
                    let clean = node.wait_exit(Duration::from_secs(30)).await;
                    let exited = Instant::now();
                    let restarted =
                        Server::start_at(prepared, &self.token_file, &self.extra, self.addrs[i])
                            .await;
                    let ready = match restarted {
                        Ok(s) => {
                            let ok = until_ok(s.addr, "/readyz", Duration::from_secs(60))
                                .await
                                .is_ok();
                            self.nodes[i] = Some(s);
                            ok
                        }
                        Err(e) => {
                            eprintln!("rush: node {i} did not restart: {e:#}");
                            false
                        }
                    };
                    steps.push(json!({
                        "node": i, "sigterm_at_s": at(term), "exited_cleanly": clean,
                        "exit_s": ((exited - term).as_secs_f64() * 1000.0).round() / 1000.0, "ready": ready, "ready_at_s": at(Instant::now()),
                    }));
                    // Let the balancer see it up before the next one goes.
                    tokio::time::sleep(Duration::from_millis(700)).await;
                }
                json!({"rolling_restart": steps})
            }
        }
    }

    pub async fn stop(mut self) {
        if let Some(mut b) = self.balancer.take() {
            let _ = b.start_kill();
            let _ = b.wait().await;
        }
        for n in self.nodes.iter_mut() {
            if let Some(s) = n.take() {
                s.stop().await;
            }
        }
    }
}
