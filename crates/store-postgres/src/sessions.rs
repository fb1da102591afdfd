//! Session announcements (migration 0072): a trigger announces every change of a session
//! on `careslot_sessions`, with the account id as payload; each node's listener hands them
//! to its session cache. Each node also announces an empty payload every [`HEARTBEAT`], so
//! a listener that stops hearing anything knows it (see `SessionSignal::Alive`).

use crate::notices::{Notice, Notices};
use careslot_domain::AccountId;
use careslot_store::{SessionSignal, SessionWatcher};
use sqlx::postgres::PgPool;
use std::sync::Arc;
use std::time::Duration;

/// The channel of migration 0072's triggers.
pub const SESSION_CHANNEL: &str = "careslot_sessions";

/// How often each node announces that announcements still arrive.
pub const HEARTBEAT: Duration = Duration::from_secs(5);

/// Starts the heartbeat and subscribes to the announcements on the node's listener; both
/// live as long as the runtime.
pub(crate) fn watch(pool: &PgPool, notices: &Arc<Notices>, on_signal: SessionWatcher) {
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
    notices.subscribe(SESSION_CHANNEL, move |notice| {
        on_signal(match notice {
            // Listening from here on: what changed before is read from the database.
            Notice::Listening => SessionSignal::Resumed,
            Notice::Notified("") => SessionSignal::Alive,
            Notice::Notified("*") => SessionSignal::Everything,
            Notice::Notified(account) => SessionSignal::Account(AccountId(account.to_owned())),
            // Announcements may be missed until the next `Resumed`.
            Notice::Lost => SessionSignal::Lost,
        })
    });
}
