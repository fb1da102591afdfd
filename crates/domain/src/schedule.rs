//! Agenda configuration: visit motives, weekly opening rules, absences.

use crate::{AbsenceId, AgendaId, DomainError, MotiveId, RuleId};
use jiff::civil::{Date, Time};
use jiff::Timestamp;

/// A positive number of minutes, at most one day. Motive durations and steps use it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Minutes(u32);

impl Minutes {
    pub const MAX: u32 = 24 * 60;

    pub fn parse(field: &'static str, value: i64) -> Result<Self, DomainError> {
        if value < 1 || value > i64::from(Self::MAX) {
            return Err(DomainError::new(
                field,
                format!("must be between 1 and {} minutes", Self::MAX),
            ));
        }
        Ok(Self(value as u32))
    }

    pub fn get(self) -> u32 {
        self.0
    }

    pub fn seconds(self) -> i64 {
        i64::from(self.0) * 60
    }
}

/// ISO weekday, 1 = Monday … 7 = Sunday.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Weekday(u8);

impl Weekday {
    pub fn parse(value: i64) -> Result<Self, DomainError> {
        if !(1..=7).contains(&value) {
            return Err(DomainError::new(
                "weekdays",
                "weekdays are ISO numbers 1 (Monday) to 7 (Sunday)",
            ));
        }
        Ok(Self(value as u8))
    }

    pub fn iso(self) -> u8 {
        self.0
    }

    pub fn of(date: Date) -> Self {
        Self(date.weekday().to_monday_one_offset() as u8)
    }
}

/// A non-empty set of weekdays, as a bitmask (bit 1 = Monday … bit 7 = Sunday).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct WeekdaySet(u8);

impl WeekdaySet {
    pub fn parse(days: &[i64]) -> Result<Self, DomainError> {
        if days.is_empty() {
            return Err(DomainError::new(
                "weekdays",
                "at least one weekday is required",
            ));
        }
        let mut mask = 0u8;
        for &d in days {
            mask |= 1 << Weekday::parse(d)?.iso();
        }
        Ok(Self(mask))
    }

    pub fn from_mask(mask: u8) -> Result<Self, DomainError> {
        if mask & 0b1111_1110 == 0 || mask & 1 != 0 {
            return Err(DomainError::new("weekdays", "invalid weekday mask"));
        }
        Ok(Self(mask))
    }

    pub fn mask(self) -> u8 {
        self.0
    }

    pub fn contains(self, day: Weekday) -> bool {
        self.0 & (1 << day.iso()) != 0
    }

    pub fn iter(self) -> impl Iterator<Item = u8> {
        (1..=7u8).filter(move |d| self.0 & (1 << d) != 0)
    }
}

/// Booking rules of a motive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MotivePolicy {
    pub teleconsultation: bool,
    pub new_patients_only: bool,
    pub bookable_online: bool,
    /// Minimum delay between now and the start of a bookable slot, in minutes (may be 0).
    pub min_notice_min: u32,
    /// Slots start at most this many days after now.
    pub max_horizon_days: u32,
}

impl Default for MotivePolicy {
    fn default() -> Self {
        Self {
            teleconsultation: false,
            new_patients_only: false,
            bookable_online: true,
            min_notice_min: 0,
            max_horizon_days: 90,
        }
    }
}

impl MotivePolicy {
    pub const MAX_HORIZON_DAYS: u32 = 730;
    pub const MAX_NOTICE_MIN: u32 = 60 * 24 * 365;

    pub fn check(&self) -> Result<(), DomainError> {
        if self.max_horizon_days < 1 || self.max_horizon_days > Self::MAX_HORIZON_DAYS {
            return Err(DomainError::new(
                "max_horizon_days",
                format!("must be between 1 and {}", Self::MAX_HORIZON_DAYS),
            ));
        }
        if self.min_notice_min > Self::MAX_NOTICE_MIN {
            return Err(DomainError::new(
                "min_notice_min",
                "must be at most one year",
            ));
        }
        Ok(())
    }
}

/// A visit motive ("first consultation", "vaccination dose 1"): what a patient books.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Motive {
    pub id: MotiveId,
    pub agenda_id: AgendaId,
    pub name: String,
    pub duration: Minutes,
    /// Parallel places for the same start (vaccination lines); 1 for an ordinary consultation.
    pub capacity: u32,
    pub policy: MotivePolicy,
}

impl Motive {
    pub const MAX_CAPACITY: u32 = 1000;

    pub fn parse(
        id: MotiveId,
        agenda_id: AgendaId,
        name: &str,
        duration_min: i64,
        capacity: i64,
        policy: MotivePolicy,
    ) -> Result<Self, DomainError> {
        let name = name.trim();
        if name.is_empty() || name.chars().count() > 200 {
            return Err(DomainError::new("name", "must be 1 to 200 characters"));
        }
        // A motive name goes into calendar files, mails and SMS: a control character (BEL,
        // VT, a line break) is never part of a visit reason, and RFC 5545 TEXT forbids them.
        if name.chars().any(char::is_control) {
            return Err(DomainError::new(
                "name",
                "must not contain control characters (line breaks, tabs, ...)",
            ));
        }
        let mut motive = Self::unlabelled(id, agenda_id, duration_min, capacity, policy)?;
        motive.name = name.to_owned();
        Ok(motive)
    }

    /// A motive whose label is kept elsewhere (sealed in storage): `name` is empty.
    pub fn unlabelled(
        id: MotiveId,
        agenda_id: AgendaId,
        duration_min: i64,
        capacity: i64,
        policy: MotivePolicy,
    ) -> Result<Self, DomainError> {
        if capacity < 1 || capacity > i64::from(Self::MAX_CAPACITY) {
            return Err(DomainError::new(
                "capacity",
                format!("must be between 1 and {}", Self::MAX_CAPACITY),
            ));
        }
        policy.check()?;
        Ok(Self {
            id,
            agenda_id,
            name: String::new(),
            duration: Minutes::parse("duration_min", duration_min)?,
            capacity: capacity as u32,
            policy,
        })
    }

    /// Capacity > 1: appointments with the same start and end share a pool of `capacity`
    /// places instead of excluding each other.
    pub fn pooled(&self) -> bool {
        self.capacity > 1
    }
}

/// A weekly opening: on `weekdays`, from `start` to `end` local wall-clock time in the agenda's
/// zone, the listed motives can be booked. Optional validity dates are inclusive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpeningRule {
    pub id: RuleId,
    pub agenda_id: AgendaId,
    pub weekdays: WeekdaySet,
    pub start: Time,
    pub end: Time,
    pub motive_ids: Vec<MotiveId>,
    pub valid_from: Option<Date>,
    pub valid_until: Option<Date>,
}

impl OpeningRule {
    #[allow(clippy::too_many_arguments)]
    pub fn parse(
        id: RuleId,
        agenda_id: AgendaId,
        weekdays: WeekdaySet,
        start: Time,
        end: Time,
        motive_ids: Vec<MotiveId>,
        valid_from: Option<Date>,
        valid_until: Option<Date>,
    ) -> Result<Self, DomainError> {
        if end <= start {
            return Err(DomainError::new("end", "must be after start"));
        }
        if motive_ids.is_empty() {
            return Err(DomainError::new(
                "motive_ids",
                "at least one motive is required",
            ));
        }
        if let (Some(from), Some(until)) = (valid_from, valid_until) {
            if until < from {
                return Err(DomainError::new(
                    "valid_until",
                    "must not be before valid_from",
                ));
            }
        }
        Ok(Self {
            id,
            agenda_id,
            weekdays,
            start,
            end,
            motive_ids,
            valid_from,
            valid_until,
        })
    }

    /// Whether the rule opens on this local date (weekday and validity dates).
    pub fn applies_on(&self, date: Date) -> bool {
        self.weekdays.contains(Weekday::of(date))
            && self.valid_from.is_none_or(|f| date >= f)
            && self.valid_until.is_none_or(|u| date <= u)
    }

    pub fn allows(&self, motive: &MotiveId) -> bool {
        self.motive_ids.iter().any(|m| m == motive)
    }
}

/// A closed period of an agenda (holiday, training, sick leave).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Absence {
    pub id: AbsenceId,
    pub agenda_id: AgendaId,
    pub start: Timestamp,
    pub end: Timestamp,
}

impl Absence {
    pub fn parse(
        id: AbsenceId,
        agenda_id: AgendaId,
        start: Timestamp,
        end: Timestamp,
    ) -> Result<Self, DomainError> {
        if end <= start {
            return Err(DomainError::new("end", "must be after start"));
        }
        Ok(Self {
            id,
            agenda_id,
            start,
            end,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn motive_names_have_no_control_characters() {
        let name = |n: &str| {
            Motive::parse(
                MotiveId::new(),
                AgendaId::new(),
                n,
                15,
                1,
                MotivePolicy::default(),
            )
            .map(|m| m.name)
        };
        assert_eq!(name("  Vaccin – 1re dose ").unwrap(), "Vaccin – 1re dose");
        for bad in [
            "a\u{7}b",
            "a\u{b}b",
            "a\nb",
            "a\tb",
            "a\u{1b}[31mb",
            "a\u{85}b",
        ] {
            let e = name(bad).unwrap_err();
            assert_eq!(e.field, "name", "{bad:?}");
        }
    }

    #[test]
    fn weekday_bounds() {
        assert!(Weekday::parse(0).is_err());
        assert!(Weekday::parse(8).is_err());
        assert_eq!(Weekday::parse(7).unwrap().iso(), 7);
        // 2027-03-28 is a Sunday.
        assert_eq!(Weekday::of(jiff::civil::date(2027, 3, 28)).iso(), 7);
    }

    #[test]
    fn weekday_set() {
        let set = WeekdaySet::parse(&[1, 3, 3, 7]).unwrap();
        assert_eq!(set.iter().collect::<Vec<_>>(), vec![1, 3, 7]);
        assert!(WeekdaySet::parse(&[]).is_err());
        assert!(WeekdaySet::parse(&[9]).is_err());
        assert_eq!(WeekdaySet::from_mask(set.mask()).unwrap(), set);
    }

    #[test]
    fn motive_rejects_zero_duration_and_capacity() {
        let p = MotivePolicy::default();
        let mk = |d, c| Motive::parse(MotiveId::new(), AgendaId::new(), "x", d, c, p.clone());
        assert_eq!(mk(0, 1).unwrap_err().field, "duration_min");
        assert_eq!(mk(1441, 1).unwrap_err().field, "duration_min");
        assert_eq!(mk(15, 0).unwrap_err().field, "capacity");
        assert!(mk(15, 3).unwrap().pooled());
    }

    #[test]
    fn rule_must_end_after_start() {
        let r = OpeningRule::parse(
            RuleId::new(),
            AgendaId::new(),
            WeekdaySet::parse(&[1]).unwrap(),
            jiff::civil::time(12, 0, 0, 0),
            jiff::civil::time(8, 0, 0, 0),
            vec![MotiveId::new()],
            None,
            None,
        );
        assert_eq!(r.unwrap_err().field, "end");
    }
}
