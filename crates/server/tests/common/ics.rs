//! Calendars read by python's `icalendar` (an independent parser), for the `.ics` tests.

use serde_json::Value;
use std::io::Write;
use std::process::{Command, Stdio};

pub const HINT: &str = "this test needs python3 with the icalendar package \
    (scripts/install-test-deps installs it)";

/// The events of a calendar as `icalendar` reads them: uid, start and end (epoch seconds,
/// end 0 when absent), summary, location, status, sequence (0 when absent), alarms.
pub fn parse_events(ics: &str) -> Vec<Value> {
    let script = r#"
import json, sys
import icalendar
cal = icalendar.Calendar.from_ical(sys.stdin.buffer.read())
out = []
for ev in cal.walk("VEVENT"):
    out.append({
        "uid": str(ev.get("UID")),
        "start": int(ev.decoded("DTSTART").timestamp()),
        "end": int(ev.decoded("DTEND").timestamp()) if ev.get("DTEND") is not None else 0,
        "summary": str(ev.get("SUMMARY")),
        "location": str(ev.get("LOCATION")),
        "status": str(ev.get("STATUS")),
        "sequence": int(ev.get("SEQUENCE", 0)),
        "alarms": len(list(ev.walk("VALARM"))),
    })
print(json.dumps(out))
"#;
    let mut child = Command::new("python3")
        .args(["-c", script])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("python3 could not be started ({e}); {HINT}"));
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(ics.as_bytes())
        .expect("write to python3");
    let out = child.wait_with_output().expect("python3 ran");
    assert!(
        out.status.success(),
        "icalendar refused the calendar ({HINT}): {}\n{ics}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("python3 printed JSON")
}
