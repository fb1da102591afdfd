//! The shared behaviour suite on a fresh PostgreSQL database (see `testing::admin_url`).

use careslot_store_postgres::{testing, PgStore};
use std::sync::Arc;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_passes_the_behaviour_suite() {
    let url = match testing::fresh_database().await {
        Ok(url) => url,
        Err(e) => panic!("{e}"),
    };
    let store = PgStore::connect(&url, 16).await.expect("connect");
    careslot_store::suite::run(Arc::new(store)).await;
}
