//! The shared behaviour suite on a fresh SQLite file.

use careslot_store_sqlite::SqliteStore;
use std::sync::Arc;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_passes_the_behaviour_suite() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = SqliteStore::open_dir(dir.path()).await.expect("open");
    careslot_store::suite::run(Arc::new(store)).await;
}
