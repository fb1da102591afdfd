//! Languages of the pages: French (default), English, German, Italian. Every string lives in
//! [`catalog`] with its four translations side by side, so a missing translation does not
//! compile; dates and times are formatted here per language, always in the place's zone.

mod catalog;

/// Whether `key` has translations (for the pages' and templates' key check).
pub fn has_key(key: &str) -> bool {
    catalog::ENTRIES.iter().any(|(k, _)| *k == key)
}

use jiff::civil::{Date, Weekday};
use jiff::Zoned;
use std::collections::HashMap;
use std::sync::OnceLock;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
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

    /// The language's own name, for the switcher.
    pub fn native_name(self) -> &'static str {
        match self {
            Lang::Fr => "Français",
            Lang::En => "English",
            Lang::De => "Deutsch",
            Lang::It => "Italiano",
        }
    }

    pub fn parse(code: &str) -> Option<Lang> {
        let primary = code.split(['-', '_']).next()?.trim().to_ascii_lowercase();
        Lang::ALL.into_iter().find(|l| l.code() == primary)
    }

    /// The best supported language of an `Accept-Language` header (by q-value, then
    /// order); French when none is supported.
    pub fn from_accept_language(header: &str) -> Lang {
        let mut best: Option<(f32, usize, Lang)> = None;
        for (i, part) in header.split(',').enumerate().take(32) {
            let mut pieces = part.split(';');
            let tag = pieces.next().unwrap_or("").trim();
            let q = pieces
                .find_map(|p| p.trim().strip_prefix("q="))
                .and_then(|q| q.trim().parse::<f32>().ok())
                .unwrap_or(1.0);
            if q <= 0.0 {
                continue;
            }
            if let Some(lang) = Lang::parse(tag) {
                let better = match best {
                    None => true,
                    Some((bq, bi, _)) => q > bq || (q == bq && i < bi),
                };
                if better {
                    best = Some((q, i, lang));
                }
            }
        }
        best.map(|(_, _, l)| l).unwrap_or_default()
    }

    fn index(self) -> usize {
        self as usize
    }

    /// The translation of `key`; the key itself when unknown (a test keeps that from
    /// shipping: every key used by a template or handler must be in the catalogue).
    pub fn t(self, key: &str) -> &'static str {
        static MAP: OnceLock<HashMap<&'static str, [&'static str; 4]>> = OnceLock::new();
        let map = MAP.get_or_init(|| catalog::ENTRIES.iter().map(|(k, v)| (*k, *v)).collect());
        match map.get(key) {
            Some(v) => v[self.index()],
            None => {
                tracing::warn!(key, "missing translation");
                "…"
            }
        }
    }

    /// `t` with `{name}` placeholders replaced (values are escaped by the template).
    pub fn tf(self, key: &str, args: &[(&str, &str)]) -> String {
        let mut out = self.t(key).to_owned();
        for (name, value) in args {
            out = out.replace(&format!("{{{name}}}"), value);
        }
        out
    }

    fn weekday_name(self, w: Weekday) -> &'static str {
        let i = w.to_monday_zero_offset() as usize;
        [
            [
                "lundi", "mardi", "mercredi", "jeudi", "vendredi", "samedi", "dimanche",
            ],
            [
                "Monday",
                "Tuesday",
                "Wednesday",
                "Thursday",
                "Friday",
                "Saturday",
                "Sunday",
            ],
            [
                "Montag",
                "Dienstag",
                "Mittwoch",
                "Donnerstag",
                "Freitag",
                "Samstag",
                "Sonntag",
            ],
            [
                "lunedì",
                "martedì",
                "mercoledì",
                "giovedì",
                "venerdì",
                "sabato",
                "domenica",
            ],
        ][self.index()][i]
    }

    pub fn weekday_short(self, w: Weekday) -> &'static str {
        let i = w.to_monday_zero_offset() as usize;
        [
            ["lun.", "mar.", "mer.", "jeu.", "ven.", "sam.", "dim."],
            ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"],
            ["Mo.", "Di.", "Mi.", "Do.", "Fr.", "Sa.", "So."],
            ["lun", "mar", "mer", "gio", "ven", "sab", "dom"],
        ][self.index()][i]
    }

    fn month_name(self, m: i8) -> &'static str {
        let i = (m.clamp(1, 12) - 1) as usize;
        [
            [
                "janvier",
                "février",
                "mars",
                "avril",
                "mai",
                "juin",
                "juillet",
                "août",
                "septembre",
                "octobre",
                "novembre",
                "décembre",
            ],
            [
                "January",
                "February",
                "March",
                "April",
                "May",
                "June",
                "July",
                "August",
                "September",
                "October",
                "November",
                "December",
            ],
            [
                "Januar",
                "Februar",
                "März",
                "April",
                "Mai",
                "Juni",
                "Juli",
                "August",
                "September",
                "Oktober",
                "November",
                "Dezember",
            ],
            [
                "gennaio",
                "febbraio",
                "marzo",
                "aprile",
                "maggio",
                "giugno",
                "luglio",
                "agosto",
                "settembre",
                "ottobre",
                "novembre",
                "dicembre",
            ],
        ][self.index()][i]
    }

    fn month_short(self, m: i8) -> String {
        let name = self.month_name(m);
        if name.chars().count() <= 4 {
            return name.to_owned();
        }
        // "juil." keeps four letters: "jui." would not tell June from July.
        let letters = if self == Lang::Fr && m == 7 { 4 } else { 3 };
        let short: String = name.chars().take(letters).collect();
        match self {
            Lang::Fr | Lang::De => format!("{short}."),
            Lang::En | Lang::It => short,
        }
    }

    /// "lundi 23 novembre 2026", "Monday 23 November 2026", "Montag, 23. November 2026",
    /// "lunedì 23 novembre 2026".
    pub fn long_date(self, d: Date) -> String {
        let (w, day, month, year) = (
            self.weekday_name(d.weekday()),
            d.day(),
            self.month_name(d.month()),
            d.year(),
        );
        match self {
            Lang::De => format!("{w}, {day}. {month} {year}"),
            _ => format!("{w} {day} {month} {year}"),
        }
    }

    /// "lun. 23 nov.", "Mon 23 Nov", "Mo. 23. Nov.", "lun 23 nov."
    pub fn short_date(self, d: Date) -> String {
        let (w, day, month) = (
            self.weekday_short(d.weekday()),
            d.day(),
            self.month_short(d.month()),
        );
        match self {
            Lang::De => format!("{w} {day}. {month}"),
            _ => format!("{w} {day} {month}"),
        }
    }

    /// 24-hour clock everywhere careslot is used: "14:30" ("14 h 30" would be French
    /// typography, but the colon form is what French booking sites and SMS use).
    pub fn time(self, z: &Zoned) -> String {
        format!("{:02}:{:02}", z.hour(), z.minute())
    }

    /// Long date and time, e.g. "lundi 23 novembre 2026 à 14:30".
    pub fn date_time(self, z: &Zoned) -> String {
        let date = self.long_date(z.date());
        let time = self.time(z);
        match self {
            Lang::Fr => format!("{date} à {time}"),
            Lang::En => format!("{date} at {time}"),
            Lang::De => format!("{date} um {time} Uhr"),
            Lang::It => format!("{date} alle {time}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_language() {
        assert_eq!(Lang::from_accept_language(""), Lang::Fr);
        assert_eq!(Lang::from_accept_language("en-GB,en;q=0.9"), Lang::En);
        assert_eq!(Lang::from_accept_language("es,de;q=0.5,it;q=0.7"), Lang::It);
        assert_eq!(Lang::from_accept_language("de-CH"), Lang::De);
        assert_eq!(Lang::from_accept_language("ja,zh;q=0.8"), Lang::Fr);
        assert_eq!(Lang::from_accept_language("en;q=0,it"), Lang::It);
    }

    #[test]
    fn dates_per_language() {
        let z: Zoned = "2026-11-23T14:05[Europe/Paris]".parse().unwrap();
        assert_eq!(Lang::Fr.date_time(&z), "lundi 23 novembre 2026 à 14:05");
        assert_eq!(Lang::En.date_time(&z), "Monday 23 November 2026 at 14:05");
        assert_eq!(
            Lang::De.date_time(&z),
            "Montag, 23. November 2026 um 14:05 Uhr"
        );
        assert_eq!(Lang::It.date_time(&z), "lunedì 23 novembre 2026 alle 14:05");
        assert_eq!(Lang::Fr.short_date(z.date()), "lun. 23 nov.");
        assert_eq!(Lang::De.short_date(z.date()), "Mo. 23. Nov.");
    }

    #[test]
    fn every_key_has_four_non_empty_translations_and_no_duplicates() {
        let mut seen = std::collections::HashSet::new();
        for (k, v) in catalog::ENTRIES {
            assert!(seen.insert(*k), "duplicate key {k}");
            for (l, s) in Lang::ALL.iter().zip(v) {
                assert!(!s.trim().is_empty(), "{k} is empty in {}", l.code());
            }
        }
    }
}
