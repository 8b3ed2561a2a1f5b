//! The engine's model cache as `INFORMATION_SCHEMA.TIDB_MODEL_CACHE`
//! shows it: use counts per loaded model, and the effect of
//! `tidb_model_cache_capacity` and `tidb_model_cache_ttl`.
//!
//! Capacity and TTL bound the in-process ONNX cache of compiled models.
//! MLflow models live in the sidecar workers, whose own LRU size is the
//! `model-mlflow` block's `model_cache_entries`, so the engine only
//! records which MLflow models it sent to the pool.

use crate::backend::ModelEngine;
use crate::catalog::ModelSettings;

use super::engine_config::{CacheUsage, ModelRuntime};
use super::model_predict::PreparedModel;

/// Applies the model settings to the shared runtime at engine ts `now`.
/// Every data statement calls it first. It sets the ONNX switches
/// `tidb_model_allow_nondeterministic` and `tidb_enable_model_custom_ops`
/// and resizes the ONNX cache to `tidb_model_cache_capacity`. It then
/// evicts ONNX models idle for longer than `tidb_model_cache_ttl` (0 keeps
/// them) and drops the use counts of evicted models, so a reload starts
/// its row again.
pub fn apply_settings(runtime: &ModelRuntime, settings: &ModelSettings, now: u64) {
    runtime
        .onnx
        .set_allow_nondeterministic(settings.allow_nondeterministic);
    runtime
        .onnx
        .set_allow_custom_ops(settings.enable_custom_ops);

    let capacity = usize::try_from(settings.cache_capacity).unwrap_or(usize::MAX);
    if runtime.onnx.cache_stats().capacity != capacity {
        runtime.onnx.set_cache_capacity(capacity);
    }

    let mut usage = runtime
        .cache_usage
        .lock()
        .unwrap_or_else(|p| p.into_inner());
    let ttl = u64::try_from(settings.cache_ttl.as_micros()).unwrap_or(u64::MAX);
    if ttl > 0 {
        for ((engine, checksum), use_counts) in usage.iter() {
            let idle = now.saturating_sub(use_counts.last_used_time);
            if *engine == ModelEngine::Onnx && idle > ttl && runtime.onnx.evict(checksum) {
                tracing::debug!(model = %use_counts.model_name, version = use_counts.version, idle_us = idle, "evicted an ONNX model after tidb_model_cache_ttl");
            }
        }
    }
    let cached_onnx = runtime.onnx.cached_checksums();
    usage.retain(|(engine, checksum), _| {
        *engine != ModelEngine::Onnx || cached_onnx.contains(checksum)
    });
}

/// Counts a backend call of `prepared` at engine ts `now`; returns
/// whether the backend had the model loaded already.
pub fn record_use(runtime: &ModelRuntime, prepared: &PreparedModel, now: u64) -> bool {
    let engine = prepared.engine();
    let checksum = prepared.model_ref.checksum.clone();
    let mut usage = runtime
        .cache_usage
        .lock()
        .unwrap_or_else(|p| p.into_inner());
    let loaded = match engine {
        ModelEngine::Onnx => runtime.onnx.cached_checksums().contains(&checksum),
        ModelEngine::Mlflow => usage.contains_key(&(engine, checksum.clone())),
    };
    let entry = usage.entry((engine, checksum)).or_insert(CacheUsage {
        model_schema: prepared.db.clone(),
        model_name: prepared.name.clone(),
        version: prepared.version(),
        hits: 0,
        misses: 0,
        load_time: now,
        last_used_time: now,
    });
    if loaded {
        entry.hits += 1;
    } else {
        entry.misses += 1;
        entry.load_time = now;
    }
    entry.model_schema = prepared.db.clone();
    entry.model_name = prepared.name.clone();
    entry.version = prepared.version();
    entry.last_used_time = now;
    loaded
}
