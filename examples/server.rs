//! The default JupyterHealth Exchange server: SeaOrmStore (SQLite or PostgreSQL) with the
//! standard plug-ins, and a small CLI.
//!
//! ```text
//! cargo run --release --example server                 # serve on 127.0.0.1:8000 (migrates; seeds the empty default SQLite DB)
//! cargo run --release --example server -- migrate      # apply migrations (--down to revert all)
//! cargo run --release --example server -- seed --flush --yes # reset to the demo data
//! cargo run --release --example server -- create-superuser --email admin@example.org
//! cargo run --release --example server -- check-config # print the settings (secrets masked) and every problem
//! cargo run --release --example server -- openapi      # print the OpenAPI document (no database needed)
//! cargo run --release --example server -- export out/ --as mary@example.com --study 30001
//! cargo run --release --example server -- export-study 30001 study/ --as mary@example.com
//! cargo run --release --example server -- import-study study/ --as sam@example.com
//! JHE_ACCESS_TOKEN=… cargo run --release --example server -- mcp --stdio   # MCP over stdio
//! ```

use std::io::{BufRead, IsTerminal, Write};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use clap::{Parser, Subcommand};
use jhe::ServerConfig;
use jhe::assemble;
use jhe::config::LogFormat;
use jhe_core::services::seed::{self, Progress};
use jhe_core::store::MaintenanceStore;
use jhe_plugins::SeaOrmStore;
use poem::listener::Listener as _;

#[path = "server/study_transfer.rs"]
mod study_transfer;

#[derive(Parser)]
#[command(
    name = "server",
    version,
    about = "JupyterHealth Exchange (jhe-rs) default server"
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Serve HTTP (the default). Applies pending migrations first; seeds demo data only into an
    /// empty default SQLite database (`DATABASE_URL` unset) or with `JHE_SEED_ON_EMPTY=true`.
    /// Refuses a non-loopback SITE_URL without SECRET_KEY or with demo accounts left.
    Serve {
        /// Listen address (also JHE_BIND): host:port, or a port alone for 127.0.0.1:<port>.
        /// SITE_URL defaults to http://<this address>.
        #[arg(long)]
        bind: Option<String>,
    },
    /// Check the configuration without touching the database: print the effective settings
    /// (secrets masked) and every problem found; exit status 2 when there are problems.
    CheckConfig {
        /// The listen address `serve --bind` would get.
        #[arg(long)]
        bind: Option<String>,
    },
    /// Apply pending database migrations.
    Migrate {
        /// Revert every migration instead.
        #[arg(long)]
        down: bool,
    },
    /// Load the demo data (idempotent).
    Seed {
        /// Empty every table first (deletes every account and all data; asks for confirmation
        /// unless --yes).
        #[arg(long)]
        flush: bool,
        /// Do not ask before --flush (needed when standard input is not a terminal).
        #[arg(long)]
        yes: bool,
    },
    /// Create a superuser. The password comes from JHE_SUPERUSER_PASSWORD, else is asked twice
    /// without echo on a terminal, else is read as one line from standard input.
    CreateSuperuser {
        /// E-mail address (the login name).
        #[arg(long)]
        email: String,
    },
    /// Print the OpenAPI document as JSON (needs no database).
    Openapi,
    /// FHIR Bulk Data export to a directory (Patient.ndjson, Observation.ndjson,
    /// Consent.ndjson), read with the access of one account, as `$export` would.
    Export {
        /// Directory to write into (created when missing).
        dir: std::path::PathBuf,
        /// The account whose access applies (e-mail address).
        #[arg(long = "as")]
        as_user: String,
        /// Only this study (as `Group/{study}/$export`).
        #[arg(long)]
        study: Option<i64>,
        /// Resource types, comma-separated (`_type`; default all three).
        #[arg(long = "type")]
        types: Option<String>,
        /// Only data changed at or after this instant (`_since`).
        #[arg(long)]
        since: Option<String>,
    },
    /// Exports a study (organisation link, data sources, requested scopes, clients, patients,
    /// consents, observations) to a directory of NDJSON files with a manifest, read with the
    /// access of one account.
    ExportStudy {
        /// The study's id.
        id: i64,
        /// Directory to write (created if missing).
        dir: std::path::PathBuf,
        /// E-mail of the account whose access applies.
        #[arg(long = "as")]
        as_user: String,
    },
    /// Imports a study export directory (matching existing rows by natural keys: a repeated
    /// import creates nothing), as a superuser account.
    ImportStudy {
        /// The export directory.
        dir: std::path::PathBuf,
        /// E-mail of a superuser account (recorded in the audit trail).
        #[arg(long = "as")]
        as_user: String,
    },
    /// Serve the MCP tools (see README "MCP") over standard input/output, acting as the holder
    /// of the access token in JHE_ACCESS_TOKEN (a token of the exchange, e.g. from `/o/token/`).
    #[cfg(feature = "mcp")]
    Mcp {
        /// Use the stdio transport (the only one here; HTTP clients use `/mcp` of `serve`).
        #[arg(long)]
        stdio: bool,
    },
}

struct ExportBar(indicatif::ProgressBar);

impl jhe_core::services::bulk_export::ExportProgress for ExportBar {
    fn progress(
        &self,
        type_: jhe_core::services::bulk_export::ExportType,
        written: u64,
        total: Option<u64>,
    ) {
        if let Some(total) = total {
            self.0.set_length(total);
        }
        self.0.set_position(written);
        self.0.set_message(type_.name());
    }
}

struct Bar(indicatif::ProgressBar);

impl Progress for Bar {
    fn start(&self, total: u64) {
        self.0.set_length(total);
    }
    fn advance(&self, message: &str) {
        self.0.set_message(message.to_string());
        self.0.inc(1);
    }
    fn finish(&self) {
        self.0.finish_with_message("done");
    }
}

fn progress_bar() -> Bar {
    let bar = indicatif::ProgressBar::new(0);
    if let Ok(style) =
        indicatif::ProgressStyle::with_template("seeding [{bar:30}] {pos}/{len} {msg}")
    {
        bar.set_style(style.progress_chars("=> "));
    }
    Bar(bar)
}

fn main() -> ExitCode {
    // Before the runtime's threads exist (see `jhe::memory`).
    jhe::memory::limit_malloc_arenas();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("error: cannot start the async runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(serve_main())
}

async fn serve_main() -> ExitCode {
    match run().await {
        Ok(code) => code,
        Err(error) => {
            // A refusal to start is an operator's problem: one clear message, no stack trace.
            if let Some(refusal) = error.downcast_ref::<jhe_core::config::ConfigError>() {
                eprintln!("error: refusing to start: {refusal}");
                return ExitCode::from(2);
            }
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

/// Logs to standard error: plain text (colours only on a terminal), or JSON lines with
/// `JHE_LOG_FORMAT=json`.
fn init_logging() {
    let _ = dotenvy::dotenv();
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| "info,sqlx=warn,sea_orm=warn,sea_orm_migration=warn".into());
    let json = std::env::var("JHE_LOG_FORMAT")
        .ok()
        .and_then(|v| LogFormat::parse(&v).ok())
        == Some(LogFormat::Json);
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if json {
        builder
            .json()
            .with_current_span(true)
            .with_span_list(false)
            .init();
    } else {
        builder.with_ansi(std::io::stderr().is_terminal()).init();
    }
}

/// Prints every problem and fails with exit status 2.
fn refuse(problems: &[String]) -> ExitCode {
    for problem in problems {
        eprintln!("error: refusing to start: {problem}");
    }
    ExitCode::from(2)
}

/// Whether the user typed "yes".
fn confirm(question: &str) -> anyhow::Result<bool> {
    eprint!("{question} Type \"yes\" to continue: ");
    std::io::stderr().flush()?;
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line)?;
    Ok(line.trim().eq_ignore_ascii_case("yes"))
}

/// The superuser's password: JHE_SUPERUSER_PASSWORD, else asked twice without echo on a
/// terminal, else one line of standard input.
fn superuser_password(email: &str) -> anyhow::Result<String> {
    if let Ok(p) = std::env::var("JHE_SUPERUSER_PASSWORD")
        && !p.is_empty()
    {
        return Ok(p);
    }
    if std::io::stdin().is_terminal() {
        let first = rpassword::prompt_password(format!("Password for {email}: "))?;
        let second = rpassword::prompt_password("Password (again): ")?;
        if first != second {
            anyhow::bail!("the two passwords differ");
        }
        return Ok(first);
    }
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line)?;
    Ok(line.trim_end_matches(['\r', '\n']).to_string())
}

/// Listens for SIGTERM and SIGINT (Ctrl-C) from now on — call it before the listener serves
/// anything, so a signal sent as soon as `/health` answers is never missed (the default action
/// would kill the process) — and returns the future that resolves on the first of them.
fn shutdown_signal() -> impl std::future::Future<Output = ()> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let term = signal(SignalKind::terminate());
        let interrupt = signal(SignalKind::interrupt());
        async move {
            match (term, interrupt) {
                (Ok(mut term), Ok(mut interrupt)) => {
                    tokio::select! {
                        _ = term.recv() => tracing::info!("SIGTERM: shutting down"),
                        _ = interrupt.recv() => tracing::info!("SIGINT: shutting down"),
                    }
                }
                (Err(e), _) | (_, Err(e)) => {
                    tracing::warn!(error = %e, "cannot listen for SIGTERM/SIGINT; Ctrl-C only");
                    let _ = tokio::signal::ctrl_c().await;
                }
            }
        }
    }
    #[cfg(not(unix))]
    {
        async {
            let _ = tokio::signal::ctrl_c().await;
            tracing::info!("Ctrl-C: shutting down");
        }
    }
}

async fn run() -> anyhow::Result<ExitCode> {
    init_logging();
    let cli = Cli::parse();
    let command = cli.command.unwrap_or(Command::Serve { bind: None });
    let site_url_is_set = std::env::var("SITE_URL").is_ok_and(|s| !s.trim().is_empty());
    let (mut config, invalid) = ServerConfig::load(|name| std::env::var(name).ok());
    let mut problems: Vec<String> = invalid.iter().map(ToString::to_string).collect();
    if let Command::Serve { bind: Some(bind) } | Command::CheckConfig { bind: Some(bind) } =
        &command
        && let Err(e) = config.set_bind(bind, site_url_is_set)
    {
        problems.push(e.to_string());
    }
    match &command {
        Command::CheckConfig { .. } => {
            problems.extend(jhe::startup::check(&config));
            problems.extend(jhe::startup::check_identity_providers());
            let mut out = std::io::stdout().lock();
            writeln!(out, "Effective settings (secrets masked):")?;
            for (name, value) in config.effective_settings() {
                writeln!(out, "  {name}={value}")?;
            }
            if problems.is_empty() {
                writeln!(out, "No problems found.")?;
                return Ok(ExitCode::SUCCESS);
            }
            writeln!(out, "Problems ({}):", problems.len())?;
            for problem in &problems {
                writeln!(out, "  - {problem}")?;
            }
            return Ok(ExitCode::from(2));
        }
        Command::Openapi => {
            // The document does not depend on the data: an in-memory database will do.
            let store = SeaOrmStore::connect("sqlite::memory:").await?;
            let server = assemble(config, store)?;
            let mut out = std::io::stdout().lock();
            if let Err(e) = writeln!(out, "{}", server.openapi_json())
                && e.kind() != std::io::ErrorKind::BrokenPipe
            {
                return Err(e.into());
            }
            return Ok(ExitCode::SUCCESS);
        }
        Command::Serve { .. } => {
            problems.extend(jhe::startup::check(&config));
            problems.extend(jhe::startup::check_identity_providers());
            if !problems.is_empty() {
                return Ok(refuse(&problems));
            }
            return serve(config).await;
        }
        Command::CreateSuperuser { email } if !jhe::is_plausible_email(email) => {
            anyhow::bail!("{email:?} is not an e-mail address");
        }
        Command::Seed {
            flush: true,
            yes: false,
        } => {
            if !std::io::stdin().is_terminal() {
                anyhow::bail!(
                    "seed --flush deletes every account and all data: pass --yes to confirm \
                     (standard input is not a terminal)"
                );
            }
            if !confirm(&format!(
                "seed --flush deletes EVERY account and all data in {}.",
                jhe_core::config::redact_url(&config.database_url)
            ))? {
                anyhow::bail!("not confirmed; nothing was changed");
            }
        }
        _ => {}
    }
    if !problems.is_empty() {
        return Ok(refuse(&problems));
    }
    let store = jhe::startup::connect(&config).await?;
    match command {
        Command::Migrate { down } => {
            if down {
                store.migrate_down().await?;
                tracing::info!("reverted every migration");
            } else {
                store.migrate().await?;
                tracing::info!("migrations applied");
            }
        }
        Command::Seed { flush, .. } => {
            store.migrate().await?;
            let report = seed::seed(&store, &config, flush, &progress_bar()).await?;
            tracing::info!(
                created = report.created,
                existing = report.existing,
                "seeding complete"
            );
        }
        Command::CreateSuperuser { email } => {
            let password = superuser_password(&email)?;
            store.migrate().await?;
            let user = jhe::create_superuser(&store, &email, &password).await?;
            tracing::info!(id = user.id, email = %user.email, "superuser created");
        }
        Command::Export {
            dir,
            as_user,
            study,
            types,
            since,
        } => {
            use jhe_core::services::bulk_export::{ExportLevel, ExportParams, export_to_dir};
            store.migrate().await?;
            let mut params = Vec::new();
            if let Some(t) = types {
                params.push(("_type".to_string(), t));
            }
            if let Some(s) = since {
                params.push(("_since".to_string(), s));
            }
            let params = ExportParams::parse(&params).map_err(|e| anyhow::anyhow!("{e}"))?;
            let level = study.map_or(ExportLevel::Patients, ExportLevel::Study);
            let server = assemble(config, store)?;
            let bar = indicatif::ProgressBar::new(0);
            if let Ok(style) =
                indicatif::ProgressStyle::with_template("exporting {msg:12} [{bar:30}] {pos}/{len}")
            {
                bar.set_style(style.progress_chars("=> "));
            }
            let bar = ExportBar(bar);
            let files = export_to_dir(server.state(), &as_user, level, &params, &dir, &bar)
                .await
                .map_err(|e| anyhow::anyhow!("{}: {e}", dir.display()))?;
            bar.0.finish_with_message("done");
            let mut out = std::io::stdout().lock();
            for f in files {
                let _ = writeln!(
                    out,
                    "{}\t{}\t{}",
                    f.type_,
                    f.count,
                    dir.join(&f.file).display()
                );
            }
        }
        Command::ExportStudy { id, dir, as_user } => {
            store.migrate().await?;
            let server = assemble(config, store)?;
            study_transfer::export_study_cli(server.state(), id, &dir, &as_user).await?;
        }
        Command::ImportStudy { dir, as_user } => {
            store.migrate().await?;
            let server = assemble(config, store)?;
            study_transfer::import_study_cli(server.state(), &dir, &as_user).await?;
        }
        #[cfg(feature = "mcp")]
        Command::Mcp { stdio } => {
            if !stdio {
                anyhow::bail!(
                    "`mcp` serves over stdio only: pass --stdio (HTTP clients use {}/mcp)",
                    config.site_url
                );
            }
            let token = std::env::var("JHE_ACCESS_TOKEN")
                .ok()
                .map(|t| t.trim().to_string())
                .filter(|t| !t.is_empty())
                .context("set JHE_ACCESS_TOKEN to an access token of the exchange")?;
            // Never migrate or seed here: this is a client session on an existing database.
            let server = assemble(config, store)?;
            jhe_core::mcp::serve_stdio(server.state().clone(), &token)
                .await
                .map_err(|e| anyhow::anyhow!("{e}"))?;
        }
        Command::Serve { .. } | Command::CheckConfig { .. } | Command::Openapi => {}
    }
    Ok(ExitCode::SUCCESS)
}

/// `serve`: listen first (so a busy port fails before the database is touched), then open,
/// migrate and seed the database, then answer requests until SIGTERM/SIGINT.
async fn serve(config: ServerConfig) -> anyhow::Result<ExitCode> {
    let bind = config.bind.clone();
    let acceptor = poem::listener::TcpListener::bind(bind.clone())
        .into_acceptor()
        .await
        .map_err(|e| anyhow::anyhow!("cannot listen on {bind}: {e}"))?;
    let store = jhe::startup::connect(&config).await?;
    jhe::prepare_to_serve(&store, &config, &progress_bar()).await?;
    let site = config.site_url.clone();
    let grace = Duration::from_secs(config.shutdown_timeout_secs);
    let sweeper = jhe::sweeper::spawn(store.clone(), config.clone());
    let gauges = config
        .metrics
        .enabled
        .then(|| jhe::sweeper::spawn_pool_gauges(store.clone()));
    let server = assemble(config, store)?;
    server.prepare().await?;
    let shutdown = shutdown_signal();
    tracing::info!(%bind, %site, "JupyterHealth Exchange listening");
    let acceptor = jhe::connections::LimitedAcceptor::new(
        acceptor,
        jhe::connections::MAX_CONNECTIONS,
        jhe::connections::IDLE_TIMEOUT,
    );
    let result = poem::Server::new_with_acceptor(acceptor)
        .idle_timeout(jhe::connections::IDLE_TIMEOUT)
        .run_with_graceful_shutdown(server.into_endpoint(), shutdown, Some(grace))
        .await;
    for task in [sweeper, gauges].into_iter().flatten() {
        task.abort();
    }
    result?;
    tracing::info!("stopped");
    Ok(ExitCode::SUCCESS)
}
