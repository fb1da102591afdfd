//! Conversions between stored primitives and domain values, shared by every backend so both
//! read rows the same way. Stored rows are trusted but still parsed: a corrupt row becomes a
//! `StoreError::Internal`, never a panic.

use crate::{Agenda, ReservationRow, ReservationStatus, StoreError, StoreResult};
use careslot_domain::*;
use jiff::civil::{Date, Time};
use jiff::Timestamp;

pub fn ts(seconds: i64) -> StoreResult<Timestamp> {
    Timestamp::from_second(seconds).map_err(|_| corrupt("timestamp"))
}

pub fn corrupt(what: &str) -> StoreError {
    StoreError::Internal(format!("corrupt stored value: {what}"))
}

/// The pool a reservation belongs to (see the schema): its own id for capacity 1, the shared
/// `p:<start>:<end>` key for pooled motives.
pub fn pool_key(capacity: i64, id: &str, start_s: i64, end_s: i64) -> String {
    if capacity > 1 {
        format!("p:{start_s}:{end_s}")
    } else {
        id.to_owned()
    }
}

pub fn minutes_of_day(t: Time) -> i64 {
    i64::from(t.hour()) * 60 + i64::from(t.minute())
}

pub fn time_of_minutes(m: i64) -> StoreResult<Time> {
    if m == 1440 {
        // An opening rule may end at midnight; the last representable instant of the day
        // is as good as 24:00 for slot arithmetic on minute boundaries.
        return Ok(Time::MAX);
    }
    Time::new((m / 60) as i8, (m % 60) as i8, 0, 0).map_err(|_| corrupt("time of day"))
}

pub fn date_opt(s: Option<String>) -> StoreResult<Option<Date>> {
    s.map(|s| s.parse::<Date>().map_err(|_| corrupt("date")))
        .transpose()
}

pub fn holidays_opt(s: Option<String>) -> StoreResult<Option<Country>> {
    s.map(|s| Country::parse(&s).map_err(|_| corrupt("country")))
        .transpose()
}

#[allow(clippy::too_many_arguments)]
pub fn motive(
    id: String,
    agenda_id: String,
    duration_min: i64,
    capacity: i64,
    teleconsultation: bool,
    new_patients_only: bool,
    bookable_online: bool,
    min_notice_min: i64,
    max_horizon_days: i64,
) -> StoreResult<Motive> {
    let policy = MotivePolicy {
        teleconsultation,
        new_patients_only,
        bookable_online,
        min_notice_min: u32::try_from(min_notice_min).map_err(|_| corrupt("min_notice_min"))?,
        max_horizon_days: u32::try_from(max_horizon_days)
            .map_err(|_| corrupt("max_horizon_days"))?,
    };
    Motive::unlabelled(
        MotiveId(id),
        AgendaId(agenda_id),
        duration_min,
        capacity,
        policy,
    )
    .map_err(|_| corrupt("motive"))
}

#[allow(clippy::too_many_arguments)]
pub fn rule(
    id: String,
    agenda_id: String,
    weekdays: i64,
    start_min: i64,
    end_min: i64,
    motive_ids: Vec<MotiveId>,
    valid_from: Option<String>,
    valid_until: Option<String>,
) -> StoreResult<OpeningRule> {
    let weekdays = WeekdaySet::from_mask(u8::try_from(weekdays).map_err(|_| corrupt("weekdays"))?)
        .map_err(|_| corrupt("weekdays"))?;
    OpeningRule::parse(
        RuleId(id),
        AgendaId(agenda_id),
        weekdays,
        time_of_minutes(start_min)?,
        time_of_minutes(end_min)?,
        motive_ids,
        date_opt(valid_from)?,
        date_opt(valid_until)?,
    )
    .map_err(|_| corrupt("opening rule"))
}

#[allow(clippy::too_many_arguments)]
pub fn reservation_row(
    id: String,
    agenda_id: String,
    start_s: i64,
    end_s: i64,
    status: &str,
    expires_at: Option<i64>,
    motive_ct: Vec<u8>,
    patient_ct: Option<Vec<u8>>,
    note_ct: Option<Vec<u8>>,
    relative_ct: Option<Vec<u8>>,
    visit: [Option<i64>; 4],
) -> StoreResult<ReservationRow> {
    let [arrived_at, consulting_at, done_at, no_show_at] = visit;
    Ok(ReservationRow {
        id: ReservationId(id),
        agenda_id: AgendaId(agenda_id),
        start: ts(start_s)?,
        end: ts(end_s)?,
        status: ReservationStatus::parse(status).ok_or_else(|| corrupt("status"))?,
        expires_at: expires_at.map(ts).transpose()?,
        motive_ct,
        patient_ct,
        note_ct,
        relative_ct,
        arrived_at: arrived_at.map(ts).transpose()?,
        consulting_at: consulting_at.map(ts).transpose()?,
        done_at: done_at.map(ts).transpose()?,
        no_show_at: no_show_at.map(ts).transpose()?,
    })
}

pub fn agenda(
    id: String,
    practitioner_id: String,
    place_id: String,
    timezone: String,
    holidays: Option<String>,
    wrapped_key: String,
) -> StoreResult<Agenda> {
    Ok(Agenda {
        id: AgendaId(id),
        practitioner_id: PractitionerId(practitioner_id),
        place_id: PlaceId(place_id),
        timezone,
        holidays: holidays_opt(holidays)?,
        wrapped_key,
    })
}

pub fn languages_to_text(langs: &[String]) -> String {
    langs.join(",")
}

pub fn languages_from_text(s: &str) -> Vec<String> {
    s.split(',')
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minutes_round_trip() {
        for m in [0, 1, 59, 60, 12 * 60 + 30, 1439] {
            assert_eq!(minutes_of_day(time_of_minutes(m).unwrap()), m);
        }
        assert_eq!(time_of_minutes(1440).unwrap(), Time::MAX);
        assert!(time_of_minutes(-1).is_err());
    }

    #[test]
    fn pool_keys() {
        assert_eq!(pool_key(1, "abc", 10, 20), "abc");
        assert_eq!(pool_key(3, "abc", 10, 20), "p:10:20");
    }
}
