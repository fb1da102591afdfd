//! Open vaccination slots in the SMART Scheduling Links format (`$bulk-publish`), so that
//! aggregators read careslot without scraping. This module shapes the FHIR resources, one
//! minified JSON object per NDJSON line; `api::bulk_publish` serves them.
//!
//! - One `Location` per place of an agenda that gives vaccines, identified by careslot's
//!   place id (system [`PLACE_ID_SYSTEM`]) and, for a site imported from the vaccination-site
//!   list, by that list's ids; with its phone when the list gives one.
//! - One `Schedule` per vaccination motive bookable online: its actor is the place, its
//!   `vaccine-product` (CVX code) and `vaccine-dose` extensions say what is given.
//! - One `Slot` per bookable start, `status: free`, with the places left at that start as
//!   `slot-capacity` (the spec allows aggregating identical slots so) and a
//!   `booking-deep-link` to the practitioner's page on this server. The starts are exactly
//!   those `GET /api/v1/agendas/{id}/slots` returns (stock-aware), computed from the live
//!   availability views: a booking shows at the next read, nothing is cached here.
//! - One `Slot` per full start, `status: busy` (the spec asks publishers to include them so
//!   clients can follow total capacity), with the start's places as `slot-capacity` and no
//!   deep link: every place is booked or held.

use crate::Scheduling;
use careslot_core::availability::AgendaView;
use careslot_core::search::Indexed;
use careslot_domain::availability::Occupancy;
use careslot_domain::PlaceId;
use careslot_domain::{Motive, VaccineProduct};
use careslot_store::{MotiveVaccine, Place, SitePublic, StoreError};
use futures::{StreamExt, TryStreamExt};
use jiff::Timestamp;
use std::collections::{BTreeSet, HashMap};
use std::fmt::Write;
use std::sync::Arc;

pub const EXT_VACCINE_PRODUCT: &str =
    "http://fhir-registry.smarthealthit.org/StructureDefinition/vaccine-product";
pub const EXT_VACCINE_DOSE: &str =
    "http://fhir-registry.smarthealthit.org/StructureDefinition/vaccine-dose";
pub const EXT_BOOKING_DEEP_LINK: &str =
    "http://fhir-registry.smarthealthit.org/StructureDefinition/booking-deep-link";
pub const EXT_SLOT_CAPACITY: &str =
    "http://fhir-registry.smarthealthit.org/StructureDefinition/slot-capacity";

/// careslot's identifier system for its places: a Location's `identifier` always carries
/// the place id under it, so aggregators have a stable key even where the source list gave
/// none (and the id never changes when a site is re-imported).
pub const PLACE_ID_SYSTEM: &str = "https://careslot.eu/fhir/sid/place";
/// The vaccination-site list's own site id (ViteMaDose's `gid`).
pub const SITE_GID_SYSTEM: &str = "https://careslot.eu/fhir/sid/vaccination-site-list/gid";
/// The booking platform's site id as the list gives it (ViteMaDose's `internal_id`).
pub const SITE_INTERNAL_ID_SYSTEM: &str =
    "https://careslot.eu/fhir/sid/vaccination-site-list/internal-id";

/// Days of slots published when the client does not say, and the most it may ask for (the
/// slots API's own range limit).
pub const DEFAULT_DAYS: u32 = 14;
pub const MAX_DAYS: u32 = 31;

/// An agenda with at least one vaccination motive bookable online.
pub struct Centre {
    pub entry: Arc<Indexed>,
    pub view: Arc<AgendaView>,
    /// The jurisdiction clients filter by (see [`jurisdiction`]).
    pub state: String,
}

impl Centre {
    pub fn place(&self) -> &Place {
        &self.entry.entry.place
    }

    /// The published motives, in the agenda's order, with the dose each gives.
    pub fn motives(&self) -> impl Iterator<Item = (&Motive, &MotiveVaccine)> {
        self.view.motives.iter().filter_map(|m| {
            // A Slot id is the motive id, a dot and up to 12 digits: keep it a FHIR id.
            let publishable = m.policy.bookable_online && is_fhir_id(m.id.as_str(), 51);
            publishable
                .then(|| self.view.vaccine(&m.id))
                .flatten()
                .map(|v| (m, v))
        })
    }

    /// The Location's name: the practice and, when it says more, the place.
    pub fn name(&self) -> String {
        let (who, place) = (&self.entry.entry.name, &self.place().name);
        if place.trim().is_empty() || who.to_lowercase().contains(&place.to_lowercase()) {
            who.clone()
        } else {
            format!("{who}, {place}")
        }
    }
}

/// Letters, digits, `-` and `.`, at most `max` long: a FHIR id (and safe in a URL).
fn is_fhir_id(s: &str, max: usize) -> bool {
    !s.is_empty()
        && s.len() <= max
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
}

/// The jurisdiction of a place, for `address.state` and the manifest's `state` hints: in
/// France the département, from the postcode ("69", "2A", "971"); elsewhere, as no
/// subdivision can be read off the postcode, the country code.
pub fn jurisdiction(place: &Place) -> String {
    let country = place.country.code();
    let pc = place.postcode.trim();
    if country != "FR" || pc.len() != 5 || !pc.bytes().all(|b| b.is_ascii_digit()) {
        return country.to_owned();
    }
    match &pc[..2] {
        // Overseas départements have three digits.
        "97" | "98" => pc[..3].to_owned(),
        // Corsica: Corse-du-Sud below 20200, Haute-Corse from there on.
        "20" if pc < "20200" => "2A".to_owned(),
        "20" => "2B".to_owned(),
        d => d.to_owned(),
    }
}

/// The agendas to publish, in directory order, those of one jurisdiction if `state` is
/// given. Every directory row is looked at: views are in memory after their first load, so
/// after warm-up this is one map read per agenda.
pub async fn centres(app: &Scheduling, state: Option<&str>) -> Result<Vec<Centre>, StoreError> {
    let rows = app.directory.entries().into_iter().filter_map(|entry| {
        let e = &entry.entry;
        if !is_fhir_id(e.agenda_id.as_str(), 64) || !is_fhir_id(e.place.id.as_str(), 64) {
            return None;
        }
        let s = jurisdiction(&e.place);
        state.is_none_or(|want| want == s).then_some((entry, s))
    });
    let loaded: Vec<_> = futures::stream::iter(rows)
        .map(|(entry, state)| async move {
            let view = app.agendas.get(&entry.entry.agenda_id).await?;
            Ok::<_, StoreError>(view.map(|view| Centre { entry, view, state }))
        })
        .buffered(8)
        .try_collect()
        .await?;
    Ok(loaded
        .into_iter()
        .flatten()
        .filter(|c| c.motives().next().is_some())
        .collect())
}

/// What the vaccination-site list said about each imported place (ids, phone), read once per
/// Location file.
pub async fn site_facts(app: &Scheduling) -> Result<HashMap<PlaceId, SitePublic>, StoreError> {
    Ok(app
        .store
        .imported_sites()
        .await?
        .into_iter()
        .filter_map(|s| s.place_id.map(|p| (p, s.public)))
        .collect())
}

/// The vaccine's CVX code (CDC's vaccine code system, which the spec uses).
fn cvx(product: VaccineProduct) -> &'static str {
    match product {
        VaccineProduct::Comirnaty => "208",
        VaccineProduct::Spikevax => "207",
        VaccineProduct::Vaxzevria => "210",
        VaccineProduct::Jcovden => "212",
    }
}

fn is_covid19(product: VaccineProduct) -> bool {
    match product {
        VaccineProduct::Comirnaty
        | VaccineProduct::Spikevax
        | VaccineProduct::Vaxzevria
        | VaccineProduct::Jcovden => true,
    }
}

/// The practitioner page of an agenda: where patients book on this server.
fn page_url(base: &str, c: &Centre) -> String {
    format!("{base}/p/{}", c.view.agenda.id)
}

/// Appends the Location line of a centre's place; `facts` is what the source list said of
/// it, for an imported site.
pub fn location_line(out: &mut String, base: &str, c: &Centre, facts: Option<&SitePublic>) {
    let line = location_resource(base, c, facts);
    let _ = writeln!(out, "{line}");
}

/// The Location of a centre's place (also served by the FHIR API, `crate::fhir`).
pub fn location_resource(base: &str, c: &Centre, facts: Option<&SitePublic>) -> serde_json::Value {
    let p = c.place();
    let mut identifier =
        vec![serde_json::json!({"system": PLACE_ID_SYSTEM, "value": p.id.as_str()})];
    let mut telecom = Vec::new();
    if let Some(f) = facts {
        for (system, value) in [
            (SITE_GID_SYSTEM, &f.gid),
            (SITE_INTERNAL_ID_SYSTEM, &f.internal_id),
        ] {
            if let Some(v) = value {
                identifier.push(serde_json::json!({"system": system, "value": v}));
            }
        }
        if let Some(phone) = &f.phone {
            telecom.push(serde_json::json!({"system": "phone", "value": phone}));
        }
    }
    // The booking page, always: the spec wants a phone and a URL where there are both.
    telecom.push(serde_json::json!({"system": "url", "value": page_url(base, c)}));
    serde_json::json!({
        "resourceType": "Location",
        "id": p.id.as_str(),
        "identifier": identifier,
        "name": c.name(),
        "telecom": telecom,
        "address": {
            "line": [p.address.as_str()],
            "city": p.city.as_str(),
            "state": c.state.as_str(),
            "postalCode": p.postcode.as_str(),
            "country": p.country.code(),
        },
        "position": {"latitude": p.lat, "longitude": p.lon},
    })
}

/// Appends one Schedule line per published motive of a centre.
pub fn schedule_lines(out: &mut String, c: &Centre) {
    let name = c.name();
    for (m, v) in c.motives() {
        let line = serde_json::json!({
            "resourceType": "Schedule",
            "id": m.id.as_str(),
            "serviceType": [{"coding": vaccine_codings(v)}],
            "actor": [{"reference": format!("Location/{}", c.place().id), "display": name}],
            "extension": vaccine_extensions(v),
        });
        let _ = writeln!(out, "{line}");
    }
}

/// The service-type codings of a vaccination motive: Immunization, and the spec's COVID-19
/// code for a COVID-19 vaccine.
pub fn vaccine_codings(v: &MotiveVaccine) -> Vec<serde_json::Value> {
    let mut coding = vec![serde_json::json!({
        "system": "http://terminology.hl7.org/CodeSystem/service-type",
        "code": "57",
        "display": "Immunization",
    })];
    if is_covid19(v.product) {
        coding.push(serde_json::json!({
            "system": "http://fhir-registry.smarthealthit.org/CodeSystem/service-type",
            "code": "covid19-immunization",
            "display": "COVID-19 Immunization Appointment",
        }));
    }
    coding
}

/// The `vaccine-product` and `vaccine-dose` extensions of a vaccination motive's Schedule.
pub fn vaccine_extensions(v: &MotiveVaccine) -> Vec<serde_json::Value> {
    vec![
        serde_json::json!({"url": EXT_VACCINE_PRODUCT, "valueCoding": {
            "system": "http://hl7.org/fhir/sid/cvx",
            "code": cvx(v.product),
            "display": v.product.name(),
        }}),
        serde_json::json!({"url": EXT_VACCINE_DOSE, "valueInteger": v.dose.number()}),
    ]
}

/// The Slot lines of a centre: its bookable starts on the `days` local days from today.
/// Written straight into one buffer (this is the bulk of the feed); every value is an id,
/// a number, a timestamp or the checked base URL, so nothing needs escaping.
pub fn slot_lines(base: &str, c: &Centre, days: u32, now: Timestamp) -> String {
    let view = &c.view;
    let from = now.to_zoned(view.tz.clone()).date();
    let to = from
        .checked_add(jiff::Span::new().days(i64::from(days.saturating_sub(1))))
        .unwrap_or(from);
    let agenda = view.agenda.id.as_str();
    let mut out = String::new();
    let nobody = Occupancy::default();
    for (m, _) in c.motives() {
        let motive = m.id.as_str();
        let free = view.slots(m, from, to, now);
        let free_starts: BTreeSet<Timestamp> = free.iter().map(|s| s.start).collect();
        for s in free {
            let start_offset = view.tz.to_offset(s.start);
            let day = start_offset.to_datetime(s.start).date();
            let _ = writeln!(
                out,
                concat!(
                    r#"{{"resourceType":"Slot","id":"{m}.{id}","schedule":{{"reference":"Schedule/{m}"}},"#,
                    r#""status":"free","start":"{start}","end":"{end}","extension":["#,
                    r#"{{"url":"{link_ext}","valueUrl":"{base}/p/{agenda}?motive={m}&week={day}"}},"#,
                    r#"{{"url":"{cap_ext}","valueInteger":{cap}}}]}}"#
                ),
                m = motive,
                id = s.start.as_second(),
                start = s.start.display_with_offset(start_offset),
                end = s.end.display_with_offset(view.tz.to_offset(s.end)),
                link_ext = EXT_BOOKING_DEEP_LINK,
                base = base,
                agenda = agenda,
                day = day,
                cap_ext = EXT_SLOT_CAPACITY,
                cap = s.remaining,
            );
        }
        // The starts the agenda would offer if nothing were reserved; those not free above
        // and with no place left are busy (a start hidden for want of vaccine doses is not:
        // it has places, just nothing to give).
        for s in view.calendar.slots(m, &nobody, from, to, now) {
            if free_starts.contains(&s.start) {
                continue;
            }
            let day = s.start.to_zoned(view.tz.clone()).date();
            let places = view.motive_on(m, day);
            if view.occupancy.remaining(&places, s.start, s.end, now) > 0 {
                continue;
            }
            let _ = writeln!(
                out,
                concat!(
                    r#"{{"resourceType":"Slot","id":"{m}.{id}","schedule":{{"reference":"Schedule/{m}"}},"#,
                    r#""status":"busy","start":"{start}","end":"{end}","extension":["#,
                    r#"{{"url":"{cap_ext}","valueInteger":{cap}}}]}}"#
                ),
                m = motive,
                id = s.start.as_second(),
                start = s.start.display_with_offset(view.tz.to_offset(s.start)),
                end = s.end.display_with_offset(view.tz.to_offset(s.end)),
                cap_ext = EXT_SLOT_CAPACITY,
                cap = places.capacity.max(1),
            );
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use careslot_domain::{Country, PlaceId, PractitionerId};

    fn place(country: Country, postcode: &str) -> Place {
        Place {
            id: PlaceId::new(),
            practitioner_id: PractitionerId::new(),
            name: "Centre".into(),
            address: "1 place Bellecour".into(),
            postcode: postcode.into(),
            city: "Lyon".into(),
            country,
            lat: 45.7578,
            lon: 4.832,
            timezone: "Europe/Paris".into(),
        }
    }

    #[test]
    fn jurisdictions() {
        assert_eq!(jurisdiction(&place(Country::France, "69002")), "69");
        assert_eq!(jurisdiction(&place(Country::France, "01000")), "01");
        assert_eq!(jurisdiction(&place(Country::France, "20000")), "2A");
        assert_eq!(jurisdiction(&place(Country::France, "20200")), "2B");
        assert_eq!(jurisdiction(&place(Country::France, "97400")), "974");
        assert_eq!(jurisdiction(&place(Country::France, "7500")), "FR");
        assert_eq!(jurisdiction(&place(Country::Germany, "10115")), "DE");
        assert_eq!(jurisdiction(&place(Country::Italy, "00184")), "IT");
    }

    #[test]
    fn fhir_ids() {
        assert!(is_fhir_id("0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b", 64));
        assert!(is_fhir_id("a.b-1", 64));
        assert!(!is_fhir_id("", 64));
        assert!(!is_fhir_id("a_b", 64));
        assert!(!is_fhir_id("a\"b", 64));
        assert!(!is_fhir_id(&"a".repeat(65), 64));
    }
}
