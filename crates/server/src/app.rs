//! The composition root: every feature's service built once, in dependency order, from one
//! configuration; the router's state.

use careslot_consultation::{Consultation, ConsultationConfig, DocumentsConfig};
use careslot_core::protection::Protector;
use careslot_core::{AppResult, Core, CoreConfig};
use careslot_identity::Accounts;
use careslot_scheduling::{
    payments::Payments, waiting_room::RoomConfig, Scheduling, SchedulingConfig,
};
use careslot_store::Store;
use careslot_vaccination::Vaccination;
use std::ops::Deref;
use std::sync::Arc;

/// Everything the server can be told, gathered for the binary and the tests.
#[derive(Debug, Clone)]
pub struct AppConfig {
    /// How long a hold keeps a place for its patient.
    pub hold_ttl: jiff::SignedDuration,
    pub session_ttl: jiff::SignedDuration,
    /// Vaccination appointments lose their patient link after this long.
    pub vaccination_retention: jiff::SignedDuration,
    /// Bearer token of the campaign operator (health authority): opens and closes phases,
    /// edits protocols, opens chronodoses. `None`: those endpoints answer 401.
    pub operator_token: Option<Arc<careslot_vault::SecretToken>>,
    /// Whether the operator's appointment export may carry identities (else pseudonyms).
    pub operator_identities: bool,
    /// The waiting room in front of the booking entry points (inactive by default).
    pub waiting_room: RoomConfig,
    /// STUN/TURN servers and the room credentials' key of video consultations.
    pub video: careslot_consultation::video::VideoConfig,
    /// How teleconsultation fees are paid (default: at the practice, no online payment).
    pub payments: Payments,
    /// Size and number limits of documents shared on appointments.
    pub documents: DocumentsConfig,
    /// Public base URL of the site (`https://careslot.example`), for links that leave it:
    /// the prescription QR codes. `None`: taken from each request's `Host` header.
    pub public_url: Option<String>,
    /// Where the outbox's messages go and how they are retried.
    pub messages: crate::outbox::MessagesConfig,
    /// How the practices' webhooks are delivered.
    pub webhooks: crate::webhooks::WebhooksConfig,
    /// The front door: password-hashing bounds, throttling, trusted proxies, idle timeout.
    pub identity: careslot_identity::IdentityConfig,
    /// What "now" is for the outbox, reminders and earlier-slot offers (tests move it).
    pub clock: careslot_core::clock::SharedClock,
    /// Earlier-slot offers: how long an offered place is kept, the worker's pace.
    pub alerts: careslot_scheduling::alerts::AlertsConfig,
    /// `serve --demo` without SMTP: the directory the file channel writes messages to, shown
    /// at `/demo/mailbox`. `None` (always outside demo mode): that page does not exist.
    pub demo_mailbox: Option<std::path::PathBuf>,
    /// The tile server of the search results' map.
    pub map: crate::web::map::MapTiles,
}

impl Default for AppConfig {
    fn default() -> Self {
        let core = CoreConfig::default();
        Self {
            hold_ttl: core.hold_ttl,
            session_ttl: core.session_ttl,
            vaccination_retention: core.vaccination_retention,
            operator_token: core.operator_token,
            operator_identities: core.operator_identities,
            waiting_room: RoomConfig::default(),
            video: Default::default(),
            payments: Payments::default(),
            documents: DocumentsConfig::default(),
            public_url: core.public_url,
            messages: Default::default(),
            webhooks: Default::default(),
            identity: Default::default(),
            clock: core.clock,
            alerts: Default::default(),
            demo_mailbox: None,
            map: Default::default(),
        }
    }
}

/// The services of every feature; cheap to clone (the router's state). Pages reach the
/// identity and scheduling services through `Deref`, vaccination and consultation by name.
#[derive(Clone)]
pub struct App {
    pub core: Arc<Core>,
    pub accounts: Arc<Accounts>,
    pub scheduling: Arc<Scheduling>,
    pub vaccination: Arc<Vaccination>,
    pub consultation: Arc<Consultation>,
    /// The demo mailbox's directory (see [`AppConfig::demo_mailbox`]).
    pub demo_mailbox: Option<Arc<std::path::PathBuf>>,
    /// The tile server of the search results' map (see [`AppConfig::map`]).
    pub map: Arc<crate::web::map::MapTiles>,
}

impl App {
    /// Builds the services, warms the search index from the store and starts the background
    /// work that keeps holds, payments and messages moving.
    pub async fn new(
        store: Arc<dyn Store>,
        protect: Arc<Protector>,
        config: AppConfig,
    ) -> AppResult<Self> {
        // Read before the search index is loaded: changes after it reach the index through
        // the credential watch (on every node).
        let credential_seq = store.credential_seq().await?;
        let core = Core::new(
            store,
            protect,
            CoreConfig {
                hold_ttl: config.hold_ttl,
                session_ttl: config.session_ttl,
                vaccination_retention: config.vaccination_retention,
                operator_token: config.operator_token,
                operator_identities: config.operator_identities,
                public_url: config.public_url,
                clock: config.clock,
            },
        )
        .await?;
        let accounts = Accounts::new(core.clone(), config.identity);
        let mut waiting_room = config.waiting_room;
        if waiting_room.secret.is_none() && core.store.shared_room().is_some() {
            // Every node must sign tickets alike: without a configured secret, the first
            // node draws one and the others read it from the database.
            waiting_room.secret = Some(Arc::new(
                shared_key(&core, "waiting_room.ticket_key").await?,
            ));
        }
        let mut video = config.video;
        if video.secret.is_none() && core.store.signal_bus().is_some() {
            // A room credential issued by one node must open the WebSocket on any node.
            video.secret = Some(Arc::new(shared_key(&core, "video.credential_key").await?));
        }
        let scheduling = Scheduling::new(
            accounts.clone(),
            SchedulingConfig {
                waiting_room,
                payments: config.payments,
                compose_messages: config.messages.compose,
                alerts: config.alerts,
            },
        );
        crate::outbox::Worker::spawn(&scheduling, &config.messages);
        crate::webhooks::WebhookWorker::spawn(&scheduling, &config.webhooks);
        scheduling.spawn_alert_worker();
        scheduling.spawn_credential_watch(credential_seq);
        let vaccination = Vaccination::new(scheduling.clone());
        let consultation = Consultation::new(
            scheduling.clone(),
            ConsultationConfig {
                video,
                documents: config.documents,
            },
        );
        Ok(Self {
            core,
            accounts,
            scheduling,
            vaccination,
            consultation,
            demo_mailbox: config.demo_mailbox.map(Arc::new),
            map: Arc::new(config.map),
        })
    }

    /// Loads every agenda's availability view in the background (see `Core::spawn_warmup`).
    pub fn spawn_warmup(&self) {
        self.core.spawn_warmup();
    }

    /// Vaccination appointments past retention lose their patient link, every hour.
    pub fn spawn_retention(&self) {
        self.core.spawn_retention();
        // Throttling counters that block nothing and saw no failure for a day go, hourly.
        let accounts = self.accounts.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(std::time::Duration::from_secs(3600));
            loop {
                tick.tick().await;
                if let Err(e) = accounts.purge_throttle().await {
                    tracing::warn!(error = %e, "could not purge throttling counters");
                }
            }
        });
    }
}

impl Deref for App {
    type Target = Scheduling;

    fn deref(&self) -> &Scheduling {
        &self.scheduling
    }
}

macro_rules! state_parts {
    ($($field:ident: $ty:ty),* $(,)?) => {$(
        impl axum::extract::FromRef<App> for Arc<$ty> {
            fn from_ref(app: &App) -> Self {
                app.$field.clone()
            }
        }
    )*};
}

// Each feature's handlers take their own service as state.
state_parts!(
    core: Core,
    accounts: Accounts,
    scheduling: Scheduling,
    vaccination: Vaccination,
    consultation: Consultation,
);

/// A signing key every node shares through the database's settings (drawn by the first
/// node, wrapped by the key service's app key there), for queue tickets and video room
/// credentials when no secret file is configured.
async fn shared_key(
    core: &careslot_core::Core,
    setting: &str,
) -> AppResult<careslot_vault::SecretToken> {
    let text = core.protect.shared_secret(&*core.store, setting).await?;
    careslot_vault::SecretToken::new(text).map_err(|_| {
        careslot_core::AppError::Store(careslot_store::StoreError::Internal(format!(
            "the shared secret {setting} is malformed"
        )))
    })
}
