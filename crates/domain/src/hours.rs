//! Opening hours typed by people, as in the French vaccination-site list of 2021: one free
//! text per weekday ("09:00-12:00/13:00-17:30", "9h-13h et 14h-18h", "de 8h à 12h", "fermé",
//! "à préciser", …) turned into time windows, then into weekly [`OpeningRule`]-shaped groups.
//!
//! The parser reads only what it is sure of and says why it refuses the rest:
//!
//! - a day's text is a sequence of times (`9`, `9h`, `9h30`, `09 h 30`, `9:30`, `9.30`,
//!   `09: 30`, `14:OO`), read in pairs as start and end, with separators (`-`, `/`, `,`, `&`,
//!   `–`) and the words "de", "à", "a", "au", "et", "puis" between them. Any other word
//!   ("ou", "sauf", "uniquement", a date, a town) makes the day [`DayHours::Unparsed`]:
//!   guessing would open slots the centre never offered;
//! - "fermé" (and "fermé au public", "FERME"…) is [`DayHours::Closed`]; an empty text or a
//!   missing one (`null`) is [`DayHours::NotGiven`], which the week treats as closed;
//! - "ouvert", "matin", "à préciser", "non renseigné"… carry no hours: `Unparsed`. An open
//!   day with unknown hours gets no default window, for the same reason;
//! - an end of `24:00` or `0h` means midnight at the end of the day; a window that ends
//!   before it starts (overnight, or a typo such as "9h-3h") is refused, since rules are per
//!   day; overlapping or touching windows of a day are merged, duplicates dropped.

use crate::{DomainError, WeekdaySet};
use jiff::civil::Time;

/// Minutes in a day: the end of a window that closes at midnight.
pub const END_OF_DAY: u16 = 24 * 60;

/// A window of one day in minutes since local midnight, `start < end <= 1440`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Window {
    pub start: u16,
    pub end: u16,
}

impl Window {
    pub fn new(start: u16, end: u16) -> Option<Self> {
        (start < end && end <= END_OF_DAY).then_some(Self { start, end })
    }

    /// Local start time.
    pub fn start_time(self) -> Time {
        time_of(self.start)
    }

    /// Local end time; midnight at the end of the day is [`Time::MAX`].
    pub fn end_time(self) -> Time {
        time_of(self.end)
    }
}

fn time_of(m: u16) -> Time {
    if m >= END_OF_DAY {
        return Time::MAX;
    }
    Time::new((m / 60) as i8, (m % 60) as i8, 0, 0).unwrap_or(Time::MAX)
}

impl std::fmt::Display for Window {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{:02}:{:02}-{:02}:{:02}",
            self.start / 60,
            self.start % 60,
            self.end / 60,
            self.end % 60
        )
    }
}

/// What one day's text says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DayHours {
    /// No text (`null`, empty or blank).
    NotGiven,
    /// "fermé" and its variants.
    Closed,
    /// Sorted, disjoint, non-touching windows (at least one).
    Open(Vec<Window>),
    /// Why the text could not be read.
    Unparsed(String),
}

/// Parses one day's text.
pub fn parse_day(text: Option<&str>) -> DayHours {
    let Some(raw) = text else {
        return DayHours::NotGiven;
    };
    let t: String = raw
        .chars()
        .map(|c| if c.is_whitespace() { ' ' } else { c })
        .collect::<String>()
        .trim()
        .to_lowercase();
    if t.is_empty() {
        return DayHours::NotGiven;
    }
    let has_digit = t.chars().any(|c| c.is_ascii_digit());
    if !has_digit {
        let closed = t.starts_with("ferm") || t == "closed";
        return if closed {
            DayHours::Closed
        } else if t.starts_with("ouvert") {
            DayHours::Unparsed("open, but no hours given".into())
        } else {
            DayHours::Unparsed("no hours in the text".into())
        };
    }
    match windows(&t) {
        Ok(w) => DayHours::Open(w),
        Err(reason) => DayHours::Unparsed(reason),
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    /// A run of ASCII digits: value and number of digits.
    Num(u32, usize),
    /// Hour/minute separator: ':' (or '.' between digits).
    Colon,
    /// The 'h' of "9h30".
    H,
    /// '-', '/', ',', '&', ';', '+', a dash, or an allowed word: ends nothing, joins nothing.
    Sep,
    Space,
}

const FILLER_WORDS: &[&str] = &["de", "à", "a", "au", "et", "puis"];

fn tokenize(t: &str) -> Result<Vec<Tok>, String> {
    let chars: Vec<char> = t.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c.is_ascii_digit() {
            let mut v: u32 = 0;
            let mut n = 0;
            while i < chars.len() && chars[i].is_ascii_digit() {
                if n < 6 {
                    v = v * 10 + chars[i].to_digit(10).unwrap_or(0);
                }
                n += 1;
                i += 1;
            }
            out.push(Tok::Num(v, n));
            continue;
        }
        if c == ':' {
            out.push(Tok::Colon);
            // "14:OO": letter O typed for zeros.
            if chars.get(i + 1) == Some(&'o') && chars.get(i + 2) == Some(&'o') {
                out.push(Tok::Num(0, 2));
                i += 3;
            } else {
                i += 1;
            }
            continue;
        }
        if c == '.' {
            let between_digits = i > 0
                && chars[i - 1].is_ascii_digit()
                && chars.get(i + 1).is_some_and(|d| d.is_ascii_digit());
            out.push(if between_digits { Tok::Colon } else { Tok::Sep });
            i += 1;
            continue;
        }
        if c == ' ' {
            if out.last() != Some(&Tok::Space) {
                out.push(Tok::Space);
            }
            i += 1;
            continue;
        }
        if matches!(
            c,
            '-' | '/' | ',' | '&' | ';' | '+' | '–' | '—' | '‐' | '‑' | '−'
        ) {
            out.push(Tok::Sep);
            i += 1;
            continue;
        }
        if c.is_alphabetic() {
            let start = i;
            while i < chars.len() && chars[i].is_alphabetic() {
                i += 1;
            }
            let word: String = chars[start..i].iter().collect();
            if word == "h" {
                out.push(Tok::H);
            } else if FILLER_WORDS.contains(&word.as_str()) {
                out.push(Tok::Sep);
            } else {
                return Err(format!("unexpected word \"{word}\""));
            }
            continue;
        }
        return Err(format!("unexpected character '{c}'"));
    }
    Ok(out)
}

/// Reads the times of a day's text, in order, as minutes since midnight (24:00 = 1440).
fn times(toks: &[Tok]) -> Result<Vec<u16>, String> {
    let mut out = Vec::new();
    let mut i = 0;
    let skip_space = |mut j: usize| {
        while toks.get(j) == Some(&Tok::Space) {
            j += 1;
        }
        j
    };
    while i < toks.len() {
        match toks[i] {
            Tok::Space | Tok::Sep => i += 1,
            Tok::Colon | Tok::H => return Err("a time has no hour".into()),
            Tok::Num(h, n) => {
                if n > 2 || h > 24 {
                    return Err(format!("{h} is not an hour"));
                }
                let mut minutes = 0;
                let mut j = skip_space(i + 1);
                match toks.get(j) {
                    Some(Tok::Colon) => {
                        j = skip_space(j + 1);
                        match toks.get(j) {
                            Some(Tok::Num(m, 2)) => {
                                minutes = *m;
                                j += 1;
                            }
                            _ => return Err("minutes must have two digits".into()),
                        }
                    }
                    Some(Tok::H) => {
                        j += 1;
                        let k = skip_space(j);
                        if let Some(Tok::Num(m, 2)) = toks.get(k) {
                            // "8h 30" is 8:30, but "8h 10h" is two times.
                            let after = skip_space(k + 1);
                            if !matches!(toks.get(after), Some(Tok::H) | Some(Tok::Colon)) {
                                minutes = *m;
                                j = k + 1;
                            }
                        }
                    }
                    // A bare hour ("9-12h30", "14h-17").
                    _ => j = i + 1,
                }
                if minutes >= 60 {
                    return Err(format!("{minutes} is not a number of minutes"));
                }
                if h == 24 && minutes > 0 {
                    return Err("a time after 24:00".into());
                }
                out.push((h * 60 + minutes) as u16);
                i = j;
            }
        }
    }
    Ok(out)
}

fn windows(t: &str) -> Result<Vec<Window>, String> {
    let toks = tokenize(t)?;
    let ts = times(&toks)?;
    if ts.is_empty() {
        return Err("no time in the text".into());
    }
    if ts.len() % 2 == 1 {
        return Err(format!(
            "{} times do not pair into start and end times",
            ts.len()
        ));
    }
    let mut ws = Vec::with_capacity(ts.len() / 2);
    for pair in ts.chunks(2) {
        let (start, mut end) = (pair[0], pair[1]);
        if end == 0 {
            end = END_OF_DAY; // "20h-0h": until midnight.
        }
        if start == END_OF_DAY {
            return Err("a window starts at midnight at the end of the day".into());
        }
        let w = Window::new(start, end).ok_or_else(|| {
            format!(
                "{} ends before it starts (overnight hours are not supported)",
                Window {
                    start,
                    end: end.min(END_OF_DAY)
                }
            )
        })?;
        ws.push(w);
    }
    Ok(merge(ws))
}

/// Sorts windows and merges overlapping or touching ones.
pub fn merge(mut ws: Vec<Window>) -> Vec<Window> {
    ws.sort();
    let mut out: Vec<Window> = Vec::with_capacity(ws.len());
    for w in ws {
        match out.last_mut() {
            Some(last) if w.start <= last.end => last.end = last.end.max(w.end),
            _ => out.push(w),
        }
    }
    out
}

/// French weekday names as the 2021 list spells them, ISO order (Monday first).
pub const FRENCH_WEEKDAYS: [&str; 7] = [
    "lundi", "mardi", "mercredi", "jeudi", "vendredi", "samedi", "dimanche",
];

/// ISO weekday number (1 = Monday) of a French day name, case and surrounding space ignored.
pub fn french_weekday(name: &str) -> Option<u8> {
    let n = name.trim().to_lowercase();
    FRENCH_WEEKDAYS
        .iter()
        .position(|d| *d == n)
        .map(|i| i as u8 + 1)
}

/// A day whose text was not understood.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DayProblem {
    /// The day as the source names it.
    pub day: String,
    pub text: String,
    pub reason: String,
}

/// A week read from `(day name, text)` pairs.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Week {
    /// Windows per ISO day, index 0 = Monday; empty when closed, not given or unparsed.
    pub days: [Vec<Window>; 7],
    pub problems: Vec<DayProblem>,
}

impl Week {
    /// Reads a week. Unknown day names and repeated days are problems; days left out are
    /// closed, like days without text.
    pub fn parse<'a>(entries: impl IntoIterator<Item = (&'a str, Option<&'a str>)>) -> Self {
        let mut week = Week::default();
        let mut seen = [false; 7];
        for (day, text) in entries {
            let problem = |reason: String| DayProblem {
                day: day.to_owned(),
                text: text.unwrap_or_default().to_owned(),
                reason,
            };
            let Some(iso) = french_weekday(day) else {
                week.problems
                    .push(problem("not a French weekday name".into()));
                continue;
            };
            let idx = usize::from(iso - 1);
            if seen[idx] {
                week.problems.push(problem("the day is given twice".into()));
                continue;
            }
            seen[idx] = true;
            match parse_day(text) {
                DayHours::Open(ws) => week.days[idx] = ws,
                DayHours::Closed | DayHours::NotGiven => {}
                DayHours::Unparsed(reason) => week.problems.push(problem(reason)),
            }
        }
        week
    }

    /// Whether any day opens.
    pub fn opens(&self) -> bool {
        self.days.iter().any(|d| !d.is_empty())
    }

    /// The week as weekly openings: one per distinct window, on every day that has it,
    /// ordered by window then first day.
    pub fn openings(&self) -> Vec<WeeklyOpening> {
        let mut by_window: Vec<(Window, u8)> = Vec::new();
        for (idx, ws) in self.days.iter().enumerate() {
            for w in ws {
                let bit = 1u8 << (idx + 1);
                match by_window.iter_mut().find(|(x, _)| x == w) {
                    Some((_, mask)) => *mask |= bit,
                    None => by_window.push((*w, bit)),
                }
            }
        }
        by_window.sort();
        by_window
            .into_iter()
            .filter_map(|(window, mask)| {
                WeekdaySet::from_mask(mask)
                    .ok()
                    .map(|weekdays| WeeklyOpening { weekdays, window })
            })
            .collect()
    }
}

/// One opening rule's worth of a week: a window on a set of weekdays.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WeeklyOpening {
    pub weekdays: WeekdaySet,
    pub window: Window,
}

impl WeeklyOpening {
    /// As an [`crate::OpeningRule`] of `agenda` for `motives`, valid without end dates.
    pub fn rule(
        &self,
        id: crate::RuleId,
        agenda: crate::AgendaId,
        motives: Vec<crate::MotiveId>,
    ) -> Result<crate::OpeningRule, DomainError> {
        crate::OpeningRule::parse(
            id,
            agenda,
            self.weekdays,
            self.window.start_time(),
            self.window.end_time(),
            motives,
            None,
            None,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Weekday;
    use proptest::prelude::*;

    fn w(s: &str) -> Window {
        let (a, b) = s.split_once('-').unwrap();
        let m = |x: &str| {
            let (h, m) = x.split_once(':').unwrap();
            h.parse::<u16>().unwrap() * 60 + m.parse::<u16>().unwrap()
        };
        Window::new(m(a), m(b)).unwrap()
    }

    fn open(ws: &[&str]) -> DayHours {
        DayHours::Open(ws.iter().map(|s| w(s)).collect())
    }

    fn unparsed(text: &str) -> bool {
        matches!(parse_day(Some(text)), DayHours::Unparsed(_))
    }

    /// Texts from the real file (2021-04-14), with what they must give.
    #[test]
    fn real_samples() {
        let cases: &[(&str, &[&str])] = &[
            ("09:00-17:00", &["09:00-17:00"]),
            ("9h-17h", &["09:00-17:00"]),
            ("9:00-17:00", &["09:00-17:00"]),
            ("09:00-13:00, 14:00-18:00", &["09:00-13:00", "14:00-18:00"]),
            ("08:30-12:30, 14:00-18:00", &["08:30-12:30", "14:00-18:00"]),
            ("09:00-13:00/14:00-18:00", &["09:00-13:00", "14:00-18:00"]),
            ("8h30 - 12h", &["08:30-12:00"]),
            ("9:00-12:00 / 13:00-17:00", &["09:00-12:00", "13:00-17:00"]),
            ("8h30-12h30 / 13h30-17h30", &["08:30-12:30", "13:30-17:30"]),
            ("9h-13h et 14h-18h", &["09:00-13:00", "14:00-18:00"]),
            ("de 8h à 18h", &["08:00-18:00"]),
            (
                "de 8h à 12h et de 14h à 18h",
                &["08:00-12:00", "14:00-18:00"],
            ),
            ("9h-17h ", &["09:00-17:00"]),
            ("9:00  -  17:00", &["09:00-17:00"]),
            ("10H 12H", &["10:00-12:00"]),
            ("8h30 12h30", &["08:30-12:30"]),
            ("9h/17h", &["09:00-17:00"]),
            ("09 h 00 - 21 h 00", &["09:00-21:00"]),
            ("9h30-13h puis 13h30-17h30", &["09:30-13:00", "13:30-17:30"]),
            ("7H30 à 19H", &["07:30-19:00"]),
            ("9h-12h 14h-17h", &["09:00-12:00", "14:00-17:00"]),
            ("9h-13 / 13h30-17h30", &["09:00-13:00", "13:30-17:30"]),
            ("08:00-12:30 14:00-19:00", &["08:00-12:30", "14:00-19:00"]),
            ("08h- 13h/ 14h- 19h", &["08:00-13:00", "14:00-19:00"]),
            ("9H 12H /  13H30 17H", &["09:00-12:00", "13:30-17:00"]),
            ("13h/17h\u{a0}", &["13:00-17:00"]),
            ("\u{a0}8 h 30 / 17 H 30", &["08:30-17:30"]),
            ("9-12h30 13h30-17h", &["09:00-12:30", "13:30-17:00"]),
            (
                "09: 20-12: 10/13: 00-16: 40",
                &["09:20-12:10", "13:00-16:40"],
            ),
            ("09:00-12:00/14:OO-17:00", &["09:00-12:00", "14:00-17:00"]),
            ("9h  à13h", &["09:00-13:00"]),
            ("8:30-13:00 & 13:30-17:00", &["08:30-13:00", "13:30-17:00"]),
            ("12h30 / 21h30", &["12:30-21:30"]),
            ("8h/12h-14h/20h", &["08:00-12:00", "14:00-20:00"]),
            ("9h/13h-14h/18h", &["09:00-13:00", "14:00-18:00"]),
            ("08h30 12h - 14h 17h30", &["08:30-12:00", "14:00-17:30"]),
            (
                "09:00 - 12:00 - 14:00-17:00",
                &["09:00-12:00", "14:00-17:00"],
            ),
            ("9.00-12:30 / 13:30-17:00 ", &["09:00-12:30", "13:30-17:00"]),
            (
                "9h – 12h30 / 14h30 – 17h30",
                &["09:00-12:30", "14:30-17:30"],
            ),
            ("14-17H", &["14:00-17:00"]),
            ("14h-17", &["14:00-17:00"]),
            ("09:00-12", &["09:00-12:00"]),
            (
                "8h30 à 12h30 - 13h30 à 17h30",
                &["08:30-12:30", "13:30-17:30"],
            ),
            ("9h à 12h-14h à 17h", &["09:00-12:00", "14:00-17:00"]),
            ("9h-23h", &["09:00-23:00"]),
            ("9:00-12:00/12:30-16:30", &["09:00-12:00", "12:30-16:30"]),
            ("9:30 12:30 / 13:30 16:30", &["09:30-12:30", "13:30-16:30"]),
            // Touching windows merge.
            ("9:00-12:00/12:00-16:30", &["09:00-16:30"]),
        ];
        for (text, want) in cases {
            assert_eq!(parse_day(Some(text)), open(want), "{text:?}");
        }
    }

    #[test]
    fn closed_and_not_given() {
        for t in ["fermé", "Fermé", "FERME", "fermé ", "Fermé au public"] {
            assert_eq!(parse_day(Some(t)), DayHours::Closed, "{t:?}");
        }
        for t in [None, Some(""), Some("   "), Some("\u{a0}")] {
            assert_eq!(parse_day(t), DayHours::NotGiven, "{t:?}");
        }
    }

    #[test]
    fn refused_texts() {
        for t in [
            "ouvert",
            "Ouvert",
            "OUVERT",
            "ouvert matin ",
            "Matin",
            "Après-midi",
            "à préciser",
            "En attente de précisions",
            "non renseigné",
            "é",
            "10h",
            "15h",
            "9h-3h/13h30-17h30",
            "08:00-13-00/14:00-18:00",
            "08:00-13-00/14:00-18:0",
            "09:00-13:00 ou 14:00-18:00",
            "Vendredi 5 février, 14:00-18:00",
            "8:00-12:30 uniquement le 16 janvier",
            "14:00-18:00 à partir du 25/01",
            "8:00-12:00 (19/01 uniquement) / 14:00-18:00",
            "9h-18h sauf matin du 18",
            "fermé13:00-16:00",
            "fermé8h/12h-14h/20h",
            "ouvert le 28/01",
            "PONTAILLER SUR SAONE : 10h20-15h20 Maison des services Rue des Saucis ",
            "25h-26h",
            "9h75-10h",
            "24:30-25:00",
            "123-456",
        ] {
            assert!(
                unparsed(t),
                "{t:?} must not parse: {:?}",
                parse_day(Some(t))
            );
        }
        match parse_day(Some("ouvert")) {
            DayHours::Unparsed(r) => assert!(r.contains("no hours")),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn midnight_and_overlaps() {
        assert_eq!(parse_day(Some("20h-24h")), open(&["20:00-24:00"]));
        assert_eq!(parse_day(Some("20h-0h")), open(&["20:00-24:00"]));
        assert_eq!(
            parse_day(Some("9h-12h / 11h-14h / 9h-12h")),
            open(&["09:00-14:00"])
        );
        assert_eq!(
            parse_day(Some("14h-18h / 8h-12h")),
            open(&["08:00-12:00", "14:00-18:00"])
        );
        assert!(unparsed("22h-2h"));
        assert!(unparsed("24h-24h"));
        assert_eq!(Window::new(0, END_OF_DAY).unwrap().end_time(), Time::MAX);
    }

    #[test]
    fn weeks_group_days_by_window() {
        let week = Week::parse([
            ("lundi", Some("09:00-12:00/14:00-18:00")),
            ("mardi", Some("9h-12h et 14h-18h")),
            ("mercredi", Some("fermé")),
            ("jeudi", Some("à préciser")),
            ("vendredi", Some("9h-12h")),
            ("samedi", None),
            ("Dimanche", Some("")),
        ]);
        assert_eq!(week.problems.len(), 1);
        assert_eq!(week.problems[0].day, "jeudi");
        let o = week.openings();
        assert_eq!(o.len(), 2);
        assert_eq!(o[0].window, w("09:00-12:00"));
        assert_eq!(o[0].weekdays.iter().collect::<Vec<_>>(), vec![1, 2, 5]);
        assert_eq!(o[1].window, w("14:00-18:00"));
        assert_eq!(o[1].weekdays.iter().collect::<Vec<_>>(), vec![1, 2]);
        assert!(week.opens());

        let week = Week::parse([("lundi", Some("fermé")), ("funday", Some("9h-10h"))]);
        assert!(!week.opens());
        assert_eq!(week.problems.len(), 1);
        assert!(week.openings().is_empty());

        let rule = o[0]
            .rule(
                crate::RuleId::new(),
                crate::AgendaId::new(),
                vec![crate::MotiveId::new()],
            )
            .unwrap();
        assert_eq!(rule.start, Time::constant(9, 0, 0, 0));
        assert_eq!(rule.end, Time::constant(12, 0, 0, 0));
    }

    fn windows_ok(ws: &[Window]) -> bool {
        !ws.is_empty()
            && ws.iter().all(|w| w.start < w.end && w.end <= END_OF_DAY)
            && ws.windows(2).all(|p| p[0].end < p[1].start)
    }

    proptest! {
        /// Any text: no panic, and whatever opens is well formed.
        #[test]
        fn never_panics(text in "\\PC{0,40}") {
            if let DayHours::Open(ws) = parse_day(Some(&text)) {
                prop_assert!(windows_ok(&ws));
            }
        }

        /// Texts built from the pieces people type: well formed or refused, never a panic.
        #[test]
        fn typed_pieces(parts in proptest::collection::vec(
            prop_oneof![
                Just("9"), Just("h"), Just("H"), Just("30"), Just(":"), Just("00"), Just("-"),
                Just("/"), Just(" "), Just("à"), Just("et"), Just("de"), Just("12"), Just("24"),
                Just("0"), Just("."), Just("fermé"), Just("ouvert"), Just("o"), Just("–"),
            ],
            0..16,
        )) {
            let text: String = parts.concat();
            if let DayHours::Open(ws) = parse_day(Some(&text)) {
                prop_assert!(windows_ok(&ws));
            }
        }

        /// Windows written back in the canonical form read back the same.
        #[test]
        fn canonical_round_trip(raw in proptest::collection::vec((0u16..1440, 1u16..600), 1..5),
                                sep in prop_oneof![Just(", "), Just("/"), Just(" / "), Just(" et ")]) {
            let ws = merge(raw.iter().filter_map(|&(s, len)| Window::new(s, (s + len).min(END_OF_DAY))).collect());
            prop_assume!(!ws.is_empty());
            let text = ws.iter().map(|w| w.to_string()).collect::<Vec<_>>().join(sep);
            prop_assert_eq!(parse_day(Some(&text)), DayHours::Open(ws.clone()), "{}", text);
            // The same in the "9h30" style.
            let h = |m: u16| if (m / 60) * 60 == m { format!("{}h", m / 60) } else { format!("{}h{:02}", m / 60, m % 60) };
            let text = ws.iter().map(|w| format!("{}-{}", h(w.start), h(w.end))).collect::<Vec<_>>().join(sep);
            prop_assert_eq!(parse_day(Some(&text)), DayHours::Open(ws), "{}", text);
        }

        /// Grouping loses nothing: each day opens exactly its windows again.
        #[test]
        fn grouping_round_trip(days in proptest::collection::vec(
            proptest::collection::vec((0u16..1440, 1u16..600), 0..3), 7)) {
            let mut week = Week::default();
            for (i, d) in days.iter().enumerate() {
                week.days[i] = merge(d.iter().filter_map(|&(s, len)| Window::new(s, (s + len).min(END_OF_DAY))).collect());
            }
            let openings = week.openings();
            for (i, want) in week.days.iter().enumerate() {
                let iso = Weekday::parse(i as i64 + 1).unwrap();
                let got = merge(openings.iter().filter(|o| o.weekdays.contains(iso)).map(|o| o.window).collect());
                prop_assert_eq!(&got, want);
            }
        }
    }
}
