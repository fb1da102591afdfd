//! The public directory as FHIR resources: the rows of the search index (verified
//! practitioners only) with their agendas' live views. Nothing here is personal data beyond
//! what `/api/v1/search` and `/api/v1/agendas/{id}` publish.

use super::{is_fhir_id, reference, PRACTITIONER_ID_SYSTEM, SPECIALTY_SYSTEM};
use crate::publish::{self, Centre};
use crate::{AppError, AppResult, Scheduling};
use careslot_core::availability::AgendaView;
use careslot_core::search::Indexed;
use careslot_domain::{Motive, MotiveId};
use careslot_store::{SitePublic, StoreError};
use futures::{StreamExt, TryStreamExt};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::Arc;

/// One directory row (a practitioner's agenda at a place) with its agenda's view.
#[derive(Clone)]
pub struct Agenda {
    pub entry: Arc<Indexed>,
    pub view: Arc<AgendaView>,
}

impl Agenda {
    /// The motives served as HealthcareService and Schedule: bookable online, with an id
    /// that is a FHIR id short enough for the Slot ids built on it (as the SMART feed).
    pub fn motives(&self) -> impl Iterator<Item = &Motive> {
        self.view.motives.iter().filter(|m| {
            m.policy.bookable_online && is_fhir_id(m.id.as_str()) && m.id.as_str().len() <= 51
        })
    }

    pub fn centre(&self) -> Centre {
        Centre {
            entry: self.entry.clone(),
            view: self.view.clone(),
            state: publish::jurisdiction(&self.entry.entry.place),
        }
    }

    /// The codings of a motive's service type (token search on `service-type`): careslot's
    /// specialty of the practitioner and, for a vaccination motive, the SMART feed's codes.
    pub fn service_codings(&self, m: &Motive) -> Vec<Value> {
        let s = self.entry.entry.specialty;
        let mut out =
            vec![json!({"system": SPECIALTY_SYSTEM, "code": s.code(), "display": s.name_en()})];
        if let Some(v) = self.view.vaccine(&m.id) {
            out.extend(publish::vaccine_codings(v));
        }
        out
    }

    pub fn specialty(&self) -> Value {
        let s = self.entry.entry.specialty;
        json!({"coding": [{"system": SPECIALTY_SYSTEM, "code": s.code(), "display": s.name_en()}]})
    }
}

/// `(system, code)` pairs of codings, for token matching.
pub fn codes(codings: &[Value]) -> Vec<(&str, &str)> {
    codings
        .iter()
        .filter_map(|c| Some((c["system"].as_str()?, c["code"].as_str()?)))
        .collect()
}

/// The directory rows `keep` selects, with their views, in directory order.
pub async fn agendas(
    app: &Scheduling,
    keep: impl Fn(&Indexed) -> bool,
) -> Result<Vec<Agenda>, StoreError> {
    let rows = app.directory.entries().into_iter().filter(|i| {
        let e = &i.entry;
        is_fhir_id(e.agenda_id.as_str())
            && is_fhir_id(e.place.id.as_str())
            && is_fhir_id(e.practitioner_id.as_str())
            && keep(i)
    });
    let loaded: Vec<_> = futures::stream::iter(rows)
        .map(|entry| async move {
            let view = app.agendas.get(&entry.entry.agenda_id).await?;
            Ok::<_, StoreError>(view.map(|view| Agenda { entry, view }))
        })
        .buffered(8)
        .try_collect()
        .await?;
    Ok(loaded.into_iter().flatten().collect())
}

/// The agenda of a served motive (a Schedule or HealthcareService id).
pub async fn motive(app: &Scheduling, id: &str) -> AppResult<(Agenda, Motive)> {
    if !is_fhir_id(id) {
        return Err(AppError::NotFound("resource"));
    }
    let id = MotiveId(id.to_owned());
    for a in agendas(app, |_| true).await? {
        let found = a.motives().find(|m| m.id == id).cloned();
        if let Some(m) = found {
            return Ok((a, m));
        }
    }
    Err(AppError::NotFound("resource"))
}

/// The motives' labels of a view; none when the key service cannot open them (the rest of
/// the directory is still served, as `GET /api/v1/agendas/{id}` does).
pub async fn labels(app: &Scheduling, view: &AgendaView) -> AppResult<HashMap<MotiveId, String>> {
    match app.motive_labels(view).await {
        Ok(l) => Ok(l),
        Err(AppError::KeyService) => Ok(HashMap::new()),
        Err(e) => Err(e),
    }
}

pub fn practitioner(a: &Agenda) -> Value {
    let e = &a.entry.entry;
    json!({
        "resourceType": "Practitioner",
        "id": e.practitioner_id.as_str(),
        "identifier": [{"system": PRACTITIONER_ID_SYSTEM, "value": e.practitioner_id.as_str()}],
        "active": true,
        "name": [{"text": e.name}],
    })
}

/// A PractitionerRole: one agenda, the practitioner at one place, with its services.
pub fn role(site: &str, a: &Agenda) -> Value {
    let e = &a.entry.entry;
    let services: Vec<Value> = a
        .motives()
        .map(|m| reference("HealthcareService", m.id.as_str()))
        .collect();
    let mut practitioner = reference("Practitioner", e.practitioner_id.as_str());
    practitioner["display"] = Value::from(e.name.as_str());
    let mut r = json!({
        "resourceType": "PractitionerRole",
        "id": e.agenda_id.as_str(),
        "active": true,
        "practitioner": practitioner,
        "location": [reference("Location", e.place.id.as_str())],
        "specialty": [a.specialty()],
        "telecom": [{"system": "url", "value": format!("{site}/p/{}", e.agenda_id)}],
    });
    if !services.is_empty() {
        r["healthcareService"] = Value::from(services);
    }
    r
}

/// A Location, exactly as the SMART feed publishes it.
pub fn location(site: &str, a: &Agenda, facts: Option<&SitePublic>) -> Value {
    publish::location_resource(site, &a.centre(), facts)
}

/// A HealthcareService: one motive bookable online.
pub fn service(a: &Agenda, m: &Motive, label: Option<&String>) -> Value {
    let mut r = json!({
        "resourceType": "HealthcareService",
        "id": m.id.as_str(),
        "active": true,
        "location": [reference("Location", a.entry.entry.place.id.as_str())],
        "type": [{"coding": a.service_codings(m)}],
        "specialty": [a.specialty()],
        "appointmentRequired": true,
    });
    if let Some(l) = label {
        r["name"] = Value::from(l.as_str());
    }
    if m.policy.teleconsultation {
        r["characteristic"] = json!([{"text": "teleconsultation"}]);
    }
    r
}

/// A Schedule: the agenda of one motive (the SMART feed's Schedule id), its actors the
/// practitioner, their role, the place and the service.
pub fn schedule(a: &Agenda, m: &Motive, label: Option<&String>) -> Value {
    let e = &a.entry.entry;
    let mut practitioner = reference("Practitioner", e.practitioner_id.as_str());
    practitioner["display"] = Value::from(e.name.as_str());
    let mut location = reference("Location", e.place.id.as_str());
    location["display"] = Value::from(a.centre().name());
    let mut r = json!({
        "resourceType": "Schedule",
        "id": m.id.as_str(),
        "active": true,
        "serviceType": [{"coding": a.service_codings(m)}],
        "specialty": [a.specialty()],
        "actor": [
            practitioner,
            reference("PractitionerRole", e.agenda_id.as_str()),
            location,
            reference("HealthcareService", m.id.as_str()),
        ],
    });
    if let Some(l) = label {
        r["comment"] = Value::from(l.as_str());
    }
    if let Some(v) = a.view.vaccine(&m.id) {
        r["extension"] = Value::from(publish::vaccine_extensions(v));
    }
    r
}
