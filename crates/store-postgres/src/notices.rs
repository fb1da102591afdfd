//! One LISTEN connection per node for every channel careslot uses (agenda changes, the
//! outbox, sessions, the waiting room, video signals), handing each notification to the
//! subscribers of its channel.
//!
//! Why one: at each commit that notifies, PostgreSQL signals every backend of the database
//! that listens, on whatever channel, and each of them wakes up to read the queue. With a
//! listener per channel, every booking group woke five backends per node. A profile of
//! single bookings (BENCHMARKS.md, session of 2026-12-07 18:26 UTC) had those listeners at
//! about 7 % of PostgreSQL's CPU and the signalling (`kill`) at about 3 % more. One listener
//! is also one connection per node instead of five.

use sqlx::postgres::{PgConnectOptions, PgListener, PgPool, PgPoolOptions};
use std::sync::{Arc, Mutex, Once};
use std::time::Duration;

/// Every channel careslot notifies on: the listener listens on all of them from the start,
/// so that a subscriber added later needs no new LISTEN.
const CHANNELS: [&str; 5] = [
    crate::AGENDA_CHANNEL,
    crate::OUTBOX_CHANNEL,
    crate::sessions::SESSION_CHANNEL,
    crate::shared::ROOM_CHANNEL,
    crate::shared::SIGNAL_CHANNEL,
];

/// What a subscriber hears.
pub(crate) enum Notice<'a> {
    /// Listening from now on (first, or again after a loss): anything announced before may
    /// have been missed, so what depends on it is read from the database.
    Listening,
    /// A notification on the subscriber's channel, with its payload.
    Notified(&'a str),
    /// No longer listening: announcements are missed until the next `Listening`.
    Lost,
}

type Handler = Arc<dyn Fn(Notice<'_>) + Send + Sync>;

struct State {
    listening: bool,
    handlers: Vec<(&'static str, Handler)>,
}

/// The node's one listener (see the module's comment). Its task starts at the first
/// subscription and lives as long as the runtime, like the listeners it replaces.
pub struct Notices {
    options: PgConnectOptions,
    state: Mutex<State>,
    start: Once,
}

impl Notices {
    pub(crate) fn new(options: PgConnectOptions) -> Arc<Self> {
        Arc::new(Self {
            options,
            state: Mutex::new(State {
                listening: false,
                handlers: Vec::new(),
            }),
            start: Once::new(),
        })
    }

    /// Hands `channel`'s notifications to `handler`, starting with `Listening` once the
    /// listener listens (at once if it already does).
    pub(crate) fn subscribe(
        self: &Arc<Self>,
        channel: &'static str,
        handler: impl Fn(Notice<'_>) + Send + Sync + 'static,
    ) {
        debug_assert!(
            CHANNELS.contains(&channel),
            "a channel the listener listens on"
        );
        let handler: Handler = Arc::new(handler);
        let listening = {
            let mut state = self.lock();
            state.handlers.push((channel, handler.clone()));
            state.listening
        };
        if listening {
            handler(Notice::Listening);
        }
        self.start.call_once(|| {
            let this = self.clone();
            tokio::spawn(async move { this.run().await });
        });
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // A handler that panicked leaves nothing half-updated here: the list stays usable.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Sets whether the listener listens and tells every subscriber.
    fn tell_all(&self, listening: bool) {
        let handlers: Vec<Handler> = {
            let mut state = self.lock();
            state.listening = listening;
            state.handlers.iter().map(|(_, h)| h.clone()).collect()
        };
        for h in handlers {
            h(if listening {
                Notice::Listening
            } else {
                Notice::Lost
            });
        }
    }

    fn deliver(&self, channel: &str, payload: &str) {
        let handlers: Vec<Handler> = self
            .lock()
            .handlers
            .iter()
            .filter(|(c, _)| *c == channel)
            .map(|(_, h)| h.clone())
            .collect();
        for h in handlers {
            h(Notice::Notified(payload));
        }
    }

    async fn run(self: Arc<Self>) {
        // The listener keeps its connection for good: its own pool, so that the app's pool
        // keeps all of its connections for queries.
        let pool: PgPool = PgPoolOptions::new()
            .max_connections(1)
            .idle_timeout(None)
            .max_lifetime(None)
            .acquire_timeout(Duration::from_secs(10))
            .connect_lazy_with(self.options.clone());
        loop {
            let Some(mut listener) = connect(&pool).await else {
                self.tell_all(false);
                continue;
            };
            self.tell_all(true);
            loop {
                match listener.try_recv().await {
                    Ok(Some(n)) => self.deliver(n.channel(), n.payload()),
                    // The connection was lost and is listening again: what was announced
                    // meanwhile is lost.
                    Ok(None) => {
                        self.tell_all(false);
                        self.tell_all(true);
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "listener failed; reconnecting");
                        self.tell_all(false);
                        break;
                    }
                }
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

/// A listener on every channel, or `None` after a failure (logged, after a pause).
async fn connect(pool: &PgPool) -> Option<PgListener> {
    let mut listener = match PgListener::connect_with(pool).await {
        Ok(l) => l,
        Err(e) => {
            tracing::warn!(error = %e, "listener cannot connect; retrying");
            tokio::time::sleep(Duration::from_secs(1)).await;
            return None;
        }
    };
    if let Err(e) = listener.listen_all(CHANNELS).await {
        tracing::warn!(error = %e, "LISTEN failed; retrying");
        tokio::time::sleep(Duration::from_secs(1)).await;
        return None;
    }
    Some(listener)
}
