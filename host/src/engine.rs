//! The one wasmtime `Engine` (pooling allocator, epoch interruption) and the
//! on-disk cache of precompiled components.

use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context as _;
use sha2::{Digest, Sha256};
use wasmtime::component::Component;
use wasmtime::{Config, Enabled, Engine, InstanceAllocationStrategy, PoolingAllocationConfig};

/// How often the epoch advances: the granularity of guest deadlines and the
/// interval at which a long-running guest yields to other tasks.
pub const EPOCH_TICK: Duration = Duration::from_millis(10);

/// Bytes of each pooled linear memory kept resident between instances.
const KEEP_RESIDENT_BYTES: usize = 8 << 20;

/// Limits of the pooling allocator: how many guest instances may be alive at
/// once, each with bounded memory.
#[derive(Debug, Clone, Copy)]
pub struct PoolLimits {
    pub instances: u32,
    pub max_memory_bytes: usize,
}

impl Default for PoolLimits {
    fn default() -> Self {
        Self {
            instances: 256,
            max_memory_bytes: 256 << 20,
        }
    }
}

pub fn new_engine(limits: PoolLimits) -> anyhow::Result<Engine> {
    let mut pool = PoolingAllocationConfig::default();
    // A Rust wasip2 component holds a few core instances (the program and
    // its adapter shims), each with at most a couple of memories and tables.
    pool.total_component_instances(limits.instances)
        .total_core_instances(limits.instances * 8)
        .total_memories(limits.instances * 2)
        .total_tables(limits.instances * 4)
        .total_stacks(limits.instances)
        .max_core_instances_per_component(16)
        .max_memories_per_component(4)
        .max_tables_per_component(8)
        .max_memory_size(limits.max_memory_bytes)
        // A fresh instance per request reuses a pooled slot. Resetting the
        // slot with `madvise` makes the next request fault every page back in
        // (and flush TLBs on every core); keeping the first megabytes resident
        // and resetting only the pages the guest touched (PAGEMAP_SCAN, Linux
        // 6.7+) avoids that. Measured: see bench/product-catalog.sh.
        .linear_memory_keep_resident(KEEP_RESIDENT_BYTES)
        .table_keep_resident(KEEP_RESIDENT_BYTES / 8)
        .pagemap_scan(Enabled::Auto);

    let mut config = Config::new();
    config
        .wasm_component_model(true)
        .epoch_interruption(true)
        .allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
    Engine::new(&config)
        .map_err(anyhow::Error::from)
        .context("creating the wasmtime engine")
}

/// Advances the engine's epoch every [`EPOCH_TICK`] for as long as the
/// process lives; guests measure their deadlines in these ticks.
pub fn start_epoch_ticker(engine: &Engine) {
    let engine = engine.weak();
    std::thread::Builder::new()
        .name("epoch-ticker".into())
        .spawn(move || {
            while let Some(engine) = engine.upgrade() {
                engine.increment_epoch();
                drop(engine);
                std::thread::sleep(EPOCH_TICK);
            }
        })
        .expect("spawning the epoch ticker thread");
}

/// Loads a component, compiling it only when the cache has no artifact for
/// these exact bytes and this exact engine configuration.
pub fn load_component(engine: &Engine, wasm: &Path, cache_dir: &Path) -> anyhow::Result<Component> {
    let bytes = std::fs::read(wasm).with_context(|| format!("reading component {wasm:?}"))?;
    let cached = cache_dir.join(format!("{}.cwasm", cache_key(engine, &bytes)));
    if cached.exists() {
        match deserialize(engine, &cached) {
            Ok(component) => return Ok(component),
            Err(error) => {
                tracing::warn!(path = %cached.display(), error = %format!("{error:#}"), "discarding unusable cached component");
            }
        }
    }
    let compiled = engine
        .precompile_component(&bytes)
        .map_err(anyhow::Error::from)
        .with_context(|| format!("compiling component {wasm:?}"))?;
    std::fs::create_dir_all(cache_dir)
        .with_context(|| format!("creating cache directory {cache_dir:?}"))?;
    // Written under a temporary name and renamed so that a concurrent host
    // never reads a half-written artifact.
    let temporary = cached.with_extension(format!("tmp-{}", uuid::Uuid::new_v4()));
    std::fs::write(&temporary, &compiled)
        .with_context(|| format!("writing compiled component {temporary:?}"))?;
    std::fs::rename(&temporary, &cached)
        .with_context(|| format!("moving compiled component to {cached:?}"))?;
    deserialize(engine, &cached)
}

#[allow(unsafe_code)]
fn deserialize(engine: &Engine, path: &Path) -> anyhow::Result<Component> {
    // SAFETY: the file was produced by `Engine::precompile_component` of an
    // engine with the same compatibility hash (it is part of the file name),
    // in a cache directory that only this host writes, and renamed into place
    // only once complete. Wasmtime also checks the artifact's header.
    unsafe { Component::deserialize_file(engine, path) }
        .map_err(anyhow::Error::from)
        .with_context(|| format!("loading compiled component {path:?}"))
}

fn cache_key(engine: &Engine, wasm: &[u8]) -> String {
    let mut engine_hash = std::collections::hash_map::DefaultHasher::new();
    engine
        .precompile_compatibility_hash()
        .hash(&mut engine_hash);
    let digest = Sha256::digest(wasm);
    format!("{}-{:016x}", hex(&digest[..16]), engine_hash.finish())
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Where compiled components are kept unless `--cache-dir` says otherwise.
pub fn default_cache_dir(env: &std::collections::HashMap<String, String>) -> PathBuf {
    env.get("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| env.get("HOME").map(|home| Path::new(home).join(".cache")))
        .unwrap_or_else(std::env::temp_dir)
        .join("sales-host")
}
