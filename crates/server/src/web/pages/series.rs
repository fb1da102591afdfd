//! Recurring care on the desk's pages (issue 18 point 5): an appointment's place in its
//! series with links to the others, "cancel this one and all following" (stated before it
//! is confirmed) and "move this one and all following" (by days and/or to a new time, all or
//! none); the repeat part of the phone-booking page (dates, conflicts, skips).

use crate::services::AppError;
use crate::web::context::{Ctx, Failure, Form, PageResult};
use careslot_domain::ReservationId;
use careslot_scheduling::care_series::{
    DeskSeries, OccurrenceState, PlannedOccurrence, SeriesMove, SeriesPlan, SeriesRule,
    SeriesShift, WEEKDAY_CODES,
};
use careslot_store::ReservationStatus;
use jiff::civil::Date;
use jiff::Timestamp;

/// One appointment of the series on another's page.
pub struct SeriesRow {
    pub id: String,
    pub when: String,
    pub status: String,
    pub current: bool,
}

/// The series part of an appointment's desk page.
pub struct SeriesSection {
    pub part_of: String,
    pub rows: Vec<SeriesRow>,
    /// What "cancel this one and all following" would do, when it would do something.
    pub cancel_following: Option<String>,
    /// What "move this one and all following" would move, when there is something to move.
    pub move_following: Option<String>,
    /// A move refused: the new times that are not free (nothing moved).
    pub move_conflicts: Vec<String>,
}

/// The appointments "this one and all following" cancels: booked, not started, from its
/// start on.
fn following(s: &DeskSeries, from: Timestamp) -> Vec<&careslot_scheduling::Appointment> {
    let now = Timestamp::now();
    s.occurrences
        .iter()
        .filter(|a| {
            a.row.status == ReservationStatus::Booked && a.row.start >= from && a.row.start > now
        })
        .collect()
}

/// The section of appointment `id`'s page, when it belongs to a series.
pub async fn section(
    ctx: &Ctx,
    id: &ReservationId,
    tz: &jiff::tz::TimeZone,
    move_conflicts: &[PlannedOccurrence],
) -> Result<Option<SeriesSection>, Failure> {
    let caller = ctx.caller()?;
    let Some(s) = ctx.ok(ctx.app.desk_series_of(caller, id).await)? else {
        return Ok(None);
    };
    let Some((n, total)) = s.position(id) else {
        return Ok(None);
    };
    let lang = ctx.lang;
    let this_start = s.occurrences[n - 1].row.start;
    let rows = s
        .occurrences
        .iter()
        .map(|a| SeriesRow {
            id: a.row.id.to_string(),
            when: lang.date_time(&a.row.start.to_zoned(tz.clone())),
            status: super::desk::badge(lang, &a.row, tz).text,
            current: &a.row.id == id,
        })
        .collect();
    let gone = following(&s, this_start);
    let stated = |key: &str| match (gone.first(), gone.last()) {
        (Some(first), Some(last)) => Some(lang.tf(
            key,
            &[
                ("count", &gone.len().to_string()),
                (
                    "from",
                    &lang.date_time(&first.row.start.to_zoned(tz.clone())),
                ),
                ("to", &lang.date_time(&last.row.start.to_zoned(tz.clone()))),
            ],
        )),
        _ => None,
    };
    let cancel_following = stated("series.cancel_following_confirm");
    let move_following = stated("series.move_following_what");
    Ok(Some(SeriesSection {
        part_of: lang.tf(
            "series.part_of",
            &[("n", &n.to_string()), ("total", &total.to_string())],
        ),
        rows,
        cancel_following,
        move_following,
        move_conflicts: move_conflicts
            .iter()
            .map(|c| {
                let state = lang.t(&format!("series.state.{}", c.state.code()));
                format!(
                    "{} ({state})",
                    lang.date_time(&c.start.to_zoned(tz.clone()))
                )
            })
            .collect(),
    }))
}

/// The series of appointment `id` (one of the caller's agendas') and that appointment's
/// start: where "this one and all following" begins.
async fn series_from(
    ctx: &Ctx,
    caller: &crate::services::Caller,
    id: &str,
) -> Result<(DeskSeries, Timestamp), Failure> {
    let rid = ReservationId(id.to_owned());
    let Some(s) = ctx.ok(ctx.app.desk_series_of(caller, &rid).await)? else {
        return Err(ctx.fail(AppError::NotFound("series")));
    };
    let Some(from) = s
        .occurrences
        .iter()
        .find(|a| a.row.id == rid)
        .map(|a| a.row.start)
    else {
        return Err(ctx.fail(AppError::NotFound("series")));
    };
    Ok((s, from))
}

/// "Cancel this one and all following": the series' booked appointments from this one's
/// start on (past ones never).
pub async fn cancel_following(
    mut ctx: Ctx,
    axum::extract::Path(id): axum::extract::Path<String>,
    _form: Form,
) -> PageResult {
    let caller = ctx.caller()?.clone();
    let (s, from) = series_from(&ctx, &caller, &id).await?;
    ctx.ok(ctx.app.cancel_desk_series(&caller, &s.id, Some(from)).await)?;
    Ok(ctx.redirect_with(&format!("/pro/appointments/{id}"), "flash.series_cancelled"))
}

/// "Move this one and all following": `days` later (earlier when negative) and/or at a new
/// `time`, all or none; when a new time is not free, the page again naming those times.
pub async fn move_following(
    mut ctx: Ctx,
    axum::extract::Path(id): axum::extract::Path<String>,
    form: Form,
) -> PageResult {
    let caller = ctx.caller()?.clone();
    let (s, from) = series_from(&ctx, &caller, &id).await?;
    let days = match form.text("days").trim() {
        "" => Ok(0),
        d => d.parse::<i32>(),
    };
    let time = match form.text("time").trim() {
        "" => Ok(None),
        t => t.parse::<jiff::civil::Time>().map(Some),
    };
    let (Ok(days), Ok(time)) = (days, time) else {
        return Err(ctx.fail(
            careslot_domain::DomainError::new("days", "a number of days and a time HH:MM").into(),
        ));
    };
    let shift = SeriesShift { days, time };
    match ctx
        .app
        .move_desk_series(&caller, &s.id, Some(from), shift)
        .await
    {
        Ok(SeriesMove::Moved(..)) => {
            Ok(ctx.redirect_with(&format!("/pro/appointments/{id}"), "flash.series_moved"))
        }
        Ok(SeriesMove::Conflicts(c)) => super::desk::appointment_page(ctx, id, None, &c).await,
        Err(e) => Err(ctx.fail(e)),
    }
}

/// The repeat fields of the booking page as given (query or form), kept as text to show
/// them again.
#[derive(Debug, Clone, Default)]
pub struct RepeatFields {
    pub on: bool,
    /// 1 (Monday) … 7 (Sunday), as the weekday checkboxes send them.
    pub weekdays: Vec<i64>,
    pub every_weeks: String,
    pub count: String,
    pub until: String,
    pub skip: Vec<String>,
}

impl RepeatFields {
    /// From the fields of a query or form (`repeat=1`, `weekdays`, `every_weeks`, `count`,
    /// `until`, `skip`).
    pub fn from_pairs(pairs: &[(String, String)]) -> Self {
        let all = |k: &str| -> Vec<String> {
            pairs
                .iter()
                .filter(|(n, _)| n == k)
                .map(|(_, v)| v.trim().to_owned())
                .filter(|v| !v.is_empty())
                .collect()
        };
        let one = |k: &str| all(k).into_iter().next().unwrap_or_default();
        Self {
            on: one("repeat") == "1",
            weekdays: all("weekdays")
                .iter()
                .filter_map(|w| w.parse().ok())
                .filter(|w| (1..=7).contains(w))
                .collect(),
            every_weeks: one("every_weeks"),
            count: one("count"),
            until: one("until"),
            skip: all("skip"),
        }
    }

    pub fn from_form(form: &Form) -> Self {
        Self::from_pairs(form.pairs())
    }

    /// The rule these fields state.
    pub fn rule(&self) -> Result<SeriesRule, AppError> {
        let days: Vec<String> = self
            .weekdays
            .iter()
            .map(|w| WEEKDAY_CODES[(*w - 1) as usize].to_owned())
            .collect();
        let num = |s: &str| -> Result<Option<i64>, AppError> {
            if s.is_empty() {
                return Ok(None);
            }
            s.parse()
                .map(Some)
                .map_err(|_| careslot_domain::DomainError::new("count", "not a number").into())
        };
        let until = (!self.until.is_empty()).then_some(self.until.as_str());
        let count = if until.is_some() {
            None
        } else {
            num(&self.count)?
        };
        Ok(SeriesRule::parse(
            &days,
            num(&self.every_weeks)?,
            count,
            until,
        )?)
    }

    pub fn skip_dates(&self) -> Vec<Date> {
        self.skip.iter().filter_map(|s| s.parse().ok()).collect()
    }

    /// The hidden fields that carry the repeat into a booking form.
    pub fn hidden(&self) -> Vec<(&'static str, String)> {
        let mut out = vec![
            ("repeat", "1".to_owned()),
            ("every_weeks", self.every_weeks.clone()),
            ("count", self.count.clone()),
            ("until", self.until.clone()),
        ];
        out.extend(self.weekdays.iter().map(|w| ("weekdays", w.to_string())));
        out.extend(self.skip.iter().map(|s| ("skip", s.clone())));
        out
    }
}

/// One date of the preview.
pub struct PreviewRow {
    pub date: String,
    pub when: String,
    pub state_class: &'static str,
    pub state: String,
    pub skipped: bool,
    /// Not free and not skipped: what stands in the way of booking.
    pub conflict: bool,
}

/// The preview of a planned series on the booking page.
pub struct Preview {
    pub rows: Vec<PreviewRow>,
    pub conflicts: usize,
    /// "3 dates are not free…" / "The series will be booked: 11 appointments…".
    pub conflicts_text: String,
    pub ready_text: String,
}

pub fn preview(ctx: &Ctx, plan: &SeriesPlan, tz: &jiff::tz::TimeZone) -> Preview {
    let lang = ctx.lang;
    let rows: Vec<PreviewRow> = plan
        .occurrences
        .iter()
        .map(|o| PreviewRow {
            date: o.date.to_string(),
            when: lang.date_time(&o.start.to_zoned(tz.clone())),
            state_class: o.state.code(),
            state: lang
                .t(&format!("series.state.{}", o.state.code()))
                .to_owned(),
            skipped: o.state == OccurrenceState::Skipped,
            conflict: matches!(o.state, OccurrenceState::Taken | OccurrenceState::Closed),
        })
        .collect();
    let conflicts = rows.iter().filter(|r| r.conflict).count();
    let booked = plan
        .occurrences
        .iter()
        .filter(|o| o.state == OccurrenceState::Free)
        .count();
    Preview {
        conflicts,
        conflicts_text: lang.tf("series.conflicts", &[("count", &conflicts.to_string())]),
        ready_text: lang.tf("series.will_book", &[("count", &booked.to_string())]),
        rows,
    }
}

/// Books the series the booking page's form states (its patient already chosen): on
/// success the first appointment's page; when a date was taken meanwhile, the page again
/// with the dates marked (nothing was booked).
pub async fn book(
    mut ctx: Ctx,
    form: &Form,
    repeat: RepeatFields,
    patient: careslot_scheduling::DeskPatient<'_>,
) -> PageResult {
    use super::desk::{render_book, Given};
    let caller = ctx.caller()?.clone();
    let (agenda, motive, start) = (form.text("agenda"), form.text("motive"), form.text("start"));
    let given = || Given {
        name: form.text("patient_name").into(),
        phone: form.text("patient_phone").into(),
        birth_date: form.text("patient_birth_date").into(),
    };
    let rule = match repeat.rule() {
        Ok(rule) => rule,
        Err(AppError::Invalid(_)) => {
            let error = Some("series.bad_rule");
            return render_book(&ctx, agenda, motive, start, error, given(), "", repeat).await;
        }
        Err(e) => return Err(ctx.fail(e)),
    };
    let booked = ctx
        .app
        .desk_book_series(
            &caller,
            &careslot_domain::AgendaId(agenda.to_owned()),
            motive,
            start,
            &rule,
            &repeat.skip_dates(),
            patient,
            form.opt("note"),
        )
        .await;
    match booked {
        Ok(careslot_scheduling::care_series::SeriesBooking::Booked(s)) => {
            let to = match s.occurrences.first() {
                Some(a) => format!("/pro/appointments/{}", a.row.id),
                None => format!("/pro/agenda?agenda={agenda}"),
            };
            Ok(ctx.redirect_with(&to, "flash.series_booked"))
        }
        Ok(careslot_scheduling::care_series::SeriesBooking::Conflicts(_)) => {
            let error = Some("flash.series_conflict");
            render_book(&ctx, agenda, motive, start, error, given(), "", repeat).await
        }
        Err(AppError::Invalid(d)) => {
            let key = match d.field {
                "patient_phone" => "desk.bad_phone",
                "patient_birth_date" => "desk.bad_birth_date",
                "patient_name" => "desk.bad_name",
                _ => "series.bad_rule",
            };
            render_book(&ctx, agenda, motive, start, Some(key), given(), "", repeat).await
        }
        Err(e) => Err(ctx.fail(e)),
    }
}
