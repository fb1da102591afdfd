//! The relevance test set (issue 17): queries in French, English, German and Italian with
//! typos, synonyms, postcodes and districts, each with the practitioners that must be in the
//! top 5 (and some that must not). The directory (`relevance/directory.tsv`) is built into
//! the real index over a real SQLite store and availability cache; nothing is mocked.

use careslot_core::availability::{AgendaCache, AgendaView};
use careslot_core::search::{SearchIndex, SearchQuery, SortOrder};
use careslot_domain::*;
use careslot_store::{Agenda, AgendaSnapshot, DirectoryEntry, Place};
use jiff::Timestamp;
use std::sync::Arc;

const TOP: usize = 5;

/// One practice per row, open Monday to Saturday from an hour that varies by row, so that
/// "earliest first" ranks them in an order unrelated to the file's.
fn practice(i: usize, line: &str) -> (DirectoryEntry, AgendaView) {
    let f: Vec<&str> = line.split('\t').collect();
    assert_eq!(f.len(), 8, "directory line {i}: {line}");
    let practitioner_id = PractitionerId::new();
    let country = match f[5] {
        "DE" => Country::Germany,
        "IT" => Country::Italy,
        _ => Country::France,
    };
    let timezone = match country {
        Country::Germany => "Europe/Berlin",
        Country::Italy => "Europe/Rome",
        _ => "Europe/Paris",
    };
    let place = Place {
        id: PlaceId::new(),
        practitioner_id: practitioner_id.clone(),
        name: format!("Cabinet {i}"),
        address: f[2].into(),
        postcode: f[3].into(),
        city: f[4].into(),
        country,
        lat: f[6].parse().expect("lat"),
        lon: f[7].parse().expect("lon"),
        timezone: timezone.into(),
    };
    let agenda = Agenda {
        id: AgendaId::new(),
        practitioner_id: practitioner_id.clone(),
        place_id: place.id.clone(),
        timezone: timezone.into(),
        holidays: None,
        wrapped_key: String::new(),
    };
    let motive = Motive::parse(
        MotiveId::new(),
        agenda.id.clone(),
        "Consultation",
        30,
        1,
        MotivePolicy::default(),
    )
    .expect("motive");
    let start_h = (7 + (i * 7) % 11) as i8;
    let rule = OpeningRule::parse(
        RuleId::new(),
        agenda.id.clone(),
        WeekdaySet::parse(&[1, 2, 3, 4, 5, 6]).expect("weekdays"),
        jiff::civil::time(start_h, 0, 0, 0),
        jiff::civil::time(start_h + 3, 0, 0, 0),
        vec![motive.id.clone()],
        None,
        None,
    )
    .expect("rule");
    let entry = DirectoryEntry {
        practitioner_id,
        name: f[0].into(),
        specialty: Specialty::parse(f[1]).expect("specialty code"),
        agenda_id: agenda.id.clone(),
        place,
        verified: true,
        facts: Default::default(),
    };
    let view = AgendaView::from_snapshot(AgendaSnapshot {
        agenda,
        motives: vec![motive],
        motive_labels: vec![],
        motive_translations: Vec::new(),
        rules: vec![rule],
        absences: vec![],
        reservations: vec![],
        vaccines: Vec::new(),
        stock: Vec::new(),
        policies: Vec::new(),
        lines: Vec::new(),
        floor_version: 0,
    })
    .expect("view");
    (entry, view)
}

async fn directory() -> (SearchIndex, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = Arc::new(
        careslot_store_sqlite::SqliteStore::open_dir(dir.path())
            .await
            .expect("store"),
    );
    let cache = Arc::new(AgendaCache::new(store));
    let mut entries = Vec::new();
    for (i, line) in include_str!("relevance/directory.tsv")
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .enumerate()
    {
        let (entry, view) = practice(i, line);
        cache.insert(view);
        entries.push(entry);
    }
    let index = SearchIndex::new(cache);
    index.replace_all(entries);
    (index, dir)
}

fn query(text: &str, city: &str) -> SearchQuery {
    SearchQuery {
        specialty: None,
        text: (!text.is_empty()).then(|| text.to_owned()),
        city: (!city.is_empty()).then(|| city.to_owned()),
        near: None,
        sort: SortOrder::EarliestSlot,
        limit: TOP,
        offset: 0,
        filters: Default::default(),
    }
}

fn now() -> Timestamp {
    // A Monday morning before any practice opens.
    "2027-03-22T05:00:00Z".parse().expect("instant")
}

#[tokio::test]
async fn relevance_set() {
    let (index, _dir) = directory().await;
    assert_eq!(index.len(), 70);
    let mut failures = Vec::new();
    let mut count = 0;
    let mut languages = std::collections::BTreeMap::new();
    for line in include_str!("relevance/queries.tsv")
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
    {
        let f: Vec<&str> = line.split('\t').collect();
        let (lang, text, city) = (f[0], f[1], f.get(2).copied().unwrap_or(""));
        let must: Vec<&str> = f
            .get(3)
            .map(|s| s.split(',').filter(|x| !x.is_empty()).collect())
            .unwrap_or_default();
        let must_not: Vec<&str> = f
            .get(4)
            .map(|s| s.split(',').filter(|x| !x.is_empty()).collect())
            .unwrap_or_default();
        assert!(!must.is_empty(), "{line}: nothing expected");
        count += 1;
        *languages.entry(lang.to_owned()).or_insert(0) += 1;
        let hits = index
            .search(&query(text, city), now())
            .await
            .expect("search");
        let got: Vec<String> = hits.iter().map(|h| h.item.entry.name.clone()).collect();
        let missing: Vec<&&str> = must
            .iter()
            .filter(|m| !got.iter().any(|g| g == *m))
            .collect();
        let unwanted: Vec<&&str> = must_not
            .iter()
            .filter(|m| got.iter().any(|g| g == *m))
            .collect();
        if !missing.is_empty() || !unwanted.is_empty() {
            failures.push(format!(
                "[{lang}] q={text:?} city={city:?}: missing {missing:?}, unwanted {unwanted:?}, got {got:?}"
            ));
        }
    }
    assert!(count >= 40, "only {count} queries");
    for l in ["fr", "en", "de", "it"] {
        assert!(
            languages.get(l).copied().unwrap_or(0) >= 5,
            "few {l} queries"
        );
    }
    assert!(
        failures.is_empty(),
        "{} of {count} queries failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[tokio::test]
async fn suggestions_on_an_empty_result() {
    let (index, _dir) = directory().await;

    // No dentist in a village: the nearest towns that have one.
    let out = index
        .search_explained(&query("dentiste", "Saint-Martin-de-Bossenay"), now())
        .await
        .expect("search");
    assert!(out.hits.is_empty());
    let s = out.suggestions.expect("suggestions");
    assert!(!s.places.is_empty());
    assert!(s
        .places
        .windows(2)
        .all(|w| w[0].distance_km <= w[1].distance_km));
    assert!(s.places.iter().all(|p| p.count > 0));
    assert_eq!(s.places[0].name, "Paris", "{:?}", s.places);

    // A word that names nothing, close to a specialty.
    let out = index
        .search_explained(&query("psychologue", ""), now())
        .await
        .expect("search");
    assert!(out.hits.is_empty());
    let s = out.suggestions.expect("suggestions");
    assert!(s.specialties.contains(&Specialty::Psychiatrist), "{s:?}");

    // A name too far from any for search, close enough for "did you mean".
    let out = index
        .search_explained(&query("dentiste dpnt", ""), now())
        .await
        .expect("search");
    assert!(out.hits.is_empty());
    let s = out.suggestions.expect("suggestions");
    assert!(
        matches!(
            s.query.as_deref(),
            Some("dentiste dupond") | Some("dentiste dupont")
        ),
        "{s:?}"
    );

    // Found: nothing to suggest, and the reading is told.
    let out = index
        .search_explained(&query("Dentiste / paris 11", ""), now())
        .await
        .expect("search");
    assert!(!out.hits.is_empty() && out.suggestions.is_none());
    assert_eq!(out.understood.specialty, Some(Specialty::Dentist));
    assert_eq!(out.place.map(|p| p.label), Some("Paris 11e".to_owned()));
}

/// The explicit `specialty` and `city` parameters keep their meaning beside the free text.
#[tokio::test]
async fn parameters_keep_their_meaning() {
    let (index, _dir) = directory().await;
    let mut q = query("", "Lyon");
    q.specialty = Some(Specialty::GeneralPractitioner);
    let names: Vec<String> = index
        .search(&q, now())
        .await
        .expect("search")
        .into_iter()
        .map(|h| h.item.entry.name.clone())
        .collect();
    assert_eq!(names.len(), 2, "{names:?}");
    // An unknown place is matched as text on the practices' towns, as before.
    let q = query("", "Villeur");
    let hits = index.search(&q, now()).await.expect("search");
    assert_eq!(hits.len(), 2);
    // Prefix of a name word, as before.
    let hits = index
        .search(&query("helene mart", ""), now())
        .await
        .expect("search");
    assert_eq!(hits.len(), 1);
}
