//! `careslot`: the whole product in one binary.

mod backup;
mod bench;
mod bench_booking;
mod bench_login_flood;
mod bench_messages;
mod bench_pages;
mod demo;
mod import;
mod import_practitioners;
mod operator;
mod payments;
mod rush;

use anyhow::Context;
use careslot_core::protection::Protector;
use careslot_server::services::{App, AppConfig, AuditVerdict};
use careslot_store::Store;
use careslot_store_postgres::PgStore;
use careslot_store_sqlite::SqliteStore;
use careslot_vault::{HttpCustody, KeyCustody, KeyEngine, LocalCustody, MasterKey, SecretToken};
use clap::{Args, Parser, Subcommand};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(name = "careslot", version, about = "Open-source medical appointment platform", long_about = None)]
struct Cli {
    /// Log as JSON lines instead of human-readable text.
    #[arg(long, global = true, env = "CARESLOT_LOG_JSON")]
    log_json: bool,
    #[command(subcommand)]
    command: Command,
}

// Parsed once at start-up: the size of the serve variant costs nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Subcommand)]
enum Command {
    /// Run the web server (JSON API and pages).
    Serve(ServeArgs),
    /// Create or upgrade the database schema, then exit.
    Migrate(DbArgs),
    /// Fill the database with the demo directory (idempotent), then exit.
    Seed {
        #[command(flatten)]
        db: DbArgs,
        #[command(flatten)]
        keys: KeyArgs,
    },
    /// Measure the hot paths; prints JSON on stdout and a table on stderr.
    #[command(subcommand)]
    Bench(BenchCommand),
    /// Run the key-custody service (its own process, data directory and token).
    Keyd(KeydArgs),
    /// Key maintenance.
    #[command(subcommand)]
    Keys(KeysCommand),
    /// Audit-log maintenance.
    #[command(subcommand)]
    Audit(AuditCommand),
    /// Erase a patient account (crypto-shredding), as DELETE /api/v1/me does.
    Erase(EraseArgs),
    /// Operator accounts (platform staff with roles; they sign in with two-factor
    /// authentication).
    #[command(subcommand)]
    Operator(operator::OperatorCommand),
    /// Import a directory from a file (idempotent: an unchanged record writes nothing).
    #[command(subcommand)]
    Import(ImportCommand),
    /// Back up the database (online, while serving) and the embedded key store into a new
    /// directory with a manifest naming what must be saved apart (the master key).
    Backup(backup::BackupArgs),
    /// Restore a backup into a stopped node; refuses to replace data unless --force, then
    /// checks that the restored keys open the restored data.
    Restore(backup::RestoreArgs),
}

#[derive(Subcommand)]
enum ImportCommand {
    /// The French vaccination-site list of April 2021 (ViteMaDose's info_centres.json): one
    /// centre per site with its place, opening hours, vaccine motives and lines. Prints a
    /// JSON summary on stdout, a human one on stderr; exits 1 if any site failed.
    VaccinationCentres(VaccinationCentresArgs),
    /// A national directory of health professionals (CSV with the columns scheme,
    /// identifier, name, profession; see the README): practitioners who declared an
    /// identifier listed under their name become verified. Prints a JSON report on stdout,
    /// a human one on stderr.
    Practitioners(PractitionersArgs),
}

#[derive(Args)]
struct PractitionersArgs {
    #[command(flatten)]
    db: DbArgs,
    #[command(flatten)]
    keys: KeyArgs,
    /// The CSV file.
    file: PathBuf,
}

#[derive(Args)]
struct VaccinationCentresArgs {
    #[command(flatten)]
    db: DbArgs,
    #[command(flatten)]
    keys: KeyArgs,
    /// Parallel vaccination lines of a centre: the capacity of each new vaccine motive.
    #[arg(long, env = "CARESLOT_IMPORT_LINES", default_value_t = 2, value_parser = clap::value_parser!(u32).range(1..=1000))]
    lines: u32,
    /// Default dose stock: N doses per day of each vaccine for every centre in the file
    /// (new or not), on every day the centre has not set itself. Without it, centres have
    /// no dose until their stock is set.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(0..=1_000_000))]
    stock: Option<u32>,
    /// The JSON file (e.g. ../shared/data/vaccination-centers-fr-2021-04-14.json).
    file: PathBuf,
}

#[derive(Args, Clone)]
struct KeyArgs {
    /// URL of the key-custody service (careslot keyd, or an OpenBao/Vault transit endpoint).
    /// Without it, an embedded key service keeps its keys in --keys-dir.
    #[arg(long, env = "CARESLOT_KEYD_URL")]
    keyd_url: Option<String>,
    /// Token for --keyd-url.
    #[arg(long, env = "CARESLOT_KEYD_TOKEN", hide_env_values = true)]
    keyd_token: Option<String>,
    /// PEM certificate(s) to trust for an https --keyd-url (a private CA, or keyd's own).
    #[arg(long, env = "CARESLOT_KEYD_CA_FILE")]
    keyd_ca_file: Option<PathBuf>,
    /// Directory of the embedded key service (kept apart from the database).
    #[arg(long, env = "CARESLOT_KEYS_DIR", default_value = "./careslot-keys")]
    keys_dir: PathBuf,
    /// Bits kept in blind indexes (CipherSweet: fewer bits, more deliberate false positives).
    #[arg(long, env = "CARESLOT_BLIND_INDEX_BITS", default_value_t = 16, value_parser = clap::value_parser!(u8).range(4..=32))]
    blind_index_bits: u8,
}

#[derive(Args)]
struct KeydArgs {
    /// Where keyd keeps its keys (encrypted under the master key).
    #[arg(
        long,
        env = "CARESLOT_KEYD_DATA_DIR",
        default_value = "./careslot-keyd"
    )]
    data_dir: PathBuf,
    #[arg(long, env = "CARESLOT_KEYD_BIND", default_value = "127.0.0.1:8200")]
    bind: SocketAddr,
    /// Master key, base64 of 32 bytes (else --master-key-file).
    #[arg(long, env = "CARESLOT_KEYD_MASTER_KEY", hide_env_values = true)]
    master_key: Option<String>,
    /// File holding the master key; created (mode 0600) if absent.
    #[arg(long, env = "CARESLOT_KEYD_MASTER_KEY_FILE")]
    master_key_file: Option<PathBuf>,
    /// Client token (else --token-file).
    #[arg(long, env = "CARESLOT_KEYD_TOKEN", hide_env_values = true)]
    token: Option<String>,
    /// File holding the client token; created (mode 0600) if absent.
    #[arg(long, env = "CARESLOT_KEYD_TOKEN_FILE")]
    token_file: Option<PathBuf>,
    /// Serve over TLS with this PEM certificate chain (with --tls-key).
    #[arg(long, env = "CARESLOT_KEYD_TLS_CERT", requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// PEM private key of --tls-cert.
    #[arg(long, env = "CARESLOT_KEYD_TLS_KEY", requires = "tls_cert")]
    tls_key: Option<PathBuf>,
}

#[derive(Subcommand)]
enum KeysCommand {
    /// Create a new version of every named key and rewrap every data key under it, online.
    Rotate {
        #[command(flatten)]
        db: DbArgs,
        #[command(flatten)]
        keys: KeyArgs,
        /// Afterwards, destroy the versions older than the new one.
        #[arg(long)]
        retire: bool,
    },
}

#[derive(Subcommand)]
enum AuditCommand {
    /// Recompute the audit chain; exits 1 if any entry was edited or removed.
    Verify {
        #[command(flatten)]
        db: DbArgs,
        #[command(flatten)]
        keys: KeyArgs,
    },
}

#[derive(Args)]
struct EraseArgs {
    #[command(flatten)]
    db: DbArgs,
    #[command(flatten)]
    keys: KeyArgs,
    /// Id of the patient account.
    account_id: String,
}

#[derive(Args, Clone)]
struct DbArgs {
    /// Directory of the embedded SQLite database (used unless --database-url is given).
    #[arg(long, env = "CARESLOT_DATA_DIR", default_value = "./careslot-data")]
    data_dir: PathBuf,
    /// PostgreSQL URL (postgres://user@host/db); switches from SQLite to PostgreSQL.
    #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
    database_url: Option<String>,
    /// Maximum PostgreSQL connections of this node.
    #[arg(long, env = "CARESLOT_DB_CONNECTIONS", default_value_t = 16)]
    db_connections: u32,
}

#[derive(Args)]
struct ServeArgs {
    #[command(flatten)]
    db: DbArgs,
    /// Address to listen on.
    #[arg(long, env = "CARESLOT_BIND", default_value = "127.0.0.1:8080")]
    bind: SocketAddr,
    #[command(flatten)]
    keys: KeyArgs,
    /// Seed a realistic demo directory (a few hundred practitioners) before serving.
    #[arg(long)]
    demo: bool,
    /// Seconds a stop (SIGTERM, SIGINT) may take: in-flight requests finish and WebSocket
    /// peers are told to reconnect within it; connections still open then are closed.
    #[arg(long, env = "CARESLOT_SHUTDOWN_TIMEOUT", default_value_t = 20, value_name = "SECONDS", value_parser = clap::value_parser!(u64).range(1..=3600))]
    shutdown_timeout: u64,
    /// Seconds a hold keeps a place for its patient while they sign in and confirm.
    #[arg(long, env = "CARESLOT_HOLD_TTL", default_value_t = 300, value_name = "SECONDS", value_parser = clap::value_parser!(u32).range(2..=3600))]
    hold_ttl: u32,
    /// Days after which vaccination appointments lose their patient link (retention).
    #[arg(long, env = "CARESLOT_VACCINATION_RETENTION_DAYS", default_value_t = 92, value_parser = clap::value_parser!(u32).range(1..=3650))]
    vaccination_retention_days: u32,
    /// File holding the campaign operator's bearer token (created with a random token if
    /// missing); without it the /api/v1/operator endpoints are closed.
    #[arg(long, env = "CARESLOT_OPERATOR_TOKEN_FILE")]
    operator_token_file: Option<std::path::PathBuf>,
    /// Let the operator's appointment export carry names and birth dates (else pseudonyms).
    #[arg(long, env = "CARESLOT_OPERATOR_IDENTITIES")]
    operator_identities: bool,
    /// Waiting room: people admitted per second while it is active (with PostgreSQL, by
    /// every node together: the room is shared; the rate an operator sets is stored there).
    #[arg(long, env = "CARESLOT_WAITING_ROOM_RATE", default_value_t = 50, value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    waiting_room_rate: u32,
    /// Waiting room: switch it on by itself when the booking entry points get more than
    /// RATE requests per second (and off once the queue has drained and demand is calm).
    #[arg(long, env = "CARESLOT_WAITING_ROOM_AUTO", value_name = "RATE", value_parser = clap::value_parser!(u32).range(1..))]
    waiting_room_auto: Option<u32>,
    /// Waiting room: file holding the key that signs queue tickets (created with a random key
    /// if missing). Give every node the same file; without it the key is random per process
    /// on SQLite, and drawn once and kept in the database's settings on PostgreSQL.
    #[arg(long, env = "CARESLOT_WAITING_ROOM_SECRET_FILE")]
    waiting_room_secret_file: Option<std::path::PathBuf>,
    // --- video ---
    #[command(flatten)]
    video: VideoArgs,
    // --- payments ---
    #[command(flatten)]
    payments: payments::PaymentArgs,
    // --- documents ---
    /// Largest document (bytes) a patient or practice may attach to an appointment; larger
    /// uploads get 413. Default 10 MiB.
    #[arg(long, env = "CARESLOT_DOCUMENT_MAX_BYTES", default_value_t = 10 * 1024 * 1024, value_parser = clap::value_parser!(u64).range(1024..=(256 * 1024 * 1024)))]
    document_max_bytes: u64,
    /// Most documents one appointment may hold (more get 409).
    #[arg(long, env = "CARESLOT_DOCUMENTS_PER_APPOINTMENT", default_value_t = 20, value_parser = clap::value_parser!(u32).range(1..=1000))]
    documents_per_appointment: u32,
    // --- prescriptions ---
    /// Public base URL of the site (https://careslot.example), printed in the QR codes of
    /// prescriptions. Without it, each request's Host header is used (http://HOST).
    #[arg(long, env = "CARESLOT_PUBLIC_URL", value_parser = parse_public_url)]
    public_url: Option<String>,
    // --- search map ---
    /// Tile URL template of the search results' map (Leaflet's: {z}/{x}/{y}, {s} for
    /// subdomains); its host is added to the pages' Content-Security-Policy (img-src).
    /// Empty: no map. The list of results works without it.
    #[arg(
        long,
        env = "CARESLOT_MAP_TILES",
        default_value = "https://tile.openstreetmap.org/{z}/{x}/{y}.png"
    )]
    map_tiles: String,
    /// Credit shown on the map, as the tiles' licence asks.
    #[arg(
        long,
        env = "CARESLOT_MAP_ATTRIBUTION",
        default_value = "© OpenStreetMap contributors"
    )]
    map_attribution: String,
    // --- messages ---
    /// SMTP server for outgoing email: smtp://[user:pass@]host[:port] (STARTTLS when offered)
    /// or smtps://… (implicit TLS). Without it, messages are written as .eml files under
    /// <data-dir>/outbox/.
    #[arg(long, env = "CARESLOT_SMTP_URL", hide_env_values = true)]
    smtp_url: Option<String>,
    /// Sender of outgoing email.
    #[arg(
        long,
        env = "CARESLOT_MAIL_FROM",
        default_value = "careslot <no-reply@localhost>"
    )]
    mail_from: String,
    /// SMS provider speaking Twilio's Messages API (https://api.twilio.com or a compatible
    /// service). Without it, SMS are written as .txt files under <data-dir>/outbox/.
    #[arg(long, env = "CARESLOT_SMS_URL", requires_all = ["sms_account", "sms_from", "sms_token_file"])]
    sms_url: Option<String>,
    /// The provider account id (Twilio's Account SID).
    #[arg(long, env = "CARESLOT_SMS_ACCOUNT")]
    sms_account: Option<String>,
    /// SMS sender: an E.164 number or an alphanumeric sender id (up to 11 characters).
    #[arg(long, env = "CARESLOT_SMS_FROM")]
    sms_from: Option<String>,
    /// File holding the provider's auth token (one line; kept out of the command line).
    #[arg(long, env = "CARESLOT_SMS_TOKEN_FILE")]
    sms_token_file: Option<PathBuf>,
    #[command(flatten)]
    front_door: FrontDoorArgs,
}

/// The front door: password hashing bounds, trusted proxies, idle sessions.
#[derive(Args)]
struct FrontDoorArgs {
    /// Argon2 password hashes computed at once (each holds about 19 MiB while it runs)
    /// [0 = the number of available cores].
    #[arg(long, env = "CARESLOT_PASSWORD_HASHING_CONCURRENCY", default_value_t = 0, value_parser = clap::value_parser!(u32).range(0..=1024))]
    password_hashing_concurrency: u32,
    /// Sign-ins and sign-ups allowed to wait for a hashing slot; beyond, they get 503 with
    /// Retry-After [0 = 32 per slot].
    #[arg(long, env = "CARESLOT_PASSWORD_HASHING_QUEUE", default_value_t = 0, value_parser = clap::value_parser!(u32).range(0..=100_000))]
    password_hashing_queue: u32,
    /// Proxies (addresses or CIDR blocks, repeat or comma-separated) whose X-Forwarded-For
    /// names the client for throttling; from any other peer the header is ignored.
    #[arg(long, env = "CARESLOT_TRUSTED_PROXIES", value_delimiter = ',', value_parser = careslot_identity::front_door::parse_trusted_proxy)]
    trusted_proxies: Vec<careslot_identity::front_door::TrustedProxy>,
    /// Minutes without use after which a practitioner's or assistant's session ends.
    #[arg(long, env = "CARESLOT_SESSION_IDLE_MINUTES", default_value_t = 30, value_parser = clap::value_parser!(u32).range(1..=10_080))]
    session_idle_minutes: u32,
    /// Read every request's session from the database instead of keeping authenticated
    /// sessions in memory. The cache is used only on PostgreSQL, whose triggers announce
    /// every session change to every node (a revoked session ends everywhere as soon as the
    /// announcement arrives; a node that stops hearing announcements stops using it).
    #[arg(long, env = "CARESLOT_NO_SESSION_CACHE")]
    no_session_cache: bool,
}

impl FrontDoorArgs {
    fn config(&self) -> careslot_identity::IdentityConfig {
        let defaults = careslot_identity::IdentityConfig::default();
        let concurrency = match self.password_hashing_concurrency {
            0 => defaults.hashing_concurrency,
            n => n as usize,
        };
        careslot_identity::IdentityConfig {
            hashing_concurrency: concurrency,
            hashing_queue: match self.password_hashing_queue {
                0 => careslot_identity::front_door::QUEUE_PER_SLOT * concurrency,
                n => n as usize,
            },
            trusted_proxies: self.trusted_proxies.clone(),
            practice_idle_timeout: jiff::SignedDuration::from_mins(i64::from(
                self.session_idle_minutes,
            )),
            session_cache: !self.no_session_cache,
            ..defaults
        }
    }
}

/// Video consultations: ICE servers handed to the browsers, and the rooms' credentials.
#[derive(Args)]
struct VideoArgs {
    /// STUN server URL for video consultations (repeat, or comma-separated in the env var),
    /// e.g. stun:turn.example.org:3478.
    #[arg(
        long = "stun-url",
        env = "CARESLOT_STUN_URLS",
        value_delimiter = ',',
        value_name = "URL"
    )]
    stun_urls: Vec<String>,
    /// TURN server URL (repeat, or comma-separated), e.g. turn:turn.example.org:3478 or
    /// turns:turn.example.org:5349?transport=tcp. Needs --turn-secret-file.
    #[arg(
        long = "turn-url",
        env = "CARESLOT_TURN_URLS",
        value_delimiter = ',',
        value_name = "URL"
    )]
    turn_urls: Vec<String>,
    /// File holding the TURN REST API shared secret (coturn: use-auth-secret,
    /// static-auth-secret). Read only, never created nor printed.
    #[arg(long, env = "CARESLOT_TURN_SECRET_FILE", value_name = "FILE")]
    turn_secret_file: Option<PathBuf>,
    /// Minutes TURN credentials stay valid after a room closes (calls that run over).
    #[arg(long, env = "CARESLOT_TURN_GRACE_MIN", default_value_t = 60, value_parser = clap::value_parser!(u32).range(0..=1440))]
    turn_grace_min: u32,
    /// ICE candidates the browsers may use: `all`, or `relay` (TURN relays only, so that
    /// neither side learns the other's IP address; needs --turn-url).
    #[arg(
        long,
        env = "CARESLOT_ICE_TRANSPORT_POLICY",
        default_value = "all",
        value_name = "all|relay"
    )]
    ice_transport_policy: careslot_consultation::video::IcePolicy,
    /// File holding the key that signs video room credentials (created with a random key if
    /// missing). Give every node the same file; without it the key is random per process on
    /// SQLite, and drawn once and kept in the database's settings on PostgreSQL.
    #[arg(long, env = "CARESLOT_VIDEO_SECRET_FILE", value_name = "FILE")]
    video_secret_file: Option<PathBuf>,
}

impl VideoArgs {
    fn config(&self) -> anyhow::Result<careslot_consultation::video::VideoConfig> {
        use careslot_consultation::video::{IcePolicy, VideoConfig};
        for u in &self.stun_urls {
            anyhow::ensure!(
                u.starts_with("stun:") || u.starts_with("stuns:"),
                "--stun-url must start with stun: or stuns:"
            );
        }
        for u in &self.turn_urls {
            anyhow::ensure!(
                u.starts_with("turn:") || u.starts_with("turns:"),
                "--turn-url must start with turn: or turns:"
            );
        }
        let turn_secret = match &self.turn_secret_file {
            Some(path) => {
                // The file must exist: the TURN server holds the same secret.
                let text = std::fs::read_to_string(path).with_context(|| {
                    format!("cannot read the TURN secret file {}", path.display())
                })?;
                Some(Arc::new(SecretToken::new(text.trim()).map_err(|_| {
                    anyhow::anyhow!(
                        "the TURN secret in {} must be 16 to 512 visible ASCII characters",
                        path.display()
                    )
                })?))
            }
            None => None,
        };
        anyhow::ensure!(
            self.turn_urls.is_empty() || turn_secret.is_some(),
            "--turn-url needs --turn-secret-file (the TURN server's static-auth-secret)"
        );
        anyhow::ensure!(
            self.ice_transport_policy == IcePolicy::All || !self.turn_urls.is_empty(),
            "--ice-transport-policy relay needs a TURN server (--turn-url)"
        );
        Ok(VideoConfig {
            stun_urls: self.stun_urls.clone(),
            turn_urls: self.turn_urls.clone(),
            turn_secret,
            turn_grace: jiff::SignedDuration::from_mins(i64::from(self.turn_grace_min)),
            ice_transport_policy: self.ice_transport_policy,
            secret: match &self.video_secret_file {
                Some(path) => Some(Arc::new(
                    SecretToken::load_or_create(path)
                        .map_err(|e| anyhow::anyhow!("video secret: {e}"))?,
                )),
                None => None,
            },
        })
    }
}

/// An absolute http(s) URL without query or fragment; the trailing slash is dropped.
fn parse_public_url(s: &str) -> Result<String, String> {
    let t = s.trim().trim_end_matches('/');
    let rest = t
        .strip_prefix("https://")
        .or_else(|| t.strip_prefix("http://"))
        .ok_or("must start with https:// or http://")?;
    if rest.is_empty() || rest.contains(['?', '#', ' ']) {
        return Err("must be a base URL such as https://careslot.example".into());
    }
    Ok(t.to_owned())
}

#[derive(Subcommand)]
enum BenchCommand {
    /// 31-day slot queries over a generated directory.
    Slots(bench::BenchArgs),
    /// Search ranked by earliest availability over a generated directory.
    Search(bench::BenchArgs),
    /// Booking throughput through the services, with health-data protection off then on.
    Booking(bench_booking::BookingArgs),
    /// What the outbox costs a booking, and how fast messages reach a local SMTP server.
    Messages(bench_messages::MessagesArgs),
    /// Server-side render time of the home and search pages over the demo data.
    Pages(bench_pages::PagesArgs),
    /// The 12 July rush over HTTP on PostgreSQL: bookings of paired doses, availability,
    /// search, the waiting room, then the database checked for every broken rule.
    Rush(rush::RushArgs),
    /// Wrong sign-ins flooding a server it starts: its peak memory and /healthz latency,
    /// without and during the flood.
    LoginFlood(bench_login_flood::LoginFloodArgs),
}

async fn open_store(db: &DbArgs) -> anyhow::Result<Arc<dyn Store>> {
    Ok(match &db.database_url {
        Some(url) => Arc::new(
            PgStore::connect(url, db.db_connections)
                .await
                .context("cannot open the PostgreSQL database")?,
        ),
        None => Arc::new(SqliteStore::open_dir(&db.data_dir).await.with_context(|| {
            format!(
                "cannot open the SQLite database in {}",
                db.data_dir.display()
            )
        })?),
    })
}

async fn open_custody(keys: &KeyArgs) -> anyhow::Result<Arc<dyn KeyCustody>> {
    match &keys.keyd_url {
        Some(url) => {
            let token = keys
                .keyd_token
                .clone()
                .context("--keyd-url needs --keyd-token (or CARESLOT_KEYD_TOKEN)")?;
            let token = SecretToken::new(token).map_err(|e| anyhow::anyhow!("keyd token: {e}"))?;
            Ok(Arc::new(
                HttpCustody::new(url, token).map_err(|e| anyhow::anyhow!("keyd client: {e}"))?,
            ))
        }
        None => {
            tracing::warn!(
                keys_dir = %keys.keys_dir.display(),
                "using the embedded key service: fine for one machine, but production needs a separate key custodian (careslot keyd --help)"
            );
            let master = MasterKey::load_or_create(&keys.keys_dir.join("master.key"))
                .map_err(|e| anyhow::anyhow!("master key: {e}"))?;
            let engine = KeyEngine::open(&keys.keys_dir, master)
                .await
                .map_err(|e| anyhow::anyhow!("embedded key service: {e}"))?;
            Ok(Arc::new(LocalCustody::new(Arc::new(engine))))
        }
    }
}

async fn open_app(db: &DbArgs, keys: &KeyArgs) -> anyhow::Result<App> {
    open_app_with(db, keys, AppConfig::default()).await
}

async fn open_app_with(db: &DbArgs, keys: &KeyArgs, config: AppConfig) -> anyhow::Result<App> {
    let store = open_store(db).await?;
    let custody = open_custody(keys).await?;
    let protect = Protector::bootstrap(&*store, custody, keys.blind_index_bits)
        .await
        .map_err(|e| anyhow::anyhow!("cannot load the application keys: {e}"))?;
    App::new(store, Arc::new(protect), config)
        .await
        .map_err(|e| anyhow::anyhow!("cannot start: {e}"))
}

fn init_logging(json: bool) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("CARESLOT_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,sqlx=warn"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if json {
        builder.json().init();
    } else {
        builder.init();
    }
}

/// glibc raises its mmap threshold to the size of the largest block freed (up to 32 MiB), so
/// after the first password hash every thread's 19 MiB Argon2 block comes from — and stays
/// in — that thread's heap arena: a login flood left hundreds of MiB resident
/// (`careslot bench login-flood`, BENCHMARKS.md). A fixed 1 MiB threshold keeps such blocks
/// mapped on their own and returns them to the system when freed.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn fix_malloc_mmap_threshold() {
    // SAFETY: mallopt only tunes the allocator; it takes the allocator's own lock.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 1 << 20);
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn fix_malloc_mmap_threshold() {}

/// mimalloc marks its arenas for transparent huge pages, so a fresh region faults in as a
/// whole 2 MiB page that the kernel zeroes at once. A server's large answer buffers, freed
/// and allocated again, kept faulting such pages in: in a bookings-only rush, the kernel's
/// page zeroing was an eighth of the server's CPU (`perf`), and with huge pages off the
/// server's CPU per booking fell by 15-20 % (BENCHMARKS.md, session of 2026-12-07
/// 14:54 UTC). Off for the process, unless the operator set `MIMALLOC_ALLOW_THP`.
#[cfg(target_os = "linux")]
fn no_transparent_huge_pages() {
    if std::env::var_os("MIMALLOC_ALLOW_THP").is_some() {
        return;
    }
    // SAFETY: PR_SET_THP_DISABLE only sets a flag on this process's memory map, read by
    // the kernel at the next page faults; it touches no memory of ours.
    unsafe {
        libc::prctl(libc::PR_SET_THP_DISABLE, 1, 0, 0, 0);
    }
}

#[cfg(not(target_os = "linux"))]
fn no_transparent_huge_pages() {}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    fix_malloc_mmap_threshold();
    no_transparent_huge_pages();
    let cli = Cli::parse();
    init_logging(cli.log_json);
    match cli.command {
        Command::Serve(args) => {
            serve(args).await?;
            // Leaving through the runtime's drop would wait for any blocking task still
            // running (a password hash, a lingering request's work) without bound.
            std::process::exit(0)
        }
        Command::Migrate(db) => {
            open_store(&db).await?;
            eprintln!("database schema is up to date");
            Ok(())
        }
        Command::Seed { db, keys } => {
            let app = open_app(&db, &keys).await?;
            let summary = demo::seed(&app, 2021).await?;
            println!("{}", serde_json::to_string_pretty(&summary)?);
            Ok(())
        }
        Command::Keyd(args) => keyd(args).await,
        Command::Keys(KeysCommand::Rotate { db, keys, retire }) => rotate(&db, &keys, retire).await,
        Command::Audit(AuditCommand::Verify { db, keys }) => {
            let app = open_app(&db, &keys).await?;
            match app
                .verify_audit()
                .await
                .map_err(|e| anyhow::anyhow!("{e}"))?
            {
                AuditVerdict::Intact { rows } => {
                    println!("{{\"intact\": true, \"rows\": {rows}}}");
                    Ok(())
                }
                AuditVerdict::Broken { seq, problem } => {
                    println!("{{\"intact\": false, \"seq\": {seq}, \"problem\": \"{problem}\"}}");
                    eprintln!("audit log broken at entry {seq}: {problem}");
                    std::process::exit(1);
                }
            }
        }
        Command::Erase(args) => {
            let app = open_app(&args.db, &args.keys).await?;
            let n = app
                .erase(&careslot_domain::AccountId(args.account_id.clone()))
                .await
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            eprintln!("erased; {n} appointments kept without identity");
            Ok(())
        }
        Command::Operator(operator::OperatorCommand::Add(args)) => {
            let config = AppConfig {
                public_url: args.public_url.clone(),
                ..AppConfig::default()
            };
            let app = open_app_with(&args.db, &args.keys, config).await?;
            let created = operator::add(&app, &args).await?;
            println!("{}", serde_json::to_string(&created)?);
            eprintln!(
                "operator account created; give it the set-password link (works once, 3 days): {}",
                created["set_password_link"].as_str().unwrap_or_default()
            );
            Ok(())
        }
        Command::Operator(operator::OperatorCommand::Disable(args)) => {
            let app = open_app(&args.db, &args.keys).await?;
            let disabled = operator::disable(&app, &args).await?;
            println!("{}", serde_json::to_string(&disabled)?);
            eprintln!("operator account disabled: its sessions are ended");
            Ok(())
        }
        Command::Operator(operator::OperatorCommand::List(args)) => {
            let app = open_app(&args.db, &args.keys).await?;
            for line in operator::list(&app).await? {
                println!("{}", serde_json::to_string(&line)?);
            }
            Ok(())
        }
        Command::Import(ImportCommand::VaccinationCentres(args)) => {
            let app = open_app(&args.db, &args.keys).await?;
            let outcome =
                import::vaccination_centres(app, &args.file, args.lines, args.stock, true).await?;
            println!("{}", serde_json::to_string(&outcome.summary)?);
            eprintln!("{}", import::human_summary(&args.file, &outcome));
            if outcome.failed > 0 {
                std::process::exit(1);
            }
            Ok(())
        }
        Command::Import(ImportCommand::Practitioners(args)) => {
            let app = open_app(&args.db, &args.keys).await?;
            let (report, invalid) = import_practitioners::practitioners(&app, &args.file).await?;
            println!("{}", serde_json::to_string(&report)?);
            eprintln!(
                "{}",
                import_practitioners::human(&args.file, &report, &invalid)
            );
            Ok(())
        }
        Command::Backup(args) => backup::backup(&args).await,
        Command::Restore(args) => backup::restore(&args).await,
        Command::Bench(BenchCommand::Slots(args)) => bench::slots(&args).await.map(|_| ()),
        Command::Bench(BenchCommand::Search(args)) => bench::search(&args).await.map(|_| ()),
        Command::Bench(BenchCommand::Pages(args)) => bench_pages::pages(&args).await.map(|_| ()),
        Command::Bench(BenchCommand::Rush(args)) => {
            let report = rush::rush(&args).await?;
            println!("{}", serde_json::to_string_pretty(&report)?);
            Ok(())
        }
        Command::Bench(BenchCommand::LoginFlood(args)) => {
            let report = bench_login_flood::login_flood(&args).await?;
            println!("{}", serde_json::to_string_pretty(&report)?);
            Ok(())
        }
        Command::Bench(BenchCommand::Booking(args)) => {
            bench_booking::booking(&args).await.map(|_| ())
        }
        Command::Bench(BenchCommand::Messages(args)) => {
            bench_messages::messages(&args).await.map(|_| ())
        }
    }
}

/// The channel outgoing email takes: SMTP when configured, else files under the data
/// directory (never dropped silently: the directory is logged).
fn messages_config(args: &ServeArgs) -> anyhow::Result<careslot_server::outbox::MessagesConfig> {
    use careslot_messages::{Channel, FileChannel, Router, SmsChannel, SmsConfig, SmtpChannel};
    let channel: Arc<dyn Channel> = match &args.smtp_url {
        Some(url) => {
            let smtp = SmtpChannel::from_url(url, &args.mail_from)
                .map_err(|e| anyhow::anyhow!("--smtp-url / --mail-from: {e}"))?;
            tracing::info!("outgoing email goes through the SMTP server of --smtp-url");
            Arc::new(smtp)
        }
        None => {
            let dir = args.db.data_dir.join("outbox");
            let files = FileChannel::new(dir.clone(), &args.mail_from)
                .map_err(|e| anyhow::anyhow!("--mail-from: {e}"))?;
            tracing::warn!(
                dir = %dir.display(),
                "no --smtp-url: outgoing messages are written as .eml/.txt files in this directory"
            );
            Arc::new(files)
        }
    };
    let sms: Arc<dyn Channel> = match &args.sms_url {
        Some(url) => {
            let (Some(account), Some(from), Some(token_file)) =
                (&args.sms_account, &args.sms_from, &args.sms_token_file)
            else {
                anyhow::bail!("--sms-url needs --sms-account, --sms-from and --sms-token-file");
            };
            let token = std::fs::read_to_string(token_file)
                .map_err(|e| anyhow::anyhow!("--sms-token-file {}: {e}", token_file.display()))?;
            let sms = SmsChannel::new(SmsConfig {
                base_url: url.clone(),
                account_sid: account.clone(),
                auth_token: token.trim().to_owned(),
                from: from.clone(),
                timeout: std::time::Duration::from_secs(10),
            })
            .map_err(|e| anyhow::anyhow!("--sms-url / --sms-account / --sms-from: {e}"))?;
            tracing::info!("outgoing SMS go through the provider of --sms-url");
            Arc::new(sms)
        }
        None => {
            let dir = args.db.data_dir.join("outbox");
            tracing::warn!(
                dir = %dir.display(),
                "no --sms-url: outgoing SMS are written as .txt files in this directory"
            );
            Arc::new(
                FileChannel::new(dir, &args.mail_from)
                    .map_err(|e| anyhow::anyhow!("--mail-from: {e}"))?,
            )
        }
    };
    let channel: Arc<dyn Channel> = Arc::new(Router {
        email: channel,
        sms,
    });
    Ok(careslot_server::outbox::MessagesConfig {
        channel: Some(channel),
        ..Default::default()
    })
}

/// Off loopback, absolute links (mails, QR codes, invitations) must not follow the
/// request's `Host` header, which a client chooses: `--public-url` is then required (the
/// demo, meant to be tried, is exempt).
fn check_public_url(bind: SocketAddr, public_url: Option<&str>, demo: bool) -> Result<(), String> {
    if public_url.is_none() && !demo && !bind.ip().is_loopback() {
        return Err(format!(
            "--public-url is required when serving on {bind} (not a loopback address): links in emails, invitations and prescription QR codes are built from it, never from the Host header a client sends. Set --public-url https://your.site (or CARESLOT_PUBLIC_URL), or bind to 127.0.0.1 behind a proxy"
        ));
    }
    Ok(())
}

async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    check_public_url(args.bind, args.public_url.as_deref(), args.demo)
        .map_err(|e| anyhow::anyhow!(e))?;
    let config = AppConfig {
        hold_ttl: jiff::SignedDuration::from_secs(i64::from(args.hold_ttl)),
        vaccination_retention: jiff::SignedDuration::from_hours(
            24 * i64::from(args.vaccination_retention_days),
        ),
        operator_token: match &args.operator_token_file {
            Some(path) => Some(Arc::new(
                SecretToken::load_or_create(path)
                    .map_err(|e| anyhow::anyhow!("operator token: {e}"))?,
            )),
            None => None,
        },
        operator_identities: args.operator_identities,
        payments: args.payments.payments()?,
        waiting_room: careslot_scheduling::waiting_room::RoomConfig {
            secret: match &args.waiting_room_secret_file {
                Some(path) => Some(Arc::new(
                    SecretToken::load_or_create(path)
                        .map_err(|e| anyhow::anyhow!("waiting room secret: {e}"))?,
                )),
                None => None,
            },
            admission_rate: args.waiting_room_rate,
            auto_threshold: args.waiting_room_auto,
            ..Default::default()
        },
        video: args.video.config()?,
        documents: careslot_server::services::DocumentsConfig {
            max_bytes: usize::try_from(args.document_max_bytes)
                .context("--document-max-bytes is too large for this machine")?,
            max_per_appointment: args.documents_per_appointment,
        },
        public_url: args.public_url.clone(),
        messages: messages_config(&args)?,
        identity: args.front_door.config(),
        // The demo's local mailbox reads what the file channel writes (no SMTP server).
        demo_mailbox: (args.demo && args.smtp_url.is_none())
            .then(|| args.db.data_dir.join("outbox")),
        map: careslot_server::web::map::MapTiles {
            url: args.map_tiles.trim().to_owned(),
            attribution: args.map_attribution.trim().to_owned(),
        },
        ..AppConfig::default()
    };
    let app = open_app_with(&args.db, &args.keys, config).await?;
    let store = app.store.clone();
    if args.demo {
        let summary = demo::seed(&app, 2021).await?;
        tracing::info!(
            ?summary,
            "demo data ready (password for every demo account: {})",
            demo::DEMO_PASSWORD
        );
    }
    if args.public_url.is_none() {
        tracing::warn!("--public-url is not set: prescription QR codes will point to the Host header of each request");
    }
    app.spawn_retention();
    app.spawn_warmup();
    let listener = tokio::net::TcpListener::bind(args.bind)
        .await
        .with_context(|| format!("cannot listen on {}", args.bind))?;
    tracing::info!(
        address = %listener.local_addr()?,
        backend = store.backend(),
        "careslot is serving on http://{}",
        listener.local_addr()?
    );
    let core = app.core.clone();
    let stop = core.shutdown.clone();
    let mut server = tokio::spawn(careslot_server::api::serve(listener, app, {
        let stop = stop.clone();
        async move { stop.wait().await }
    }));
    tokio::select! {
        _ = shutdown_signal() => {}
        ended = &mut server => {
            return match ended {
                Ok(r) => r.context("the HTTP server stopped"),
                Err(e) => Err(anyhow::anyhow!("the HTTP server task failed: {e}")),
            };
        }
    }
    stop_within(
        &core,
        server,
        std::time::Duration::from_secs(args.shutdown_timeout),
    )
    .await;
    Ok(())
}

/// A bounded stop: no new connections; in-flight requests finish (a booking is answered
/// only after its COMMIT, so whatever was acknowledged is durable); WebSocket peers get a
/// 1012 close frame; the booking writer commits what it has queued and the pools close.
/// Whatever still runs at the deadline is dropped with the process.
async fn stop_within(
    core: &careslot_core::Core,
    mut server: tokio::task::JoinHandle<std::io::Result<()>>,
    bound: std::time::Duration,
) {
    let deadline = tokio::time::Instant::now() + bound;
    tracing::info!(
        timeout_s = bound.as_secs(),
        "stopping: no new connections; finishing in-flight requests"
    );
    core.shutdown.begin();
    match tokio::time::timeout_at(deadline, &mut server).await {
        Ok(Ok(Ok(()))) => tracing::info!("every HTTP connection has finished"),
        Ok(Ok(Err(e))) => tracing::warn!(error = %e, "the HTTP server failed while stopping"),
        Ok(Err(e)) => tracing::warn!(error = %e, "the HTTP server task failed while stopping"),
        Err(_) => {
            server.abort();
            tracing::warn!("connections still open at the shutdown timeout are closed");
        }
    }
    if tokio::time::timeout_at(deadline, core.shutdown.drained())
        .await
        .is_err()
    {
        tracing::warn!("WebSockets still open at the shutdown timeout are closed");
    }
    if tokio::time::timeout_at(deadline, core.store.close())
        .await
        .is_err()
    {
        tracing::warn!("the database did not close within the shutdown timeout");
    }
    tracing::info!("stopped");
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        if let Ok(mut s) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        {
            s.recv().await;
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
}

async fn keyd(args: KeydArgs) -> anyhow::Result<()> {
    let master = match (&args.master_key, &args.master_key_file) {
        (Some(b64), _) => {
            MasterKey::from_base64(b64).map_err(|e| anyhow::anyhow!("master key: {e}"))?
        }
        (None, Some(path)) => {
            MasterKey::load_or_create(path).map_err(|e| anyhow::anyhow!("master key: {e}"))?
        }
        (None, None) => {
            anyhow::bail!("give the master key: --master-key-file PATH or CARESLOT_KEYD_MASTER_KEY")
        }
    };
    let token = match (&args.token, &args.token_file) {
        (Some(t), _) => SecretToken::new(t.clone()).map_err(|e| anyhow::anyhow!("token: {e}"))?,
        (None, Some(path)) => {
            SecretToken::load_or_create(path).map_err(|e| anyhow::anyhow!("token: {e}"))?
        }
        (None, None) => {
            anyhow::bail!("give the client token: --token-file PATH or CARESLOT_KEYD_TOKEN")
        }
    };
    let engine = Arc::new(
        KeyEngine::open(&args.data_dir, master)
            .await
            .map_err(|e| anyhow::anyhow!("cannot open {}: {e}", args.data_dir.display()))?,
    );
    if let (Some(cert_pem), Some(key_pem)) = (args.tls_cert, args.tls_key) {
        let tls =
            careslot_vault::keyd::tls_config(&careslot_vault::keyd::TlsFiles { cert_pem, key_pem })
                .map_err(|e| anyhow::anyhow!("{e}"))?;
        let listener = std::net::TcpListener::bind(args.bind)
            .with_context(|| format!("cannot listen on {}", args.bind))?;
        tracing::info!(address = %listener.local_addr()?, "careslot keyd is serving the transit API over TLS under /v1/transit");
        careslot_vault::keyd::serve_tls(listener, engine, token, tls, shutdown_signal()).await?;
        return Ok(());
    }
    let listener = tokio::net::TcpListener::bind(args.bind)
        .await
        .with_context(|| format!("cannot listen on {}", args.bind))?;
    tracing::warn!(address = %listener.local_addr()?, "careslot keyd is serving plain HTTP: keep it on a private network or give --tls-cert/--tls-key");
    careslot_vault::keyd::serve(listener, engine, token, shutdown_signal()).await?;
    Ok(())
}

/// Rotation: a new version of every named key; every wrapped data key rewrapped under it.
async fn rotate(db: &DbArgs, keys: &KeyArgs, retire: bool) -> anyhow::Result<()> {
    let store = open_store(db).await?;
    let custody = open_custody(keys).await?;
    let report = careslot_core::protection::rotate_all(&*store, &*custody, retire)
        .await
        .map_err(|e| anyhow::anyhow!("rotation failed: {e}"))?;
    println!(
        "{{\"keys_rotated\": {}, \"data_keys_rewrapped\": {}, \"old_versions_retired\": {retire}}}",
        report.keys_rotated, report.data_keys_rewrapped
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::check_public_url;

    #[test]
    fn public_url_is_required_off_loopback() {
        let any = "0.0.0.0:8080".parse().expect("addr");
        let lan = "192.0.2.10:443".parse().expect("addr");
        let v6 = "[::]:8080".parse().expect("addr");
        for bind in [any, lan, v6] {
            let e = check_public_url(bind, None, false).expect_err("refused");
            assert!(e.contains("--public-url is required"), "{e}");
            assert!(check_public_url(bind, Some("https://careslot.example"), false).is_ok());
            // The demo is meant to be tried on a LAN.
            assert!(check_public_url(bind, None, true).is_ok());
        }
        for bind in ["127.0.0.1:8080", "[::1]:8080"] {
            assert!(check_public_url(bind.parse().expect("addr"), None, false).is_ok());
        }
    }
}
