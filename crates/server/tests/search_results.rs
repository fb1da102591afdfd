//! Search results people can use (issue 17 point 2): sort, total count, pages and filters,
//! over real HTTP on SQLite and PostgreSQL, and the practice facts they read.

mod common;

use common::web::WebClient;
use common::{start, Backend, TestServer};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

const LAT: f64 = 48.8566;
const LON: f64 = 2.3522;

struct Spec {
    name: &'static str,
    /// Kilometres north of the search point.
    km_north: f64,
    /// Minimum notice of the motive: pushes the next slot later, so orders differ without
    /// depending on the time of day the test runs.
    notice_min: i64,
    languages: &'static [&'static str],
    profile_facts: Value,
    wheelchair: bool,
    video: bool,
}

/// A verified practice open every day 08:00–18:00; returns (token, agenda id, place id).
async fn practice(srv: &TestServer, spec: &Spec) -> (String, String, String) {
    let (token, _) = srv.account("practitioner", spec.name).await;
    let t = Some(token.as_str());
    let mut profile = json!({"name": spec.name, "specialty": "general-practitioner", "languages": spec.languages});
    if let (Some(p), Some(f)) = (profile.as_object_mut(), spec.profile_facts.as_object()) {
        p.extend(f.clone());
    }
    let (s, body) = srv
        .call(
            Method::PUT,
            "/api/v1/practitioner/profile",
            t,
            Some(profile),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{body}");
    let pid = body["id"].as_str().expect("id").to_owned();
    let (s, place) = srv
        .post(
            "/api/v1/places",
            t,
            json!({"name": "Cabinet", "address": "1 rue", "postcode": "75004", "city": "Paris",
                   "country": "FR", "lat": LAT + spec.km_north / 111.2, "lon": LON,
                   "timezone": "Europe/Paris", "wheelchair_access": spec.wheelchair}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{place}");
    assert_eq!(place["wheelchair_access"], spec.wheelchair, "{place}");
    let place_id = place["id"].as_str().expect("place id").to_owned();
    let (s, agenda) = srv
        .post(
            "/api/v1/agendas",
            t,
            json!({"place_id": place_id, "holidays": null}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{agenda}");
    let agenda_id = agenda["id"].as_str().expect("agenda id").to_owned();
    let mut motives = Vec::new();
    let mut kinds = vec![false];
    if spec.video {
        kinds.push(true);
    }
    for video in kinds {
        let (s, m) = srv
            .post(
                &format!("/api/v1/agendas/{agenda_id}/motives"),
                t,
                json!({"name": "Consultation", "duration_min": 30, "min_notice_min": spec.notice_min,
                       "teleconsultation": video}),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{m}");
        motives.push(m["id"].clone());
    }
    let (s, rule) = srv
        .post(
            &format!("/api/v1/agendas/{agenda_id}/opening-rules"),
            t,
            json!({"weekdays": [1, 2, 3, 4, 5, 6, 7], "start": "08:00", "end": "18:00", "motive_ids": motives}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{rule}");
    srv.verify(&token, &pid).await;
    (token, agenda_id, place_id)
}

fn names(v: &Value) -> Vec<String> {
    v["results"]
        .as_array()
        .map(|r| {
            r.iter()
                .map(|x| x["name"].as_str().unwrap_or_default().to_owned())
                .collect()
        })
        .unwrap_or_default()
}

async fn search(srv: &TestServer, extra: &str) -> Value {
    let path = format!("/api/v1/search?lat={LAT}&lon={LON}&radius_km=50{extra}");
    let (s, v) = srv.get(&path, None).await;
    assert_eq!(s, StatusCode::OK, "{path}: {v}");
    v
}

async fn sort_count_pages_and_filters(backend: Backend) {
    let (srv, _loc) = start(backend).await;
    let specs = [
        Spec {
            name: "Dr Busy Nextdoor",
            km_north: 0.1,
            notice_min: 10 * 1440,
            languages: &["fr"],
            profile_facts: json!({}),
            wheelchair: false,
            video: false,
        },
        Spec {
            name: "Dr Near Tomorrow",
            km_north: 0.5,
            notice_min: 1440,
            languages: &["fr", "de"],
            profile_facts: json!({"fee_sector": "sector-1"}),
            wheelchair: true,
            video: true,
        },
        Spec {
            name: "Dr Middle Today",
            km_north: 5.0,
            notice_min: 0,
            languages: &["en"],
            profile_facts: json!({}),
            wheelchair: false,
            video: false,
        },
        Spec {
            name: "Dr Far Today",
            km_north: 12.0,
            notice_min: 0,
            languages: &["fr"],
            profile_facts: json!({"fee_sector": "sector-2", "accepts_new_patients": false}),
            wheelchair: false,
            video: false,
        },
    ];
    let mut practices = Vec::new();
    for s in &specs {
        practices.push(practice(&srv, s).await);
    }
    let [busy, near, middle, far] = [
        "Dr Busy Nextdoor",
        "Dr Near Tomorrow",
        "Dr Middle Today",
        "Dr Far Today",
    ];

    // The contract's default stays earliest first (ties: nearest first).
    let v = search(&srv, "").await;
    assert_eq!(names(&v), [middle, far, near, busy], "{v}");
    assert_eq!(v["total"], 4, "{v}");
    assert_eq!(
        search(&srv, "&sort=earliest").await["results"],
        v["results"]
    );
    let v = search(&srv, "&sort=nearest").await;
    assert_eq!(names(&v), [busy, near, middle, far], "{v}");
    assert_eq!(names(&search(&srv, "&sort=distance").await), names(&v));
    // Relevance: tomorrow at 500 m beats today at 5 km; ten days away loses even next door.
    let v = search(&srv, "&sort=relevance").await;
    assert_eq!(names(&v), [near, middle, far, busy], "{v}");

    // Pages: the total is the same on each, the pages are slices of one order.
    let v = search(&srv, "&sort=nearest&limit=3").await;
    assert_eq!(
        (names(&v), v["total"].clone()),
        (vec![busy.to_owned(), near.into(), middle.into()], json!(4))
    );
    let v = search(&srv, "&sort=nearest&limit=3&page=2").await;
    assert_eq!(names(&v), [far], "{v}");
    assert_eq!(
        (v["total"].clone(), v["offset"].clone(), v["limit"].clone()),
        (json!(4), json!(3), json!(3))
    );
    let v = search(&srv, "&sort=nearest&limit=2&offset=1").await;
    assert_eq!(names(&v), [near, middle], "{v}");
    let v = search(&srv, "&limit=2&page=9").await;
    assert_eq!((names(&v).len(), v["total"].clone()), (0, json!(4)), "{v}");
    assert!(
        v.get("suggestions").is_none(),
        "a page past the end is not a failed search: {v}"
    );

    // Filters, alone and together; results carry the facts.
    for (filter, expected) in [
        ("&teleconsultation=true", vec![near]),
        ("&new_patients=true", vec![middle, near, busy]),
        ("&wheelchair=true", vec![near]),
        ("&languages=de", vec![near]),
        ("&languages=EN,de", vec![middle, near]),
        ("&fee_sector=sector-2", vec![far]),
        ("&fee_sector=sector-1,sector-2", vec![far, near]),
        ("&fee_sector=non-contracted", vec![]),
        ("&new_patients=true&languages=fr", vec![near, busy]),
        ("&teleconsultation=false", vec![middle, far, near, busy]),
    ] {
        let v = search(&srv, filter).await;
        assert_eq!(names(&v), expected, "{filter}: {v}");
        assert_eq!(v["total"], expected.len(), "{filter}: {v}");
    }
    let v = search(&srv, "&teleconsultation=true").await;
    let hit = &v["results"][0];
    assert_eq!(hit["teleconsultation"], true, "{hit}");
    assert_eq!(hit["wheelchair_access"], true, "{hit}");
    assert_eq!(hit["fee_sector"], "sector-1", "{hit}");
    assert_eq!(hit["accepts_new_patients"], true, "{hit}");
    assert_eq!(hit["languages"], json!(["fr", "de"]), "{hit}");

    // Refusals are problem+json 400s naming the parameter (checked by `call`).
    for bad in [
        "&fee_sector=sector-9",
        "&languages=x",
        "&page=0",
        "&page=2&offset=3",
        "&offset=5000",
        "&sort=closest",
    ] {
        let path = format!("/api/v1/search?lat={LAT}&lon={LON}{bad}");
        let (s, v) = srv.get(&path, None).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{bad}: {v}");
    }
    let (s, v) = srv.get("/api/v1/search?sort=nearest", None).await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");
    assert!(v["detail"].as_str().unwrap_or("").contains("lat"), "{v}");

    // The facts are the practitioner's to change, and search follows at once.
    let (far_token, _, far_place) = &practices[3];
    let (s, v) = srv
        .call(
            Method::PUT,
            &format!("/api/v1/places/{far_place}/access"),
            Some(far_token),
            Some(json!({"wheelchair_access": true, "access_details": "Ground floor, ramp on the left"})),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(names(&search(&srv, "&wheelchair=true").await), [far, near]);
    let (s, v) = srv
        .call(
            Method::PUT,
            "/api/v1/practitioner/profile",
            Some(far_token),
            Some(json!({"name": far, "specialty": "general-practitioner", "accepts_new_patients": true})),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    // Absent, the fee sector is kept.
    assert_eq!(
        (v["accepts_new_patients"].clone(), v["fee_sector"].clone()),
        (json!(true), json!("sector-2")),
        "{v}"
    );
    assert_eq!(search(&srv, "&new_patients=true").await["total"], 4);
    let (_, v) = srv
        .get("/api/v1/practitioner/profile", Some(far_token))
        .await;
    assert_eq!(v["fee_sector"], "sector-2", "{v}");
    // Someone else's place is unknown; bad values are refused and change nothing.
    let (near_token, _, _) = &practices[1];
    let (s, v) = srv
        .call(
            Method::PUT,
            &format!("/api/v1/places/{far_place}/access"),
            Some(near_token),
            Some(json!({"wheelchair_access": false})),
        )
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND, "{v}");
    let (s, v) = srv
        .call(
            Method::PUT,
            &format!("/api/v1/places/{far_place}/access"),
            Some(far_token),
            Some(json!({"wheelchair_access": false, "access_details": "x".repeat(2001)})),
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
    let (s, v) = srv
        .call(
            Method::PUT,
            "/api/v1/practitioner/profile",
            Some(far_token),
            Some(json!({"name": "Dr Renamed", "specialty": "general-practitioner", "fee_sector": "sector-3"})),
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
    let (_, v) = srv
        .get("/api/v1/practitioner/profile", Some(far_token))
        .await;
    assert_eq!(
        (v["name"].clone(), v["fee_sector"].clone()),
        (json!(far), json!("sector-2")),
        "{v}"
    );
    assert_eq!(names(&search(&srv, "&wheelchair=true").await), [far, near]);

    // The page: sort and filters as a form that works without JavaScript, and the count.
    let web = WebClient::new(&srv).await;
    let point = format!("lat={LAT}&lon={LON}");
    let html = web
        .get(&format!("/search?q=&{point}&sort=nearest"))
        .await
        .text()
        .await
        .unwrap_or_default();
    let at = |name: &str| html.find(name).unwrap_or(usize::MAX);
    assert!(
        at(busy) < at(near) && at(near) < at(middle) && at(middle) < at(far),
        "{html}"
    );
    assert!(
        html.contains("data-count>") && html.contains(": 4"),
        "{html}"
    );
    assert!(html.contains("name=\"tele\""), "{html}");
    let html = web
        .get(&format!("/search?q=&{point}&tele=1&lang=de"))
        .await
        .text()
        .await
        .unwrap_or_default();
    assert!(
        html.contains(near) && !html.contains(middle) && !html.contains(far),
        "{html}"
    );
    assert!(html.contains(": 1"), "{html}");
}

on_both_backends!(sort_count_pages_and_filters);
