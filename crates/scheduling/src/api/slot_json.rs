//! Slot lists written straight into one buffer: the hot answer of a rush (a week of a
//! 3-line centre is about a thousand slots). The profile showed serde's string escaping,
//! jiff's generic printer and one allocation per field as most of the server's CPU; here each
//! instant is one offset lookup and fixed-width digits. The output is byte for byte what
//! serde gives for `SlotsBody` / `SecondDoseSlotsBody` (checked by the tests below).

use careslot_core::time::format_instant;
use careslot_domain::Slot;
use jiff::tz::TimeZone;
use jiff::Timestamp;

/// `{"motive_id":…,"slots":[{"start":…,"end":…,"remaining":n},…]}` (motive only when given;
/// ids are generated, never need escaping, and are escaped by serde anyway when unusual).
pub fn slots_json(motive_id: Option<&str>, slots: &[Slot], tz: &TimeZone) -> Vec<u8> {
    let mut out = Vec::with_capacity(32 + slots.len() * 88);
    out.push(b'{');
    if let Some(m) = motive_id {
        out.extend_from_slice(b"\"motive_id\":");
        match serde_json::to_vec(m) {
            Ok(s) => out.extend_from_slice(&s),
            Err(_) => out.extend_from_slice(b"null"),
        }
        out.push(b',');
    }
    out.extend_from_slice(b"\"slots\":[");
    for (i, s) in slots.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.extend_from_slice(b"{\"start\":\"");
        instant(&mut out, s.start, tz);
        out.extend_from_slice(b"\",\"end\":\"");
        instant(&mut out, s.end, tz);
        out.extend_from_slice(b"\",\"remaining\":");
        out.extend_from_slice(s.remaining.to_string().as_bytes());
        out.push(b'}');
    }
    out.extend_from_slice(b"]}");
    out
}

fn digits(out: &mut Vec<u8>, n: i64, width: usize) {
    let mut buf = [b'0'; 4];
    let mut n = n;
    for i in (0..width).rev() {
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
    }
    out.extend_from_slice(&buf[..width]);
}

/// As [`format_instant`], for the common case (whole seconds, offsets in whole minutes, years
/// 0–9999); anything else goes through jiff.
fn instant(out: &mut Vec<u8>, t: Timestamp, tz: &TimeZone) {
    let offset = tz.to_offset(t);
    let secs = i64::from(offset.seconds());
    let dt = offset.to_datetime(t);
    let year = i64::from(dt.year());
    if t.subsec_nanosecond() != 0 || secs % 60 != 0 || !(0..=9999).contains(&year) {
        out.extend_from_slice(format_instant(t, tz).as_bytes());
        return;
    }
    digits(out, year, 4);
    out.push(b'-');
    digits(out, i64::from(dt.month()), 2);
    out.push(b'-');
    digits(out, i64::from(dt.day()), 2);
    out.push(b'T');
    digits(out, i64::from(dt.hour()), 2);
    out.push(b':');
    digits(out, i64::from(dt.minute()), 2);
    out.push(b':');
    digits(out, i64::from(dt.second()), 2);
    out.push(if secs < 0 { b'-' } else { b'+' });
    let a = secs.abs();
    digits(out, a / 3600, 2);
    out.push(b':');
    digits(out, (a / 60) % 60, 2);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::dto::{SecondDoseSlotsBody, SlotBody, SlotsBody};

    fn serde_slots(slots: &[Slot], tz: &TimeZone) -> Vec<SlotBody> {
        slots
            .iter()
            .map(|s| SlotBody {
                start: format_instant(s.start, tz),
                end: format_instant(s.end, tz),
                remaining: s.remaining,
            })
            .collect()
    }

    #[test]
    fn same_bytes_as_serde() {
        let zones = [
            "Europe/Paris",
            "UTC",
            "America/Sao_Paulo",
            "Asia/Kolkata",
            "Pacific/Chatham",
            "Indian/Reunion",
            "America/St_Johns",
        ];
        for name in zones {
            let tz = TimeZone::get(name).unwrap();
            // Every 37 minutes and 13 seconds across two years (DST changes included), and
            // one instant with a fraction of a second.
            let mut slots = Vec::new();
            let mut t = Timestamp::from_second(1_774_000_000).unwrap();
            for i in 0..30_000u32 {
                let end = t.checked_add(jiff::SignedDuration::from_mins(10)).unwrap();
                slots.push(Slot {
                    start: t,
                    end,
                    remaining: i % 7,
                });
                t = t
                    .checked_add(jiff::SignedDuration::from_secs(37 * 60 + 13))
                    .unwrap();
            }
            slots.push(Slot {
                start: Timestamp::from_millisecond(1_774_000_000_123).unwrap(),
                end: Timestamp::from_second(1_774_000_600).unwrap(),
                remaining: 1,
            });
            let expected = serde_json::to_vec(&SlotsBody {
                slots: serde_slots(&slots, &tz),
            })
            .unwrap();
            assert_eq!(slots_json(None, &slots, &tz), expected, "{name}");
            let expected = serde_json::to_vec(&SecondDoseSlotsBody {
                motive_id: "mot_01".into(),
                slots: serde_slots(&slots[..50], &tz),
            })
            .unwrap();
            assert_eq!(
                slots_json(Some("mot_01"), &slots[..50], &tz),
                expected,
                "{name}"
            );
        }
        assert_eq!(slots_json(None, &[], &TimeZone::UTC), b"{\"slots\":[]}");
    }
}
