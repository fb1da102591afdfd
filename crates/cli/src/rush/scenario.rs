//! The rush itself: simulated patients (search → slots → dose-2 slots → book both doses
//! directly, or hold them then book), a crowd of availability readers, and the reference
//! load on `/healthz`.

use super::http::{q, Conn, Stats};
use super::setup::Target;
use hyper::{Method, StatusCode};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

pub const QUEUE_HEADER: &str = "careslot-queue-ticket";

pub struct Ctx {
    pub addr: SocketAddr,
    pub targets: Vec<Target>,
    pub dose1_of: HashMap<String, String>,
    pub seed: u64,
}

impl Ctx {
    pub fn new(addr: SocketAddr, targets: Vec<Target>, seed: u64) -> Arc<Self> {
        let dose1_of = targets
            .iter()
            .map(|t| (t.agenda_id.clone(), t.dose1.clone()))
            .collect();
        Arc::new(Self {
            addr,
            targets,
            dose1_of,
            seed,
        })
    }
}

/// What one simulated patient saw.
#[derive(Default)]
pub struct PatientOut {
    pub stats: Stats,
    /// Appointment ids of every 201 from the booking endpoint.
    pub confirmed: Vec<String>,
    pub series: u64,
    /// Milliseconds from a hold's 201 until availability no longer offered the place.
    pub lag_ms: Vec<f64>,
    /// Instants (since the phase start) at which a queue ticket was admitted.
    pub admitted_at: Vec<f64>,
    /// Bookings answered 201, with their Idempotency-Key (the checker sends them again).
    pub keyed: Vec<Keyed>,
    /// Bookings whose every try failed (transport error or 5xx): outcome unknown to the
    /// client, so not acknowledged.
    pub unknown: u64,
}

/// A booking as the client knows it: its key, its request, what the 201 answered, and
/// whether it took more than one try.
#[derive(Clone, Debug)]
pub struct Keyed {
    pub key: String,
    /// The booking's body: `{hold_id}`, or the doses themselves.
    pub body: Value,
    /// Booked from a hold (else the doses directly).
    pub held: bool,
    pub appointments: Vec<String>,
    pub retried: bool,
}

/// Tries of one booking (the first and the retries with the same Idempotency-Key).
const BOOK_TRIES: usize = 12;

/// One attempt in this many holds the doses before booking them (as do those that measure
/// how fast a held place leaves availability); the others book the doses directly, which
/// is what a patient who needs no time to confirm does. Both paths stay exercised.
const HOLD_EVERY: u64 = 10;

/// Mainland France, roughly.
fn random_point(rng: &mut StdRng) -> (f64, f64) {
    (rng.gen_range(43.2..50.9), rng.gen_range(-1.6..7.6))
}

/// Vaccination centres within 50 km of a random point.
fn search_path(rng: &mut StdRng) -> String {
    let (lat, lon) = random_point(rng);
    format!(
        "/api/v1/search?specialty=vaccination-center&lat={lat:.4}&lon={lon:.4}&radius_km=50&limit=10"
    )
}

fn day_after(day: &str, n: i64) -> String {
    day.parse::<jiff::civil::Date>()
        .ok()
        .and_then(|d| d.checked_add(jiff::Span::new().days(n)).ok())
        .map_or_else(|| day.to_owned(), |d| d.to_string())
}

/// A slot list as the API gives it, read without building a JSON tree (the lists are long
/// and the generator must not eat the machine it measures).
#[derive(serde::Deserialize)]
struct SlotList<'a> {
    #[serde(borrow)]
    slots: Vec<SlotItem<'a>>,
    #[serde(borrow, default)]
    motive_id: Option<&'a str>,
}

#[derive(serde::Deserialize)]
struct SlotItem<'a> {
    start: &'a str,
    remaining: u64,
}

/// `remaining` of the slot starting at `start`, 0 when it is not offered.
fn remaining_at(body: &[u8], start: &str) -> u64 {
    serde_json::from_slice::<SlotList>(body)
        .ok()
        .and_then(|l| {
            l.slots
                .iter()
                .find(|s| s.start == start)
                .map(|s| s.remaining)
        })
        .unwrap_or(0)
}

/// One GET whose answer is a slot list: (a chosen start, its remaining places, the list's
/// motive) picked among the first `among` slots.
async fn pick_slot(
    c: &mut Conn,
    stats: &mut Stats,
    endpoint: &'static str,
    path: &str,
    rng: &mut StdRng,
    among: usize,
) -> Option<(String, u64, Option<String>)> {
    let t = Instant::now();
    let answer = c.call(Method::GET, path, None, &[]).await;
    stats.answer(endpoint, t, answer.as_ref().ok());
    let answer = answer.ok().filter(|a| a.status == StatusCode::OK)?;
    let list: SlotList = serde_json::from_slice(&answer.body).ok()?;
    if list.slots.is_empty() {
        return None;
    }
    let s = &list.slots[rng.gen_range(0..list.slots.len().min(among))];
    Some((
        s.start.to_owned(),
        s.remaining,
        list.motive_id.map(str::to_owned),
    ))
}

/// One call, timed under `endpoint`, whose body is not looked at (readers, hammers).
async fn timed_status(
    c: &mut Conn,
    stats: &mut Stats,
    endpoint: &'static str,
    path: &str,
    headers: &[(&str, &str)],
) {
    let t = Instant::now();
    let answer = c.call(Method::GET, path, None, headers).await;
    stats.answer(endpoint, t, answer.as_ref().ok());
}

/// One call, timed under `endpoint`; a transport error counts as status 0.
async fn timed(
    c: &mut Conn,
    stats: &mut Stats,
    endpoint: &'static str,
    method: Method,
    path: &str,
    body: Option<&Value>,
    headers: &[(&str, &str)],
) -> Option<(StatusCode, Value)> {
    let t = Instant::now();
    match c.call(method, path, body, headers).await {
        Ok(a) => {
            stats.answer(endpoint, t, Some(&a));
            Some((a.status, a.json().unwrap_or(Value::Null)))
        }
        Err(_) => {
            stats.record(endpoint, t, None);
            None
        }
    }
}

/// Waits in the waiting room until admitted (or the phase ends): the admitted ticket.
async fn queue(
    c: &mut Conn,
    out: &mut PatientOut,
    phase_start: Instant,
    deadline: Instant,
) -> Option<String> {
    let (_, t) = timed(
        c,
        &mut out.stats,
        "queue_join",
        Method::POST,
        "/api/v1/queue/tickets",
        None,
        &[],
    )
    .await?;
    let ticket = t["ticket"].as_str()?.to_owned();
    let mut answer = t;
    loop {
        if answer["admitted"].as_bool() == Some(true) {
            out.admitted_at.push(phase_start.elapsed().as_secs_f64());
            return Some(ticket);
        }
        let wait = answer["poll_after_ms"]
            .as_u64()
            .unwrap_or(1000)
            .clamp(50, 5000);
        if Instant::now() + Duration::from_millis(wait) > deadline {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(wait)).await;
        let (status, a) = timed(
            c,
            &mut out.stats,
            "queue_status",
            Method::GET,
            "/api/v1/queue/status",
            None,
            &[(QUEUE_HEADER, &ticket)],
        )
        .await?;
        if status != StatusCode::OK {
            return None;
        }
        answer = a;
    }
}

/// A patient booking series after series until the deadline (each series a new patient in
/// real life; with the waiting room each goes through the queue first).
pub async fn patient(
    ctx: Arc<Ctx>,
    idx: usize,
    token: String,
    phase_start: Instant,
    deadline: Instant,
    waiting_room: bool,
    lag_every: u64,
) -> PatientOut {
    let mut out = PatientOut::default();
    let mut rng = StdRng::seed_from_u64(ctx.seed.wrapping_mul(31).wrapping_add(idx as u64));
    let mut c = Conn::new(ctx.addr, Some(token));
    let mut attempts = 0u64;
    while Instant::now() < deadline {
        let ticket = if waiting_room {
            match queue(&mut c, &mut out, phase_start, deadline).await {
                Some(t) => Some(t),
                None => break,
            }
        } else {
            None
        };
        let headers: Vec<(&str, &str)> = match &ticket {
            Some(t) => vec![(QUEUE_HEADER, t.as_str())],
            None => vec![],
        };
        // Book once with this ticket (several tries if places are taken under our feet).
        for _ in 0..4 {
            if Instant::now() >= deadline {
                break;
            }
            attempts += 1;
            let sample = lag_every > 0 && attempts % lag_every == 1;
            let hold = sample || attempts % HOLD_EVERY == 1;
            if book_one(&ctx, &mut c, &mut rng, &mut out, &headers, hold, sample).await {
                break;
            }
        }
    }
    out
}

/// One attempt: search, slots, dose-2 slots, then book the doses (directly, or with
/// `hold` held first; `sample_lag` implies a hold). True when a series was booked.
#[allow(clippy::too_many_arguments)]
async fn book_one(
    ctx: &Ctx,
    c: &mut Conn,
    rng: &mut StdRng,
    out: &mut PatientOut,
    headers: &[(&str, &str)],
    hold: bool,
    sample_lag: bool,
) -> bool {
    let path = search_path(rng);
    let Some((StatusCode::OK, found)) =
        timed(c, &mut out.stats, "search", Method::GET, &path, None, &[]).await
    else {
        return false;
    };
    let candidates: Vec<(&str, &str, &str)> = found["results"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|r| {
                    let agenda = r["agenda_id"].as_str()?;
                    let next = r["next_slot"].as_str()?;
                    let d1 = ctx.dose1_of.get(agenda)?;
                    Some((agenda, d1.as_str(), next))
                })
                .take(3)
                .collect()
        })
        .unwrap_or_default();
    if candidates.is_empty() {
        return false;
    }
    let (agenda, dose1, next) = candidates[rng.gen_range(0..candidates.len())];
    let (agenda, dose1) = (agenda.to_owned(), dose1.to_owned());
    let day = next.get(..10).unwrap_or(next).to_owned();
    let slots_path = format!(
        "/api/v1/agendas/{agenda}/slots?motive_id={dose1}&from={day}&to={}",
        day_after(&day, 2)
    );
    let Some((start, seen, _)) = pick_slot(c, &mut out.stats, "slots", &slots_path, rng, 20).await
    else {
        return false;
    };
    let path = format!(
        "/api/v1/vaccination/second-dose-slots?agenda_id={agenda}&motive_id={dose1}&start={}",
        q(&start)
    );
    let Some((start2, _, Some(dose2))) =
        pick_slot(c, &mut out.stats, "second_dose_slots", &path, rng, 50).await
    else {
        return false;
    };
    let doses = json!({
        "dose1": {"agenda_id": agenda, "motive_id": dose1, "start": start},
        "dose2": {"agenda_id": agenda, "motive_id": dose2, "start": start2},
        "birth_date": "1970-01-01",
    });
    let body = if hold || sample_lag {
        let probe = sample_lag.then(|| LagProbe {
            day_path: format!(
                "/api/v1/agendas/{agenda}/slots?motive_id={dose1}&from={day}&to={day}"
            ),
            start: &start,
            seen,
        });
        let Some(hold_id) = hold_doses(c, out, headers, &doses, probe).await else {
            return false;
        };
        json!({ "hold_id": hold_id })
    } else {
        doses
    };
    // A lost answer, a node that died, a 503: the same request again with the same key,
    // as a careful client would (it books once whatever happened).
    let key = format!("rush-{}-{:032x}", ctx.seed, rand::random::<u128>());
    let mut with_key: Vec<(&str, &str)> = headers.to_vec();
    with_key.push(("idempotency-key", key.as_str()));
    let mut tries = 0;
    let booked = loop {
        tries += 1;
        let answer = timed(
            c,
            &mut out.stats,
            "book",
            Method::POST,
            "/api/v1/vaccination/bookings",
            Some(&body),
            &with_key,
        )
        .await;
        match answer {
            Some((StatusCode::CREATED, booked)) => break booked,
            Some((status, _)) if !status.is_server_error() => return false,
            _ if tries >= BOOK_TRIES => {
                out.unknown += 1;
                return false;
            }
            _ => tokio::time::sleep(Duration::from_millis(250)).await,
        }
    };
    let ids: Vec<String> = booked["appointments"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|a| a["id"].as_str().map(str::to_owned))
        .collect();
    out.confirmed.extend(ids.iter().cloned());
    out.keyed.push(Keyed {
        key,
        body,
        held: hold || sample_lag,
        appointments: ids,
        retried: tries > 1,
    });
    out.series += 1;
    true
}

/// Where a held dose 1 must stop being offered: its day's slot list, its start, and the
/// remaining places seen there before the hold.
struct LagProbe<'a> {
    day_path: String,
    start: &'a str,
    seen: u64,
}

/// Holds both doses: the hold's id. With a probe, also measures how long the held place
/// takes to leave availability.
async fn hold_doses(
    c: &mut Conn,
    out: &mut PatientOut,
    headers: &[(&str, &str)],
    body: &Value,
    probe: Option<LagProbe<'_>>,
) -> Option<String> {
    let (status, held) = timed(
        c,
        &mut out.stats,
        "hold",
        Method::POST,
        "/api/v1/vaccination/holds",
        Some(body),
        headers,
    )
    .await?;
    if status != StatusCode::CREATED {
        return None;
    }
    let held_at = Instant::now();
    let hold_id = held["id"].as_str().map(str::to_owned)?;
    if let Some(p) = probe {
        // The held place must leave availability (remaining below what we saw).
        while held_at.elapsed() < Duration::from_secs(2) {
            if let Ok(a) = c.call(Method::GET, &p.day_path, None, &[]).await {
                if a.status == StatusCode::OK && remaining_at(&a.body, p.start) < p.seen {
                    out.lag_ms.push(held_at.elapsed().as_secs_f64() * 1000.0);
                    break;
                }
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    }
    Some(hold_id)
}

/// What the checker's replay found.
#[derive(Debug, Default, Clone, Copy)]
pub struct Replays {
    /// Bookings sent again, same key and same request.
    pub checked: u64,
    /// ... answered 201 with other appointments.
    pub mismatched: u64,
    /// ... not answered 201.
    pub failed: u64,
    /// The same keys sent with another request, which must be refused with 422 and book
    /// nothing: those answered otherwise.
    pub other_not_refused: u64,
}

impl Replays {
    pub fn add(self, o: Replays) -> Replays {
        Replays {
            checked: self.checked + o.checked,
            mismatched: self.mismatched + o.mismatched,
            failed: self.failed + o.failed,
            other_not_refused: self.other_not_refused + o.other_not_refused,
        }
    }
}

/// One booking request with a key, retried on 5xx and transport errors: the answer.
async fn book_with_key(c: &mut Conn, body: &Value, key: &str) -> Option<super::http::Answer> {
    for _ in 0..BOOK_TRIES {
        match c
            .call(
                Method::POST,
                "/api/v1/vaccination/bookings",
                Some(body),
                &[("idempotency-key", key)],
            )
            .await
        {
            Ok(a) if a.status.is_server_error() => {}
            Ok(a) => return Some(a),
            Err(_) => {}
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    None
}

/// Another request than `body` (another hold, or the same doses for another birth date).
fn other_request(body: &Value) -> Value {
    match body["hold_id"].as_str() {
        Some(hold) => json!({ "hold_id": format!("{hold}-other") }),
        None => {
            let mut other = body.clone();
            other["birth_date"] = json!("1970-01-02");
            other
        }
    }
}

/// The checker's replay: each booking sent again with its key must answer 201 with the
/// same appointments; the same key with another request must answer 422.
pub async fn replay(addr: SocketAddr, token: String, keyed: &[Keyed]) -> Replays {
    let mut c = Conn::new(addr, Some(token));
    let mut r = Replays::default();
    for k in keyed {
        let answer = book_with_key(&mut c, &k.body, &k.key).await;
        r.checked += 1;
        match answer.filter(|a| a.status == StatusCode::CREATED) {
            Some(a) => {
                let ids: Vec<String> = a
                    .json()
                    .and_then(|v| {
                        v["appointments"].as_array().map(|l| {
                            l.iter()
                                .filter_map(|x| x["id"].as_str().map(str::to_owned))
                                .collect()
                        })
                    })
                    .unwrap_or_default();
                if ids != k.appointments {
                    r.mismatched += 1;
                }
            }
            None => r.failed += 1,
        }
        let other = book_with_key(&mut c, &other_request(&k.body), &k.key).await;
        if other.map(|a| a.status) != Some(StatusCode::UNPROCESSABLE_ENTITY) {
            r.other_not_refused += 1;
        }
    }
    r
}

/// Reads availability of random centres for the next week until the deadline.
pub async fn reader(ctx: Arc<Ctx>, idx: usize, deadline: Instant) -> Stats {
    let today = jiff::Zoned::now().date().to_string();
    let (from, to) = (day_after(&today, 1), day_after(&today, 7));
    crawl(&ctx, 77, idx, deadline, "slots", |rng| {
        let t = ctx
            .targets
            .get(rng.gen_range(0..ctx.targets.len().max(1)))?;
        Some(format!(
            "/api/v1/agendas/{}/slots?motive_id={}&from={from}&to={to}",
            t.agenda_id, t.dose1
        ))
    })
    .await
}

/// Searches around random points until the deadline (warming the server like the first
/// minutes of an evening would).
pub async fn searcher(ctx: Arc<Ctx>, idx: usize, deadline: Instant) -> Stats {
    crawl(&ctx, 13, idx, deadline, "search", |rng| {
        Some(search_path(rng))
    })
    .await
}

/// GETs the paths `next` draws until the deadline (or until it has none), not reading
/// the answers.
async fn crawl(
    ctx: &Ctx,
    stream: u64,
    idx: usize,
    deadline: Instant,
    endpoint: &'static str,
    mut next: impl FnMut(&mut StdRng) -> Option<String>,
) -> Stats {
    let mut stats = Stats::default();
    let mut rng = StdRng::seed_from_u64(ctx.seed.wrapping_mul(stream).wrapping_add(idx as u64));
    let mut c = Conn::new(ctx.addr, None);
    while Instant::now() < deadline {
        let Some(path) = next(&mut rng) else { break };
        timed_status(&mut c, &mut stats, endpoint, &path, &[]).await;
    }
    stats
}

/// Hammers one GET path (the ceiling reference, or the queue's own rate).
pub async fn hammer(
    addr: SocketAddr,
    endpoint: &'static str,
    path: String,
    headers: Vec<(&'static str, String)>,
    deadline: Instant,
) -> Stats {
    let mut stats = Stats::default();
    let mut c = Conn::new(addr, None);
    let h: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
    while Instant::now() < deadline {
        timed_status(&mut c, &mut stats, endpoint, &path, &h).await;
    }
    stats
}
