//! iCalendar (RFC 5545) for appointments: a VCALENDAR with one VEVENT (and its VALARM) per
//! appointment, times in UTC, TEXT values escaped (control characters dropped, line breaks as
//! `\n`), lines folded at 75 octets, CRLF line ends. The one writer of careslot's `.ics`:
//! mail attachments, the appointment download and the subscription feed.

use std::fmt::Write as _;

use jiff::{SignedDuration, Timestamp};

/// One appointment as a calendar event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IcsEvent {
    /// Stable per appointment (`{appointment_id}@{host}`), so a move updates the event a
    /// calendar already holds instead of adding a second one.
    pub uid: String,
    /// Raise it on every change of the same appointment (a move): calendars keep the highest.
    pub sequence: u32,
    /// When this version of the event was written.
    pub stamp: Timestamp,
    pub start: Timestamp,
    pub end: Timestamp,
    /// Practitioner's name; no motive unless the patient opted in.
    pub summary: String,
    pub location: Option<String>,
    pub description: Option<String>,
    /// Link to the appointment in the app.
    pub url: Option<String>,
    pub alarm: Option<IcsAlarm>,
    /// `CANCELLED` tells a calendar that already holds the event to strike it out.
    pub cancelled: bool,
}

/// A DISPLAY alarm some time before the start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IcsAlarm {
    /// How long before the start (positive: `2h` gives `TRIGGER:-PT2H`).
    pub before: SignedDuration,
    pub description: String,
}

impl IcsEvent {
    /// The whole calendar object, ready to attach as `text/calendar; method=PUBLISH`.
    pub fn to_ics(&self) -> String {
        calendar(std::slice::from_ref(self), None)
    }

    fn push_lines(&self, lines: &mut Vec<String>) {
        lines.extend([
            "BEGIN:VEVENT".into(),
            format!("UID:{}", escape_text(&self.uid)),
            format!("SEQUENCE:{}", self.sequence),
            format!("DTSTAMP:{}", utc(self.stamp)),
            format!("DTSTART:{}", utc(self.start)),
            format!("DTEND:{}", utc(self.end)),
            format!("SUMMARY:{}", escape_text(&self.summary)),
        ]);
        if let Some(location) = &self.location {
            lines.push(format!("LOCATION:{}", escape_text(location)));
        }
        if let Some(description) = &self.description {
            lines.push(format!("DESCRIPTION:{}", escape_text(description)));
        }
        if let Some(url) = &self.url {
            // URL is a URI value, not TEXT: no escaping, but no line breaks either.
            let url: String = url.chars().filter(|c| !c.is_control()).collect();
            lines.push(format!("URL:{url}"));
        }
        let status = if self.cancelled {
            "CANCELLED"
        } else {
            "CONFIRMED"
        };
        lines.push(format!("STATUS:{status}"));
        lines.push("TRANSP:OPAQUE".into());
        if let Some(alarm) = &self.alarm {
            lines.push("BEGIN:VALARM".into());
            lines.push("ACTION:DISPLAY".into());
            lines.push(format!("TRIGGER:{}", trigger(alarm.before)));
            lines.push(format!("DESCRIPTION:{}", escape_text(&alarm.description)));
            lines.push("END:VALARM".into());
        }
        lines.push("END:VEVENT".into());
    }
}

/// A calendar of `events` (none is a valid, empty calendar); `name` is the title calendar
/// apps show for a subscription (`X-WR-CALNAME`).
pub fn calendar(events: &[IcsEvent], name: Option<&str>) -> String {
    let mut lines: Vec<String> = vec![
        "BEGIN:VCALENDAR".into(),
        "VERSION:2.0".into(),
        "PRODID:-//careslot//messages//EN".into(),
        "CALSCALE:GREGORIAN".into(),
        "METHOD:PUBLISH".into(),
    ];
    if let Some(name) = name {
        lines.push(format!("X-WR-CALNAME:{}", escape_text(name)));
    }
    for e in events {
        e.push_lines(&mut lines);
    }
    lines.push("END:VCALENDAR".into());
    let mut out = String::new();
    for line in lines {
        out.push_str(&fold(&line));
    }
    out
}

/// `20260312T133000Z`.
fn utc(t: Timestamp) -> String {
    t.strftime("%Y%m%dT%H%M%SZ").to_string()
}

/// `-PT2H`, `-PT1H30M`, `-P1D`, `-PT0S`: the alarm fires `before` ahead of the start.
fn trigger(before: SignedDuration) -> String {
    let secs = before.as_secs();
    let (sign, secs) = if secs < 0 {
        ("", secs.unsigned_abs())
    } else {
        ("-", secs.unsigned_abs())
    };
    let (days, rest) = (secs / 86_400, secs % 86_400);
    let (hours, rest) = (rest / 3_600, rest % 3_600);
    let (minutes, seconds) = (rest / 60, rest % 60);
    let mut out = format!("{sign}P");
    if days > 0 {
        let _ = write!(out, "{days}D");
    }
    if hours > 0 || minutes > 0 || seconds > 0 || days == 0 {
        out.push('T');
        if hours > 0 {
            let _ = write!(out, "{hours}H");
        }
        if minutes > 0 {
            let _ = write!(out, "{minutes}M");
        }
        if seconds > 0 || (hours == 0 && minutes == 0) {
            let _ = write!(out, "{seconds}S");
        }
    }
    out
}

/// RFC 5545 §3.3.11 TEXT: backslash, semicolon and comma escaped, line breaks as `\n`, other
/// control characters dropped (tab kept).
pub fn escape_text(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    let mut chars = value.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' => out.push_str("\\\\"),
            ';' => out.push_str("\\;"),
            ',' => out.push_str("\\,"),
            '\r' => {
                if chars.peek() == Some(&'\n') {
                    chars.next();
                }
                out.push_str("\\n");
            }
            '\n' => out.push_str("\\n"),
            '\t' => out.push('\t'),
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    out
}

/// RFC 5545 §3.1: content lines of at most 75 octets (CRLF excluded); longer ones continue on
/// lines starting with one space. Never splits a UTF-8 sequence.
pub fn fold(line: &str) -> String {
    let mut out = String::with_capacity(line.len() + line.len() / 70 * 3 + 2);
    let mut used = 0;
    for c in line.chars() {
        let len = c.len_utf8();
        if used + len > 75 {
            out.push_str("\r\n ");
            used = 1;
        }
        out.push(c);
        used += len;
    }
    out.push_str("\r\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::process::{Command, Stdio};

    fn event() -> IcsEvent {
        IcsEvent {
            uid: "0190b5e0-7c3a-7d2e-9f00-000000000001@careslot.example".into(),
            sequence: 2,
            stamp: "2026-03-01T08:00:00Z".parse().unwrap(),
            start: "2026-03-29T12:30:00Z".parse().unwrap(),
            end: "2026-03-29T12:50:00Z".parse().unwrap(),
            summary: "Rendez-vous avec Dr Zoé Lefèvre-Château, cabinet; étage 2\\B".into(),
            location: Some("Cabinet Saint-Éloi\n12, rue de la Paix\r\n75002 Paris\u{7}".into()),
            description: Some("Voir https://careslot.example/appointments/x ".repeat(4)),
            url: Some("https://careslot.example/appointments/x".into()),
            alarm: Some(IcsAlarm {
                before: SignedDuration::from_hours(2),
                description: "Rappel".into(),
            }),
            cancelled: false,
        }
    }

    #[test]
    fn escapes_text() {
        assert_eq!(
            escape_text("a\\b;c,d\ne\r\nf\rg"),
            "a\\\\b\\;c\\,d\\ne\\nf\\ng"
        );
        assert_eq!(escape_text("bell\u{7}\u{0}\u{1b}\u{7f}\tend"), "bell\tend");
        assert_eq!(escape_text("Zoé — ok"), "Zoé — ok");
    }

    #[test]
    fn folds_at_75_octets_without_splitting_characters() {
        let line = format!("SUMMARY:{}", "é".repeat(100));
        let folded = fold(&line);
        assert!(folded.ends_with("\r\n"));
        for (i, part) in folded.trim_end_matches("\r\n").split("\r\n").enumerate() {
            assert!(part.len() <= 75, "{} octets", part.len());
            if i > 0 {
                assert!(part.starts_with(' '));
            }
        }
        let unfolded = folded.trim_end_matches("\r\n").replace("\r\n ", "");
        assert_eq!(unfolded, line);
        assert_eq!(fold("SHORT:x"), "SHORT:x\r\n");
        let exact = format!("X:{}", "a".repeat(73));
        assert_eq!(fold(&exact), format!("{exact}\r\n"));
    }

    #[test]
    fn triggers() {
        assert_eq!(trigger(SignedDuration::from_hours(2)), "-PT2H");
        assert_eq!(trigger(SignedDuration::from_mins(90)), "-PT1H30M");
        assert_eq!(trigger(SignedDuration::from_hours(24)), "-P1D");
        assert_eq!(trigger(SignedDuration::from_hours(26)), "-P1DT2H");
        assert_eq!(trigger(SignedDuration::from_secs(61)), "-PT1M1S");
        assert_eq!(trigger(SignedDuration::ZERO), "-PT0S");
        assert_eq!(trigger(SignedDuration::from_mins(-5)), "PT5M");
    }

    #[test]
    fn calendar_shape() {
        let ics = event().to_ics();
        assert!(ics.starts_with("BEGIN:VCALENDAR\r\nVERSION:2.0\r\n"));
        assert!(ics.ends_with("END:VEVENT\r\nEND:VCALENDAR\r\n"));
        assert!(!ics.replace("\r\n", "").contains('\n'), "bare LF");
        for line in ics.split("\r\n") {
            assert!(line.len() <= 75, "{line}");
        }
        let unfolded = ics.replace("\r\n ", "");
        assert!(unfolded.contains("\r\nDTSTART:20260329T123000Z\r\n"));
        assert!(unfolded.contains("\r\nDTEND:20260329T125000Z\r\n"));
        assert!(unfolded.contains("\r\nDTSTAMP:20260301T080000Z\r\n"));
        assert!(unfolded.contains("\r\nSEQUENCE:2\r\n"));
        assert!(unfolded
            .contains("\r\nLOCATION:Cabinet Saint-Éloi\\n12\\, rue de la Paix\\n75002 Paris\r\n"));
        assert!(unfolded.contains(
            "\r\nSUMMARY:Rendez-vous avec Dr Zoé Lefèvre-Château\\, cabinet\\; étage 2\\\\B\r\n"
        ));
        assert!(unfolded.contains("BEGIN:VALARM\r\nACTION:DISPLAY\r\nTRIGGER:-PT2H\r\n"));
    }

    /// Parses the output with python's `icalendar`, the library the acceptance tests name.
    /// Fails (does not skip) when python3 or the package is missing.
    #[test]
    fn python_icalendar_parses_it() {
        const HINT: &str = "this test needs python3 with the icalendar package: \
             pip install icalendar (or pip install --break-system-packages icalendar)";
        let script = r#"
import sys
try:
    import icalendar
except ImportError:
    print("MISSING icalendar", file=sys.stderr)
    sys.exit(3)
cal = icalendar.Calendar.from_ical(sys.stdin.buffer.read())
ev = [c for c in cal.walk("VEVENT")][0]
al = [c for c in ev.walk("VALARM")][0]
print(ev.get("UID"))
print(ev.decoded("DTSTART").isoformat())
print(ev.decoded("DTEND").isoformat())
print(ev.get("SUMMARY"))
print(repr(str(ev.get("LOCATION"))))
print(al.get("ACTION"))
print(al.decoded("TRIGGER"))
print(len(str(ev.get("DESCRIPTION"))))
"#;
        let child = Command::new("python3")
            .args(["-c", script])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn();
        let mut child = match child {
            Ok(c) => c,
            Err(e) => panic!("python3 could not be started ({e}); {HINT}"),
        };
        let ev = event();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(ev.to_ics().as_bytes())
            .unwrap();
        let out = child.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.code() != Some(3), "{HINT}");
        assert!(
            out.status.success(),
            "icalendar refused the calendar: {stderr}"
        );
        let stdout = String::from_utf8(out.stdout).unwrap();
        let lines: Vec<&str> = stdout.lines().collect();
        assert_eq!(lines[0], ev.uid);
        assert_eq!(lines[1], "2026-03-29T12:30:00+00:00");
        assert_eq!(lines[2], "2026-03-29T12:50:00+00:00");
        assert_eq!(lines[3], ev.summary);
        assert_eq!(
            lines[4],
            "'Cabinet Saint-Éloi\\n12, rue de la Paix\\n75002 Paris'"
        );
        assert_eq!(lines[5], "DISPLAY");
        assert_eq!(lines[6], "-1 day, 22:00:00");
        assert_eq!(lines[7], ev.description.unwrap().len().to_string());
    }
}
