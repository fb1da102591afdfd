//! One listener per node (`src/notices.rs`): every subscriber of a store shares one
//! LISTEN connection, hears only its own channel's notifications, and hears that the
//! connection was lost (`Lost`, then `Resumed` / a reload of every agenda) when it is.

use careslot_domain::AgendaId;
use careslot_store::{SessionSignal, Store};
use careslot_store_postgres::{sessions::SESSION_CHANNEL, testing, PgStore, AGENDA_CHANNEL};
use sqlx::{Connection, PgConnection};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Waits (up to a minute: the machine may be busy) until `done` holds for what was heard.
async fn until<T: Clone>(heard: &Arc<Mutex<Vec<T>>>, what: &str, done: impl Fn(&[T]) -> bool) {
    for _ in 0..600 {
        if done(&heard.lock().expect("heard").clone()) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("never heard {what}");
}

/// The database's backends that listen: their pids.
async fn listeners(conn: &mut PgConnection) -> Vec<i32> {
    sqlx::query_scalar(
        "SELECT pid FROM pg_stat_activity
          WHERE datname = current_database() AND pid <> pg_backend_pid()
            AND query LIKE 'LISTEN%'",
    )
    .fetch_all(conn)
    .await
    .expect("pg_stat_activity")
}

#[tokio::test]
async fn one_listener_per_node_hands_each_channel_to_its_subscribers() {
    let url = testing::fresh_database()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let store = PgStore::connect(&url, 4).await.expect("connect");
    let sessions: Arc<Mutex<Vec<SessionSignal>>> = Arc::default();
    let agendas: Arc<Mutex<Vec<Option<AgendaId>>>> = Arc::default();
    let outbox: Arc<Mutex<Vec<()>>> = Arc::default();
    let heard = sessions.clone();
    assert!(store.watch_sessions(Arc::new(move |s| heard.lock().expect("heard").push(s))));
    let heard = agendas.clone();
    store.watch_agendas(Arc::new(move |a| heard.lock().expect("heard").push(a)));
    let heard = outbox.clone();
    store.watch_outbox(Arc::new(move || heard.lock().expect("heard").push(())));
    until(&sessions, "Resumed", |s| {
        s.contains(&SessionSignal::Resumed)
    })
    .await;
    until(&agendas, "a first reload", |a| a.contains(&None)).await;
    until(&outbox, "a first wake-up", |o| !o.is_empty()).await;

    // One backend listens for the whole node, on every channel.
    let mut conn = PgConnection::connect(&url).await.expect("connect");
    let pids = listeners(&mut conn).await;
    assert_eq!(pids.len(), 1, "one listener for the node: {pids:?}");

    // Each channel reaches its subscribers only.
    let (agendas_before, outbox_before) = (
        agendas.lock().expect("heard").len(),
        outbox.lock().expect("heard").len(),
    );
    sqlx::query("SELECT pg_notify($1, 'account-7')")
        .bind(SESSION_CHANNEL)
        .execute(&mut conn)
        .await
        .expect("notify");
    sqlx::query("SELECT pg_notify($1, 'another-node agenda-9')")
        .bind(AGENDA_CHANNEL)
        .execute(&mut conn)
        .await
        .expect("notify");
    let account = SessionSignal::Account(careslot_domain::AccountId("account-7".into()));
    until(&sessions, "the account's announcement", |s| {
        s.contains(&account)
    })
    .await;
    let agenda = Some(AgendaId("agenda-9".into()));
    until(&agendas, "the agenda's announcement", |a| {
        a.contains(&agenda)
    })
    .await;
    assert_eq!(
        agendas.lock().expect("heard")[agendas_before..],
        [agenda],
        "the agenda subscriber heard its channel only"
    );
    assert_eq!(
        outbox.lock().expect("heard").len(),
        outbox_before,
        "the outbox subscriber heard neither"
    );

    // The listener's connection killed: every subscriber hears it, then listens again.
    let resumed_before = sessions
        .lock()
        .expect("heard")
        .iter()
        .filter(|s| **s == SessionSignal::Resumed)
        .count();
    let reloads_before = agendas
        .lock()
        .expect("heard")
        .iter()
        .filter(|a| a.is_none())
        .count();
    sqlx::query("SELECT pg_terminate_backend($1)")
        .bind(pids[0])
        .execute(&mut conn)
        .await
        .expect("terminate");
    until(&sessions, "Lost then Resumed", |s| {
        let lost = s.iter().rposition(|x| *x == SessionSignal::Lost);
        let resumed = s.iter().rposition(|x| *x == SessionSignal::Resumed);
        let resumed_count = s.iter().filter(|x| **x == SessionSignal::Resumed).count();
        matches!((lost, resumed), (Some(l), Some(r)) if l < r) && resumed_count > resumed_before
    })
    .await;
    until(&agendas, "a reload of every agenda", |a| {
        a.iter().filter(|x| x.is_none()).count() > reloads_before
    })
    .await;
    let again = listeners(&mut conn).await;
    assert_eq!(again.len(), 1, "one listener again: {again:?}");
    assert_ne!(again, pids, "a new connection");
    store.close().await;
}
