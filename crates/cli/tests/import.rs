//! `careslot import vaccination-centres` with the real binary: the real French list of
//! April 2021 imported twice (every site there after the first run, nothing changed by the
//! second), on SQLite and on PostgreSQL; and small hand-made files for updates and for
//! records that cannot be read.

#[path = "../../server/tests/common/smart.rs"]
mod smart;

use careslot_core::protection::Protector;
use careslot_domain::*;
use careslot_server::services::{App, AppConfig};
use careslot_store::{ImportedSite, Store};
use careslot_store_sqlite::SqliteStore;
use careslot_vault::{KeyEngine, LocalCustody, MasterKey};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

/// The real list, from `shared/data/` beside the clone. Missing means failing, never skipping.
fn real_file() -> PathBuf {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/data/vaccination-centers-fr-2021-04-14.json");
    assert!(
        path.is_file(),
        "the real vaccination-site list is expected at {} (../shared/data/vaccination-centers-fr-2021-04-14.json \
         relative to the workspace root, as CI lays it out); this test does not skip without it",
        path.display()
    );
    path
}

/// Sites in the file, counted independently of the importer.
fn sites_in(path: &Path) -> usize {
    let root: Value = serde_json::from_slice(&std::fs::read(path).expect("read")).expect("JSON");
    root.as_object()
        .expect("object")
        .values()
        .filter_map(Value::as_object)
        .flat_map(|dep| {
            ["centres_disponibles", "centres_indisponibles"]
                .into_iter()
                .filter_map(|k| dep.get(k).and_then(Value::as_array))
                .map(Vec::len)
        })
        .sum()
}

struct Run {
    summary: Value,
    stderr: String,
    success: bool,
    secs: f64,
}

/// Where an import writes: a SQLite directory or a PostgreSQL URL, and a keys directory.
enum Target<'a> {
    Sqlite(&'a Path),
    Postgres(&'a str),
}

fn import(target: &Target, keys: &Path, file: &Path) -> Run {
    import_with(target, keys, file, &[])
}

fn import_with(target: &Target, keys: &Path, file: &Path, flags: &[&str]) -> Run {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_careslot"));
    cmd.args(["import", "vaccination-centres"])
        .args(flags)
        .arg("--keys-dir")
        .arg(keys)
        .env_remove("DATABASE_URL")
        .env("CARESLOT_LOG", "warn");
    match target {
        Target::Sqlite(dir) => cmd.arg("--data-dir").arg(dir),
        Target::Postgres(url) => cmd.arg("--database-url").arg(url),
    };
    cmd.arg(file);
    let started = std::time::Instant::now();
    let out = cmd.output().expect("run careslot import");
    let secs = started.elapsed().as_secs_f64();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let summary: Value = serde_json::from_str(stdout.trim()).unwrap_or_else(|e| {
        panic!("stdout is not one JSON summary ({e}):\n{stdout}\nstderr:\n{stderr}")
    });
    let keys: Vec<&String> = summary.as_object().expect("object").keys().collect();
    assert_eq!(
        keys,
        [
            "created",
            "hours_unparsed",
            "sites",
            "unchanged",
            "updated",
            "without_location"
        ],
        "exactly the six keys of the issue"
    );
    Run {
        summary,
        stderr,
        success: out.status.success(),
        secs,
    }
}

fn n(run: &Run, key: &str) -> u64 {
    run.summary[key].as_u64().expect(key)
}

/// Imports the real file twice and checks the counts; returns the first run.
fn twice(target: &Target, keys: &Path) -> Run {
    let file = real_file();
    let expected = sites_in(&file) as u64;
    assert_eq!(expected, 2634, "the April 2021 list has 2,634 sites");

    let first = import(target, keys, &file);
    assert!(first.success, "first import failed:\n{}", first.stderr);
    assert_eq!(n(&first, "sites"), expected);
    assert_eq!(n(&first, "created"), expected, "{}", first.summary);
    assert_eq!(n(&first, "updated"), 0);
    assert_eq!(n(&first, "unchanged"), 0);
    assert_eq!(n(&first, "without_location"), 238);
    let unparsed = n(&first, "hours_unparsed");
    assert!(
        (412..=1100).contains(&unparsed),
        "412 sites have no hours at all; others mostly parse: {unparsed}"
    );
    assert!(first.stderr.contains("2634 created"), "{}", first.stderr);
    assert!(
        first
            .stderr
            .contains("\"à préciser\": no hours in the text"),
        "unparsed days are reported"
    );

    let second = import(target, keys, &file);
    assert!(second.success, "second import failed:\n{}", second.stderr);
    assert_eq!(n(&second, "sites"), expected);
    assert_eq!(n(&second, "created"), 0);
    assert_eq!(n(&second, "updated"), 0);
    assert_eq!(n(&second, "unchanged"), expected);
    assert_eq!(n(&second, "hours_unparsed"), unparsed);
    assert!(
        second.stderr.contains("nothing to change"),
        "the second run says so:\n{}",
        second.stderr.lines().last().unwrap_or_default()
    );
    eprintln!(
        "import of {expected} sites: {:.1} s, again: {:.1} s",
        first.secs, second.secs
    );
    first
}

async fn open_app(store: Arc<dyn Store>, keys: &Path) -> App {
    let master = MasterKey::load_or_create(&keys.join("master.key")).expect("master key");
    let engine = KeyEngine::open(keys, master).await.expect("key engine");
    let custody = Arc::new(LocalCustody::new(Arc::new(engine)));
    let protect = Protector::bootstrap(&*store, custody, 16)
        .await
        .expect("keys");
    App::new(store, Arc::new(protect), AppConfig::default())
        .await
        .expect("app")
}

fn site<'a>(sites: &'a [ImportedSite], key: &str) -> &'a ImportedSite {
    sites
        .iter()
        .find(|s| s.source_key == key)
        .unwrap_or_else(|| panic!("{key} was not imported"))
}

/// What the Millau centre (clean hours, Pfizer-BioNTech) became, and a few others.
async fn check_sites(app: &App) {
    let sites = app.store.imported_sites().await.expect("imported sites");
    assert_eq!(sites.len(), 2634);
    let millau = site(
        &sites,
        "d241785|https://partners.doctolib.fr/hopital-public/millau/centre-de-vaccination-millau",
    );
    let pr = app
        .store
        .practitioner(&millau.practitioner_id)
        .await
        .unwrap()
        .expect("practitioner");
    assert_eq!(pr.name, "Centre de vaccination Covid-19 Millau");
    assert_eq!(pr.specialty, Specialty::VaccinationCenter);
    let place = app
        .store
        .place(millau.place_id.as_ref().expect("place"))
        .await
        .unwrap()
        .expect("place");
    assert_eq!(
        (
            place.address.as_str(),
            place.postcode.as_str(),
            place.city.as_str()
        ),
        ("Avenue Charles de Gaulle", "12100", "Millau")
    );
    assert!((place.lat - 44.1109118).abs() < 1e-6 && (place.lon - 3.0719274).abs() < 1e-6);
    assert_eq!(place.timezone, "Europe/Paris");

    let agenda = millau.agenda_id.as_ref().expect("agenda");
    let view = app.view(agenda).await.expect("agenda view");
    assert_eq!(view.agenda.holidays, None, "open on public holidays");
    // Pfizer-BioNTech: a first-dose motive and its second-dose motive, 5 min, 2 lines.
    assert_eq!(view.motives.len(), 2);
    for m in &view.motives {
        assert_eq!((m.duration.get(), m.capacity), (5, 2));
    }
    let snap = app
        .store
        .agenda_snapshot(agenda, jiff::Timestamp::now())
        .await
        .unwrap()
        .expect("snapshot");
    let first = snap
        .vaccines
        .iter()
        .find(|v| v.dose == Dose::First)
        .expect("dose 1");
    assert_eq!(first.product, VaccineProduct::Comirnaty);
    assert!(first.next.is_some(), "dose 1 leads to dose 2");
    let labels = app.motive_labels(&view).await.expect("labels");
    assert_eq!(
        labels[&first.motive_id],
        "Comirnaty (Pfizer-BioNTech) – 1re injection"
    );
    // mardi 13:30-17:30; mercredi–vendredi 08:30-12:30, 13:30-17:30; samedi 08:30-12:30.
    let mut rules: Vec<(Vec<u8>, String, String)> = snap
        .rules
        .iter()
        .map(|r| {
            assert_eq!(r.motive_ids.len(), 2, "both doses bookable");
            (
                r.weekdays.iter().collect(),
                r.start.strftime("%H:%M").to_string(),
                r.end.strftime("%H:%M").to_string(),
            )
        })
        .collect();
    rules.sort();
    assert_eq!(
        rules,
        vec![
            (vec![2, 3, 4, 5], "13:30".into(), "17:30".into()),
            (vec![3, 4, 5, 6], "08:30".into(), "12:30".into()),
        ]
    );

    // The centre's account: sealed under its own key, a reserved e-mail domain.
    let account = app
        .store
        .account(&millau.account_id)
        .await
        .unwrap()
        .expect("account");
    let identity = app.open_identity(&account).await.expect("identity");
    assert!(
        identity.email.starts_with("centre-")
            && identity.email.ends_with("@centres.careslot.invalid"),
        "{}",
        identity.email
    );
    assert_eq!(identity.name, pr.name);

    // Two products: Pfizer-BioNTech and AstraZeneca, each with its two doses.
    let marseille = site(
        &sites,
        "d243270|https://partners.doctolib.fr/hopital-public/marseille/vaccination-covid-19-assistance-publique-hopitaux-de-marseille?pid=practice-78743",
    );
    let view = app
        .view(marseille.agenda_id.as_ref().expect("agenda"))
        .await
        .unwrap();
    assert_eq!(view.motives.len(), 4);

    // Overseas: the département's zone.
    let directory = app.store.directory().await.unwrap();
    let reunion = directory
        .iter()
        .find(|d| d.place.postcode.starts_with("974"))
        .expect("a site in La Réunion");
    assert_eq!(reunion.place.timezone, "Indian/Reunion");
    assert!(directory
        .iter()
        .filter(|d| d.place.postcode.starts_with("972"))
        .all(|d| d.place.timezone == "America/Martinique"));

    // No coordinates in the file: still a place, at its postcode or département.
    let no_location = site(&sites, "97426-0|https://mapharma.net/97426");
    let place = app
        .store
        .place(no_location.place_id.as_ref().expect("placed"))
        .await
        .unwrap()
        .expect("place");
    assert_eq!(place.timezone, "Indian/Reunion");
    assert!(place.lat < -20.0 && place.lat > -22.0, "{}", place.lat);
    // A pharmacy without vaccine_type: Vaxzevria, 10 minutes.
    let view = app
        .view(no_location.agenda_id.as_ref().expect("agenda"))
        .await
        .unwrap();
    assert!(view.motives.iter().all(|m| m.duration.get() == 10));
    assert_eq!(directory.len(), 2634, "every site is in the directory");
}

/// Départements whose sites get a stock policy (`--stock`): mainland, Corsica and overseas,
/// so offsets and jurisdictions vary, while the Slot files stay a few megabytes. The others
/// publish their Locations and Schedules, and no slot.
const STOCKED: [&str; 4] = ["12", "69", "2A", "974"];

/// The real list cut down to the sites of [`STOCKED`], same records, same shape.
fn stocked_file(dir: &Path) -> PathBuf {
    let all: Value = serde_json::from_str(&std::fs::read_to_string(real_file()).unwrap()).unwrap();
    let cut: serde_json::Map<String, Value> = all
        .as_object()
        .unwrap()
        .iter()
        .filter(|(k, _)| STOCKED.contains(&k.as_str()))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    assert_eq!(cut.len(), STOCKED.len());
    let path = dir.join("stocked.json");
    std::fs::write(&path, serde_json::to_vec(&cut).unwrap()).unwrap();
    path
}

/// `--stock 100` on the sites of [`STOCKED`] (already imported, so unchanged): they get the
/// policy, nothing else is written, and a day Millau set itself keeps its value.
async fn stock_policy(target: &Target<'_>, keys: &Path, dir: &Path, app: &App) {
    let sites = app.store.imported_sites().await.expect("imported sites");
    let millau = sites
        .iter()
        .find(|s| s.source_key.starts_with("d241785|"))
        .unwrap()
        .agenda_id
        .clone()
        .unwrap();
    let view = app.view(&millau).await.expect("view");
    let product = view.vaccines[0].product;
    let closed = jiff::Timestamp::now()
        .to_zoned(view.tz.clone())
        .date()
        .checked_add(jiff::Span::new().days(3))
        .unwrap();
    app.store
        .set_stock(&millau, product, closed, 0)
        .await
        .expect("Millau closes a day");

    let file = stocked_file(dir);
    let run = import_with(target, keys, &file, &["--stock", "100"]);
    assert!(run.success, "import --stock failed:\n{}", run.stderr);
    assert_eq!(n(&run, "unchanged"), n(&run, "sites"), "{}", run.summary);
    assert!(
        run.stderr.contains("offer 100 doses per opening day"),
        "{}",
        run.stderr
    );
    // Written by another process: the views are read again.
    app.core.agendas.invalidate_all();
    let view = app.view(&millau).await.expect("view");
    assert_eq!(view.policy(product), Some(100));
    assert_eq!(
        view.doses_left(product, closed),
        0,
        "the day Millau closed stays closed"
    );
    assert_eq!(
        view.doses_left(product, closed.tomorrow().unwrap()),
        100,
        "the other days follow the policy"
    );
    let (mut stocked, mut elsewhere) = (0, 0);
    for d in app.store.directory().await.unwrap() {
        let view = app.view(&d.agenda_id).await.expect("view");
        if view.policies.is_empty() {
            continue;
        }
        stocked += 1;
        // The file's département key, not always the place's (a few records disagree).
        if !STOCKED.contains(&careslot_scheduling::publish::jurisdiction(&d.place).as_str()) {
            elsewhere += 1;
        }
    }
    assert!(stocked > 50, "{stocked}");
    assert!(
        elsewhere * 20 < stocked,
        "{elsewhere} of {stocked} outside the file"
    );
}

/// The SMART Scheduling Links feed over the imported list: every Location, Schedule and
/// Slot passes the conformance checker; the imported ids and phone are on the Locations;
/// the centres given `--stock` publish Slots on the coming days.
async fn feed_conforms(app: App) {
    let sites = app.store.imported_sites().await.expect("imported sites");
    // Written beside the services: the views are read again.
    app.core.agendas.invalidate_all();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(careslot_server::api::serve(listener, app, async {
        let _ = stopped.await;
    }));
    let url = format!("{base}/api/v1/vaccination/$bulk-publish");
    let client = reqwest::Client::new();
    let (manifest, files) = smart::fetch(&client, &url).await;
    let p = smart::check(&url, manifest, files);
    let located = sites.iter().filter(|s| s.place_id.is_some()).count();
    assert_eq!(p.locations.len(), located, "one Location per placed site");
    assert!(
        p.slots.len() > 1000,
        "slots of the stocked sites: {}",
        p.slots.len()
    );
    // Slots on the coming days, in each of the stocked départements.
    let tomorrow = jiff::Timestamp::now() + jiff::SignedDuration::from_hours(24);
    let soon = tomorrow + jiff::SignedDuration::from_hours(24 * 6);
    let coming = p
        .slots
        .iter()
        .filter(|s| {
            s["start"]
                .as_str()
                .and_then(|t| t.parse::<jiff::Timestamp>().ok())
                .is_some_and(|t| t < soon)
        })
        .count();
    assert!(coming > 500, "slots within a week: {coming}");
    let free_states: std::collections::BTreeSet<String> = p.manifest["output"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|o| o["type"] == "Slot")
        .flat_map(|o| o["extension"]["state"].as_array().unwrap().clone())
        .filter_map(|s| s.as_str().map(str::to_owned))
        .collect();
    assert!(
        free_states.len() > 90,
        "a Slot file per département: {free_states:?}"
    );
    // Millau: its list id, the booking platform's id and its phone.
    let millau = sites
        .iter()
        .find(|s| s.source_key.starts_with("d241785|"))
        .unwrap();
    let place = millau.place_id.as_ref().unwrap().as_str();
    let l = p.locations.iter().find(|l| l["id"] == place).unwrap();
    let ids: Vec<&str> = l["identifier"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["value"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [place, "d241785", "241785[]"], "{l}");
    assert_eq!(
        l["telecom"][0],
        json!({"system": "phone", "value": "+33809541919"})
    );
    let phones = p
        .locations
        .iter()
        .filter(|l| l["telecom"][0]["system"] == "phone")
        .count();
    assert!(phones > 1500, "most sites give a phone: {phones}");
    books_both_doses_from_the_feed(&client, &base, &p).await;
    let _ = stop.send(());
    server.await.unwrap().unwrap();
}

/// A request's status and JSON body (`Null` when the body is not JSON).
async fn answer(req: reqwest::RequestBuilder) -> (reqwest::StatusCode, Value) {
    let resp = req.send().await.expect("request");
    let status = resp.status();
    (status, resp.json().await.unwrap_or(Value::Null))
}

/// A patient books dose 1 and dose 2 at an imported centre, starting from a free dose-1
/// Slot of the feed (as an aggregator's user would): its Schedule gives the motive, its
/// deep link the agenda; the dose-2 proposals give the second start. Both are then the
/// patient's appointments, and the feed no longer offers the dose-1 place.
async fn books_both_doses_from_the_feed(
    client: &reqwest::Client,
    base: &str,
    p: &smart::Published,
) {
    let first_doses: std::collections::BTreeSet<&str> = p
        .schedules
        .iter()
        .filter(|s| {
            smart::Published::ext(s, careslot_scheduling::publish::EXT_VACCINE_DOSE)
                .is_some_and(|e| e["valueInteger"] == 1)
        })
        .filter_map(|s| s["id"].as_str())
        .collect();
    assert!(!first_doses.is_empty(), "dose-1 Schedules");
    // A free dose-1 Slot a day or more ahead (clear of any notice), with a single place left,
    // so that booking it turns it busy.
    let tomorrow = jiff::Timestamp::now() + jiff::SignedDuration::from_hours(24);
    let slot = p
        .slots
        .iter()
        .filter(|s| s["status"] == "free")
        .filter(|s| {
            s["schedule"]["reference"]
                .as_str()
                .and_then(|r| r.strip_prefix("Schedule/"))
                .is_some_and(|m| first_doses.contains(m))
        })
        .filter(|s| {
            s["start"]
                .as_str()
                .and_then(|t| t.parse::<jiff::Timestamp>().ok())
                .is_some_and(|t| t > tomorrow)
        })
        .min_by_key(|s| {
            smart::Published::ext(s, careslot_scheduling::publish::EXT_SLOT_CAPACITY)
                .and_then(|e| e["valueInteger"].as_i64())
                .unwrap_or(i64::MAX)
        })
        .expect("a free dose-1 Slot after tomorrow");
    let motive = slot["schedule"]["reference"].as_str().unwrap()["Schedule/".len()..].to_owned();
    let link = smart::Published::ext(slot, careslot_scheduling::publish::EXT_BOOKING_DEEP_LINK)
        .and_then(|e| e["valueUrl"].as_str())
        .expect("deep link");
    let agenda = link
        .split("/p/")
        .nth(1)
        .and_then(|rest| rest.split('?').next())
        .expect("agenda in the deep link")
        .to_owned();
    let start = slot["start"].as_str().unwrap().to_owned();
    let places_before =
        smart::Published::ext(slot, careslot_scheduling::publish::EXT_SLOT_CAPACITY)
            .and_then(|e| e["valueInteger"].as_i64())
            .unwrap();

    let (_, second) = answer(
        client
            .get(format!("{base}/api/v1/vaccination/second-dose-slots"))
            .query(&[
                ("agenda_id", &agenda),
                ("motive_id", &motive),
                ("start", &start),
            ]),
    )
    .await;
    let dose2 = second["slots"]
        .as_array()
        .and_then(|s| s.first())
        .unwrap_or_else(|| panic!("dose-2 proposals for {start}: {second}"));
    let motive2 = second["motive_id"]
        .as_str()
        .expect("dose-2 motive")
        .to_owned();
    let start2 = dose2["start"].as_str().unwrap().to_owned();

    let email = "feed.patient@example.test";
    let password = "correct horse battery";
    let (made, _) = answer(client.post(format!("{base}/api/v1/accounts")).json(
        &json!({"email": email, "password": password, "name": "Camille Feed", "role": "patient"}),
    ))
    .await;
    assert_eq!(made, reqwest::StatusCode::CREATED);
    let (_, session) = answer(
        client
            .post(format!("{base}/api/v1/sessions"))
            .json(&json!({"email": email, "password": password})),
    )
    .await;
    let token = session["token"].as_str().expect("token").to_owned();

    let (status, booked) = answer(
        client
            .post(format!("{base}/api/v1/vaccination/bookings"))
            .bearer_auth(&token)
            .json(&json!({
                "dose1": {"agenda_id": agenda, "motive_id": motive, "start": start},
                "dose2": {"agenda_id": agenda, "motive_id": motive2, "start": start2},
            })),
    )
    .await;
    assert_eq!(status, reqwest::StatusCode::CREATED);
    let both = booked["appointments"].as_array().expect("appointments");
    assert_eq!(both.len(), 2, "{booked}");
    for (a, (m, s)) in both.iter().zip([(&motive, &start), (&motive2, &start2)]) {
        assert_eq!(a["status"], "booked", "{a}");
        assert_eq!(a["agenda_id"], agenda.as_str(), "{a}");
        assert_eq!(a["motive_id"], m.as_str(), "{a}");
        let at = |v: &str| v.parse::<jiff::Timestamp>().unwrap();
        assert_eq!(at(a["start"].as_str().unwrap()), at(s), "{a}");
    }

    let (_, mine) = answer(
        client
            .get(format!("{base}/api/v1/appointments"))
            .bearer_auth(&token),
    )
    .await;
    let ids: std::collections::BTreeSet<&str> = mine["appointments"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["status"] == "booked")
        .filter_map(|a| a["id"].as_str())
        .collect();
    assert!(
        both.iter().all(|a| ids.contains(a["id"].as_str().unwrap())),
        "both doses are the patient's: {mine}"
    );

    // The feed, read again, has one place fewer at that start (busy when it was the last).
    let url = format!("{base}/api/v1/vaccination/$bulk-publish");
    let (manifest, files) = smart::fetch(client, &url).await;
    let again = smart::check(&url, manifest, files);
    let id = slot["id"].as_str().unwrap();
    let now = again
        .slots
        .iter()
        .find(|s| s["id"] == id)
        .expect("the booked start");
    let places_after = smart::Published::ext(now, careslot_scheduling::publish::EXT_SLOT_CAPACITY)
        .and_then(|e| e["valueInteger"].as_i64())
        .unwrap();
    if places_before == 1 {
        assert_eq!(now["status"], "busy", "{now}");
    } else {
        assert_eq!(now["status"], "free", "{now}");
        assert_eq!(places_after, places_before - 1, "{now}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_list_twice_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let (data, keys) = (dir.path().join("data"), dir.path().join("keys"));
    twice(&Target::Sqlite(&data), &keys);
    let store = Arc::new(SqliteStore::open_dir(&data).await.expect("open"));
    let app = open_app(store.clone(), &keys).await;
    check_sites(&app).await;
    stock_policy(&Target::Sqlite(&data), &keys, dir.path(), &app).await;
    feed_conforms(app).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_list_twice_on_postgres() {
    let url = careslot_store_postgres::testing::fresh_database()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let dir = tempfile::tempdir().unwrap();
    let keys = dir.path().join("keys");
    twice(&Target::Postgres(&url), &keys);
    let store = careslot_store_postgres::PgStore::connect(&url, 4)
        .await
        .expect("connect");
    let app = open_app(Arc::new(store), &keys).await;
    check_sites(&app).await;
    stock_policy(&Target::Postgres(&url), &keys, dir.path(), &app).await;
    feed_conforms(app).await;
}

fn write_json(dir: &Path, name: &str, v: &Value) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, serde_json::to_vec_pretty(v).unwrap()).unwrap();
    p
}

fn centre(gid: &str, name: &str, hours: Value, vaccines: Value) -> Value {
    json!({
        "departement": "69", "nom": name, "url": format!("https://example.invalid/{gid}"),
        "type": "vaccination-center", "plateforme": "Doctolib", "gid": gid, "internal_id": null,
        "location": {"longitude": 4.8357, "latitude": 45.764, "city": "Lyon"},
        "metadata": {"address": "1 place Bellecour, 69002 Lyon", "business_hours": hours},
        "vaccine_type": vaccines, "prochain_rdv": null, "appointment_count": 0, "erreur": null
    })
}

fn list(sites: Vec<Value>) -> Value {
    json!({"69": {"version": 1, "centres_disponibles": sites, "centres_indisponibles": []}})
}

/// A changed record is updated (renamed, new product, rules replaced), the others are left
/// alone; records that cannot be read are reported, the rest imported, and the exit code
/// says something failed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn updates_and_bad_records() {
    let dir = tempfile::tempdir().unwrap();
    let (data, keys) = (dir.path().join("data"), dir.path().join("keys"));
    let week = json!({"lundi": "9h-12h", "mardi": "9h-12h", "mercredi": "fermé"});
    let v1 = list(vec![
        centre("a", "Centre A", week.clone(), Value::Null),
        centre("b", "Centre B", week.clone(), json!(["Moderna"])),
    ]);
    let f1 = write_json(dir.path(), "v1.json", &v1);
    let run = import(&Target::Sqlite(&data), &keys, &f1);
    assert!(run.success, "{}", run.stderr);
    assert_eq!(
        run.summary,
        json!({"sites": 2, "created": 2, "updated": 0, "unchanged": 0, "hours_unparsed": 0, "without_location": 0})
    );

    let v2 = list(vec![
        centre(
            "a",
            "Centre A (Bellecour)",
            json!({"lundi": "9h-12h / 14h-18h", "jeudi": "ouvert"}),
            json!(["Pfizer-BioNTech", "AstraZeneca"]),
        ),
        centre("b", "Centre B", week.clone(), json!(["Moderna"])),
        json!("not a site"),
        json!({"nom": "Sans rien", "gid": "z", "url": "https://example.invalid/z", "metadata": {}, "location": null}),
    ]);
    let f2 = write_json(dir.path(), "v2.json", &v2);
    let run = import(&Target::Sqlite(&data), &keys, &f2);
    assert!(!run.success, "a record that cannot be read fails the run");
    assert_eq!(
        run.summary,
        json!({"sites": 4, "created": 1, "updated": 1, "unchanged": 1, "hours_unparsed": 2, "without_location": 1})
    );
    assert!(
        run.stderr.contains("69/centres_disponibles[2] skipped"),
        "{}",
        run.stderr
    );
    assert!(run
        .stderr
        .contains("jeudi \"ouvert\": open, but no hours given"));
    assert!(run.stderr.contains("errors: 1 sites could not be imported"));

    let store = SqliteStore::open_dir(&data).await.expect("open");
    let app = open_app(Arc::new(store), &keys).await;
    let sites = app.store.imported_sites().await.unwrap();
    assert_eq!(sites.len(), 3);
    let a = site(&sites, "a|https://example.invalid/a");
    assert!(a.updated_at >= a.imported_at);
    let pr = app
        .store
        .practitioner(&a.practitioner_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(pr.name, "Centre A (Bellecour)");
    let snap = app
        .store
        .agenda_snapshot(a.agenda_id.as_ref().unwrap(), jiff::Timestamp::now())
        .await
        .unwrap()
        .unwrap();
    // Comirnaty (the first run's default) stays; Vaxzevria is added; both with dose 2.
    assert_eq!(snap.motives.len(), 4);
    let mut rules: Vec<(Vec<u8>, u16, usize)> = snap
        .rules
        .iter()
        .map(|r| {
            (
                r.weekdays.iter().collect(),
                r.start.hour() as u16,
                r.motive_ids.len(),
            )
        })
        .collect();
    rules.sort();
    assert_eq!(rules, vec![(vec![1], 9, 4), (vec![1], 14, 4)]);
    // The site without anything: kept, placed at its département (69), default vaccine.
    let z = site(&sites, "z|https://example.invalid/z");
    let place = app
        .store
        .place(z.place_id.as_ref().unwrap())
        .await
        .unwrap()
        .unwrap();
    assert!(
        (place.lat - 45.764).abs() < 1e-6,
        "the only located site of 69"
    );
    assert_eq!(place.postcode, "69");

    // And once more: nothing to change (the unreadable record still fails the run).
    let run = import(&Target::Sqlite(&data), &keys, &f2);
    assert_eq!(
        (n(&run, "created"), n(&run, "updated"), n(&run, "unchanged")),
        (0, 0, 3)
    );
}
