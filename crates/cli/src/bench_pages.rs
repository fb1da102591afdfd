//! `careslot bench pages`: server-side render time of the home and search pages over the
//! demo data, through the real router in-process (routing, page context, search, slot
//! strips, template), without the network.

use crate::bench::{header, Samples};
use anyhow::anyhow;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use careslot_core::protection::Protector;
use careslot_server::services::{App, AppConfig};
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
    let router = careslot_server::api::router(app);
    eprintln!(
        "demo data: {} practitioners; {} requests per page",
        seeded.practitioners, args.requests
    );
    eprintln!("{}", header());
    let mut out = serde_json::Map::new();
    for (label, path) in PAGES {
        let mut samples = Samples::default();
        let mut bytes = 0;
        for i in 0..(50 + args.requests) {
            let req = Request::get(*path)
                .header("accept-language", "fr-FR,fr;q=0.9")
                .body(Body::empty())?;
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
        let summary = samples.summary();
        eprintln!("{}", summary.row(label, &format!("{} KB", bytes / 1024)));
        let mut m = summary.json();
        m.insert("html_bytes".into(), json!(bytes));
        out.insert((*label).to_owned(), Value::Object(m));
    }
    let report = json!({ "bench": "pages", "pages": out });
    println!("{report}");
    Ok(report)
}
