//! Turning `spin.toml` and the environment into a running [`App`]: every
//! setting is checked here, before the first request is accepted.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context as _};
use wasmtime_wasi_http::p2::bindings::ProxyPre;

use crate::app::{App, AppParts, Entry, LoadedComponent};
use crate::brokers::Brokers;
use crate::engine::{self, PoolLimits};
use crate::manifest::LoadedManifest;
use crate::messaging::{MessageHandlerPre, OutboxRelayPre};
use crate::ops::Ops;
use crate::outbound::AllowedHosts;
use crate::routing::Router;
use crate::runtime_config::RuntimeConfig;
use crate::services::{ServiceLimits, Services};
use crate::state::ComponentContext;
use crate::variables::ResolvedVariables;

/// How the host runs, from its command line.
#[derive(Debug, Clone)]
pub struct HostSettings {
    pub manifest: PathBuf,
    pub runtime_config: Option<PathBuf>,
    pub migrations: Option<PathBuf>,
    pub cache_dir: PathBuf,
    pub request_timeout: Duration,
    pub pool: PoolLimits,
    pub services: ServiceLimits,
}

/// The manifest with its variables resolved: what `up` and `migrate` share.
pub struct Prepared {
    pub manifest: LoadedManifest,
    pub variables: ResolvedVariables,
}

pub fn prepare(settings: &HostSettings, env: &HashMap<String, String>) -> anyhow::Result<Prepared> {
    let manifest = LoadedManifest::load(&settings.manifest)?;
    let runtime_config = settings
        .runtime_config
        .clone()
        .or_else(|| Some(manifest.dir.join("runtime-config.toml")).filter(|p| p.exists()));
    if let Some(path) = runtime_config {
        RuntimeConfig::load(&path)?;
    }
    let variables = ResolvedVariables::resolve(&manifest.manifest, env).map_err(|errors| {
        let list: Vec<String> = errors.iter().map(ToString::to_string).collect();
        anyhow::anyhow!("{}", list.join("; "))
    })?;
    Ok(Prepared {
        manifest,
        variables,
    })
}

/// Applies the migrations next to the manifest (or `--migrations`) to the
/// application's `database_url`, if the application declares one.
pub async fn migrate(settings: &HostSettings, prepared: &Prepared) -> anyhow::Result<()> {
    let directory = settings
        .migrations
        .clone()
        .unwrap_or_else(|| prepared.manifest.dir.join("migrations"));
    let Some(database_url) = prepared.variables.get("database_url") else {
        tracing::info!("no database_url variable: no migrations to apply");
        return Ok(());
    };
    if !directory.exists() {
        bail!("migrations directory {directory:?} does not exist");
    }
    let count = crate::migrate::run(database_url, &directory).await?;
    tracing::info!(migrations = count, directory = %directory.display(), "database schema is up to date");
    Ok(())
}

pub fn build_app(settings: &HostSettings, prepared: &Prepared) -> anyhow::Result<Arc<App>> {
    let manifest = &prepared.manifest;
    let engine = engine::new_engine(settings.pool)?;
    engine::start_epoch_ticker(&engine);
    let linker = App::linker(&engine)?;

    let mut components = HashMap::new();
    for (id, component) in &manifest.manifest.component {
        if !manifest.manifest.triggers_component(id) {
            // As Spin 3 does: an untriggered component (a library built by
            // `spin build`, say) is not loaded, and nothing can reach it.
            tracing::warn!(component = %id, "no trigger names this component: not loaded");
            continue;
        }
        let context = component_context(id, component, &prepared.variables)?;
        let source = manifest.source_path(component);
        if !source.exists() {
            bail!(
                "component {id:?}: source {source:?} does not exist (run `sales-host build` first)"
            );
        }
        let started = std::time::Instant::now();
        let compiled = engine::load_component(&engine, &source, &settings.cache_dir)?;
        let pre = linker
            .instantiate_pre(&compiled)
            .map_err(anyhow::Error::from)
            .with_context(|| format!("component {id:?}: imports this host does not provide"))?;
        let handles_messages = manifest
            .manifest
            .trigger
            .amqp
            .iter()
            .any(|t| &t.component == id);
        let relay = manifest
            .manifest
            .trigger
            .outbox
            .iter()
            .find(|t| &t.component == id);
        let entry = if let Some(relay) = relay {
            let brokers = Brokers::new(
                prepared.variables.render(&relay.amqp_address)?,
                &prepared.variables.render(&relay.kafka_brokers)?,
            )
            .with_context(|| format!("component {id:?}: broker settings"))?;
            Entry::Relay {
                pre: OutboxRelayPre::new(pre)
                    .map_err(anyhow::Error::from)
                    .with_context(|| {
                        format!("component {id:?}: does not export sales:messaging/relay")
                    })?,
                brokers: Arc::new(brokers),
            }
        } else if handles_messages {
            Entry::Messages(
                MessageHandlerPre::new(pre)
                    .map_err(anyhow::Error::from)
                    .with_context(|| {
                        format!(
                            "component {id:?}: does not export sales:messaging/incoming-handler"
                        )
                    })?,
            )
        } else {
            Entry::Http(
                ProxyPre::new(pre)
                    .map_err(anyhow::Error::from)
                    .with_context(|| {
                        format!("component {id:?}: not a wasi:http incoming handler")
                    })?,
            )
        };
        tracing::info!(component = %id, load_ms = started.elapsed().as_millis() as u64, "component ready");
        components.insert(
            id.clone(),
            LoadedComponent {
                entry,
                context: Arc::new(context),
            },
        );
    }

    let router = Router::new(
        manifest
            .manifest
            .trigger
            .http
            .iter()
            .map(|t| (t.route.as_str(), t.component.as_str())),
    )?;

    let services = Arc::new(Services::new(settings.services));
    let ops = Ops::new(services.clone(), &prepared.variables).context("operational routes")?;
    Ok(App::new(AppParts {
        engine,
        router,
        components,
        services,
        request_timeout: settings.request_timeout,
        ops,
    }))
}

fn component_context(
    id: &str,
    component: &crate::manifest::Component,
    variables: &ResolvedVariables,
) -> anyhow::Result<ComponentContext> {
    let allowed = component
        .allowed_outbound_hosts
        .iter()
        .map(|entry| variables.render(entry))
        .collect::<Result<Vec<_>, _>>()
        .with_context(|| format!("component {id:?}: allowed_outbound_hosts"))?;
    Ok(ComponentContext {
        id: Arc::from(id),
        allowed_hosts: AllowedHosts::parse(&allowed)
            .with_context(|| format!("component {id:?}"))?,
        variables: variables
            .for_component(&component.variables)
            .with_context(|| format!("component {id:?}: variables"))?,
        environment: component
            .environment
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
    })
}
