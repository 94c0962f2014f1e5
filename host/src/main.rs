//! The `sales-host` command line: `up`, `migrate`, `build`. It only wires.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context as _;
use clap::{Args, Parser, Subcommand};
use sales_host::engine::{default_cache_dir, PoolLimits};
use sales_host::services::ServiceLimits;
use sales_host::startup::{self, HostSettings};

/// Every request allocates a fresh store and instance state: mimalloc's
/// per-thread free lists cost less than glibc's arenas for that churn
/// (measured with bench/product-catalog.sh).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(
    name = "sales-host",
    version,
    about = "Runs the Sales API's Spin components"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Apply migrations, load the components and serve HTTP.
    Up(UpArgs),
    /// Apply the database migrations and exit.
    Migrate(CommonArgs),
    /// Run each component's build command from the manifest.
    Build(CommonArgs),
}

#[derive(Args)]
struct CommonArgs {
    /// The Spin manifest.
    #[arg(long, default_value = "spin.toml")]
    manifest: PathBuf,
    /// Spin's runtime configuration file (default: runtime-config.toml next
    /// to the manifest, when there is one).
    #[arg(long)]
    runtime_config_file: Option<PathBuf>,
    /// Directory of SQL migrations (default: migrations/ next to the manifest).
    #[arg(long)]
    migrations: Option<PathBuf>,
}

#[derive(Args)]
struct UpArgs {
    #[command(flatten)]
    common: CommonArgs,
    /// Address to serve on (default 127.0.0.1:$PORT, PORT defaulting to 3000).
    #[arg(long)]
    listen: Option<SocketAddr>,
    /// Longest a guest may take to answer, in milliseconds.
    #[arg(long, default_value_t = 30_000)]
    request_timeout_ms: u64,
    /// Where precompiled components are cached.
    #[arg(long)]
    cache_dir: Option<PathBuf>,
    /// Guest instances alive at once (the pooling allocator's size).
    #[arg(long, default_value_t = 256)]
    max_instances: u32,
    /// Postgres connections per database address.
    #[arg(long, default_value_t = ServiceLimits::default().pg_pool_size)]
    pg_pool_size: usize,
    /// Threads serving requests (default: one per CPU).
    #[arg(long)]
    worker_threads: Option<usize>,
    /// How long in-flight requests may run after SIGINT/SIGTERM.
    #[arg(long, default_value_t = 10_000)]
    drain_ms: u64,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let env: HashMap<String, String> = std::env::vars().collect();
    sales_host::logging::init(&log_filter(&env));
    let mut runtime = tokio::runtime::Builder::new_multi_thread();
    if let Some(threads) = worker_threads(&cli) {
        runtime.worker_threads(threads);
    }
    let runtime = match runtime.enable_all().build() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("sales-host: cannot start the async runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli, env)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!(error = %format!("{error:#}"), "sales-host stopped");
            eprintln!("sales-host: {error:#}");
            ExitCode::FAILURE
        }
    }
}

fn worker_threads(cli: &Cli) -> Option<usize> {
    match &cli.command {
        Command::Up(args) => args.worker_threads,
        _ => None,
    }
}

/// The seed's `LOG_LEVEL` (or Spin's form of it), with `RUST_LOG` winning.
fn log_filter(env: &HashMap<String, String>) -> String {
    ["RUST_LOG", "SPIN_VARIABLE_LOG_LEVEL", "LOG_LEVEL"]
        .iter()
        .find_map(|name| env.get(*name).cloned())
        .unwrap_or_else(|| "info".to_owned())
}

fn settings(common: &CommonArgs, env: &HashMap<String, String>) -> HostSettings {
    HostSettings {
        manifest: common.manifest.clone(),
        runtime_config: common.runtime_config_file.clone(),
        migrations: common.migrations.clone(),
        cache_dir: default_cache_dir(env),
        request_timeout: Duration::from_secs(30),
        pool: PoolLimits::default(),
        services: ServiceLimits::default(),
    }
}

async fn run(cli: Cli, env: HashMap<String, String>) -> anyhow::Result<()> {
    match cli.command {
        Command::Build(common) => {
            let manifest = sales_host::manifest::LoadedManifest::load(&common.manifest)?;
            sales_host::component_build::build_all(&manifest)
        }
        Command::Migrate(common) => {
            let settings = settings(&common, &env);
            let prepared = startup::prepare(&settings, &env)?;
            startup::migrate(&settings, &prepared).await
        }
        Command::Up(args) => {
            let mut settings = settings(&args.common, &env);
            settings.request_timeout = Duration::from_millis(args.request_timeout_ms);
            settings.pool.instances = args.max_instances;
            settings.services.pg_pool_size = args.pg_pool_size;
            if let Some(dir) = args.cache_dir {
                settings.cache_dir = dir;
            }
            let listen = match args.listen {
                Some(listen) => listen,
                None => {
                    let port: u16 = env
                        .get("PORT")
                        .map(|p| p.parse())
                        .transpose()
                        .context("PORT must be a port number")?
                        .unwrap_or(3000);
                    SocketAddr::from(([127, 0, 0, 1], port))
                }
            };
            let prepared = startup::prepare(&settings, &env)?;
            startup::migrate(&settings, &prepared).await?;
            let app = startup::build_app(&settings, &prepared)?;
            let relays = sales_host::outbox_trigger::start(
                app.clone(),
                &prepared.manifest.manifest,
                &prepared.variables,
            )
            .await?;
            let _consumers = sales_host::amqp_trigger::start(
                app.clone(),
                &prepared.manifest.manifest,
                &prepared.variables,
                relays.wake.clone(),
            )
            .await?;
            let _pollers = sales_host::ops::pollers::start(
                &prepared.manifest.manifest,
                &prepared.variables,
                app.services(),
            )?;
            let listener = tokio::net::TcpListener::bind(listen)
                .await
                .with_context(|| format!("binding {listen}"))?;
            let addr = listener.local_addr()?;
            tracing::info!(addr = %addr, "listening");
            sales_host::server::serve(
                listener,
                app,
                shutdown_signal(),
                Duration::from_millis(args.drain_ms),
            )
            .await;
            tracing::info!("stopped");
            Ok(())
        }
    }
}

async fn shutdown_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let mut terminate = signal(SignalKind::terminate()).expect("installing the SIGTERM handler");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = terminate.recv() => {}
    }
}
