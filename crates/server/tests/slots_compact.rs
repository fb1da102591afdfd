//! The compact slot list (issue 20 point 3, a contract extension), over real HTTP on SQLite
//! and PostgreSQL: `format=compact` describes exactly the slots of the default answer (which
//! stays the contract's), in fewer bytes, with its own validator and 304; gzip for clients
//! that take it; an unknown format is
//! refused (400, as any unreadable parameter).

mod common;

use common::{start, Backend};
use reqwest::StatusCode;
use serde_json::Value;

/// (start, end, remaining) of every slot, instants compared as instants.
fn of_full(body: &Value) -> Vec<(i64, i64, u64)> {
    let at = |v: &Value| {
        v.as_str()
            .and_then(|s| s.parse::<jiff::Timestamp>().ok())
            .expect("an RFC 3339 time")
            .as_second()
    };
    body["slots"]
        .as_array()
        .expect("slots")
        .iter()
        .map(|s| {
            (
                at(&s["start"]),
                at(&s["end"]),
                s["remaining"].as_u64().expect("n"),
            )
        })
        .collect()
}

fn of_compact(body: &Value) -> Vec<(i64, i64, u64)> {
    let mut out = Vec::new();
    for g in body["groups"].as_array().expect("groups") {
        let (date, offset) = (
            g["date"].as_str().expect("date"),
            g["offset"].as_str().expect("offset"),
        );
        let length = g["length_s"].as_i64().expect("length");
        let times = g["times"].as_array().expect("times");
        let remaining = g["remaining"].as_array().expect("remaining");
        assert_eq!(times.len(), remaining.len(), "{g}");
        for (t, r) in times.iter().zip(remaining) {
            let t = t.as_str().expect("time");
            let t = if t.len() == 5 {
                format!("{t}:00")
            } else {
                t.to_owned()
            };
            let start = format!("{date}T{t}{offset}")
                .parse::<jiff::Timestamp>()
                .expect("a time")
                .as_second();
            out.push((start, start + length, r.as_u64().expect("n")));
        }
    }
    out
}

async fn compact_answers_name_the_same_slots(backend: Backend) {
    let (srv, _loc) = start(backend).await;
    let p = srv.practice("Dr Compact", 20, 1).await;
    let from = jiff::Zoned::now().date();
    let to = from.checked_add(jiff::Span::new().days(13)).expect("date");
    let path = |format: &str| {
        format!(
            "/api/v1/agendas/{}/slots?motive_id={}&from={from}&to={to}{format}",
            p.agenda_id, p.motive_id
        )
    };
    let get = |url: String, etag: Option<String>| {
        let mut req = srv.client.get(format!("{}{url}", srv.base));
        if let Some(e) = etag {
            req = req.header("if-none-match", e);
        }
        req.send()
    };
    let full = get(path(""), None).await.expect("full");
    assert_eq!(full.status(), StatusCode::OK);
    let full_tag = full.headers()["etag"].to_str().expect("etag").to_owned();
    let full_bytes = full.bytes().await.expect("body");
    let compact = get(path("&format=compact"), None).await.expect("compact");
    assert_eq!(compact.status(), StatusCode::OK);
    let compact_tag = compact.headers()["etag"].to_str().expect("etag").to_owned();
    let compact_bytes = compact.bytes().await.expect("body");
    assert_ne!(
        full_tag, compact_tag,
        "each representation has its validator"
    );

    let full: Value = serde_json::from_slice(&full_bytes).expect("json");
    let compact: Value = serde_json::from_slice(&compact_bytes).expect("json");
    let slots = of_full(&full);
    assert!(slots.len() > 100, "two weeks of 20-minute slots");
    assert_eq!(of_compact(&compact), slots);
    assert!(
        compact_bytes.len() * 2 < full_bytes.len(),
        "{} bytes against {}",
        compact_bytes.len(),
        full_bytes.len()
    );
    // A client that takes gzip gets the same bytes compressed, under another tag.
    let packed = srv
        .client
        .get(format!("{}{}", srv.base, path("")))
        .header("accept-encoding", "gzip")
        .send()
        .await
        .expect("gzip");
    assert_eq!(packed.status(), StatusCode::OK);
    assert_eq!(packed.headers()["content-encoding"], "gzip");
    assert_ne!(packed.headers()["etag"].to_str().expect("etag"), full_tag);
    let packed = packed.bytes().await.expect("body");
    assert!(packed.len() * 3 < full_bytes.len());
    let mut plain = Vec::new();
    std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(&packed[..]), &mut plain)
        .expect("gunzip");
    assert_eq!(plain, full_bytes.to_vec());
    // `format=full` is the default answer.
    let (s, explicit) = srv.get(&path("&format=full"), None).await;
    assert_eq!((s, &explicit), (StatusCode::OK, &full));
    // Its validator answers 304; the other representation's does not.
    let again = get(path("&format=compact"), Some(compact_tag.clone()))
        .await
        .expect("304");
    assert_eq!(again.status(), StatusCode::NOT_MODIFIED);
    let other = get(path("&format=compact"), Some(full_tag))
        .await
        .expect("200");
    assert_eq!(other.status(), StatusCode::OK);

    // A booking takes its slot out of both.
    let (patient, _) = srv.account("patient", "Paul Compact").await;
    let first = full["slots"][0]["start"].clone();
    let (s, booked) = srv
        .post(
            "/api/v1/appointments",
            Some(&patient),
            serde_json::json!({"agenda_id": p.agenda_id, "motive_id": p.motive_id, "start": first}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{booked}");
    let after = get(path("&format=compact"), Some(compact_tag))
        .await
        .expect("200");
    assert_eq!(after.status(), StatusCode::OK, "changed since");
    let after: Value = serde_json::from_slice(&after.bytes().await.expect("body")).expect("json");
    assert_eq!(of_compact(&after), slots[1..].to_vec());

    let (s, _) = srv.get(&path("&format=tiny"), None).await;
    assert_eq!(
        s,
        StatusCode::BAD_REQUEST,
        "an unreadable query, as for any parameter"
    );
    srv.stop().await;
}

on_both_backends!(compact_answers_name_the_same_slots);
