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
    out.extend_from_slice(&opening(motive_id));
    out.extend_from_slice(SLOTS_OPEN);
    slot_items(&mut out, slots, tz);
    out.extend_from_slice(CLOSE);
    out
}

/// `{` and, when given, the `"motive_id":…,` member: what comes before [`SLOTS_OPEN`].
pub fn opening(motive_id: Option<&str>) -> Vec<u8> {
    let mut out = vec![b'{'];
    if let Some(m) = motive_id {
        out.extend_from_slice(b"\"motive_id\":");
        match serde_json::to_vec(m) {
            Ok(s) => out.extend_from_slice(&s),
            Err(_) => out.extend_from_slice(b"null"),
        }
        out.push(b',');
    }
    out
}

/// How the default answer opens and how both close; between them, items separated by
/// commas (a day's items are a piece of it, see [`assemble`]).
pub const SLOTS_OPEN: &[u8] = b"\"slots\":[";
pub const GROUPS_OPEN: &[u8] = b"{\"groups\":[";
pub const CLOSE: &[u8] = b"]}";

/// The items of the default answer for `slots`, comma-separated, no brackets.
pub fn slot_items(out: &mut Vec<u8>, slots: &[Slot], tz: &TimeZone) {
    let mut clock = LocalClock::new(tz);
    for (i, s) in slots.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.extend_from_slice(b"{\"start\":\"");
        clock.write(out, s.start);
        out.extend_from_slice(b"\",\"end\":\"");
        clock.write(out, s.end);
        out.extend_from_slice(b"\",\"remaining\":");
        out.extend_from_slice(s.remaining.to_string().as_bytes());
        out.push(b'}');
    }
}

/// An answer made of pieces (each day's items): `open`, the non-empty pieces joined by
/// commas, then the close.
pub fn assemble(open: &[&[u8]], pieces: &[bytes::Bytes]) -> Vec<u8> {
    let len: usize = pieces.iter().map(|p| p.len() + 1).sum();
    let mut out = Vec::with_capacity(16 + len);
    for o in open {
        out.extend_from_slice(o);
    }
    let mut first = true;
    for p in pieces.iter().filter(|p| !p.is_empty()) {
        if !first {
            out.push(b',');
        }
        first = false;
        out.extend_from_slice(p);
    }
    out.extend_from_slice(CLOSE);
    out
}

/// The compact answer (`format=compact`, a contract extension for clients that ask for it):
/// `{"groups":[{"date":"2026-12-07","offset":"+01:00","length_s":900,"times":["08:00",…],
/// "remaining":[1,…]},…]}`. A group holds the slots of one local date, offset and length, in
/// order; a slot starts at `date`T`time` at `offset` and ends `length_s` later. About a third
/// of the bytes of the default answer, and one offset and date per group instead of two per
/// slot.
pub fn compact_slots_json(slots: &[Slot], tz: &TimeZone) -> Vec<u8> {
    let mut out = Vec::with_capacity(32 + slots.len() * 14);
    out.extend_from_slice(GROUPS_OPEN);
    compact_groups(&mut out, slots, tz);
    out.extend_from_slice(CLOSE);
    out
}

/// The groups of the compact answer for `slots`, comma-separated, no brackets. A group
/// never spans two local dates, so days' groups joined by commas are the range's.
pub fn compact_groups(out: &mut Vec<u8>, slots: &[Slot], tz: &TimeZone) {
    let mut clock = LocalClock::new(tz);
    let mut group: Option<(jiff::civil::Date, i32, i64)> = None;
    let mut remaining: Vec<u32> = Vec::new();
    for s in slots {
        let offset = clock.offset(s.start);
        let secs = i64::from(offset.seconds());
        let local = s.start.as_second() + secs;
        let date = clock.date(local.div_euclid(86_400), s.start, offset);
        let length = s.end.as_second() - s.start.as_second();
        let key = (date, offset.seconds(), length);
        if group != Some(key) {
            if group.is_some() {
                close_group(out, &mut remaining);
                out.push(b',');
            }
            group = Some(key);
            out.extend_from_slice(b"{\"date\":\"");
            digits(out, i64::from(date.year()).clamp(0, 9999), 4);
            out.push(b'-');
            digits(out, i64::from(date.month()), 2);
            out.push(b'-');
            digits(out, i64::from(date.day()), 2);
            out.extend_from_slice(b"\",\"offset\":\"");
            out.push(if secs < 0 { b'-' } else { b'+' });
            let a = secs.abs();
            digits(out, a / 3600, 2);
            out.push(b':');
            digits(out, (a / 60) % 60, 2);
            if a % 60 != 0 {
                out.push(b':');
                digits(out, a % 60, 2);
            }
            out.extend_from_slice(b"\",\"length_s\":");
            out.extend_from_slice(length.to_string().as_bytes());
            out.extend_from_slice(b",\"times\":[");
        } else {
            out.push(b',');
        }
        let of_day = local.rem_euclid(86_400);
        out.push(b'"');
        digits(out, of_day / 3600, 2);
        out.push(b':');
        digits(out, (of_day / 60) % 60, 2);
        if of_day % 60 != 0 {
            out.push(b':');
            digits(out, of_day % 60, 2);
        }
        out.push(b'"');
        remaining.push(s.remaining);
    }
    if group.is_some() {
        close_group(out, &mut remaining);
    }
}

fn close_group(out: &mut Vec<u8>, remaining: &mut Vec<u32>) {
    out.extend_from_slice(b"],\"remaining\":[");
    for (i, r) in remaining.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.extend_from_slice(r.to_string().as_bytes());
    }
    out.extend_from_slice(b"]}");
    remaining.clear();
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

/// Local wall-clock reading of instants in one time zone, for instants that mostly follow
/// each other: the zone's offset is looked up again only when an instant leaves the span
/// between two of its transitions, and the civil date only when it changes day. The profile
/// of a rush had one offset lookup and one date conversion per instant as 7 % of the server.
struct LocalClock<'a> {
    tz: &'a TimeZone,
    /// The offset, valid for instants in `from..until` (no transition in between).
    span: Option<(Timestamp, Timestamp, jiff::tz::Offset)>,
    /// Local day number (days since 1970-01-01 in local time) and its date.
    day: Option<(i64, jiff::civil::Date)>,
}

impl<'a> LocalClock<'a> {
    fn new(tz: &'a TimeZone) -> Self {
        Self {
            tz,
            span: None,
            day: None,
        }
    }

    fn offset(&mut self, t: Timestamp) -> jiff::tz::Offset {
        if let Some((from, until, offset)) = self.span {
            if from <= t && t < until {
                return offset;
            }
        }
        let offset = self.tz.to_offset(t);
        let until = self
            .tz
            .following(t)
            .map(|tr| tr.timestamp())
            .find(|&at| at > t)
            .unwrap_or(Timestamp::MAX);
        self.span = Some((t, until, offset));
        offset
    }

    fn date(
        &mut self,
        local_day: i64,
        t: Timestamp,
        offset: jiff::tz::Offset,
    ) -> jiff::civil::Date {
        match self.day {
            Some((d, date)) if d == local_day => date,
            _ => {
                let date = offset.to_datetime(t).date();
                self.day = Some((local_day, date));
                date
            }
        }
    }

    /// As [`format_instant`], for the common case (whole seconds, offsets in whole minutes,
    /// years 0–9999); anything else goes through jiff.
    fn write(&mut self, out: &mut Vec<u8>, t: Timestamp) {
        let offset = self.offset(t);
        let secs = i64::from(offset.seconds());
        if t.subsec_nanosecond() != 0 || secs % 60 != 0 {
            out.extend_from_slice(format_instant(t, self.tz).as_bytes());
            return;
        }
        let local = t.as_second() + secs;
        let date = self.date(local.div_euclid(86_400), t, offset);
        let year = i64::from(date.year());
        if !(0..=9999).contains(&year) {
            out.extend_from_slice(format_instant(t, self.tz).as_bytes());
            return;
        }
        let of_day = local.rem_euclid(86_400);
        digits(out, year, 4);
        out.push(b'-');
        digits(out, i64::from(date.month()), 2);
        out.push(b'-');
        digits(out, i64::from(date.day()), 2);
        out.push(b'T');
        digits(out, of_day / 3600, 2);
        out.push(b':');
        digits(out, (of_day / 60) % 60, 2);
        out.push(b':');
        digits(out, of_day % 60, 2);
        out.push(if secs < 0 { b'-' } else { b'+' });
        let a = secs.abs();
        digits(out, a / 3600, 2);
        out.push(b':');
        digits(out, (a / 60) % 60, 2);
    }
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

    /// The slots a compact answer describes, read back as a client would.
    fn expand(json: &[u8]) -> Vec<(String, String, u32)> {
        let body: serde_json::Value = serde_json::from_slice(json).unwrap();
        let mut out = Vec::new();
        for g in body["groups"].as_array().unwrap() {
            let (date, offset) = (g["date"].as_str().unwrap(), g["offset"].as_str().unwrap());
            let length = g["length_s"].as_i64().unwrap();
            let times = g["times"].as_array().unwrap();
            let remaining = g["remaining"].as_array().unwrap();
            assert_eq!(times.len(), remaining.len());
            assert!(!times.is_empty(), "no empty group");
            for (t, r) in times.iter().zip(remaining) {
                let t = t.as_str().unwrap();
                let t = if t.len() == 5 {
                    format!("{t}:00")
                } else {
                    t.to_owned()
                };
                let start: Timestamp = format!("{date}T{t}{offset}").parse().unwrap();
                let end = start
                    .checked_add(jiff::SignedDuration::from_secs(length))
                    .unwrap();
                out.push((
                    start.to_string(),
                    end.to_string(),
                    u32::try_from(r.as_u64().unwrap()).unwrap(),
                ));
            }
        }
        out
    }

    #[test]
    fn compact_answers_describe_the_same_slots() {
        for name in [
            "Europe/Paris",
            "UTC",
            "America/St_Johns",
            "Asia/Kolkata",
            "Pacific/Chatham",
        ] {
            let tz = TimeZone::get(name).unwrap();
            // Every 15 minutes over the spring and autumn changes, then longer slots, and a
            // start with seconds: groups by date, offset and length.
            let mut slots = Vec::new();
            let mut t = Timestamp::from_second(1_774_000_000 - 1_774_000_000 % 900).unwrap();
            for i in 0..40_000u32 {
                let len = if i % 1000 < 900 { 15 * 60 } else { 40 * 60 };
                slots.push(Slot {
                    start: t,
                    end: t.checked_add(jiff::SignedDuration::from_secs(len)).unwrap(),
                    remaining: i % 5,
                });
                t = t.checked_add(jiff::SignedDuration::from_secs(900)).unwrap();
            }
            slots.push(Slot {
                start: t.checked_add(jiff::SignedDuration::from_secs(17)).unwrap(),
                end: t.checked_add(jiff::SignedDuration::from_secs(917)).unwrap(),
                remaining: 2,
            });
            let want: Vec<(String, String, u32)> = slots
                .iter()
                .map(|s| (s.start.to_string(), s.end.to_string(), s.remaining))
                .collect();
            let compact = compact_slots_json(&slots, &tz);
            assert_eq!(expand(&compact), want, "{name}");
            assert!(
                compact.len() * 2 < slots_json(None, &slots, &tz).len(),
                "{name}: compact is at most half the bytes"
            );
        }
        assert_eq!(compact_slots_json(&[], &TimeZone::UTC), b"{\"groups\":[]}");
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

    /// Instants exactly at, just before and just after transitions, in both orders: the
    /// clock's kept offset and date never leak across a transition or a day.
    #[test]
    fn transitions_and_days_in_any_order() {
        for name in [
            "Europe/Paris",
            "America/Sao_Paulo",
            "Pacific/Chatham",
            "UTC",
        ] {
            let tz = TimeZone::get(name).unwrap();
            let from = Timestamp::from_second(1_774_000_000).unwrap();
            let mut instants = Vec::new();
            for tr in tz.following(from).take(6) {
                let at = tr.timestamp();
                for delta in [-3600, -60, -1, 0, 1, 60, 3600, 86_399, 86_400] {
                    instants.push(
                        at.checked_add(jiff::SignedDuration::from_secs(delta))
                            .unwrap(),
                    );
                }
            }
            instants.push(from);
            let mut reversed = instants.clone();
            reversed.reverse();
            for order in [instants, reversed] {
                let slots: Vec<Slot> = order
                    .iter()
                    .map(|&t| Slot {
                        start: t,
                        end: t,
                        remaining: 1,
                    })
                    .collect();
                let expected = serde_json::to_vec(&SlotsBody {
                    slots: serde_slots(&slots, &tz),
                })
                .unwrap();
                assert_eq!(slots_json(None, &slots, &tz), expected, "{name}");
            }
        }
    }
}
