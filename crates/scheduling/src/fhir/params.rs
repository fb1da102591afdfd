//! FHIR search parameters: the query string read strictly (an unknown parameter, modifier or
//! prefix is a 400 naming it, never echoing its value), tokens, references and date ranges.

use careslot_core::error::ApiError;
use jiff::civil::Date;
use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};

/// Results per page unless `_count` says otherwise, and the most a page may hold.
pub const DEFAULT_COUNT: usize = 50;
pub const MAX_COUNT: usize = 500;

/// One `name[:modifier]=value` of the query.
#[derive(Debug, Clone)]
pub struct Param {
    pub name: String,
    pub modifier: Option<String>,
    pub value: String,
}

/// The parsed query of a search.
#[derive(Debug, Clone, Default)]
pub struct Query {
    pub params: Vec<Param>,
    pub count: usize,
    pub offset: usize,
}

impl Query {
    /// Reads `raw` (the URI's query), accepting the parameters named in `allowed` (each with
    /// the modifiers it may take) besides `_count`, `_offset` and `_format`.
    pub fn parse(raw: Option<&str>, allowed: &[(&str, &[&str])]) -> Result<Self, ApiError> {
        let mut q = Query {
            count: DEFAULT_COUNT,
            ..Query::default()
        };
        for (key, value) in url::form_urlencoded::parse(raw.unwrap_or("").as_bytes()) {
            let (name, modifier) = match key.split_once(':') {
                Some((n, m)) => (n.to_owned(), Some(m.to_owned())),
                None => (key.into_owned(), None),
            };
            let value = value.into_owned();
            match name.as_str() {
                "_count" if modifier.is_none() => {
                    q.count = value
                        .parse::<usize>()
                        .ok()
                        .filter(|c| (1..=MAX_COUNT).contains(c))
                        .ok_or_else(|| {
                            ApiError::bad_request(format!(
                                "_count: must be a number from 1 to {MAX_COUNT}"
                            ))
                        })?;
                }
                "_offset" if modifier.is_none() => {
                    q.offset = value
                        .parse::<usize>()
                        .ok()
                        .filter(|o| *o <= 1_000_000)
                        .ok_or_else(|| ApiError::bad_request("_offset: must be a number"))?;
                }
                "_format" if modifier.is_none() => {
                    if !matches!(
                        value.as_str(),
                        "json" | "application/json" | "application/fhir+json"
                    ) {
                        return Err(ApiError::bad_request(
                            "_format: only JSON (json, application/fhir+json) is served",
                        ));
                    }
                }
                _ => {
                    let Some((_, modifiers)) = allowed.iter().find(|(n, _)| *n == name) else {
                        return Err(ApiError::bad_request(format!(
                            "{}: unknown or unsupported search parameter (see /fhir/metadata)",
                            printable(&name)
                        )));
                    };
                    if let Some(m) = &modifier {
                        if !modifiers.contains(&m.as_str()) {
                            return Err(ApiError::bad_request(format!(
                                "{name}: unsupported modifier"
                            )));
                        }
                    }
                    q.params.push(Param {
                        name,
                        modifier,
                        value,
                    });
                }
            }
        }
        Ok(q)
    }

    /// Every occurrence of a parameter (each an AND; its comma-separated values an OR).
    pub fn all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Param> + 'a {
        self.params.iter().filter(move |p| p.name == name)
    }

    /// Whether every occurrence of `name` has a value that `matches` (no occurrence: true).
    pub fn each_any(&self, name: &str, mut matches: impl FnMut(&Param, &str) -> bool) -> bool {
        self.all(name)
            .all(|p| p.value.split(',').any(|v| matches(p, v.trim())))
    }

    /// The self link's query: the parameters as given plus the page.
    pub fn page_query(&self, offset: usize) -> String {
        let mut ser = url::form_urlencoded::Serializer::new(String::new());
        for p in &self.params {
            let key = match &p.modifier {
                Some(m) => format!("{}:{m}", p.name),
                None => p.name.clone(),
            };
            ser.append_pair(&key, &p.value);
        }
        ser.append_pair("_count", &self.count.to_string());
        if offset > 0 {
            ser.append_pair("_offset", &offset.to_string());
        }
        ser.finish()
    }
}

/// A parameter name safe to quote back: a name, never a value.
fn printable(name: &str) -> String {
    if name.len() <= 40
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.')
    {
        name.to_owned()
    } else {
        "a parameter".to_owned()
    }
}

/// Whether a string search value matches `text` (`:exact`, else starts-with or, with
/// `:contains`, anywhere; case aside).
pub fn string_matches(p: &Param, value: &str, text: &str) -> bool {
    match p.modifier.as_deref() {
        Some("exact") => text == value,
        Some("contains") => text.to_lowercase().contains(&value.to_lowercase()),
        _ => text.to_lowercase().starts_with(&value.to_lowercase()),
    }
}

/// Whether a token value (`code`, `system|code`, `|code` or `system|`) matches one of the
/// codings `(system, code)`.
pub fn token_matches(value: &str, codings: &[(&str, &str)]) -> bool {
    match value.split_once('|') {
        None => codings.iter().any(|(_, c)| *c == value),
        Some(("", code)) => codings.iter().any(|(_, c)| *c == code),
        Some((system, "")) => codings.iter().any(|(s, _)| *s == system),
        Some((system, code)) => codings.iter().any(|(s, c)| *s == system && *c == code),
    }
}

/// The id a reference value names for resource type `kind`: `id`, `Kind/id`, or an absolute
/// URL ending in `Kind/id`. `None` for another type.
pub fn reference_id<'a>(value: &'a str, kind: &str) -> Option<&'a str> {
    let value = value.trim();
    let tail = match value.rsplit_once('/') {
        None => return Some(value),
        Some((before, id)) => {
            let t = before.rsplit('/').next().unwrap_or(before);
            (t == kind).then_some(id)?
        }
    };
    Some(tail)
}

/// One end of a date search value: an instant, or a local date (the agenda's zone).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum When {
    Instant(Timestamp),
    Day(Date),
}

/// A `start` range: `[lower, upper)`, each end resolved in an agenda's zone.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Range {
    /// (value, inclusive)
    pub lower: Option<(When, bool)>,
    pub upper: Option<(When, bool)>,
}

fn parse_when(field: &str, v: &str) -> Result<When, ApiError> {
    // An unencoded `+` of an offset arrives as a space.
    let v = &v.replace(' ', "+");
    if v.len() == 10 {
        return v
            .parse::<Date>()
            .map(When::Day)
            .map_err(|_| ApiError::bad_request(format!("{field}: not a date (YYYY-MM-DD)")));
    }
    careslot_core::time::parse_instant("start", v)
        .map(When::Instant)
        .map_err(|_| {
            ApiError::bad_request(format!(
                "{field}: a date (YYYY-MM-DD) or an instant with its offset"
            ))
        })
}

impl Range {
    /// Reads every occurrence of a date parameter (`ge`, `gt`, `le`, `lt`, `eq` prefixes).
    pub fn parse(q: &Query, field: &str) -> Result<Self, ApiError> {
        let mut r = Range::default();
        for p in q.all(field) {
            if p.value.contains(',') {
                return Err(ApiError::bad_request(format!(
                    "{field}: one value per parameter (repeat it for a range)"
                )));
            }
            let v = p.value.trim();
            let (prefix, rest) =
                if v.len() > 2 && v.as_bytes()[..2].iter().all(u8::is_ascii_alphabetic) {
                    v.split_at(2)
                } else {
                    ("eq", v)
                };
            let when = parse_when(field, rest)?;
            match prefix {
                "ge" => r.lower = Some((when, true)),
                "gt" => r.lower = Some((when, false)),
                "le" => r.upper = Some((when, true)),
                "lt" => r.upper = Some((when, false)),
                "eq" => {
                    r.lower = Some((when, true));
                    r.upper = Some((when, true));
                }
                _ => {
                    return Err(ApiError::bad_request(format!(
                        "{field}: supported prefixes are ge, gt, le, lt and eq"
                    )))
                }
            }
        }
        Ok(r)
    }

    /// The range as instants in zone `tz`: `[from, until)`; an open lower end is `now`, an
    /// open upper end `default_days` after the lower one.
    pub fn resolve(
        &self,
        tz: &TimeZone,
        now: Timestamp,
        default_days: i64,
    ) -> (Timestamp, Timestamp) {
        let day_start = |d: Date| d.to_zoned(tz.clone()).map(|z| z.timestamp()).unwrap_or(now);
        let next_day = |d: Date| d.tomorrow().map(day_start).unwrap_or(now);
        let from = match self.lower {
            None => now,
            Some((When::Instant(t), true)) => t,
            Some((When::Instant(t), false)) => {
                t.checked_add(SignedDuration::from_secs(1)).unwrap_or(t)
            }
            Some((When::Day(d), true)) => day_start(d),
            Some((When::Day(d), false)) => next_day(d),
        };
        let until = match self.upper {
            None => from
                .checked_add(SignedDuration::from_hours(24 * default_days))
                .unwrap_or(from),
            Some((When::Instant(t), true)) => {
                t.checked_add(SignedDuration::from_secs(1)).unwrap_or(t)
            }
            Some((When::Instant(t), false)) => t,
            Some((When::Day(d), true)) => next_day(d),
            Some((When::Day(d), false)) => day_start(d),
        };
        (from.max(now.min(until)), until)
    }

    /// Refuses a range wider than `max_days` (checked in UTC, a day of slack for zones).
    pub fn check_span(&self, field: &str, now: Timestamp, max_days: i64) -> Result<(), ApiError> {
        let (from, until) = self.resolve(&TimeZone::UTC, now, 7);
        if until.duration_since(from) > SignedDuration::from_hours(24 * (max_days + 1)) {
            return Err(ApiError::bad_request(format!(
                "{field}: the range may cover at most {max_days} days"
            )));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_parameters_strictly() {
        let allowed: &[(&str, &[&str])] = &[("name", &["contains", "exact"]), ("status", &[])];
        let q = Query::parse(Some("name:contains=dup&status=free,busy&_count=2"), allowed)
            .expect("query");
        assert_eq!(q.count, 2);
        assert!(q.each_any("status", |_, v| v == "busy"));
        assert!(Query::parse(Some("bogus=1"), allowed).is_err());
        assert!(Query::parse(Some("status:missing=true"), allowed).is_err());
        assert!(Query::parse(Some("_count=0"), allowed).is_err());
        assert!(Query::parse(Some("_format=xml"), allowed).is_err());
    }

    #[test]
    fn tokens_and_references() {
        let codings = [("http://s", "57"), ("http://t", "x")];
        assert!(token_matches("57", &codings));
        assert!(token_matches("http://s|57", &codings));
        assert!(token_matches("|x", &codings));
        assert!(token_matches("http://t|", &codings));
        assert!(!token_matches("http://t|57", &codings));
        assert_eq!(reference_id("Schedule/m1", "Schedule"), Some("m1"));
        assert_eq!(reference_id("m1", "Schedule"), Some("m1"));
        assert_eq!(
            reference_id("http://h/fhir/Schedule/m1", "Schedule"),
            Some("m1")
        );
        assert_eq!(reference_id("Location/m1", "Schedule"), None);
    }

    #[test]
    fn date_ranges() {
        let allowed: &[(&str, &[&str])] = &[("start", &[])];
        let now: Timestamp = "2026-03-01T00:00:00Z".parse().expect("now");
        let q = Query::parse(
            Some("start=ge2026-03-02&start=lt2026-03-04T10:00:00%2B01:00"),
            allowed,
        )
        .expect("query");
        let r = Range::parse(&q, "start").expect("range");
        let paris = TimeZone::get("Europe/Paris").expect("zone");
        let (from, until) = r.resolve(&paris, now, 7);
        assert_eq!(from.to_string(), "2026-03-01T23:00:00Z");
        assert_eq!(until.to_string(), "2026-03-04T09:00:00Z");
        let wide =
            Query::parse(Some("start=ge2026-03-02&start=le2026-05-02"), allowed).expect("query");
        let r = Range::parse(&wide, "start").expect("range");
        assert!(r.check_span("start", now, 31).is_err());
        let bad = Query::parse(Some("start=sa2026-03-02"), allowed).expect("query");
        assert!(Range::parse(&bad, "start").is_err());
    }
}
