//! `careslot import vaccination-centres FILE`: the French vaccination-site list of April 2021
//! (ViteMaDose's `info_centres.json`: an object keyed by département, each with
//! `centres_disponibles` and `centres_indisponibles` arrays of sites).
//!
//! Each site becomes a practitioner account of its own (e-mail
//! `centre-<hash of the source key>@centres.careslot.invalid`, a password hash of a random
//! secret nobody knows), a `vaccination-center` profile named after the site, a place, an
//! agenda open on public holidays, one first-dose motive per vaccine product (and its
//! second-dose motive for a two-dose product, so dose 1 and dose 2 can be booked together),
//! and opening rules read from the free-text hours ([`careslot_domain::hours`]).
//!
//! Choices, for what the file does not say:
//! - **Products.** `vaccine_type` is read with [`VaccineProduct::parse`]; when it is `null`
//!   (2,332 of 2,634 sites) or names nothing known, a site gets what its kind gave in April
//!   2021: vaccination centres Comirnaty (Pfizer-BioNTech; 236 of the 293 centres that list
//!   a product), pharmacies and general practitioners Vaxzevria (AstraZeneca, the vaccine they
//!   were given from February–March 2021).
//! - **Motives.** 5 minutes at a vaccination centre, 10 at a pharmacy or a doctor's, with
//!   capacity `--lines` (parallel vaccination lines). `--lines` applies to motives created by
//!   this run; an existing motive's capacity never changes.
//! - **Hours.** Days whose text cannot be read ("ouvert", "à préciser", dated or ambiguous
//!   texts) get no opening: the site is kept, counted in `hours_unparsed` and each such day
//!   is reported. So are sites without hours at all (`business_hours: null`) and sites whose
//!   every day is empty or "fermé" (nothing to book). No default window is ever invented.
//! - **Location.** Sites without coordinates are kept and counted in `without_location`;
//!   their place is put at their postcode's position in the gazetteer, else at the mean
//!   position of the département's other sites (the address shown is still the real one).
//!   A site that cannot be placed either way keeps its account and profile, without place,
//!   agenda or motives.
//! - **Time zones.** Europe/Paris, except overseas: 971 America/Guadeloupe, 972
//!   America/Martinique, 973 America/Cayenne, 974 Indian/Reunion, 975 America/Miquelon,
//!   976 Indian/Mayotte.
//!
//! Idempotency: each site is recorded under a stable source key (`gid` and `url`, which
//! together identify a site; the rare records sharing both are told apart by their address)
//! with a hash of the fields imported. A second run of the same file writes nothing. When a
//! site's fields changed, its profile is renamed, its place updated, motives added for new
//! products and its opening rules replaced, all in one transaction; motives and
//! appointments already there are never touched. Every site is written in one transaction,
//! so an interrupted import leaves no half-imported site.

use anyhow::Context;
use argon2::password_hash::{rand_core::OsRng, PasswordHasher, SaltString};
use argon2::Argon2;
use careslot_core::gazetteer;
use careslot_core::protection::{agenda_key_name, subject_key_name};
use careslot_domain::geo::LatLon;
use careslot_domain::hours::{self, Week};
use careslot_domain::vaccine::protocol_on;
use careslot_domain::*;
use careslot_server::services::App;
use careslot_store::{
    Agenda, ImportedSite, MotiveVaccine, Place, Practitioner, Role, SitePublic, SiteWrite,
    StockPolicy,
};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use rand::RngCore;
use serde::Serialize;
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::io::IsTerminal;
use std::path::Path;
use std::time::Instant;

/// Bump when the mapping from a record to what is stored changes: every site then counts as
/// changed once and is updated.
const MAPPING_VERSION: u32 = 2;
/// Reserved for documentation and tests (RFC 2606): no mail can ever be delivered there.
pub const CENTRE_EMAIL_DOMAIN: &str = "centres.careslot.invalid";

/// The JSON summary printed on stdout: exactly these keys.
#[derive(Debug, Clone, Copy, Default, Serialize, PartialEq, Eq)]
pub struct Summary {
    pub sites: usize,
    pub created: usize,
    pub updated: usize,
    pub unchanged: usize,
    pub hours_unparsed: usize,
    pub without_location: usize,
}

/// What a run did, for the human summary and the exit code.
#[derive(Debug, Default)]
pub struct Outcome {
    pub summary: Summary,
    /// Sites that could not be written (each was reported on stderr).
    pub failed: usize,
    pub placed_by_postcode: usize,
    pub placed_by_departement: usize,
    pub without_place: usize,
    pub default_products: usize,
    /// Sites whose every day was read (and that open at least one day).
    pub hours_read: usize,
    /// With `--stock N`: the centres (agendas) given that default stock policy.
    pub stocked: Option<(u32, usize)>,
    pub elapsed_s: f64,
}

/// One site as read from the file, with everything derived from it that does not need the
/// database.
#[derive(Debug, Clone)]
struct Site {
    key: String,
    name: String,
    kind: String,
    departement: String,
    address_raw: String,
    street: String,
    postcode: String,
    city: String,
    location: Option<LatLon>,
    hours: Option<Vec<(String, Option<String>)>>,
    products: Vec<VaccineProduct>,
    default_products: bool,
    /// Its ids in the source and its phone, published on its SMART Scheduling Links Location.
    public: SitePublic,
    /// Problems worth reporting that do not stop the import of the site.
    notes: Vec<String>,
}

/// The fields whose change makes a site "updated" (source key, platform, next appointment
/// and counters are not imported).
#[derive(Serialize)]
struct Hashed<'a> {
    mapping: u32,
    name: &'a str,
    kind: &'a str,
    departement: &'a str,
    address: &'a str,
    location: Option<(f64, f64)>,
    hours: &'a Option<Vec<(String, Option<String>)>>,
    products: Vec<&'static str>,
    gid: Option<&'a str>,
    internal_id: Option<&'a str>,
    phone: Option<&'a str>,
}

impl Site {
    fn content_hash(&self) -> String {
        let h = Hashed {
            mapping: MAPPING_VERSION,
            name: &self.name,
            kind: &self.kind,
            departement: &self.departement,
            address: &self.address_raw,
            location: self.location.map(|p| (p.lat, p.lon)),
            hours: &self.hours,
            products: self.products.iter().map(|p| p.code()).collect(),
            gid: self.public.gid.as_deref(),
            internal_id: self.public.internal_id.as_deref(),
            phone: self.public.phone.as_deref(),
        };
        let json = serde_json::to_vec(&h).unwrap_or_default();
        hex::encode(Sha256::digest(json))
    }

    fn email(&self) -> String {
        let h = hex::encode(Sha256::digest(self.key.as_bytes()));
        format!("centre-{}@{CENTRE_EMAIL_DOMAIN}", &h[..20])
    }

    fn week(&self) -> Option<Week> {
        self.hours
            .as_ref()
            .map(|days| Week::parse(days.iter().map(|(d, t)| (d.as_str(), t.as_deref()))))
    }

    /// "key (name)": how a site is named in reports.
    fn label(&self) -> String {
        format!("{} ({})", self.key, self.name)
    }
}

/// The IANA zone of a French département.
pub fn timezone_of(departement: &str) -> &'static str {
    match departement.trim() {
        "971" => "America/Guadeloupe",
        "972" => "America/Martinique",
        "973" => "America/Cayenne",
        "974" => "Indian/Reunion",
        "975" => "America/Miquelon",
        "976" => "Indian/Mayotte",
        _ => "Europe/Paris",
    }
}

/// Splits "12 rue X, 01000 Bourg-en-Bresse" into the street part, the postcode and the
/// city: the last five-digit number followed by a city name (no comma) ends the address.
pub fn split_address(address: &str) -> Option<(String, String, String)> {
    let a = address.trim();
    let b = a.as_bytes();
    let mut found = None;
    let mut i = 0;
    while i < b.len() {
        if b[i].is_ascii_digit() {
            let start = i;
            while i < b.len() && b[i].is_ascii_digit() {
                i += 1;
            }
            if i - start == 5 {
                let rest = a[i..].trim();
                let starts_city = rest
                    .chars()
                    .next()
                    .is_some_and(|c| !c.is_ascii_digit() && c != ',');
                if a[i..].starts_with(char::is_whitespace) && starts_city && !rest.contains(',') {
                    found = Some((start, i));
                }
            }
        } else {
            i += 1;
        }
    }
    let (start, end) = found?;
    let street = a[..start]
        .trim_end_matches(|c: char| c.is_whitespace() || c == ',' || c == '-')
        .trim()
        .to_owned();
    let city = a[end..].split_whitespace().collect::<Vec<_>>().join(" ");
    Some((street, a[start..end].to_owned(), city))
}

fn text_of(v: Option<&Value>) -> Option<String> {
    match v? {
        Value::String(s) => {
            let t = s.split_whitespace().collect::<Vec<_>>().join(" ");
            (!t.is_empty()).then_some(t)
        }
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// A phone number as the list gives it, when it looks like one: digits (at least six), `+`,
/// spaces, dots, dashes and brackets, at most 32 characters. Anything else is not published.
fn phone_of(v: Option<&Value>) -> Option<String> {
    // "+33…/+33…": several numbers; the first is the front desk.
    let t = text_of(v)?.split('/').next()?.trim().to_owned();
    let digits = t.bytes().filter(u8::is_ascii_digit).count();
    let shaped = t.len() <= 32
        && t.bytes()
            .all(|b| b.is_ascii_digit() || b" +.-()".contains(&b));
    (shaped && digits >= 6).then_some(t)
}

/// An identifier from the list, kept when it is short printable text.
fn public_id(v: Option<&Value>) -> Option<String> {
    text_of(v).filter(|t| t.len() <= 64 && !t.chars().any(char::is_control))
}

/// Truncates to `max` characters (names and addresses have column limits).
fn at_most(s: &str, max: usize) -> String {
    s.chars().take(max).collect()
}

fn default_products(kind: &str) -> Vec<VaccineProduct> {
    match kind {
        "drugstore" | "general-practitioner" => vec![VaccineProduct::Vaxzevria],
        _ => vec![VaccineProduct::Comirnaty],
    }
}

/// Reads one record; `Err` only when it is not an object at all.
fn read_site(v: &Value, dep_key: &str) -> Result<Site, String> {
    let o = v.as_object().ok_or("the record is not a JSON object")?;
    let mut notes = Vec::new();
    let departement = text_of(o.get("departement")).unwrap_or_else(|| dep_key.to_owned());
    let kind = text_of(o.get("type")).unwrap_or_else(|| "vaccination-center".into());
    let meta = o.get("metadata").and_then(Value::as_object);
    let address_raw = meta
        .and_then(|m| text_of(m.get("address")))
        .unwrap_or_default();
    let location = match o.get("location") {
        None | Some(Value::Null) => None,
        Some(l) => {
            let lat = l.get("latitude").and_then(Value::as_f64);
            let lon = l.get("longitude").and_then(Value::as_f64);
            match lat.zip(lon).map(|(lat, lon)| LatLon::parse(lat, lon)) {
                Some(Ok(p)) => Some(p),
                _ => {
                    notes.push("its coordinates are not valid".to_owned());
                    None
                }
            }
        }
    };
    let loc_city = o.get("location").and_then(|l| text_of(l.get("city")));
    let (street, postcode, city) = match split_address(&address_raw) {
        Some((street, pc, city)) => {
            let street = if street.is_empty() {
                address_raw.clone()
            } else {
                street
            };
            (street, pc, city)
        }
        None => {
            if !address_raw.is_empty() {
                notes.push("no postcode and town at the end of its address".to_owned());
            }
            (
                address_raw.clone(),
                departement.clone(),
                loc_city.clone().unwrap_or_else(|| departement.clone()),
            )
        }
    };
    let name =
        text_of(o.get("nom")).unwrap_or_else(|| format!("Lieu de vaccination {}", city.trim()));
    let hours = match meta.and_then(|m| m.get("business_hours")) {
        None | Some(Value::Null) => None,
        Some(Value::Object(days)) => {
            let mut days: Vec<(String, Option<String>)> = days
                .iter()
                .map(|(d, t)| {
                    let text = match t {
                        Value::String(s) => Some(s.clone()),
                        Value::Null => None,
                        other => Some(other.to_string()),
                    };
                    (d.clone(), text)
                })
                .collect();
            // Monday first (unknown day names last), for reports and a stable hash.
            days.sort_by_key(|(d, _)| (hours::french_weekday(d).unwrap_or(u8::MAX), d.clone()));
            Some(days)
        }
        Some(_) => {
            notes.push("its business_hours are not an object".to_owned());
            None
        }
    };
    let mut products = Vec::new();
    match o.get("vaccine_type") {
        None | Some(Value::Null) => {}
        Some(Value::Array(items)) => {
            for item in items {
                match item.as_str().map(VaccineProduct::parse) {
                    Some(Ok(p)) => {
                        if !products.contains(&p) {
                            products.push(p);
                        }
                    }
                    _ => notes.push(format!("unknown vaccine {item}")),
                }
            }
        }
        Some(other) => notes.push(format!("unknown vaccine_type {other}")),
    }
    products.sort();
    let default_products = products.is_empty();
    if default_products {
        products = self::default_products(&kind);
    }
    // gid and url together identify a site (made unique over the file later).
    let gid = text_of(o.get("gid")).unwrap_or_default();
    let url = text_of(o.get("url")).unwrap_or_default();
    let internal = text_of(o.get("internal_id")).unwrap_or_default();
    let key = if gid.is_empty() && url.is_empty() && internal.is_empty() {
        format!("{departement}|{name}|{address_raw}")
    } else if gid.is_empty() && url.is_empty() {
        format!("internal:{internal}")
    } else {
        format!("{gid}|{url}")
    };
    let public = SitePublic {
        gid: public_id(o.get("gid")),
        internal_id: public_id(o.get("internal_id")),
        phone: phone_of(meta.and_then(|m| m.get("phone_number"))),
    };
    Ok(Site {
        public,
        key,
        name: at_most(&name, 200),
        kind,
        departement,
        address_raw,
        street: at_most(&street, 500),
        postcode: at_most(&postcode, 16),
        city: at_most(&city, 200),
        location,
        hours,
        products,
        default_products,
        notes,
    })
}

/// A record that could not be read at all.
struct BadRecord {
    where_: String,
    reason: String,
}

/// Reads every site of the file, with source keys made unique.
fn read_file(path: &Path) -> anyhow::Result<(Vec<Site>, Vec<BadRecord>)> {
    let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    let root: Value = serde_json::from_slice(&bytes)
        .with_context(|| format!("{} is not JSON", path.display()))?;
    let deps = root.as_object().with_context(|| {
        format!(
            "{} is not the vaccination-site list: expected an object keyed by département",
            path.display()
        )
    })?;
    let mut sites = Vec::new();
    let mut bad = Vec::new();
    for (dep, v) in deps {
        let Some(obj) = v.as_object() else { continue };
        for list in ["centres_disponibles", "centres_indisponibles"] {
            let Some(items) = obj.get(list).and_then(Value::as_array) else {
                continue;
            };
            for (i, item) in items.iter().enumerate() {
                match read_site(item, dep) {
                    Ok(s) => sites.push(s),
                    Err(reason) => bad.push(BadRecord {
                        where_: format!("{dep}/{list}[{i}]"),
                        reason,
                    }),
                }
            }
        }
    }
    // Records sharing a key are told apart by their address, then by their rank.
    let mut count: HashMap<String, usize> = HashMap::new();
    for s in &sites {
        *count.entry(s.key.clone()).or_default() += 1;
    }
    for s in &mut sites {
        if count.get(&s.key).copied().unwrap_or(0) > 1 {
            let addr = s.address_raw.to_lowercase();
            s.key = format!("{}|{}", s.key, addr);
        }
    }
    let mut seen: HashMap<String, usize> = HashMap::new();
    for s in &mut sites {
        let n = seen.entry(s.key.clone()).or_default();
        *n += 1;
        if *n > 1 {
            s.key = format!("{}#{}", s.key, n);
        }
    }
    Ok((sites, bad))
}

/// Mean position of the located sites of each département.
fn departement_centres(sites: &[Site]) -> HashMap<String, LatLon> {
    let mut acc: HashMap<&str, (f64, f64, f64)> = HashMap::new();
    for s in sites {
        if let Some(p) = s.location {
            let e = acc.entry(s.departement.as_str()).or_default();
            e.0 += p.lat;
            e.1 += p.lon;
            e.2 += 1.0;
        }
    }
    acc.into_iter()
        .filter_map(|(d, (lat, lon, n))| {
            LatLon::parse(lat / n, lon / n)
                .ok()
                .map(|p| (d.to_owned(), p))
        })
        .collect()
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Placed {
    Exact,
    Postcode,
    Departement,
}

/// What a run shares across sites.
struct Ctx<'a> {
    app: &'a App,
    lines: u32,
    password_hash: String,
    protocols: Vec<Protocol>,
    centres: HashMap<String, LatLon>,
    today: jiff::civil::Date,
}

enum Done {
    Created,
    Updated,
}

impl Ctx<'_> {
    fn position(&self, s: &Site) -> Option<(LatLon, Placed)> {
        if let Some(p) = s.location {
            return Some((p, Placed::Exact));
        }
        if let Some(p) = gazetteer::position_of("FR", &s.postcode, &s.city) {
            return Some((p, Placed::Postcode));
        }
        self.centres
            .get(&s.departement)
            .map(|p| (*p, Placed::Departement))
    }

    fn two_doses(&self, product: VaccineProduct) -> bool {
        match protocol_on(&self.protocols, product, self.today) {
            Some(p) => p.second_dose.is_some(),
            None => product != VaccineProduct::Jcovden,
        }
    }

    /// First-dose (and second-dose) motives of a product, sealed, with their vaccine links.
    async fn product_motives(
        &self,
        site: &Site,
        agenda: &Agenda,
        product: VaccineProduct,
    ) -> anyhow::Result<(Vec<(Motive, Vec<u8>)>, Vec<MotiveVaccine>)> {
        let duration = if site.kind == "vaccination-center" {
            5
        } else {
            10
        };
        let motive = |dose: &str| {
            Motive::parse(
                MotiveId::new(),
                agenda.id.clone(),
                &format!("{} – {dose}", product.name()),
                duration,
                i64::from(self.lines),
                MotivePolicy::default(),
            )
        };
        let first = motive("1re injection")?;
        let second = if self.two_doses(product) {
            Some(motive("2e injection")?)
        } else {
            None
        };
        let mut motives = Vec::new();
        let mut links = vec![MotiveVaccine {
            motive_id: first.id.clone(),
            product,
            dose: Dose::First,
            next: second.as_ref().map(|m| m.id.clone()),
        }];
        if let Some(m) = &second {
            links.push(MotiveVaccine {
                motive_id: m.id.clone(),
                product,
                dose: Dose::Second,
                next: None,
            });
        }
        for m in std::iter::once(first).chain(second) {
            let label = self.app.seal_motive_label(agenda, &m).await?;
            motives.push((m, label));
        }
        Ok((motives, links))
    }

    fn place(&self, s: &Site, id: PlaceId, practitioner: &PractitionerId, pos: LatLon) -> Place {
        Place {
            id,
            practitioner_id: practitioner.clone(),
            name: s.name.clone(),
            address: if s.street.is_empty() {
                s.postcode.clone()
            } else {
                s.street.clone()
            },
            postcode: s.postcode.clone(),
            city: s.city.clone(),
            country: Country::France,
            lat: pos.lat,
            lon: pos.lon,
            timezone: timezone_of(&s.departement).to_owned(),
        }
    }

    fn rules(
        &self,
        week: Option<&Week>,
        agenda: &AgendaId,
        motives: &[MotiveId],
    ) -> anyhow::Result<Vec<OpeningRule>> {
        let Some(week) = week else {
            return Ok(Vec::new());
        };
        if motives.is_empty() {
            return Ok(Vec::new());
        }
        week.openings()
            .iter()
            .map(|o| {
                o.rule(RuleId::new(), agenda.clone(), motives.to_vec())
                    .map_err(anyhow::Error::from)
            })
            .collect()
    }

    /// Imports or updates one site. Keys created for it are destroyed if it cannot be
    /// written.
    async fn import(
        &self,
        s: &Site,
        existing: Option<&ImportedSite>,
        hash: String,
        week: Option<&Week>,
        placed: &mut Option<Placed>,
    ) -> anyhow::Result<Done> {
        let mut new_keys: Vec<String> = Vec::new();
        let out = self
            .write(s, existing, hash, week, placed, &mut new_keys)
            .await;
        if out.is_err() {
            for k in &new_keys {
                let _ = self.app.protect.destroy(k).await;
            }
        }
        out
    }

    async fn write(
        &self,
        s: &Site,
        existing: Option<&ImportedSite>,
        hash: String,
        week: Option<&Week>,
        placed: &mut Option<Placed>,
        new_keys: &mut Vec<String>,
    ) -> anyhow::Result<Done> {
        let app = self.app;
        let now = jiff::Timestamp::now();
        let position = self.position(s);
        *placed = position.map(|(_, how)| how);

        let (account, practitioner) = match existing {
            Some(e) => (
                None,
                Practitioner {
                    id: e.practitioner_id.clone(),
                    account_id: e.account_id.clone(),
                    name: s.name.clone(),
                    specialty: Specialty::VaccinationCenter,
                    languages: vec!["fr".into()],
                    bio: None,
                },
            ),
            None => {
                let (account, identity) = app
                    .seal_identity(
                        Role::Practitioner,
                        s.email(),
                        s.name.clone(),
                        None,
                        None,
                        self.password_hash.clone(),
                    )
                    .await?;
                new_keys.push(subject_key_name(&identity.id));
                let practitioner = Practitioner {
                    id: PractitionerId::new(),
                    account_id: identity.id,
                    name: s.name.clone(),
                    specialty: Specialty::VaccinationCenter,
                    languages: vec!["fr".into()],
                    bio: None,
                };
                (Some(account), practitioner)
            }
        };

        // The agenda already there (with its vaccine motives), if any.
        let mut current: Option<(Agenda, Vec<MotiveVaccine>)> = None;
        if let Some(agenda_id) = existing.and_then(|e| e.agenda_id.as_ref()) {
            if let Some(snap) = app.store.agenda_snapshot(agenda_id, now).await? {
                current = Some((snap.agenda, snap.vaccines));
            }
        }
        let mut place = None;
        let mut agenda = None;
        let mut motives = Vec::new();
        let mut vaccines = Vec::new();
        let mut rules = None;
        if let Some((pos, _)) = position {
            let (mut ag, links, place_id) = match current {
                Some((ag, links)) => {
                    let place_id = ag.place_id.clone();
                    (ag, links, place_id)
                }
                None => {
                    let place_id = existing
                        .and_then(|e| e.place_id.clone())
                        .unwrap_or_default();
                    let id = AgendaId::new();
                    let wrapped_key = app.new_agenda_key(&id).await?;
                    new_keys.push(agenda_key_name(&id));
                    let ag = Agenda {
                        id,
                        practitioner_id: practitioner.id.clone(),
                        place_id: place_id.clone(),
                        timezone: String::new(),
                        holidays: None,
                        wrapped_key,
                    };
                    (ag, Vec::new(), place_id)
                }
            };
            ag.timezone = timezone_of(&s.departement).to_owned();
            place = Some(self.place(s, place_id, &practitioner.id, pos));
            // Motives of the site's products: those there, then new ones.
            let mut bookable = Vec::new();
            for &product in &s.products {
                let first = links
                    .iter()
                    .find(|l| l.product == product && l.dose == Dose::First);
                match first {
                    Some(l) => {
                        bookable.push(l.motive_id.clone());
                        bookable.extend(l.next.clone());
                    }
                    None => {
                        let (ms, ls) = self.product_motives(s, &ag, product).await?;
                        bookable.extend(ms.iter().map(|(m, _)| m.id.clone()));
                        motives.extend(ms);
                        vaccines.extend(ls);
                    }
                }
            }
            rules = Some(self.rules(week, &ag.id, &bookable)?);
            agenda = Some(ag);
        }
        app.store
            .write_imported_site(&SiteWrite {
                source_key: s.key.clone(),
                content_hash: hash,
                now,
                account,
                practitioner,
                place,
                agenda,
                motives,
                vaccines,
                rules,
                public: s.public.clone(),
            })
            .await?;
        Ok(if existing.is_some() {
            Done::Updated
        } else {
            Done::Created
        })
    }
}

/// A real Argon2id hash of 32 random bytes that are then forgotten: no password opens the
/// imported accounts (a centre gets in through a password reset or an invitation).
/// A password hash no password matches (accounts that never sign in with one).
pub(crate) fn unknowable_password_hash() -> anyhow::Result<String> {
    let mut secret = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut secret);
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(&secret, &salt)
        .map(|h| h.to_string())
        .map_err(|e| anyhow::anyhow!("password hashing failed: {e}"))
}

/// Why a site's hours did not all become rules, if they did not.
fn hours_problem(site: &Site, week: Option<&Week>) -> Option<String> {
    let (Some(week), Some(days)) = (week, site.hours.as_ref()) else {
        return Some("no opening hours in the file".into());
    };
    if !week.problems.is_empty() {
        let days: Vec<String> = week
            .problems
            .iter()
            .map(|p| format!("{} {:?}: {}", p.day, p.text, p.reason))
            .collect();
        return Some(days.join("; "));
    }
    if !week.opens() {
        let blank = days
            .iter()
            .all(|(_, t)| t.as_deref().is_none_or(|t| t.trim().is_empty()));
        return Some(if blank {
            "no hours given (every day empty)".into()
        } else {
            "no day opens (every day empty or closed)".into()
        });
    }
    None
}

/// Runs the import. Problems with single sites are reported on stderr and counted; only a
/// file that cannot be read at all, or a database that cannot be reached, is an error.
pub async fn vaccination_centres(
    app: App,
    file: &Path,
    lines: u32,
    stock: Option<u32>,
    report_sites: bool,
) -> anyhow::Result<Outcome> {
    let started = Instant::now();
    let (sites, bad) = read_file(file)?;
    let known: HashMap<String, ImportedSite> = app
        .store
        .imported_sites()
        .await
        .map_err(|e| anyhow::anyhow!("cannot read the imported sites: {e}"))?
        .into_iter()
        .map(|s| (s.source_key.clone(), s))
        .collect();
    let ctx = Ctx {
        app: &app,
        lines,
        password_hash: unknowable_password_hash()?,
        protocols: app
            .store
            .protocols()
            .await
            .map_err(|e| anyhow::anyhow!("cannot read the vaccine protocols: {e}"))?,
        centres: departement_centres(&sites),
        today: jiff::Zoned::now().date(),
    };

    let bar = if std::io::stderr().is_terminal() {
        ProgressBar::with_draw_target(Some(sites.len() as u64), ProgressDrawTarget::stderr())
    } else {
        ProgressBar::hidden()
    };
    bar.set_style(
        ProgressStyle::with_template(
            "{elapsed_precise} [{bar:40}] {pos}/{len} sites ({eta} left) {msg}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> "),
    );
    let report = |line: String| {
        if report_sites {
            bar.suspend(|| eprintln!("{line}"))
        }
    };

    let mut out = Outcome::default();
    out.summary.sites = sites.len() + bad.len();
    for b in &bad {
        report(format!("error: record {} skipped: {}", b.where_, b.reason));
        out.failed += 1;
    }
    for s in &sites {
        let week = s.week();
        if let Some(problem) = hours_problem(s, week.as_ref()) {
            out.summary.hours_unparsed += 1;
            report(format!("hours not read: {}: {problem}", s.label()));
        } else {
            out.hours_read += 1;
        }
        if s.location.is_none() {
            out.summary.without_location += 1;
        }
        if s.default_products {
            out.default_products += 1;
        }
        for note in &s.notes {
            report(format!("note: {}: {note}", s.label()));
        }
        let hash = s.content_hash();
        let existing = known.get(&s.key);
        if existing.is_some_and(|e| e.content_hash == hash) {
            out.summary.unchanged += 1;
            if s.location.is_none() {
                match ctx.position(s) {
                    Some((_, Placed::Postcode)) => out.placed_by_postcode += 1,
                    Some((_, Placed::Departement)) => out.placed_by_departement += 1,
                    _ => out.without_place += 1,
                }
            }
            bar.inc(1);
            continue;
        }
        let mut placed = None;
        match ctx
            .import(s, existing, hash, week.as_ref(), &mut placed)
            .await
        {
            Ok(Done::Created) => out.summary.created += 1,
            Ok(Done::Updated) => out.summary.updated += 1,
            Err(e) => {
                out.failed += 1;
                report(format!("error: {} not imported: {e:#}", s.label()));
            }
        }
        match placed {
            Some(Placed::Postcode) => out.placed_by_postcode += 1,
            Some(Placed::Departement) => out.placed_by_departement += 1,
            None if s.location.is_none() => out.without_place += 1,
            _ => {}
        }
        bar.inc(1);
    }
    bar.finish_and_clear();
    if let Some(doses) = stock {
        let centres = set_stock_policy(&app, &sites, doses, ctx.today).await?;
        out.stocked = Some((doses, centres));
    }
    out.elapsed_s = started.elapsed().as_secs_f64();
    Ok(out)
}

/// `--stock N`: N doses per day of each of its products for every centre of the file that
/// has an agenda, changed or not. Days the centre set itself keep their stock (the policy
/// only fills the others), so importing again never undoes a centre's own figures.
async fn set_stock_policy(
    app: &App,
    sites: &[Site],
    doses: u32,
    today: jiff::civil::Date,
) -> anyhow::Result<usize> {
    let agendas: HashMap<String, AgendaId> = app
        .store
        .imported_sites()
        .await
        .map_err(|e| anyhow::anyhow!("cannot read the imported sites: {e}"))?
        .into_iter()
        .filter_map(|s| Some((s.source_key, s.agenda_id?)))
        .collect();
    let mut policies = Vec::new();
    let mut centres = 0;
    for s in sites {
        let Some(agenda) = agendas.get(&s.key) else {
            continue;
        };
        centres += 1;
        policies.extend(s.products.iter().map(|&product| StockPolicy {
            agenda_id: agenda.clone(),
            product,
            doses: Some(doses),
        }));
    }
    // A few hundred centres per transaction: short writes, few commits.
    for chunk in policies.chunks(500) {
        app.store
            .set_stock_policies(chunk, today)
            .await
            .map_err(|e| anyhow::anyhow!("cannot set the stock policy: {e}"))?;
    }
    Ok(centres)
}

/// The human summary, for stderr.
pub fn human_summary(file: &Path, o: &Outcome) -> String {
    let s = &o.summary;
    let mut lines = vec![format!(
        "{} sites in {} imported in {:.1} s: {} created, {} updated, {} unchanged{}",
        s.sites,
        file.display(),
        o.elapsed_s,
        s.created,
        s.updated,
        s.unchanged,
        if s.created + s.updated == 0 && o.failed == 0 {
            " (nothing to change)"
        } else {
            ""
        }
    )];
    lines.push(format!(
        "  opening hours: {} sites read whole, {} not (their unread days have no opening; listed above)",
        o.hours_read, s.hours_unparsed
    ));
    lines.push(format!(
        "  location: {} sites without coordinates: {} placed at their postcode, {} at their département's centre, {} without a place",
        s.without_location, o.placed_by_postcode, o.placed_by_departement, o.without_place
    ));
    lines.push(format!(
        "  vaccines: {} sites name none and got their kind's default (centres Comirnaty, pharmacies and doctors Vaxzevria)",
        o.default_products
    ));
    if let Some((doses, centres)) = o.stocked {
        lines.push(format!(
            "  stock: {centres} centres offer {doses} doses per opening day of each of their vaccines (days they set themselves keep their own stock)"
        ));
    }
    if o.failed > 0 {
        lines.push(format!(
            "  errors: {} sites could not be imported (listed above); run again to retry them",
            o.failed
        ));
    }
    lines.join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses() {
        assert_eq!(
            split_address("La Condamine, 06260 Puget-Théniers"),
            Some((
                "La Condamine".into(),
                "06260".into(),
                "Puget-Théniers".into()
            ))
        );
        assert_eq!(
            split_address("Centre Cial Géant 795, avenue du 19 mars 1962 01100 ARBENT"),
            Some((
                "Centre Cial Géant 795, avenue du 19 mars 1962".into(),
                "01100".into(),
                "ARBENT".into()
            ))
        );
        assert_eq!(
            split_address("13013 Marseille"),
            Some((String::new(), "13013".into(), "Marseille".into()))
        );
        assert_eq!(
            split_address(" 2 rue X 75013  Paris 13e "),
            Some(("2 rue X".into(), "75013".into(), "Paris 13e".into()))
        );
        assert_eq!(split_address("Rue sans code, Paris"), None);
        assert_eq!(split_address("BP 123456 Ville"), None);
        assert_eq!(split_address("97110 Pointe-à-Pitre, Guadeloupe"), None);
    }

    #[test]
    fn phones_and_ids() {
        let phone = |v: Value| phone_of(Some(&v));
        assert_eq!(
            phone("+33 4 72 00 00 00".into()),
            Some("+33 4 72 00 00 00".into())
        );
        assert_eq!(
            phone("04.72.00.00.00".into()),
            Some("04.72.00.00.00".into())
        );
        assert_eq!(phone("appelez-nous".into()), None);
        assert_eq!(phone("12".into()), None);
        assert_eq!(
            phone("+33123456789/0612345678".into()),
            Some("+33123456789".into())
        );
        assert_eq!(phone(Value::Null), None);
        assert_eq!(public_id(Some(&"258785[]".into())), Some("258785[]".into()));
        assert_eq!(public_id(Some(&Value::from(1693))), Some("1693".into()));
        assert_eq!(public_id(Some(&"x".repeat(65).into())), None);
    }

    #[test]
    fn zones_exist() {
        for dep in ["01", "2A", "971", "972", "973", "974", "975", "976"] {
            let z = timezone_of(dep);
            assert!(jiff::tz::TimeZone::get(z).is_ok(), "{z}");
        }
        assert_eq!(timezone_of("974"), "Indian/Reunion");
        assert_eq!(timezone_of("75"), "Europe/Paris");
    }

    #[test]
    fn records_are_read_tolerantly() {
        let v: Value = serde_json::json!({
            "departement": "01", "nom": "  Centre  de  test ", "url": "https://x/1", "gid": 42,
            "internal_id": null, "type": "drugstore",
            "location": {"latitude": "oops", "longitude": 5.0},
            "metadata": {"address": "1 rue A, 01000 Bourg", "business_hours": {"lundi": "9h-12h", "mardi": 7}},
            "vaccine_type": ["Moderna", "Sputnik", 3, "Moderna"]
        });
        let s = read_site(&v, "01").unwrap();
        assert_eq!(s.name, "Centre de test");
        assert_eq!(s.key, "42|https://x/1");
        assert_eq!(
            s.public,
            SitePublic {
                gid: Some("42".into()),
                internal_id: None,
                phone: None
            }
        );
        assert_eq!(s.location, None);
        assert_eq!(s.products, vec![VaccineProduct::Spikevax]);
        assert!(!s.default_products);
        assert_eq!(s.notes.len(), 3, "{:?}", s.notes);
        assert_eq!((s.postcode.as_str(), s.city.as_str()), ("01000", "Bourg"));
        let week = s.week().unwrap();
        assert_eq!(week.problems.len(), 1);
        assert!(week.opens());

        let bare = read_site(&serde_json::json!({"nom": "X"}), "2A").unwrap();
        assert_eq!(bare.departement, "2A");
        assert_eq!(bare.postcode, "2A");
        assert_eq!(bare.products, vec![VaccineProduct::Comirnaty]);
        assert!(bare.default_products);
        assert!(read_site(&serde_json::json!([1, 2]), "01").is_err());
        assert_eq!(
            default_products("drugstore"),
            vec![VaccineProduct::Vaxzevria]
        );
    }

    #[test]
    fn hashes_follow_imported_fields_only() {
        let v = serde_json::json!({"nom": "A", "gid": "g", "url": "u", "appointment_count": 1,
                                   "metadata": {"address": "1 rue A 01000 Bourg"}});
        let a = read_site(&v, "01").unwrap();
        let mut v2 = v.clone();
        v2["appointment_count"] = serde_json::json!(99);
        let b = read_site(&v2, "01").unwrap();
        assert_eq!(a.content_hash(), b.content_hash());
        v2["nom"] = serde_json::json!("B");
        let c = read_site(&v2, "01").unwrap();
        assert_ne!(a.content_hash(), c.content_hash());
        assert_eq!(
            a.email(),
            c.email(),
            "the account follows the key, not the name"
        );
        assert!(a.email().ends_with("@centres.careslot.invalid"));
    }
}
