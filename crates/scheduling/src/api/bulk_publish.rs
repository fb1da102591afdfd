//! SMART Scheduling Links: the `$bulk-publish` manifest and its NDJSON files of vaccination
//! Locations, Schedules and Slots (shaped in `crate::publish`). Public, read-only, computed
//! from the live availability views at each request.

use super::extract::ApiQuery;
use crate::publish::{self, Centre, DEFAULT_DAYS, MAX_DAYS};
use crate::Scheduling;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::Json;
use careslot_core::error::{ApiError, Problem};
use futures::StreamExt;
use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use std::convert::Infallible;
use std::sync::Arc;
use utoipa::ToSchema;

pub const MANIFEST_PATH: &str = "/api/v1/vaccination/$bulk-publish";
const FILES_PATH: &str = "/api/v1/vaccination/bulk";
const NDJSON: &str = "application/fhir+ndjson";
/// The spec's polling hint: clients should not come back sooner.
const CACHE_CONTROL: &str = "public, max-age=60";

/// The bulk publication manifest.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct BulkManifest {
    /// When this data set was computed (an instant, to the second).
    #[serde(rename = "transactionTime")]
    pub transaction_time: String,
    /// The full URL of this manifest.
    pub request: String,
    pub output: Vec<BulkOutput>,
    pub error: Vec<BulkOutput>,
}

/// One NDJSON file of the data set.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct BulkOutput {
    /// `Location`, `Schedule` or `Slot`.
    #[serde(rename = "type")]
    pub kind: String,
    pub url: String,
    pub extension: BulkOutputExtension,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct BulkOutputExtension {
    /// Jurisdictions the file covers: French départements ("69", "2A", "971"), else the
    /// country code.
    pub state: Vec<String>,
}

#[derive(Debug, Deserialize)]
pub struct FileQuery {
    state: Option<String>,
    days: Option<u32>,
}

/// This server as the client reached it (`Host`, `X-Forwarded-Proto: https` behind a proxy),
/// for the absolute URLs the spec asks for.
pub fn base_url(headers: &HeaderMap) -> String {
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .filter(|h| {
            !h.is_empty()
                && h.chars()
                    .all(|c| c.is_ascii_alphanumeric() || ".-:[]".contains(c))
        })
        .unwrap_or("localhost");
    let scheme = headers
        .get("x-forwarded-proto")
        .and_then(|v| v.to_str().ok())
        .filter(|v| *v == "https")
        .unwrap_or("http");
    format!("{scheme}://{host}")
}

/// The manifest: one Location file, one Schedule file, one Slot file per jurisdiction.
#[utoipa::path(get, path = "/api/v1/vaccination/$bulk-publish", tag = "vaccination",
    responses((status = 200, description = "SMART Scheduling Links bulk publication manifest", body = BulkManifest, content_type = "application/json"),
              (status = 503, body = Problem)))]
pub async fn manifest(
    State(app): State<Arc<Scheduling>>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let base = base_url(&headers);
    let now = Timestamp::now();
    let centres = publish::centres(&app, None).await?;
    let states: BTreeSet<&str> = centres.iter().map(|c| c.state.as_str()).collect();
    let all: Vec<String> = states.iter().map(|s| (*s).to_owned()).collect();
    let file = |kind: &str, name: &str, state: Vec<String>| {
        let query = match state.as_slice() {
            [one] if kind == "Slot" => format!("?state={one}"),
            _ => String::new(),
        };
        BulkOutput {
            kind: kind.to_owned(),
            url: format!("{base}{FILES_PATH}/{name}.ndjson{query}"),
            extension: BulkOutputExtension { state },
        }
    };
    let mut output = vec![
        file("Location", "locations", all.clone()),
        file("Schedule", "schedules", all.clone()),
    ];
    if all.is_empty() {
        output.push(file("Slot", "slots", Vec::new()));
    }
    output.extend(all.into_iter().map(|s| file("Slot", "slots", vec![s])));
    let body = BulkManifest {
        transaction_time: Timestamp::from_second(now.as_second())
            .unwrap_or(now)
            .to_string(),
        request: format!("{base}{MANIFEST_PATH}"),
        output,
        error: Vec::new(),
    };
    Ok(([(header::CACHE_CONTROL, CACHE_CONTROL)], Json(body)).into_response())
}

fn ndjson(body: Body) -> Response {
    (
        [
            (header::CONTENT_TYPE, HeaderValue::from_static(NDJSON)),
            (
                header::CACHE_CONTROL,
                HeaderValue::from_static(CACHE_CONTROL),
            ),
        ],
        body,
    )
        .into_response()
}

async fn centres(app: &Scheduling, q: &FileQuery) -> Result<Vec<Centre>, ApiError> {
    Ok(publish::centres(app, q.state.as_deref()).await?)
}

/// Places that give vaccines, one FHIR Location per line.
#[utoipa::path(get, path = "/api/v1/vaccination/bulk/locations.ndjson", tag = "vaccination",
    params(("state" = Option<String>, Query, description = "only this jurisdiction")),
    responses((status = 200, description = "FHIR Location resources", body = String, content_type = "application/fhir+ndjson"),
              (status = 400, body = Problem), (status = 503, body = Problem)))]
pub async fn locations(
    State(app): State<Arc<Scheduling>>,
    headers: HeaderMap,
    ApiQuery(q): ApiQuery<FileQuery>,
) -> Result<Response, ApiError> {
    let base = base_url(&headers);
    let mut out = String::new();
    let mut seen = BTreeSet::new();
    let facts = publish::site_facts(&app).await?;
    for c in centres(&app, &q).await? {
        // One Location per place, however many of its agendas vaccinate.
        if seen.insert(c.place().id.clone()) {
            publish::location_line(&mut out, &base, &c, facts.get(&c.place().id));
        }
    }
    Ok(ndjson(Body::from(out)))
}

/// Vaccination motives bookable online, one FHIR Schedule per line.
#[utoipa::path(get, path = "/api/v1/vaccination/bulk/schedules.ndjson", tag = "vaccination",
    params(("state" = Option<String>, Query, description = "only this jurisdiction")),
    responses((status = 200, description = "FHIR Schedule resources", body = String, content_type = "application/fhir+ndjson"),
              (status = 400, body = Problem), (status = 503, body = Problem)))]
pub async fn schedules(
    State(app): State<Arc<Scheduling>>,
    ApiQuery(q): ApiQuery<FileQuery>,
) -> Result<Response, ApiError> {
    let mut out = String::new();
    for c in centres(&app, &q).await? {
        publish::schedule_lines(&mut out, &c);
    }
    Ok(ndjson(Body::from(out)))
}

/// Free and busy (full) slots of the next `days` local days (default 14, at most 31), one
/// FHIR Slot per line, streamed centre by centre.
#[utoipa::path(get, path = "/api/v1/vaccination/bulk/slots.ndjson", operation_id = "bulkSlots", tag = "vaccination",
    params(("state" = Option<String>, Query, description = "only this jurisdiction"),
           ("days" = Option<u32>, Query, minimum = 1, maximum = 31, description = "local days from today, 1 to 31 (default 14)")),
    responses((status = 200, description = "FHIR Slot resources", body = String, content_type = "application/fhir+ndjson"),
              (status = 400, body = Problem), (status = 503, body = Problem)))]
pub async fn slots(
    State(app): State<Arc<Scheduling>>,
    headers: HeaderMap,
    ApiQuery(q): ApiQuery<FileQuery>,
) -> Result<Response, ApiError> {
    let days = q.days.unwrap_or(DEFAULT_DAYS);
    if !(1..=MAX_DAYS).contains(&days) {
        return Err(ApiError::bad_request(format!(
            "days: must be between 1 and {MAX_DAYS}"
        )));
    }
    let base = base_url(&headers);
    let now = Timestamp::now();
    // Views are loaded (and store errors reported) before the first byte; the lines of each
    // centre are then built as the client reads, so memory stays at one centre's worth.
    let centres = centres(&app, &q).await?;
    let stream = futures::stream::iter(centres)
        .map(move |c| Ok::<_, Infallible>(Bytes::from(publish::slot_lines(&base, &c, days, now))));
    Ok(ndjson(Body::from_stream(stream)))
}
