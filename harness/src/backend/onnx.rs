//! The in-process ONNX backend, built on tract.
//!
//! A model is checked on the protobuf first (FP32 inputs and outputs of
//! shape `[N]` or `[N, 1]`, no external tensor data, no nondeterministic
//! operators unless allowed), then compiled by tract once with a symbolic
//! batch dimension `N`. The resulting plan runs any batch size, and an LRU
//! keyed by checksum keeps compiled plans between statements.

mod artifact;
mod cache;
mod custom_ops;
mod determinism;

use std::num::NonZeroUsize;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use tract_onnx::prelude::*;

use crate::backend::{BackendError, Batch, ModelBackend, ModelEngine, ModelIo, ModelRef};

pub use artifact::{IoShape, FLOAT32, MAX_MODEL_BYTES};
pub use cache::CacheStats;
pub use custom_ops::{CustomOpNode, STANDARD_DOMAINS};
pub use determinism::{NondeterministicNode, RANDOM_OPS};

use artifact::Artifact;
use cache::ModelCache;

/// Name of the symbol tract uses for the batch dimension.
const BATCH_SYMBOL: &str = "N";

/// Settings of the ONNX backend, mirroring TiDB's system variables.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OnnxConfig {
    /// Maximum number of compiled models kept (`tidb_model_cache_capacity`).
    pub cache_capacity: NonZeroUsize,
    /// Whether models with random operators may load
    /// (`tidb_model_allow_nondeterministic`).
    pub allow_nondeterministic: bool,
    /// Whether models with operators outside the standard ONNX domains may
    /// load (`tidb_enable_model_custom_ops`).
    pub allow_custom_ops: bool,
}

/// Default of [`OnnxConfig::cache_capacity`].
pub const DEFAULT_CACHE_CAPACITY: NonZeroUsize = match NonZeroUsize::new(64) {
    Some(capacity) => capacity,
    None => unreachable!(),
};

impl Default for OnnxConfig {
    fn default() -> Self {
        OnnxConfig {
            cache_capacity: DEFAULT_CACHE_CAPACITY,
            allow_nondeterministic: false,
            allow_custom_ops: false,
        }
    }
}

/// Reads an `.onnx` file and returns its inputs and outputs, rejecting
/// models that `USING ONNX` cannot serve with the default settings.
///
/// The checks read the protobuf only: FP32 inputs and outputs of shape
/// `[N]` or `[N, 1]` with a dynamic batch dimension, no external tensor
/// data and no nondeterministic operators. Whether tract supports every
/// operator is checked by [`OnnxBackend::inspect_io`], which compiles the
/// model.
pub fn inspect_file(path: &Path) -> Result<ModelIo, BackendError> {
    let artifact = artifact::read_artifact(path)?;
    let nondeterministic = determinism::find_nondeterministic(&artifact.proto);
    check_nondeterministic(&nondeterministic, false)
        .map_err(|message| invalid_file(path, message))?;
    check_custom_ops(&artifact.proto, false).map_err(|message| invalid_file(path, message))?;
    Ok(artifact.io)
}

/// A compiled model with the facts inference needs.
struct LoadedModel {
    plan: Arc<TypedRunnableModel>,
    io: ModelIo,
    input_shapes: Vec<IoShape>,
    nondeterministic: Vec<NondeterministicNode>,
}

/// The ONNX backend: compiles models with tract and caches them by checksum.
pub struct OnnxBackend {
    allow_nondeterministic: AtomicBool,
    allow_custom_ops: AtomicBool,
    cache: ModelCache<LoadedModel>,
}

impl Default for OnnxBackend {
    fn default() -> Self {
        OnnxBackend::new(OnnxConfig::default())
    }
}

impl OnnxBackend {
    /// Creates a backend with an empty cache.
    pub fn new(config: OnnxConfig) -> OnnxBackend {
        OnnxBackend {
            allow_nondeterministic: AtomicBool::new(config.allow_nondeterministic),
            allow_custom_ops: AtomicBool::new(config.allow_custom_ops),
            cache: ModelCache::new(config.cache_capacity),
        }
    }

    /// Sets whether nondeterministic models may load and run, as
    /// `SET GLOBAL tidb_model_allow_nondeterministic` does. Cached models are
    /// checked again on their next use.
    pub fn set_allow_nondeterministic(&self, allow: bool) {
        self.allow_nondeterministic.store(allow, Ordering::Relaxed);
    }

    /// Returns whether nondeterministic models may load and run.
    pub fn allow_nondeterministic(&self) -> bool {
        self.allow_nondeterministic.load(Ordering::Relaxed)
    }

    /// Sets whether models with custom operators may load, as
    /// `SET GLOBAL tidb_enable_model_custom_ops` does. The check runs when a
    /// model loads, so models already compiled stay cached.
    pub fn set_allow_custom_ops(&self, allow: bool) {
        self.allow_custom_ops.store(allow, Ordering::Relaxed);
    }

    /// Returns whether models with custom operators may load.
    pub fn allow_custom_ops(&self) -> bool {
        self.allow_custom_ops.load(Ordering::Relaxed)
    }

    /// Changes the cache capacity, as `SET GLOBAL tidb_model_cache_capacity`
    /// does, evicting the least recently used models that no longer fit.
    /// Capacity 0 keeps no compiled model, so every call compiles again.
    pub fn set_cache_capacity(&self, capacity: usize) {
        self.cache.resize(capacity);
    }

    /// Drops the compiled model of `checksum` from the cache, as an
    /// expired `tidb_model_cache_ttl` does; returns whether it was cached.
    pub fn evict(&self, checksum: &str) -> bool {
        self.cache.remove(checksum)
    }

    /// Returns the cache counters and size.
    pub fn cache_stats(&self) -> CacheStats {
        self.cache.stats()
    }

    /// Checksums of the cached models, most recently used first.
    pub fn cached_checksums(&self) -> Vec<String> {
        self.cache.checksums()
    }

    /// Returns the compiled model for `model`, loading it on a cache miss.
    fn load(&self, model: &ModelRef) -> Result<Arc<LoadedModel>, BackendError> {
        if let Some(loaded) = self.cache.get(&model.checksum) {
            return Ok(loaded);
        }

        let started = std::time::Instant::now();
        let loaded = load_model(
            &model.path,
            self.allow_nondeterministic(),
            self.allow_custom_ops(),
        )
        .map_err(|err| with_model(model, err))?;
        let loaded = Arc::new(loaded);
        tracing::debug!(
            model = %model.name,
            version = model.version,
            checksum = %model.checksum,
            elapsed_ms = started.elapsed().as_secs_f64() * 1000.0,
            "compiled ONNX model"
        );
        self.cache.insert(&model.checksum, Arc::clone(&loaded));
        Ok(loaded)
    }
}

impl ModelBackend for OnnxBackend {
    fn engine(&self) -> ModelEngine {
        ModelEngine::Onnx
    }

    /// Runs every check of [`inspect_file`] with this backend's
    /// nondeterminism setting, then compiles the model with tract so that
    /// unsupported operators are rejected too.
    fn inspect_io(&self, artifact: &Path) -> Result<ModelIo, BackendError> {
        Ok(load_model(
            artifact,
            self.allow_nondeterministic(),
            self.allow_custom_ops(),
        )?
        .io)
    }

    // NOTE: no timeout applies here, because a tract plan cannot be
    // interrupted while it runs; a caller enforcing tidb_model_timeout has to
    // do it around this call.
    fn infer_batch(&self, model: &ModelRef, batch: &Batch) -> Result<Batch, BackendError> {
        check_batch(batch).map_err(|message| inference_error(model, message))?;
        let loaded = self.load(model)?;

        // A cached model passed the check when it loaded, but the setting
        // may have been switched off since.
        check_nondeterministic(&loaded.nondeterministic, self.allow_nondeterministic())
            .map_err(|message| with_model(model, BackendError::Invalid(message)))?;
        run_batch(&loaded, model, batch).map_err(|message| inference_error(model, message))
    }
}

/// Reads, checks and compiles a model. The scans for nondeterministic and
/// custom operators run on the protobuf before tract compiles anything.
/// The nondeterministic findings are kept so later uses can check them
/// against the setting then.
fn load_model(
    path: &Path,
    allow_nondeterministic: bool,
    allow_custom_ops: bool,
) -> Result<LoadedModel, BackendError> {
    let artifact = artifact::read_artifact(path)?;
    let nondeterministic = determinism::find_nondeterministic(&artifact.proto);
    check_nondeterministic(&nondeterministic, allow_nondeterministic)
        .map_err(|message| invalid_file(path, message))?;
    check_custom_ops(&artifact.proto, allow_custom_ops)
        .map_err(|message| invalid_file(path, message))?;

    let plan = compile(&artifact)
        .map_err(|err| invalid_file(path, format!("tract cannot compile it: {err:#}")))?;
    Ok(LoadedModel {
        plan,
        io: artifact.io,
        input_shapes: artifact.input_shapes,
        nondeterministic,
    })
}

fn invalid_file(path: &Path, message: String) -> BackendError {
    BackendError::Invalid(format!("invalid ONNX model {}: {message}", path.display()))
}

fn check_nondeterministic(nodes: &[NondeterministicNode], allow: bool) -> Result<(), String> {
    match nodes.first() {
        Some(first) if !allow => Err(format!(
            "{first}; nondeterministic models are rejected unless \
             tidb_model_allow_nondeterministic is ON{}",
            if nodes.len() > 1 {
                format!(" ({} such nodes in total)", nodes.len())
            } else {
                String::new()
            }
        )),
        _ => Ok(()),
    }
}

/// Rejects custom operators unless `allow` is set. When they are allowed,
/// tract still has to implement them, or compiling fails.
fn check_custom_ops(proto: &tract_onnx::pb::ModelProto, allow: bool) -> Result<(), String> {
    if allow {
        return Ok(());
    }
    let nodes = custom_ops::find_custom_ops(proto);
    match nodes.first() {
        Some(first) => Err(format!(
            "{first}, outside the standard ONNX domains; models with custom operators \
             are rejected unless tidb_enable_model_custom_ops is ON{}",
            if nodes.len() > 1 {
                format!(" ({} such nodes in total)", nodes.len())
            } else {
                String::new()
            }
        )),
        None => Ok(()),
    }
}

/// Compiles the model into an optimized plan whose inputs have the batch
/// dimension `N` as a symbol, so one plan serves every batch size.
fn compile(artifact: &Artifact) -> TractResult<Arc<TypedRunnableModel>> {
    // Value info only carries shape hints, and its symbols for the batch
    // dimension may differ from the one the inputs get below.
    let mut model = tract_onnx::onnx()
        .with_ignore_value_info(true)
        .model_for_proto_model(&artifact.proto)?;

    let batch = model.sym(BATCH_SYMBOL);
    for (index, shape) in artifact.input_shapes.iter().enumerate() {
        let dims: Vec<TDim> = match shape {
            IoShape::Column => vec![batch.clone().into(), 1.into()],
            IoShape::Vector => vec![batch.clone().into()],
        };
        model.set_input_fact(index, InferenceFact::dt_shape(f32::datum_type(), dims))?;
    }

    // NOTE: tract-onnx 0.23.9 picks the `...Like` form of RandomNormalLike
    // and RandomUniformLike by the node name instead of the op type, so such
    // nodes fail to compile unless their name ends in "Like", even when
    // nondeterministic models are allowed.
    model.into_optimized()?.into_runnable()
}

fn with_model(model: &ModelRef, err: BackendError) -> BackendError {
    let prefix = format!("model '{}' version {}", model.name, model.version);
    match err {
        BackendError::Invalid(message) => BackendError::Invalid(format!("{prefix}: {message}")),
        BackendError::Inference(message) => BackendError::Inference(format!("{prefix}: {message}")),
        BackendError::Timeout(message) => BackendError::Timeout(format!("{prefix}: {message}")),
    }
}

fn inference_error(model: &ModelRef, message: String) -> BackendError {
    BackendError::Inference(format!(
        "model '{}' version {}: {message}",
        model.name, model.version
    ))
}

fn check_batch(batch: &Batch) -> Result<(), String> {
    let expected = batch.rows.checked_mul(batch.columns.len());
    if expected != Some(batch.values.len()) {
        return Err(format!(
            "the batch has {} values for {} rows of {} columns",
            batch.values.len(),
            batch.rows,
            batch.columns.len()
        ));
    }
    Ok(())
}

/// Runs one batch through a compiled model. Inputs are matched to batch
/// columns by name, and outputs are returned in `model.outputs` order.
fn run_batch(loaded: &LoadedModel, model: &ModelRef, batch: &Batch) -> Result<Batch, String> {
    let input_columns = map_inputs(&loaded.io, batch)?;
    let output_indexes = map_outputs(&loaded.io, model)?;
    let rows = batch.rows;
    if rows == 0 {
        return Ok(Batch::empty(model.outputs.clone()));
    }

    let width = batch.columns.len();
    let mut inputs: TVec<TValue> = TVec::new();
    for (column, shape) in input_columns.iter().zip(&loaded.input_shapes) {
        let values: Vec<f32> = (0..rows)
            .map(|row| batch.values[row * width + column])
            .collect();
        let dims: &[usize] = match shape {
            IoShape::Column => &[rows, 1],
            IoShape::Vector => &[rows],
        };
        let tensor = Tensor::from_shape(dims, &values)
            .map_err(|err| format!("cannot build an input tensor: {err:#}"))?;
        inputs.push(tensor.into_tvalue());
    }

    let outputs = loaded
        .plan
        .run(inputs)
        .map_err(|err| format!("tract inference failed: {err:#}"))?;
    if outputs.len() != loaded.io.outputs.len() {
        return Err(format!(
            "the model returned {} outputs but declares {}",
            outputs.len(),
            loaded.io.outputs.len()
        ));
    }

    let mut columns: Vec<&[f32]> = Vec::with_capacity(output_indexes.len());
    for &index in &output_indexes {
        columns.push(output_values(
            &outputs[index],
            &loaded.io.outputs[index].name,
            rows,
        )?);
    }

    let total = rows.checked_mul(columns.len()).ok_or_else(|| {
        format!(
            "{rows} rows of {} outputs overflow the address space",
            columns.len()
        )
    })?;
    let mut values = Vec::with_capacity(total);
    for row in 0..rows {
        for column in &columns {
            values.push(column[row]);
        }
    }
    Ok(Batch {
        columns: model.outputs.clone(),
        rows,
        values,
    })
}

/// For each model input, the index of the batch column of the same name.
fn map_inputs(io: &ModelIo, batch: &Batch) -> Result<Vec<usize>, String> {
    if batch.columns.len() != io.inputs.len() {
        return Err(format!(
            "the batch has {} columns {:?} but the ONNX model has {} inputs {:?}",
            batch.columns.len(),
            batch.columns,
            io.inputs.len(),
            io.inputs.iter().map(|c| &c.name).collect::<Vec<_>>()
        ));
    }
    io.inputs
        .iter()
        .map(|input| {
            batch
                .columns
                .iter()
                .position(|c| *c == input.name)
                .ok_or_else(|| {
                    format!(
                        "the ONNX model input '{}' has no batch column; the batch columns are {:?}",
                        input.name, batch.columns
                    )
                })
        })
        .collect()
}

/// For each requested output, its index among the model's outputs.
fn map_outputs(io: &ModelIo, model: &ModelRef) -> Result<Vec<usize>, String> {
    model
        .outputs
        .iter()
        .map(|name| {
            io.outputs
                .iter()
                .position(|c| c.name == *name)
                .ok_or_else(|| {
                    format!(
                    "output '{name}' is not an output of the ONNX model, whose outputs are {:?}",
                    io.outputs.iter().map(|c| &c.name).collect::<Vec<_>>()
                )
                })
        })
        .collect()
}

/// Returns the FP32 values of one output after checking that it holds one
/// value per row.
fn output_values<'a>(value: &'a TValue, name: &str, rows: usize) -> Result<&'a [f32], String> {
    let shape = value.shape();
    let one_per_row = shape == [rows] || shape == [rows, 1];
    if !one_per_row {
        return Err(format!(
            "output '{name}' has shape {shape:?} for a batch of {rows} rows; \
             outputs must have the shape [N] or [N, 1]"
        ));
    }
    if value.datum_type() != f32::datum_type() {
        return Err(format!(
            "output '{name}' has element type {:?}, expected FP32",
            value.datum_type()
        ));
    }
    value
        .try_as_plain_ram()
        .and_then(|view| view.as_slice::<f32>())
        .map_err(|err| format!("cannot read output '{name}': {err:#}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assert_send_sync<T: Send + Sync>() {}

    #[test]
    fn backend_is_send_and_sync() {
        assert_send_sync::<OnnxBackend>();
    }
}
