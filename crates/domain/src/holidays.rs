//! National public holidays that close an agenda by default.

use crate::DomainError;
use jiff::civil::Date;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Country {
    France,
    Germany,
    Italy,
}

impl Country {
    /// ISO 3166-1 alpha-2 code, as stored and as in the API.
    pub fn code(self) -> &'static str {
        match self {
            Country::France => "FR",
            Country::Germany => "DE",
            Country::Italy => "IT",
        }
    }

    pub fn parse(code: &str) -> Result<Self, DomainError> {
        match code.trim().to_ascii_uppercase().as_str() {
            "FR" => Ok(Country::France),
            "DE" => Ok(Country::Germany),
            "IT" => Ok(Country::Italy),
            _ => Err(DomainError::new(
                "country",
                "supported countries are FR, DE and IT",
            )),
        }
    }

    /// Whether `date` is a national public holiday of this country (regional ones are not
    /// included). A few integer operations: no allocation, no table, no cache.
    ///
    /// - FR: 1 Jan, Easter Monday, 1 May, 8 May, Ascension, Whit Monday, 14 Jul, 15 Aug,
    ///   1 Nov, 11 Nov, 25 Dec.
    /// - DE: 1 Jan, Good Friday, Easter Monday, 1 May, Ascension, Whit Monday, 3 Oct,
    ///   25 Dec, 26 Dec.
    /// - IT: 1 Jan, 6 Jan, Easter Sunday, Easter Monday, 25 Apr, 1 May, 2 Jun, 15 Aug,
    ///   4 Oct (from 2026, law 151/2025), 1 Nov, 8 Dec, 25 Dec, 26 Dec.
    pub fn is_holiday(self, date: Date) -> bool {
        let (month, day) = (date.month(), date.day());
        let fixed = match self {
            Country::France => matches!(
                (month, day),
                (1, 1) | (5, 1) | (5, 8) | (7, 14) | (8, 15) | (11, 1) | (11, 11) | (12, 25)
            ),
            Country::Germany => {
                matches!(
                    (month, day),
                    (1, 1) | (5, 1) | (10, 3) | (12, 25) | (12, 26)
                )
            }
            Country::Italy => {
                matches!(
                    (month, day),
                    (1, 1)
                        | (1, 6)
                        | (4, 25)
                        | (5, 1)
                        | (6, 2)
                        | (8, 15)
                        | (11, 1)
                        | (12, 8)
                        | (12, 25)
                        | (12, 26)
                ) || (month == 10 && day == 4 && date.year() >= 2026)
            }
        };
        if fixed {
            return true;
        }
        // Movable feasts run from Good Friday (20 March at the earliest) to Whit Monday
        // (14 June at the latest): skip the Easter computation outside March to June.
        if !(3..=6).contains(&month) {
            return false;
        }
        let from_easter = days_after_easter(date);
        match self {
            Country::France => matches!(from_easter, 1 | 39 | 50),
            Country::Germany => matches!(from_easter, -2 | 1 | 39 | 50),
            Country::Italy => matches!(from_easter, 0 | 1),
        }
    }
}

/// Month (3 or 4) and day of Gregorian Easter Sunday, by the anonymous Gregorian algorithm
/// (Meeus/Jones/Butcher).
pub fn easter_sunday(year: i16) -> (i8, i8) {
    let y = i32::from(year);
    let a = y.rem_euclid(19);
    let b = y.div_euclid(100);
    let c = y.rem_euclid(100);
    let d = b.div_euclid(4);
    let e = b.rem_euclid(4);
    let f = (b + 8).div_euclid(25);
    let g = (b - f + 1).div_euclid(3);
    let h = (19 * a + b - d - g + 15).rem_euclid(30);
    let i = c / 4;
    let k = c % 4;
    let l = (32 + 2 * e + 2 * i - h - k).rem_euclid(7);
    let m = (a + 11 * h + 22 * l) / 451;
    let n = h + l - 7 * m + 114;
    // n / 31 is 3 or 4 and n % 31 + 1 is at most 31: both fit an i8.
    ((n / 31) as i8, (n % 31 + 1) as i8)
}

/// Signed number of days from Easter Sunday of `date`'s year to `date`.
fn days_after_easter(date: Date) -> i16 {
    let (month, day) = easter_sunday(date.year());
    let february = if date.in_leap_year() { 29 } else { 28 };
    // Day of the year of Easter: January and February, then March, then April.
    let easter = 31 + february + if month == 3 { 0 } else { 31 } + i16::from(day);
    date.day_of_year() - easter
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::civil::date;

    #[test]
    fn easter_known_dates() {
        for (year, month, day) in [
            (1818, 3, 22),
            (1943, 4, 25),
            (2000, 4, 23),
            (2008, 3, 23),
            (2011, 4, 24),
            (2019, 4, 21),
            (2024, 3, 31),
            (2025, 4, 20),
            (2026, 4, 5),
            (2027, 3, 28),
            (2028, 4, 16),
            (2038, 4, 25),
            (2285, 3, 22),
        ] {
            assert_eq!(easter_sunday(year), (month, day), "{year}");
        }
    }

    #[test]
    fn easter_is_always_a_sunday_in_range() {
        for year in 1583..=4099 {
            let (m, d) = easter_sunday(year);
            let easter = date(year, m, d);
            assert_eq!(easter.weekday(), jiff::civil::Weekday::Sunday, "{year}");
            assert!(
                easter >= date(year, 3, 22) && easter <= date(year, 4, 25),
                "{year}"
            );
        }
    }

    #[test]
    fn movable_feasts() {
        // Easter 2027: 28 March.
        assert!(Country::Germany.is_holiday(date(2027, 3, 26))); // Karfreitag
        assert!(!Country::France.is_holiday(date(2027, 3, 26)));
        assert!(!Country::Italy.is_holiday(date(2027, 3, 26)));
        for c in [Country::France, Country::Germany, Country::Italy] {
            assert!(c.is_holiday(date(2027, 3, 29)), "{c:?} Easter Monday");
        }
        assert!(Country::Italy.is_holiday(date(2027, 3, 28)));
        assert!(!Country::France.is_holiday(date(2027, 3, 28)));
        // Ascension 2026-05-14 and 2027-05-06; Whit Monday 2027-05-17.
        for c in [Country::France, Country::Germany] {
            assert!(c.is_holiday(date(2026, 5, 14)), "{c:?}");
            assert!(c.is_holiday(date(2027, 5, 6)), "{c:?}");
            assert!(c.is_holiday(date(2027, 5, 17)), "{c:?}");
            assert!(!c.is_holiday(date(2027, 5, 16)), "{c:?} Whit Sunday");
            assert!(!c.is_holiday(date(2027, 5, 18)), "{c:?}");
        }
        assert!(!Country::Italy.is_holiday(date(2026, 5, 14)));
        assert!(!Country::Italy.is_holiday(date(2027, 5, 17)));
        // Leap year: Easter 2024-03-31, Whit Monday 2024-05-20, Good Friday 2024-03-29.
        assert!(Country::France.is_holiday(date(2024, 5, 20)));
        assert!(Country::Germany.is_holiday(date(2024, 3, 29)));
        assert!(Country::Germany.is_holiday(date(2024, 4, 1)));
        // Late Easter 2038-04-25 (also Liberation Day in Italy): Whit Monday 14 June.
        assert!(Country::France.is_holiday(date(2038, 6, 14)));
        assert!(Country::Italy.is_holiday(date(2038, 4, 26)));
    }

    #[test]
    fn fixed_dates() {
        let fr = Country::France;
        let de = Country::Germany;
        let it = Country::Italy;
        for (m, d) in [
            (1, 1),
            (5, 1),
            (5, 8),
            (7, 14),
            (8, 15),
            (11, 1),
            (11, 11),
            (12, 25),
        ] {
            assert!(fr.is_holiday(date(2027, m, d)), "FR {m}-{d}");
        }
        assert!(!fr.is_holiday(date(2027, 12, 26)));
        for (m, d) in [(1, 1), (5, 1), (10, 3), (12, 25), (12, 26)] {
            assert!(de.is_holiday(date(2027, m, d)), "DE {m}-{d}");
        }
        // Regional German holidays are not national.
        for (m, d) in [(1, 6), (8, 15), (10, 31), (11, 1)] {
            assert!(!de.is_holiday(date(2027, m, d)), "DE {m}-{d}");
        }
        for (m, d) in [
            (1, 1),
            (1, 6),
            (4, 25),
            (5, 1),
            (6, 2),
            (8, 15),
            (11, 1),
            (12, 8),
            (12, 25),
            (12, 26),
        ] {
            assert!(it.is_holiday(date(2027, m, d)), "IT {m}-{d}");
        }
        assert!(it.is_holiday(date(2027, 10, 4)));
        assert!(!it.is_holiday(date(2025, 10, 4)));
        assert!(!it.is_holiday(date(2027, 7, 14)));
        assert!(!fr.is_holiday(date(2027, 3, 1)));
        assert!(!de.is_holiday(date(2027, 6, 2)));
    }

    #[test]
    fn parse_codes() {
        assert_eq!(Country::parse(" fr ").unwrap(), Country::France);
        assert_eq!(Country::parse("DE").unwrap().code(), "DE");
        assert!(Country::parse("ES").is_err());
    }
}
