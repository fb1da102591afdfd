//! Vaccines and their protocols: which product, how many doses, how far apart. Protocols are
//! versioned: a change (21–42 days widened to 21–49) applies to bookings made from its
//! effective date on; appointments already booked keep the version they were booked under.

use crate::DomainError;
use jiff::civil::Date;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum VaccineProduct {
    Comirnaty,
    Spikevax,
    Vaxzevria,
    Jcovden,
}

impl VaccineProduct {
    pub const ALL: [VaccineProduct; 4] = [
        VaccineProduct::Comirnaty,
        VaccineProduct::Spikevax,
        VaccineProduct::Vaxzevria,
        VaccineProduct::Jcovden,
    ];

    pub fn code(self) -> &'static str {
        match self {
            VaccineProduct::Comirnaty => "comirnaty",
            VaccineProduct::Spikevax => "spikevax",
            VaccineProduct::Vaxzevria => "vaxzevria",
            VaccineProduct::Jcovden => "jcovden",
        }
    }

    /// Brand and maker, as people know them.
    pub fn name(self) -> &'static str {
        match self {
            VaccineProduct::Comirnaty => "Comirnaty (Pfizer-BioNTech)",
            VaccineProduct::Spikevax => "Spikevax (Moderna)",
            VaccineProduct::Vaxzevria => "Vaxzevria (AstraZeneca)",
            VaccineProduct::Jcovden => "Jcovden (Janssen)",
        }
    }

    /// A product code, or the names the 2021 lists used ("Pfizer-BioNTech", "Moderna"…).
    pub fn parse(s: &str) -> Result<Self, DomainError> {
        let k = s.trim().to_ascii_lowercase();
        Ok(match k.as_str() {
            "comirnaty" | "pfizer" | "pfizer-biontech" | "biontech" => VaccineProduct::Comirnaty,
            "spikevax" | "moderna" => VaccineProduct::Spikevax,
            "vaxzevria" | "astrazeneca" | "astra zeneca" => VaccineProduct::Vaxzevria,
            "jcovden" | "janssen" | "johnson & johnson" => VaccineProduct::Jcovden,
            _ => {
                return Err(DomainError::new(
                    "product",
                    "must be one of comirnaty, spikevax, vaxzevria, jcovden",
                ))
            }
        })
    }
}

/// Which dose of a series a motive gives. `Booster` comes after a completed series.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Dose {
    First,
    Second,
    Booster,
}

impl Dose {
    pub fn number(self) -> u8 {
        match self {
            Dose::First => 1,
            Dose::Second => 2,
            Dose::Booster => 3,
        }
    }

    pub fn from_number(n: i64) -> Result<Self, DomainError> {
        match n {
            1 => Ok(Dose::First),
            2 => Ok(Dose::Second),
            3 => Ok(Dose::Booster),
            _ => Err(DomainError::new("dose", "must be 1, 2 or 3 (booster)")),
        }
    }
}

/// One version of a product's protocol.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Protocol {
    pub product: VaccineProduct,
    pub version: u32,
    /// Bookings made on or after this date (in the centre's zone) use this version.
    pub effective_from: Date,
    /// 1 (single dose) or 2.
    pub doses: u8,
    /// Days between dose 1 and dose 2, inclusive bounds; `None` for a single dose.
    pub second_dose: Option<(u32, u32)>,
    /// Minimum days between the last dose of the series and a booster.
    pub booster_min_days: u32,
}

impl Protocol {
    pub fn parse(
        product: VaccineProduct,
        version: u32,
        effective_from: Date,
        second_dose: Option<(i64, i64)>,
        booster_min_days: i64,
    ) -> Result<Self, DomainError> {
        let second_dose = match second_dose {
            None => None,
            Some((min, max)) => {
                if !(1..=365).contains(&min) || max < min || max > 365 {
                    return Err(DomainError::new(
                        "second_dose",
                        "min_days and max_days must satisfy 1 <= min_days <= max_days <= 365",
                    ));
                }
                Some((min as u32, max as u32))
            }
        };
        if !(0..=3650).contains(&booster_min_days) {
            return Err(DomainError::new(
                "booster_min_days",
                "must be between 0 and 3650",
            ));
        }
        Ok(Self {
            product,
            version,
            effective_from,
            doses: if second_dose.is_some() { 2 } else { 1 },
            second_dose,
            booster_min_days: booster_min_days as u32,
        })
    }

    /// The protocols careslot starts with (EMA product information, 2021): Comirnaty 21–42
    /// days, Spikevax 28–42, Vaxzevria 63–84 (as France applied it), Jcovden single dose;
    /// boosters three months after the series.
    pub fn initial() -> Vec<Protocol> {
        let from = Date::constant(2021, 1, 1);
        let p = |product, second: Option<(u32, u32)>, booster| Protocol {
            product,
            version: 1,
            effective_from: from,
            doses: if second.is_some() { 2 } else { 1 },
            second_dose: second,
            booster_min_days: booster,
        };
        vec![
            p(VaccineProduct::Comirnaty, Some((21, 42)), 90),
            p(VaccineProduct::Spikevax, Some((28, 42)), 90),
            p(VaccineProduct::Vaxzevria, Some((63, 84)), 90),
            p(VaccineProduct::Jcovden, None, 60),
        ]
    }
}

/// The version in force on `day` among a product's versions: the latest effective one.
pub fn protocol_on(
    protocols: &[Protocol],
    product: VaccineProduct,
    day: Date,
) -> Option<&Protocol> {
    protocols
        .iter()
        .filter(|p| p.product == product && p.effective_from <= day)
        .max_by_key(|p| (p.effective_from, p.version))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn products_and_aliases() {
        assert_eq!(
            VaccineProduct::parse("Pfizer-BioNTech").unwrap(),
            VaccineProduct::Comirnaty
        );
        assert_eq!(
            VaccineProduct::parse("AstraZeneca").unwrap(),
            VaccineProduct::Vaxzevria
        );
        assert!(VaccineProduct::parse("sputnik").is_err());
        for p in VaccineProduct::ALL {
            assert_eq!(VaccineProduct::parse(p.code()).unwrap(), p);
        }
    }

    #[test]
    fn the_version_in_force_is_the_latest_effective() {
        let mut all = Protocol::initial();
        let widened = Protocol::parse(
            VaccineProduct::Comirnaty,
            2,
            Date::constant(2021, 4, 14),
            Some((21, 49)),
            90,
        )
        .unwrap();
        all.push(widened.clone());
        let before = protocol_on(&all, VaccineProduct::Comirnaty, Date::constant(2021, 4, 13));
        assert_eq!(before.unwrap().second_dose, Some((21, 42)));
        let after = protocol_on(&all, VaccineProduct::Comirnaty, Date::constant(2021, 4, 14));
        assert_eq!(after.unwrap(), &widened);
        assert!(protocol_on(
            &all,
            VaccineProduct::Comirnaty,
            Date::constant(2020, 12, 31)
        )
        .is_none());
        assert_eq!(
            protocol_on(&all, VaccineProduct::Jcovden, Date::constant(2021, 6, 1))
                .unwrap()
                .doses,
            1
        );
        assert!(Protocol::parse(
            VaccineProduct::Spikevax,
            2,
            Date::constant(2021, 1, 1),
            Some((42, 28)),
            90
        )
        .is_err());
    }
}

/// A campaign phase: who may book while it is open.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Phase {
    pub id: String,
    pub name: String,
    pub everyone: bool,
    /// People at least this old (on the day of booking) are admitted.
    pub min_age: Option<u32>,
    /// People who declare one of these groups are admitted.
    pub priority_groups: Vec<String>,
    pub opened_at: jiff::Timestamp,
    pub closed_at: Option<jiff::Timestamp>,
}

impl Phase {
    pub fn is_open(&self) -> bool {
        self.closed_at.is_none()
    }

    /// Whether this phase admits someone of `age` (unknown: `None`) declaring `groups`.
    pub fn admits(&self, age: Option<u32>, groups: &[String]) -> bool {
        self.everyone
            || self.min_age.zip(age).is_some_and(|(min, age)| age >= min)
            || groups.iter().any(|g| self.priority_groups.contains(g))
    }
}

/// A priority-group code: lower-case words joined by hyphens ("health-professional").
pub fn parse_group(raw: &str) -> Result<String, DomainError> {
    let g = raw.trim().to_ascii_lowercase();
    let ok = (2..=40).contains(&g.len())
        && g.split('-').all(|w| {
            !w.is_empty()
                && w.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        });
    if ok {
        Ok(g)
    } else {
        Err(DomainError::new(
            "priority_groups",
            "use codes such as health-professional or chronic-condition",
        ))
    }
}

/// Full years between a birth date and a day.
pub fn age_on(birth: Date, day: Date) -> Option<u32> {
    if birth > day {
        return None;
    }
    let mut years = day.year() - birth.year();
    if (day.month(), day.day()) < (birth.month(), birth.day()) {
        years -= 1;
    }
    u32::try_from(years).ok()
}

#[cfg(test)]
mod eligibility_tests {
    use super::*;

    fn phase(everyone: bool, min_age: Option<u32>, groups: &[&str]) -> Phase {
        Phase {
            id: "p".into(),
            name: "p".into(),
            everyone,
            min_age,
            priority_groups: groups.iter().map(|g| g.to_string()).collect(),
            opened_at: jiff::Timestamp::UNIX_EPOCH,
            closed_at: None,
        }
    }

    #[test]
    fn admission() {
        let over_75 = phase(false, Some(75), &["health-professional"]);
        assert!(over_75.admits(Some(80), &[]));
        assert!(!over_75.admits(Some(74), &[]));
        assert!(!over_75.admits(None, &[]));
        assert!(over_75.admits(Some(30), &["health-professional".into()]));
        assert!(!over_75.admits(Some(30), &["teacher".into()]));
        assert!(phase(true, None, &[]).admits(None, &[]));
    }

    #[test]
    fn ages_and_groups() {
        let d = |s: &str| s.parse::<Date>().unwrap();
        assert_eq!(age_on(d("1946-03-15"), d("2021-03-14")), Some(74));
        assert_eq!(age_on(d("1946-03-15"), d("2021-03-15")), Some(75));
        assert_eq!(age_on(d("2030-01-01"), d("2021-03-15")), None);
        assert_eq!(
            parse_group(" Health-Professional ").unwrap(),
            "health-professional"
        );
        assert!(parse_group("x").is_err());
        assert!(parse_group("no spaces").is_err());
    }
}
