//! Model configuration of the reference engine: the artifact loader and
//! the two backends shared by every session of one [`ReferenceTarget`],
//! plus the model catalog kept in the store.
//!
//! [`ReferenceTarget`]: super::ReferenceTarget

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use crate::artifact::{ArtifactError, ArtifactLoader, LoaderOptions};
use crate::backend::mlflow::MlflowBackend;
use crate::backend::onnx::{OnnxBackend, OnnxConfig};
use crate::backend::{BackendError, ModelBackend, ModelEngine};
use crate::catalog::{ModelCatalog, ModelSettings};
use crate::sidecar::PoolConfig;

/// Settings for running models in the reference engine.
#[derive(Debug, Clone, Default)]
pub struct EngineConfig {
    /// Artifact cache directory, directory-checksum variant and S3
    /// settings.
    pub loader: LoaderOptions,
    /// The MLflow sidecar pool; `None` means MLflow models cannot run
    /// (CREATE MODEL still validates them, and MODEL_PREDICT on them fails
    /// with an error naming the missing pool).
    pub mlflow: Option<PoolConfig>,
    /// The ONNX backend's cache size and nondeterminism default.
    pub onnx: OnnxConfig,
}

/// A failure to build the model runtime from an [`EngineConfig`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EngineConfigError {
    /// The artifact cache directory cannot be created.
    #[error("cannot set up the model artifact loader: {0}")]
    Loader(#[from] ArtifactError),
    /// The sidecar pool settings are invalid.
    #[error("cannot set up the MLflow sidecar pool: {0}")]
    Sidecar(#[from] BackendError),
}

/// Use counts of one cached model, as `INFORMATION_SCHEMA.TIDB_MODEL_CACHE`
/// shows them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CacheUsage {
    /// Database of the model that last used the entry.
    pub model_schema: String,
    /// Name of that model.
    pub model_name: String,
    /// Its version.
    pub version: u64,
    /// Uses served by an already loaded model.
    pub hits: u64,
    /// Uses that made the backend load the model.
    pub misses: u64,
    /// Engine ts of the first load.
    pub load_time: u64,
    /// Engine ts of the last use.
    pub last_used_time: u64,
}

/// The loader and backends of one engine. Sessions reach it through the
/// store.
pub struct ModelRuntime {
    /// Fetches and verifies artifacts.
    pub loader: ArtifactLoader,
    /// In-process ONNX backend.
    pub onnx: OnnxBackend,
    /// MLflow backend over one sidecar pool, when configured.
    pub mlflow: Option<MlflowBackend>,
    /// Cache use by (engine, checksum).
    pub cache_usage: Mutex<HashMap<(ModelEngine, String), CacheUsage>>,
}

impl std::fmt::Debug for ModelRuntime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ModelRuntime")
            .field("cache_dir", &self.loader.cache_dir())
            .field("mlflow", &self.mlflow.is_some())
            .finish_non_exhaustive()
    }
}

impl ModelRuntime {
    /// Builds the loader and backends. The sidecar pool starts its
    /// workers on first use.
    pub fn new(config: EngineConfig) -> Result<ModelRuntime, EngineConfigError> {
        let loader = ArtifactLoader::new(config.loader)?;
        let mlflow = config.mlflow.map(MlflowBackend::new).transpose()?;
        Ok(ModelRuntime {
            loader,
            onnx: OnnxBackend::new(config.onnx),
            mlflow,
            cache_usage: Mutex::new(HashMap::new()),
        })
    }

    /// The backend of `engine`, or why there is none.
    pub fn backend(&self, engine: ModelEngine) -> Result<&dyn ModelBackend, String> {
        match engine {
            ModelEngine::Onnx => Ok(&self.onnx),
            ModelEngine::Mlflow => match &self.mlflow {
                Some(backend) => Ok(backend),
                None => Err("MLflow models cannot run: the engine was built without an \
                     MLflow sidecar pool (set EngineConfig.mlflow)"
                    .to_string()),
            },
        }
    }
}

/// Model state kept in the store: the catalog, the runtime, and the test
/// overrides of the access seam. A clone shares the catalog and runtime.
#[derive(Debug, Default, Clone)]
pub struct ModelState {
    /// `mysql.tidb_model` and `mysql.tidb_model_version`. Statements take
    /// a cheap snapshot of the `Arc`; DDL replaces it copy-on-write.
    pub catalog: Arc<ModelCatalog>,
    /// Loader and backends; `None` for an engine built without models.
    pub runtime: Option<Arc<ModelRuntime>>,
    /// Model settings used instead of the system variables, when set.
    pub settings_override: Option<ModelSettings>,
}
