//! A slot answer made of its days' pieces. Each day's serialised slots stay in the agenda
//! cache until a write touches that day or time alone could change it (the notice's and the
//! horizon's bounds, a hold lapsing), so a booking makes its own day be written again, not
//! the whole range, and far days are not written again every second. The slot list and the
//! dose-2 proposals share the pieces of the same motive and day.

use super::dto::SlotFormat;
use super::slot_json;
use careslot_core::availability::{AgendaCache, AgendaView};
use careslot_core::time::local_days;
use careslot_domain::Motive;
use jiff::civil::Date;
use jiff::Timestamp;

/// The serialised slots of `motive` on local dates `from..=to` in `format`, one piece per
/// day (see [`slot_json::assemble`]), and whether every piece was computed just now from
/// `view` (debug builds then check the whole against the range's answer). `generation` is
/// the agenda's, read before `view` (see [`AgendaCache::keep_day`]).
pub fn pieces(
    cache: &AgendaCache,
    view: &AgendaView,
    motive: &Motive,
    (from, to): (Date, Date),
    format: SlotFormat,
    generation: Option<u64>,
    now: Timestamp,
) -> (Vec<bytes::Bytes>, bool) {
    let agenda = &view.agenda.id;
    let now_s = now.as_second();
    let day_key = format!("{}\n{:?}", motive.id, format);
    let mut pieces = Vec::new();
    let mut all_fresh = true;
    let mut day = from;
    while day <= to {
        let span = local_days(day, day, &view.tz).ok();
        // Writes that may touch the day's slots: those over the day, and those early the
        // next day that a slot starting late on it reaches. Out of range: every write.
        let touched_by = span.map_or((i64::MIN, i64::MAX), |(a, b)| {
            (a.as_second(), b.as_second() + motive.duration.seconds())
        });
        let piece = match cache.day(agenda, &day_key, day, touched_by, now_s) {
            Some(piece) => {
                all_fresh = false;
                piece
            }
            None => {
                let slots = view.slots(motive, day, day, now);
                let mut out = Vec::with_capacity(slots.len() * 88);
                match format {
                    SlotFormat::Full => slot_json::slot_items(&mut out, &slots, &view.tz),
                    SlotFormat::Compact => slot_json::compact_groups(&mut out, &slots, &view.tz),
                }
                let piece = bytes::Bytes::from(out);
                if let Some(g) = generation {
                    // At least a second, as whole answers are kept; longer while time
                    // alone cannot change the day (far from the notice and the horizon,
                    // no hold lapsing on it).
                    // (Stock and lines change only by writes, which the cache tracks.)
                    let stable = span.map_or(now, |span| {
                        view.calendar
                            .slots_stable_until(motive, &view.occupancy, span, now)
                    });
                    let until_s = stable.as_second().max(now_s + 1);
                    cache.keep_day(agenda, g, &day_key, day, piece.clone(), (now_s, until_s));
                }
                piece
            }
        };
        pieces.push(piece);
        match day.tomorrow() {
            Ok(next) => day = next,
            Err(_) => break,
        }
    }
    (pieces, all_fresh)
}
