//! `careslot bench pages`: server-side render time of the home and search pages over the
//! demo data, through the real router in-process (routing, page context, search, slot
//! strips, template), without the network; and of the desk's week grid of a
//! five-practitioner group practice (issue 18: p99 under 50 ms), as its first practitioner
//! sees it (signed in, every appointment's patient opened and written to the access log).

use crate::bench::{header, Samples};
use crate::rush::cpu::own_cpu_and_machine;
use anyhow::anyhow;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use careslot_core::protection::Protector;
use careslot_server::services::{
    App, AppConfig, AppError, Caller, DeskPatient, NewIdentity, NewMotive, NewPlace, NewRule,
    ProfileInput, SlotQuery,
};
use careslot_store::Role;
use careslot_store::Store;
use careslot_store_sqlite::SqliteStore;
use careslot_vault::{KeyEngine, LocalCustody, MasterKey};
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::Instant;
use tower::ServiceExt;

#[derive(clap::Args, Debug)]
pub struct PagesArgs {
    /// Requests per page (after 50 warm-up requests).
    #[arg(long, default_value_t = 500)]
    pub requests: usize,
}

const PAGES: &[(&str, &str)] = &[
    ("home", "/"),
    (
        "search: specialty near a city",
        "/search?q=Dentiste&where=Lyon",
    ),
    (
        "search: specialty near a point",
        "/search?q=M%C3%A9decin%20g%C3%A9n%C3%A9raliste&lat=48.8566&lon=2.3522",
    ),
    ("search: name", "/search?q=martin"),
];

pub async fn pages(args: &PagesArgs) -> anyhow::Result<Value> {
    let data = tempfile::tempdir()?;
    let keys = tempfile::tempdir()?;
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open_dir(data.path()).await?);
    let engine = KeyEngine::open(keys.path(), MasterKey::generate())
        .await
        .map_err(|e| anyhow!("{e}"))?;
    let custody = Arc::new(LocalCustody::new(Arc::new(engine)));
    let protect = Protector::bootstrap(&*store, custody, 16)
        .await
        .map_err(|e| anyhow!("{e}"))?;
    let app = App::new(store, Arc::new(protect), AppConfig::default())
        .await
        .map_err(|e| anyhow!("{e}"))?;
    let seeded = crate::demo::seed(&app, 2021).await?;
    let (session, monday, booked) = group_practice(&app).await?;
    let grid = format!("/pro/grid?view=week&date={monday}");
    let router = careslot_server::api::router(app);
    eprintln!(
        "demo data: {} practitioners; {} requests per page",
        seeded.practitioners, args.requests
    );
    eprintln!("{}", header());
    let mut out = serde_json::Map::new();
    let grid_label = format!("desk week grid: 5 practitioners, {booked} appointments");
    let mut pages: Vec<(&str, &str, Option<&str>)> =
        PAGES.iter().map(|(l, p)| (*l, *p, None)).collect();
    let cookie = format!("careslot_session={session}");
    pages.push((&grid_label, &grid, Some(&cookie)));
    for (label, path, cookie) in pages {
        let mut samples = Samples::default();
        let mut bytes = 0;
        let mut cpu_from = own_cpu_and_machine();
        for i in 0..(50 + args.requests) {
            if i == 50 {
                cpu_from = own_cpu_and_machine();
            }
            let mut req = Request::get(path).header("accept-language", "fr-FR,fr;q=0.9");
            if let Some(c) = cookie {
                req = req.header("cookie", c);
            }
            let req = req.body(Body::empty())?;
            let started = Instant::now();
            let resp = router.clone().oneshot(req).await?;
            let status = resp.status();
            let body = axum::body::to_bytes(resp.into_body(), 4 << 20).await?;
            let took = started.elapsed();
            if status != StatusCode::OK {
                return Err(anyhow!("{path} answered {status}"));
            }
            bytes = body.len();
            if i >= 50 {
                samples.push(took);
            }
        }
        let (cpu_to, (busy_to, total_to)) = own_cpu_and_machine();
        let (cpu_at, (busy_at, total_at)) = cpu_from;
        // The whole process's CPU (every thread, SQLite's included) per measured request.
        let cpu_ms = (cpu_to - cpu_at) * 1000.0 / args.requests.max(1) as f64;
        let busy = busy_to.saturating_sub(busy_at) as f64;
        let total = total_to.saturating_sub(total_at) as f64;
        let summary = samples.summary();
        eprintln!(
            "{}",
            summary.row(label, &format!("{} KB, {cpu_ms:.2} ms CPU", bytes / 1024))
        );
        let mut m = summary.json();
        m.insert("html_bytes".into(), json!(bytes));
        m.insert(
            "cpu_ms_per_request".into(),
            json!((cpu_ms * 1000.0).round() / 1000.0),
        );
        m.insert(
            "machine_busy_share".into(),
            json!(if total > 0.0 {
                (busy / total * 1000.0).round() / 1000.0
            } else {
                0.0
            }),
        );
        out.insert(label.to_owned(), Value::Object(m));
    }
    let report = json!({ "bench": "pages", "pages": out });
    println!("{report}");
    Ok(report)
}

fn app_ok<T>(r: Result<T, AppError>) -> anyhow::Result<T> {
    r.map_err(|e| anyhow!("{e:?}"))
}

const GROUP_PASSWORD: &str = "bench group practice";

/// A group practice of five practitioners, one agenda each open Monday to Saturday
/// 08:00–19:00 in 15-minute slots, seven slots in ten of next week booked from the desk;
/// answers its first practitioner's session, next week's Monday and the appointments made.
async fn group_practice(app: &App) -> anyhow::Result<(String, jiff::civil::Date, usize)> {
    let here = std::net::Ipv4Addr::LOCALHOST.into();
    let today = jiff::Zoned::now().date();
    let monday = today.checked_add(
        jiff::Span::new().days(7 - i64::from(today.weekday().to_monday_zero_offset())),
    )?;
    let sunday = monday.checked_add(jiff::Span::new().days(6))?;
    let mut members = Vec::new();
    for i in 0..5 {
        let email = format!("group.practice.{i}@bench.careslot.test");
        let name = format!("Dr Groupe {i}");
        let id = app_ok(
            app.register(
                NewIdentity {
                    email: &email,
                    password: GROUP_PASSWORD,
                    name: &name,
                    role: Role::Practitioner,
                    phone: None,
                    birth_date: None,
                },
                here,
            )
            .await,
        )?;
        let caller = Caller {
            id: id.id,
            role: Role::Practitioner,
            second_factor: true,
        };
        app_ok(
            app.set_profile(
                &caller,
                ProfileInput {
                    name: name.clone(),
                    specialty: "general-practitioner".into(),
                    languages: vec!["fr".into()],
                    bio: None,
                },
            )
            .await,
        )?;
        let place = app_ok(
            app.create_place(
                &caller,
                NewPlace {
                    name: "Maison de santé".into(),
                    address: "3 place du Marché".into(),
                    postcode: "69003".into(),
                    city: "Lyon".into(),
                    country: "FR".into(),
                    lat: 45.76,
                    lon: 4.85,
                    timezone: "Europe/Paris".into(),
                },
            )
            .await,
        )?;
        let agenda = app_ok(
            app.create_agenda(&caller, place.id.as_str(), Some(None))
                .await,
        )?;
        let motive = app_ok(
            app.create_motive(
                &caller,
                &agenda.id,
                NewMotive {
                    name: "Consultation".into(),
                    duration_min: 15,
                    capacity: 1,
                    policy: Default::default(),
                    vaccine: None,
                },
            )
            .await,
        )?;
        app_ok(
            app.create_rule(
                &caller,
                &agenda.id,
                NewRule {
                    weekdays: vec![1, 2, 3, 4, 5, 6],
                    start: "08:00".into(),
                    end: "19:00".into(),
                    motive_ids: vec![motive.id.to_string()],
                    valid_from: None,
                    valid_until: None,
                },
            )
            .await,
        )?;
        members.push((caller, email, agenda.id, motive.id.to_string()));
    }
    let head = &members[0].0;
    let org = app_ok(
        app.create_organisation(head, "Maison de santé (bench)")
            .await,
    )?;
    for (caller, ..) in &members[1..] {
        let link = app_ok(app.invite_colleague(head, org.id.as_str()).await)?;
        app_ok(app.join_organisation(caller, &link.token).await)?;
    }
    let mut booked = 0;
    for (i, (caller, _, agenda, motive)) in members.iter().enumerate() {
        let (view, slots) = app_ok(
            app.slots(SlotQuery {
                agenda_id: agenda.as_str(),
                motive_id: motive,
                from: &monday.to_string(),
                to: &sunday.to_string(),
            })
            .await,
        )?;
        for (k, s) in slots.iter().enumerate().filter(|(k, _)| k % 10 < 7) {
            let start = careslot_core::time::format_instant(s.start, &view.tz);
            app_ok(
                app.desk_book(
                    caller,
                    agenda,
                    motive,
                    &start,
                    DeskPatient::New {
                        name: &format!("Patient Groupe {i} {k}"),
                        phone: &format!("06 {:02} {:02} {:02} {:02}", i + 10, k / 100, k % 100, 42),
                        birth_date: None,
                    },
                    None,
                )
                .await,
            )?;
            booked += 1;
        }
    }
    let (token, _) = app_ok(app.login(&members[0].1, GROUP_PASSWORD, here).await)?;
    // The grid shows patients: its session needs a second factor, as a real desk's.
    let enrolment = app_ok(app.mfa_enrol(head).await)?;
    let secret = careslot_identity::mfa::secret_from_base32(&enrolment.secret)
        .ok_or_else(|| anyhow!("TOTP secret"))?;
    let code = careslot_identity::mfa::code_at(&secret, jiff::Timestamp::now().as_second());
    app_ok(app.mfa_confirm(head, &token, &code, here).await)?;
    Ok((token, monday, booked))
}
