//! Languages of the messages: French (default), English, German, Italian. Every string lives in
//! [`catalog`] with its four translations side by side; dates and times are written per
//! language, always in the place's time zone.

mod catalog;

use std::collections::HashMap;
use std::sync::OnceLock;

use jiff::Zoned;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Lang {
    #[default]
    Fr,
    En,
    De,
    It,
}

impl Lang {
    pub const ALL: [Lang; 4] = [Lang::Fr, Lang::En, Lang::De, Lang::It];

    pub fn code(self) -> &'static str {
        match self {
            Lang::Fr => "fr",
            Lang::En => "en",
            Lang::De => "de",
            Lang::It => "it",
        }
    }

    /// `fr`, `en-GB`, `de_CH`… → the language; `None` when not supported.
    pub fn parse(code: &str) -> Option<Lang> {
        let primary = code.split(['-', '_']).next()?.trim().to_ascii_lowercase();
        Lang::ALL.into_iter().find(|l| l.code() == primary)
    }

    fn index(self) -> usize {
        self as usize
    }

    /// The translation of `key`. Unknown keys are a programming error caught by the catalogue
    /// test (every key a template uses is listed there); at run time they render as the key.
    pub fn t(self, key: &str) -> &str {
        static MAP: OnceLock<HashMap<&'static str, [&'static str; 4]>> = OnceLock::new();
        let map = MAP.get_or_init(|| catalog::ENTRIES.iter().map(|(k, v)| (*k, *v)).collect());
        match map.get(key) {
            Some(v) => v[self.index()],
            None => {
                tracing::warn!(key, "missing message translation");
                key
            }
        }
    }

    /// `t` with `{name}` placeholders replaced. Values are inserted as they are; the HTML
    /// template escapes the result.
    pub fn tf(self, key: &str, args: &[(&str, &str)]) -> String {
        let mut out = self.t(key).to_owned();
        for (name, value) in args {
            out = out.replace(&format!("{{{name}}}"), value);
        }
        out
    }

    /// "jeudi 12 mars 2026 à 14:30", "Thursday 12 March 2026 at 14:30",
    /// "Donnerstag, 12. März 2026 um 14:30", "giovedì 12 marzo 2026 alle 14:30".
    pub fn date_time(self, at: &Zoned) -> String {
        let weekday = self.t(WEEKDAYS[at.weekday().to_monday_zero_offset() as usize]);
        let month = self.t(MONTHS[(at.month().clamp(1, 12) - 1) as usize]);
        let (day, year) = (at.day(), at.year());
        let time = format!("{:02}:{:02}", at.hour(), at.minute());
        match self {
            Lang::Fr => format!("{weekday} {day} {month} {year} à {time}"),
            Lang::En => format!("{weekday} {day} {month} {year} at {time}"),
            Lang::De => format!("{weekday}, {day}. {month} {year} um {time}"),
            Lang::It => format!("{weekday} {day} {month} {year} alle {time}"),
        }
    }
}

const WEEKDAYS: [&str; 7] = [
    "weekday.1",
    "weekday.2",
    "weekday.3",
    "weekday.4",
    "weekday.5",
    "weekday.6",
    "weekday.7",
];

const MONTHS: [&str; 12] = [
    "month.1", "month.2", "month.3", "month.4", "month.5", "month.6", "month.7", "month.8",
    "month.9", "month.10", "month.11", "month.12",
];

#[cfg(test)]
pub(crate) fn catalog_keys() -> impl Iterator<Item = &'static str> {
    catalog::ENTRIES.iter().map(|(k, _)| *k)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn catalog_keys_are_unique_and_filled() {
        let mut seen = HashSet::new();
        for (key, values) in catalog::ENTRIES {
            assert!(seen.insert(*key), "duplicate key {key}");
            for v in values {
                assert!(!v.trim().is_empty(), "empty translation for {key}");
            }
        }
    }

    #[test]
    fn placeholders_match_across_languages() {
        fn names(s: &str) -> Vec<String> {
            let mut out: Vec<String> = s
                .split('{')
                .skip(1)
                .filter_map(|p| p.split_once('}').map(|(n, _)| n.to_owned()))
                .collect();
            out.sort();
            out
        }
        for (key, values) in catalog::ENTRIES {
            let fr = names(values[0]);
            for v in &values[1..] {
                assert_eq!(names(v), fr, "placeholders differ in {key}");
            }
        }
    }

    #[test]
    fn dates_in_each_language() {
        let at: Zoned = "2026-03-12T14:30[Europe/Paris]".parse().unwrap();
        assert_eq!(Lang::Fr.date_time(&at), "jeudi 12 mars 2026 à 14:30");
        assert_eq!(Lang::En.date_time(&at), "Thursday 12 March 2026 at 14:30");
        assert_eq!(
            Lang::De.date_time(&at),
            "Donnerstag, 12. März 2026 um 14:30"
        );
        assert_eq!(Lang::It.date_time(&at), "giovedì 12 marzo 2026 alle 14:30");
    }

    #[test]
    fn parse_codes() {
        assert_eq!(Lang::parse("de-CH"), Some(Lang::De));
        assert_eq!(Lang::parse("IT"), Some(Lang::It));
        assert_eq!(Lang::parse("es"), None);
        assert_eq!(serde_json::to_string(&Lang::En).unwrap(), "\"en\"");
    }
}
