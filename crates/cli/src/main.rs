//! `careslot`: the whole product in one binary.

mod bench;
mod demo;

use anyhow::Context;
use careslot_server::services::{App, AppConfig};
use careslot_store::Store;
use careslot_store_postgres::PgStore;
use careslot_store_sqlite::SqliteStore;
use clap::{Args, Parser, Subcommand};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

#[derive(Parser)]
#[command(name = "careslot", version, about = "Open-source medical appointment platform", long_about = None)]
struct Cli {
    /// Log as JSON lines instead of human-readable text.
    #[arg(long, global = true, env = "CARESLOT_LOG_JSON")]
    log_json: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the web server (JSON API and pages).
    Serve(ServeArgs),
    /// Create or upgrade the database schema, then exit.
    Migrate(DbArgs),
    /// Fill the database with the demo directory (idempotent), then exit.
    Seed(DbArgs),
    /// Measure the hot paths; prints JSON on stdout and a table on stderr.
    #[command(subcommand)]
    Bench(BenchCommand),
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
    /// Seed a realistic demo directory (a few hundred practitioners) before serving.
    #[arg(long)]
    demo: bool,
}

#[derive(Subcommand)]
enum BenchCommand {
    /// 31-day slot queries over a generated directory.
    Slots(bench::BenchArgs),
    /// Search ranked by earliest availability over a generated directory.
    Search(bench::BenchArgs),
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

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    init_logging(cli.log_json);
    match cli.command {
        Command::Serve(args) => serve(args).await,
        Command::Migrate(db) => {
            open_store(&db).await?;
            eprintln!("database schema is up to date");
            Ok(())
        }
        Command::Seed(db) => {
            let store = open_store(&db).await?;
            let summary = demo::seed(&*store, 2021).await?;
            println!("{}", serde_json::to_string_pretty(&summary)?);
            Ok(())
        }
        Command::Bench(BenchCommand::Slots(args)) => bench::slots(&args).await.map(|_| ()),
        Command::Bench(BenchCommand::Search(args)) => bench::search(&args).await.map(|_| ()),
    }
}

async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    let store = open_store(&args.db).await?;
    if args.demo {
        let summary = demo::seed(&*store, 2021).await?;
        tracing::info!(
            ?summary,
            "demo data ready (password for every demo account: {})",
            demo::DEMO_PASSWORD
        );
    }
    let app = App::new(store.clone(), AppConfig::default())
        .await
        .map_err(|e| anyhow::anyhow!("cannot start: {e}"))?;
    let listener = tokio::net::TcpListener::bind(args.bind)
        .await
        .with_context(|| format!("cannot listen on {}", args.bind))?;
    tracing::info!(
        address = %listener.local_addr()?,
        backend = store.backend(),
        "careslot is serving on http://{}",
        listener.local_addr()?
    );
    careslot_server::api::serve(listener, app, shutdown_signal()).await?;
    tracing::info!("stopped");
    Ok(())
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
