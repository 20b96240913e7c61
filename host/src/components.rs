//! The components of the manifest: running their build commands, compiling them (with an
//! on-disk cache of compiled code), and pre-instantiating them once so that each request only
//! pays for a fresh instance.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use anyhow::{Context, bail};
use sha2::{Digest, Sha256};
use wasmtime::component::{Component, HasSelf, Linker};
use wasmtime::{Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig};
use wasmtime_wasi_http::handler::ProxyPre;

use crate::limits::Limits;
use crate::manifest::Manifest;
use crate::state::HostState;

/// Part of the cache key: compiled code is only valid for the wasmtime that produced it
/// (deserialize also checks this, and a mismatch falls back to compiling).
const WASMTIME_VERSION: &str = "wasmtime-48.0.8";

/// Runs each distinct build command once, in the manifest's directory, as `spin up --build`
/// does. Cargo returns in well under a second when nothing changed.
pub fn run_builds(manifest: &Manifest) -> anyhow::Result<()> {
    ensure_wasm_target(manifest)?;
    let mut seen = BTreeSet::new();
    for (name, c) in &manifest.components {
        let Some(cmd) = &c.build_command else { continue };
        if !seen.insert(cmd.clone()) {
            continue;
        }
        eprintln!("Building component {name}: {cmd}");
        let status = Command::new("sh")
            .arg("-c")
            .arg(cmd)
            .current_dir(&manifest.dir)
            .status()
            .with_context(|| format!("cannot run the build command of component {name}"))?;
        if !status.success() {
            bail!("build of component {name} failed ({status}): {cmd}");
        }
    }
    Ok(())
}

/// A newcomer's first `vinr dev` must work on a machine that has only Rust: if a build command
/// targets wasm32-wasip2 and rustup lacks that target, add it (as `spin build` needs you to).
fn ensure_wasm_target(manifest: &Manifest) -> anyhow::Result<()> {
    const TARGET: &str = "wasm32-wasip2";
    if !manifest
        .components
        .values()
        .any(|c| c.build_command.as_deref().is_some_and(|b| b.contains(TARGET)))
    {
        return Ok(());
    }
    let Ok(out) = Command::new("rustup").args(["target", "list", "--installed"]).output() else {
        return Ok(()); // no rustup: the toolchain is managed otherwise; cargo will say what is missing
    };
    if String::from_utf8_lossy(&out.stdout).lines().any(|l| l.trim() == TARGET) {
        return Ok(());
    }
    eprintln!("Adding the Rust target {TARGET} (rustup target add {TARGET})");
    let status = Command::new("rustup")
        .args(["target", "add", TARGET])
        .status()
        .context("cannot run rustup")?;
    if !status.success() {
        bail!("rustup target add {TARGET} failed ({status})");
    }
    Ok(())
}

fn base_config() -> Config {
    let mut config = Config::new();
    // `Config::async_support` is a no-op since wasmtime 48: async is always available.
    config.wasm_component_model(true);
    // spin-sdk 7 is WASI 0.3: async lifts/lowers, streams and futures.
    config.wasm_component_model_async(true);
    // `VINR_PERF_MAP=1`: guest functions get their names in `perf report` (/tmp/perf-<pid>.map).
    if std::env::var_os("VINR_PERF_MAP").is_some_and(|v| v != "0") {
        config.profiler(wasmtime::ProfilingStrategy::PerfMap);
    }
    // The CPU limit per request (limits::cpu): compiled code checks the epoch deadline.
    config.epoch_interruption(true);
    config
}

/// Where instances' memories, tables and stacks come from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Allocation {
    /// Pre-reserved slots: copy-on-write memory images, no mmap per request.
    Pooling,
    /// mmap per instance: when the OS will not let the pool reserve its address space.
    OnDemand,
}

/// Bytes of each memory slot kept resident between instances (see `engine_with`).
const KEEP_RESIDENT: usize = 1 << 20;

/// The engine, with the pooling allocator when the OS lets it reserve its address space:
/// instantiation from pre-reserved slots is what makes an instance per request cheap. Its epoch
/// ticker (the CPU limit's clock) runs until the engine is dropped.
pub fn make_engine(limits: &Limits) -> anyhow::Result<(Engine, bool)> {
    let (engine, pooling) = match engine_with(limits, Allocation::Pooling) {
        Ok(engine) => (engine, true),
        Err(e) => {
            eprintln!("warning: pooling allocator unavailable ({e:#}); instantiating on demand (slower)");
            (engine_with(limits, Allocation::OnDemand)?, false)
        }
    };
    crate::limits::cpu::start_ticker(&engine).context("cannot start the epoch ticker")?;
    Ok((engine, pooling))
}

/// The engine for `allocation`. Memory is capped at `limits.memory` in both: by the pool's slot
/// size here and by each Store's limiter (`limits::cpu::arm`).
pub fn engine_with(limits: &Limits, allocation: Allocation) -> anyhow::Result<Engine> {
    let mut config = base_config();
    if allocation == Allocation::Pooling {
        let instances = limits.pool_instances;
        let mut pool = PoolingAllocationConfig::default();
        pool.total_component_instances(instances);
        // A Rust wasip2 component is a handful of core instances (the program plus shims).
        pool.total_core_instances(instances * 8);
        pool.max_core_instances_per_component(16);
        pool.total_memories(instances * 2);
        pool.total_tables(instances * 8);
        pool.max_memories_per_component(4);
        pool.max_tables_per_component(16);
        pool.total_stacks(instances);
        pool.max_memory_size(limits.memory);
        pool.max_component_instance_size(1 << 20);
        pool.max_core_instance_size(1 << 20);
        pool.table_elements(20_000);
        // Keep the first pages of each slot resident and reset them with memset: madvise-ing them
        // away makes every request fault its heap back in, and each unmap costs a TLB shootdown
        // across the server's threads (the top kernel cost under 8 concurrent connections).
        pool.linear_memory_keep_resident(KEEP_RESIDENT.min(limits.memory));
        pool.table_keep_resident(64 << 10);
        config.allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
    }
    Ok(Engine::new(&config)?)
}

/// The linker with everything a spin-sdk 7 component imports.
pub fn make_linker(engine: &Engine) -> anyhow::Result<Linker<HostState>> {
    let mut linker = Linker::new(engine);
    // Rust's std on wasm32-wasip2 imports WASI 0.2 cli/io/random/clocks.
    wasmtime_wasi::p2::add_to_linker_async(&mut linker)?;
    // spin-sdk 7 itself is WASI 0.3.
    wasmtime_wasi::p3::add_to_linker(&mut linker)?;
    wasmtime_wasi_http::p3::add_to_linker(&mut linker)?;
    crate::spin_bindings::SpinHost::add_to_linker::<_, HasSelf<HostState>>(&mut linker, |s| s)?;
    Ok(linker)
}

/// Compiled code for `wasm`, from `<cache_dir>/<sha256>.cwasm` when present.
pub fn load_component(engine: &Engine, source: &Path, cache_dir: &Path) -> anyhow::Result<(Component, bool)> {
    let bytes = std::fs::read(source).with_context(|| {
        format!(
            "cannot read component {} (build it first, or run without --no-build)",
            source.display()
        )
    })?;
    let mut h = Sha256::new();
    h.update(WASMTIME_VERSION.as_bytes());
    h.update(&bytes);
    let key = vinr_shared::keys::hex(&h.finalize());
    let cached: PathBuf = cache_dir.join(format!("{key}.cwasm"));
    if cached.exists() {
        // SAFETY: the file was written by `Component::serialize` of this same wasmtime version
        // in our own data directory; wasmtime additionally checks version and engine settings.
        match unsafe { Component::deserialize_file(engine, &cached) } {
            Ok(c) => return Ok((c, true)),
            Err(e) => eprintln!("warning: ignoring cached {}: {e:#}", cached.display()),
        }
    }
    let component = Component::new(engine, &bytes)
        .map_err(anyhow::Error::from)
        .with_context(|| format!("cannot compile {}", source.display()))?;
    std::fs::create_dir_all(cache_dir)?;
    let tmp = cache_dir.join(format!("{key}.tmp{}", std::process::id()));
    std::fs::write(&tmp, component.serialize()?)?;
    std::fs::rename(&tmp, &cached)?;
    Ok((component, false))
}

/// A component ready to serve: pre-linked once, instantiated per request.
pub struct Loaded {
    pub name: String,
    pub pre: ProxyPre<HostState>,
    pub sqlite_databases: Vec<String>,
}

pub fn load_all(engine: &Engine, manifest: &Manifest, cache_dir: &Path) -> anyhow::Result<Vec<Loaded>> {
    let linker = make_linker(engine)?;
    let mut out = Vec::new();
    // Only components some route uses.
    let used: BTreeSet<&str> = manifest.routes.iter().map(|r| r.component.as_str()).collect();
    for (name, def) in &manifest.components {
        if !used.contains(name.as_str()) {
            continue;
        }
        let start = Instant::now();
        let (component, from_cache) =
            load_component(engine, &def.source, cache_dir).with_context(|| format!("component {name}"))?;
        let pre = linker
            .instantiate_pre(&component)
            .map_err(anyhow::Error::from)
            .with_context(|| format!("component {name} imports something vinr does not provide"))?;
        let pre = wasmtime_wasi_http::p3::bindings::ServicePre::new(pre)
            .map_err(anyhow::Error::from)
            .with_context(|| {
                format!("component {name} does not export wasi:http/handler@0.3 (is it a spin-sdk 7 http component?)")
            })?;
        eprintln!(
            "Loaded component {name} in {:.1} ms ({})",
            start.elapsed().as_secs_f64() * 1000.0,
            if from_cache { "cached" } else { "compiled" }
        );
        out.push(Loaded {
            name: name.clone(),
            pre: ProxyPre::P3(pre),
            sqlite_databases: def.sqlite_databases.clone(),
        });
    }
    Ok(out)
}
