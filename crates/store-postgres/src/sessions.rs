//! Session announcements (migration 0072): a trigger announces every change of a session
//! on `careslot_sessions`, with the account id as payload; each node's listener hands them
//! to its session cache. Each node also announces an empty payload every [`HEARTBEAT`], so
//! a listener that stops hearing anything knows it (see `SessionSignal::Alive`).

use careslot_domain::AccountId;
use careslot_store::{SessionSignal, SessionWatcher};
use sqlx::postgres::{PgPool, PgPoolOptions};
use std::time::Duration;

/// The channel of migration 0072's triggers.
pub const SESSION_CHANNEL: &str = "careslot_sessions";

/// How often each node announces that announcements still arrive.
pub const HEARTBEAT: Duration = Duration::from_secs(5);

/// Starts the heartbeat and the listener; both live as long as the runtime.
pub(crate) fn watch(pool: &PgPool, on_signal: SessionWatcher) {
    let beat = pool.clone();
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(HEARTBEAT);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            if let Err(e) = sqlx::query("SELECT pg_notify($1, '')")
                .bind(SESSION_CHANNEL)
                .execute(&beat)
                .await
            {
                tracing::debug!(error = %e, "session heartbeat not sent");
            }
        }
    });
    // A listener keeps its connection for good: this one has its own, so that the app's
    // pool keeps all of its connections for queries (a small pool ran dry without it).
    let own = PgPoolOptions::new()
        .max_connections(1)
        .idle_timeout(None)
        .max_lifetime(None)
        .acquire_timeout(Duration::from_secs(10))
        .connect_lazy_with((*pool.connect_options()).clone());
    tokio::spawn(async move {
        loop {
            let Some(mut listener) = crate::shared::connect(&own, SESSION_CHANNEL).await else {
                on_signal(SessionSignal::Lost);
                continue;
            };
            // Listening from here on: what changed before is read from the database.
            on_signal(SessionSignal::Resumed);
            loop {
                match listener.try_recv().await {
                    Ok(Some(n)) => on_signal(match n.payload() {
                        "" => SessionSignal::Alive,
                        "*" => SessionSignal::Everything,
                        account => SessionSignal::Account(AccountId(account.to_owned())),
                    }),
                    // The connection was lost: announcements may have been missed. Start
                    // over on a new listener (its `Resumed` comes once it listens).
                    Ok(None) => {
                        on_signal(SessionSignal::Lost);
                        break;
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "session listener failed; reconnecting");
                        on_signal(SessionSignal::Lost);
                        break;
                    }
                }
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    });
}
