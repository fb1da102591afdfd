//! Parsing and formatting of the API's time values: RFC 3339 instants (any offset in,
//! the place's offset out), `YYYY-MM-DD` dates, `HH:MM` local times, IANA zones.

use careslot_domain::DomainError;
use jiff::civil::{Date, Time};
use jiff::tz::TimeZone;
use jiff::Timestamp;

pub fn parse_instant(field: &'static str, s: &str) -> Result<Timestamp, DomainError> {
    let s = s.trim();
    // An instant must carry its offset: a bare local time is ambiguous.
    let has_offset = s.ends_with('Z')
        || s.ends_with('z')
        || s.len() > 19 && matches!(s.as_bytes()[s.len() - 6], b'+' | b'-');
    if !has_offset {
        return Err(DomainError::new(
            field,
            "must be an RFC 3339 instant with offset, e.g. 2026-03-29T08:00:00+02:00",
        ));
    }
    s.parse::<Timestamp>().map_err(|_| {
        DomainError::new(
            field,
            "must be an RFC 3339 instant with offset, e.g. 2026-03-29T08:00:00+02:00",
        )
    })
}

pub fn parse_date(field: &'static str, s: &str) -> Result<Date, DomainError> {
    let s = s.trim();
    if s.len() != 10 {
        return Err(DomainError::new(field, "must be a date YYYY-MM-DD"));
    }
    s.parse::<Date>()
        .map_err(|_| DomainError::new(field, "must be a real date YYYY-MM-DD"))
}

pub fn parse_hhmm(field: &'static str, s: &str) -> Result<Time, DomainError> {
    let b = s.trim().as_bytes();
    let err = || DomainError::new(field, "must be a local time HH:MM between 00:00 and 23:59");
    if b.len() != 5
        || b[2] != b':'
        || !b
            .iter()
            .enumerate()
            .all(|(i, c)| i == 2 || c.is_ascii_digit())
    {
        return Err(err());
    }
    let h = (b[0] - b'0') * 10 + (b[1] - b'0');
    let m = (b[3] - b'0') * 10 + (b[4] - b'0');
    Time::new(h as i8, m as i8, 0, 0).map_err(|_| err())
}

pub fn parse_zone(name: &str) -> Result<TimeZone, DomainError> {
    let name = name.trim();
    if name.is_empty() || name.len() > 64 {
        return Err(DomainError::new(
            "timezone",
            "must be an IANA time zone name such as Europe/Paris",
        ));
    }
    TimeZone::get(name).map_err(|_| {
        DomainError::new(
            "timezone",
            "must be an IANA time zone name such as Europe/Paris",
        )
    })
}

/// `[from, to]` inclusive, at most `max_days` days.
pub fn parse_date_range(from: &str, to: &str, max_days: i32) -> Result<(Date, Date), DomainError> {
    let from = parse_date("from", from)?;
    let to = parse_date("to", to)?;
    if to < from {
        return Err(DomainError::new("to", "must not be before from"));
    }
    let days = (to - from).get_days() + 1;
    let days = if (to - from).get_months() != 0 || (to - from).get_years() != 0 {
        // Spans from date subtraction are in days by default; be safe regardless.
        i32::MAX
    } else {
        days
    };
    if days > max_days {
        return Err(DomainError::new(
            "to",
            format!("the range covers at most {max_days} days"),
        ));
    }
    Ok((from, to))
}

pub fn local_midnight(date: Date, tz: &TimeZone) -> Result<Timestamp, DomainError> {
    tz.to_ambiguous_timestamp(date.to_datetime(Time::midnight()))
        .compatible()
        .map_err(|_| DomainError::new("from", "date out of range"))
}

/// The instants `[start, end)` covering local dates `from` to `to` (inclusive) in `tz`.
pub fn local_days(
    from: Date,
    to: Date,
    tz: &TimeZone,
) -> Result<(Timestamp, Timestamp), DomainError> {
    let after = to
        .tomorrow()
        .map_err(|_| DomainError::new("to", "date out of range"))?;
    Ok((local_midnight(from, tz)?, local_midnight(after, tz)?))
}

/// RFC 3339 with the offset of `tz` at that instant.
pub fn format_instant(t: Timestamp, tz: &TimeZone) -> String {
    let offset = tz.to_offset(t);
    t.display_with_offset(offset).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instants_need_an_offset() {
        assert!(parse_instant("start", "2026-03-29T08:00:00+02:00").is_ok());
        assert!(parse_instant("start", "2026-03-29T06:00:00Z").is_ok());
        assert!(parse_instant("start", "2026-03-29T08:00:00").is_err());
        assert!(parse_instant("start", "2026-02-30T08:00:00Z").is_err());
    }

    #[test]
    fn dates_and_times() {
        assert!(parse_date("from", "2026-02-29").is_err());
        assert!(parse_date("from", "2028-02-29").is_ok());
        assert!(parse_hhmm("start", "24:00").is_err());
        assert!(parse_hhmm("start", "8:00").is_err());
        assert_eq!(
            parse_hhmm("start", "08:30").unwrap(),
            jiff::civil::time(8, 30, 0, 0)
        );
        assert!(parse_date_range("2027-01-01", "2027-01-31", 31).is_ok());
        assert!(parse_date_range("2027-01-01", "2027-02-01", 31).is_err());
        assert!(parse_date_range("2027-01-02", "2027-01-01", 31).is_err());
    }

    #[test]
    fn formats_in_local_offset() {
        let tz = TimeZone::get("Europe/Paris").unwrap();
        let t: Timestamp = "2027-03-28T06:00:00Z".parse().unwrap();
        assert_eq!(format_instant(t, &tz), "2027-03-28T08:00:00+02:00");
    }
}
