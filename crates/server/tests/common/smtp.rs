//! The real SMTP server of the messages tests (aiosmtpd through `crates/messages`'s
//! `smtp_sink.py`), started and stopped here, and readers for what it received.

// Each test binary uses a part of these helpers.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

const HINT: &str = "the SMTP tests need python3 with aiosmtpd and icalendar: \
    pip install aiosmtpd icalendar; .ci/run installs them";

fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../messages/tests/support/smtp_sink.py")
}

/// aiosmtpd on 127.0.0.1; every message it accepts lands in `dir` as `<n>.eml`.
pub struct SmtpSink {
    child: Child,
    pub port: u16,
    pub dir: tempfile::TempDir,
    hide_sign_up_mail: std::sync::atomic::AtomicBool,
}

impl SmtpSink {
    /// On a free port.
    pub fn start() -> SmtpSink {
        Self::start_on(0)
    }

    /// On `port` (0: a free one). Tried again (at most three times) when python exits before
    /// it is ready: once in a long CI run it exited with status 2, and the next start worked.
    pub fn start_on(port: u16) -> SmtpSink {
        let mut last = String::new();
        for _ in 0..3 {
            match Self::try_start(port) {
                Ok(sink) => return sink,
                Err(why) => {
                    eprintln!("SMTP sink: {why}; starting it again");
                    last = why;
                }
            }
        }
        panic!("the SMTP server did not start ({last}); {HINT}");
    }

    fn try_start(port: u16) -> Result<SmtpSink, String> {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut child = Command::new("python3")
            .arg(script())
            .arg("serve")
            .arg(dir.path())
            .arg(port.to_string())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| panic!("python3 could not be started ({e}); {HINT}"));
        let stdout = child.stdout.take().expect("stdout");
        let mut line = String::new();
        BufReader::new(stdout)
            .read_line(&mut line)
            .expect("READY line");
        let port = match line.trim().strip_prefix("READY ") {
            Some(p) => p.parse().expect("port"),
            None => {
                let status = child.wait().expect("wait");
                if status.code() == Some(3) {
                    panic!("aiosmtpd is missing; {HINT}");
                }
                return Err(format!("exit {status}, first line {line:?}"));
            }
        };
        Ok(SmtpSink {
            child,
            port,
            dir,
            hide_sign_up_mail: Default::default(),
        })
    }

    pub fn url(&self) -> String {
        format!("smtp://127.0.0.1:{}", self.port)
    }

    /// The stored messages, oldest first.
    pub fn messages(&self) -> Vec<PathBuf> {
        let hide = self
            .hide_sign_up_mail
            .load(std::sync::atomic::Ordering::SeqCst);
        let mut files: Vec<PathBuf> = std::fs::read_dir(self.dir.path())
            .expect("read dir")
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|e| e == "eml"))
            .filter(|p| {
                !hide
                    || !std::fs::read_to_string(p)
                        .unwrap_or_default()
                        .contains("/email-verification?token=")
            })
            .collect();
        files.sort();
        files
    }

    /// From now on, leaves out the verification mails sign-ups send (for tests about other
    /// messages that count what arrives).
    pub fn hide_sign_up_mail(&self) {
        self.hide_sign_up_mail
            .store(true, std::sync::atomic::Ordering::SeqCst);
    }

    /// Forgets the messages received so far (sign-ups' verification mails, say).
    pub fn clear(&self) {
        for p in self.messages() {
            let _ = std::fs::remove_file(p);
        }
    }

    /// Waits (bounded) until at least `n` messages arrived; returns them all.
    pub async fn wait_for(&self, n: usize, within: std::time::Duration) -> Vec<PathBuf> {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let got = self.messages();
            if got.len() >= n {
                return got;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "{} message(s) received, {n} expected",
                got.len()
            );
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    }
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        drop(self.child.stdin.take());
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The message as python's `email` package reads it: headers, and each part decoded.
pub fn summary(path: &Path) -> serde_json::Value {
    let out = Command::new("python3")
        .arg(script())
        .arg("summary")
        .arg(path)
        .output()
        .unwrap_or_else(|e| panic!("python3 could not be started ({e}); {HINT}"));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("summary json")
}

/// An `.ics` read by python's `icalendar`: its event's start (epoch seconds), time zone id
/// and number of alarms.
pub fn parse_ics(ics: &str) -> serde_json::Value {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("event.ics");
    std::fs::write(&path, ics).expect("write ics");
    let code = r#"
import icalendar, json, sys
cal = icalendar.Calendar.from_ical(open(sys.argv[1], "rb").read())
events = list(cal.walk("VEVENT"))
ev = events[0]
start = ev.decoded("DTSTART")
print(json.dumps({
    "events": len(events),
    "start": int(start.timestamp()),
    "tzid": str(ev["DTSTART"].params.get("TZID", "")),
    "alarms": len(list(ev.walk("VALARM"))),
    "uid": str(ev["UID"]),
}))
"#;
    let out = Command::new("python3")
        .arg("-c")
        .arg(code)
        .arg(&path)
        .output()
        .unwrap_or_else(|e| panic!("python3 could not be started ({e}); {HINT}"));
    assert!(
        out.status.success(),
        "icalendar: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("ics json")
}

/// A port nothing listens on (bound, then released).
pub fn closed_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().expect("addr").port()
}
