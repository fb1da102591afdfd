//! The load generator's HTTP side: one keep-alive HTTP/1.1 connection per simulated user,
//! requests sent one after another on it (as a browser tab would), and per-endpoint
//! latency recording.

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper::{Method, Request, StatusCode};
use hyper_util::rt::TokioIo;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Instant;

/// One user's connection; reconnects when the server closed it.
pub struct Conn {
    addr: SocketAddr,
    send: Option<SendRequest<Full<Bytes>>>,
    auth: Option<String>,
}

/// An answer: status and body.
pub struct Answer {
    pub status: StatusCode,
    pub body: Bytes,
    /// Whether the answer said when to retry (`Retry-After`).
    pub retry_after: bool,
}

impl Answer {
    pub fn json(&self) -> Option<serde_json::Value> {
        serde_json::from_slice(&self.body).ok()
    }
}

impl Conn {
    pub fn new(addr: SocketAddr, token: Option<String>) -> Self {
        Self {
            addr,
            send: None,
            auth: token.map(|t| format!("Bearer {t}")),
        }
    }

    async fn sender(&mut self) -> anyhow::Result<&mut SendRequest<Full<Bytes>>> {
        if self.send.as_ref().is_none_or(|s| s.is_closed()) {
            let stream = tokio::net::TcpStream::connect(self.addr).await?;
            stream.set_nodelay(true)?;
            let (send, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
            tokio::spawn(async move {
                let _ = conn.await;
            });
            self.send = Some(send);
        }
        self.send
            .as_mut()
            .ok_or_else(|| anyhow::anyhow!("no connection"))
    }

    /// Sends one request and reads the whole answer; `extra` headers are added as given.
    pub async fn call(
        &mut self,
        method: Method,
        path: &str,
        body: Option<&serde_json::Value>,
        extra: &[(&str, &str)],
    ) -> anyhow::Result<Answer> {
        let mut req = Request::builder()
            .method(method)
            .uri(path)
            .header(hyper::header::HOST, "careslot.bench");
        if let Some(a) = &self.auth {
            req = req.header(hyper::header::AUTHORIZATION, a);
        }
        for (k, v) in extra {
            req = req.header(*k, *v);
        }
        let payload = match body {
            Some(b) => {
                req = req.header(hyper::header::CONTENT_TYPE, "application/json");
                Bytes::from(serde_json::to_vec(b)?)
            }
            None => Bytes::new(),
        };
        let req = req.body(Full::new(payload))?;
        let sender = self.sender().await?;
        sender.ready().await?;
        let res = match sender.send_request(req).await {
            Ok(r) => r,
            Err(e) => {
                self.send = None;
                return Err(e.into());
            }
        };
        let status = res.status();
        let retry_after = res.headers().contains_key(hyper::header::RETRY_AFTER);
        let body = res.into_body().collect().await?.to_bytes();
        Ok(Answer {
            status,
            body,
            retry_after,
        })
    }
}

/// Latencies (µs) and outcomes per endpoint name, kept by one task and merged at the end.
#[derive(Default)]
pub struct Stats {
    pub endpoints: BTreeMap<&'static str, Endpoint>,
    /// 503 answers without `Retry-After` (a client cannot tell when to come back).
    pub bare_503: u64,
}

#[derive(Default)]
pub struct Endpoint {
    pub latencies_us: Vec<u32>,
    /// Answers by status code (0: transport error).
    pub statuses: BTreeMap<u16, u64>,
}

impl Stats {
    pub fn record(&mut self, endpoint: &'static str, started: Instant, status: Option<StatusCode>) {
        let e = self.endpoints.entry(endpoint).or_default();
        e.latencies_us
            .push(u32::try_from(started.elapsed().as_micros()).unwrap_or(u32::MAX));
        *e.statuses
            .entry(status.map_or(0, |s| s.as_u16()))
            .or_default() += 1;
    }

    /// Records an answer (or a transport error) and whether a 503 lacked `Retry-After`.
    pub fn answer(&mut self, endpoint: &'static str, started: Instant, a: Option<&Answer>) {
        self.record(endpoint, started, a.map(|a| a.status));
        if a.is_some_and(|a| a.status == StatusCode::SERVICE_UNAVAILABLE && !a.retry_after) {
            self.bare_503 += 1;
        }
    }

    /// Answers by status of every endpoint together, for 5xx and transport errors (0).
    pub fn server_errors(&self) -> BTreeMap<u16, u64> {
        let mut out = BTreeMap::new();
        for e in self.endpoints.values() {
            for (s, n) in &e.statuses {
                if *s == 0 || *s >= 500 {
                    *out.entry(*s).or_default() += n;
                }
            }
        }
        out
    }

    pub fn merge(&mut self, other: Stats) {
        self.bare_503 += other.bare_503;
        for (name, e) in other.endpoints {
            let mine = self.endpoints.entry(name).or_default();
            mine.latencies_us.extend(e.latencies_us);
            for (s, n) in e.statuses {
                *mine.statuses.entry(s).or_default() += n;
            }
        }
    }

    pub fn count(&self, endpoint: &str) -> u64 {
        self.endpoints
            .get(endpoint)
            .map_or(0, |e| e.latencies_us.len() as u64)
    }

    pub fn count_status(&self, endpoint: &str, status: u16) -> u64 {
        self.endpoints
            .get(endpoint)
            .and_then(|e| e.statuses.get(&status).copied())
            .unwrap_or(0)
    }
}

/// The q-th quantile (0..=1) of latencies in milliseconds.
pub fn quantile_ms(sorted_us: &[u32], q: f64) -> f64 {
    if sorted_us.is_empty() {
        return 0.0;
    }
    let i = ((sorted_us.len() - 1) as f64 * q).round() as usize;
    f64::from(sorted_us[i.min(sorted_us.len() - 1)]) / 1000.0
}

/// Percent-encodes a query value.
pub fn q(v: &str) -> String {
    form_urlencoded::byte_serialize(v.as_bytes()).collect()
}
