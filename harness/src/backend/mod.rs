//! Model backends: one interface for ONNX (in-process) and MLflow (through
//! the sidecar pool).
//!
//! The reference engine evaluates `MODEL_PREDICT` a batch at a time through
//! [`ModelBackend::infer_batch`], never one call per row.

use std::path::{Path, PathBuf};

pub mod mlflow;
pub mod onnx;

/// The engine keyword of `CREATE MODEL ... USING <engine>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ModelEngine {
    /// `USING ONNX`: a single `.onnx` file run in-process.
    Onnx,
    /// `USING MLFLOW`: an MLflow PyFunc directory run by the sidecar pool.
    Mlflow,
}

impl ModelEngine {
    /// The lowercase name stored in `mysql.tidb_model_version.engine`.
    pub fn as_str(self) -> &'static str {
        match self {
            ModelEngine::Onnx => "onnx",
            ModelEngine::Mlflow => "mlflow",
        }
    }
}

/// One input or output of a model, as inspected from the artifact.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct IoColumn {
    /// Name, matched against the SQL INPUT/OUTPUT lists.
    pub name: String,
    /// Type as the artifact declares it (`float32`, `double`, `long`, ...).
    #[serde(rename = "type")]
    pub data_type: String,
}

/// Inputs and outputs of a model, in the artifact's order.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ModelIo {
    /// Inputs.
    pub inputs: Vec<IoColumn>,
    /// Outputs.
    pub outputs: Vec<IoColumn>,
}

/// A resolved model version, as the engine hands it to a backend.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelRef {
    /// SQL name of the model, for error messages.
    pub name: String,
    /// Version number, for error messages.
    pub version: u64,
    /// Local path of the materialized artifact (file for ONNX, directory
    /// for MLflow).
    pub path: PathBuf,
    /// Checksum of the artifact, `sha256:<hex>`; a cache key.
    pub checksum: String,
    /// Input names in SQL declaration order; batches use this column order.
    pub inputs: Vec<String>,
    /// Output names in SQL declaration order.
    pub outputs: Vec<String>,
    /// Time limit of one inference call (`tidb_model_timeout`). The MLflow
    /// backend caps its sidecar request timeout with it; the ONNX backend
    /// cannot interrupt tract and ignores it.
    pub timeout: Option<std::time::Duration>,
}

/// A row-major FP32 matrix with named columns.
#[derive(Debug, Clone, PartialEq)]
pub struct Batch {
    /// Column names.
    pub columns: Vec<String>,
    /// Number of rows.
    pub rows: usize,
    /// `rows × columns.len()` values, row-major.
    pub values: Vec<f32>,
}

impl Batch {
    /// An empty batch with the given columns.
    pub fn empty(columns: Vec<String>) -> Batch {
        Batch {
            columns,
            rows: 0,
            values: Vec::new(),
        }
    }

    /// Row `index` as a slice.
    pub fn row(&self, index: usize) -> &[f32] {
        let width = self.columns.len();
        &self.values[index * width..(index + 1) * width]
    }
}

/// A failure to inspect or run a model. The message already names the
/// model, version and cause where they are known.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BackendError {
    /// The artifact is invalid for this engine (rejected at DDL time).
    #[error("{0}")]
    Invalid(String),
    /// Inference failed; the statement fails and may be retried.
    #[error("{0}")]
    Inference(String),
    /// Inference did not finish within the timeout.
    #[error("{0}")]
    Timeout(String),
}

/// Batch inference and IO inspection for one engine.
pub trait ModelBackend: Send + Sync {
    /// The engine this backend runs.
    fn engine(&self) -> ModelEngine;

    /// Reads the inputs and outputs an artifact declares, rejecting
    /// artifacts this engine cannot run.
    fn inspect_io(&self, artifact: &Path) -> Result<ModelIo, BackendError>;

    /// Runs one batch whose columns are `model.inputs`, returning a batch
    /// whose columns are `model.outputs` with the same number of rows.
    fn infer_batch(&self, model: &ModelRef, batch: &Batch) -> Result<Batch, BackendError>;
}

/// Checks that the SQL INPUT and OUTPUT lists name exactly the artifact's
/// inputs and outputs, in any order.
pub fn check_io_names(
    artifact: &str,
    io: &ModelIo,
    sql_inputs: &[String],
    sql_outputs: &[String],
) -> Result<(), BackendError> {
    let sides = [
        ("inputs", &io.inputs, sql_inputs),
        ("outputs", &io.outputs, sql_outputs),
    ];
    for (side, model_columns, sql_names) in sides {
        let mut model_names: Vec<&str> = model_columns.iter().map(|c| c.name.as_str()).collect();
        let mut wanted: Vec<&str> = sql_names.iter().map(String::as_str).collect();
        model_names.sort_unstable();
        wanted.sort_unstable();
        if model_names != wanted {
            return Err(BackendError::Invalid(format!(
                "model {artifact}: the SQL {side} {sql_names:?} do not match the model's {side} {:?}",
                model_columns.iter().map(|c| c.name.as_str()).collect::<Vec<_>>()
            )));
        }
    }
    Ok(())
}
