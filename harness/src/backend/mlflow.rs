//! The MLflow backend: IO inspection from the `MLmodel` file, inference
//! through the batching sidecar client.

use std::path::Path;

use crate::mlmodel;
use crate::sidecar::{BlockingPool, ClientError, PoolConfig, PoolStats, PredictRequest};

use super::{Batch, BackendError, ModelBackend, ModelEngine, ModelIo, ModelRef};

/// Runs MLflow PyFunc models in a pool of sidecar processes.
pub struct MlflowBackend {
    pool: BlockingPool,
}

impl MlflowBackend {
    /// Creates a backend whose pool starts its workers on first use.
    pub fn new(config: PoolConfig) -> Result<MlflowBackend, BackendError> {
        let pool = BlockingPool::new(config).map_err(|err| BackendError::Inference(err.to_string()))?;
        Ok(MlflowBackend { pool })
    }

    /// Returns the pool's counters.
    pub fn pool_stats(&self) -> PoolStats {
        self.pool.stats()
    }

    /// Returns the pool, for cache statistics and shutdown.
    pub fn pool(&self) -> &BlockingPool {
        &self.pool
    }
}

impl ModelBackend for MlflowBackend {
    fn engine(&self) -> ModelEngine {
        ModelEngine::Mlflow
    }

    fn inspect_io(&self, artifact: &Path) -> Result<ModelIo, BackendError> {
        mlmodel::inspect_mlmodel(artifact).map_err(|err| BackendError::Invalid(err.to_string()))
    }

    fn infer_batch(&self, model: &ModelRef, batch: &Batch) -> Result<Batch, BackendError> {
        let context = |err: ClientError| {
            // The SQL error carries the cause without the sidecar's stderr,
            // because stderr contains timestamps. The stderr tail is logged.
            if let ClientError::Died { stderr, .. } | ClientError::Start { stderr, .. } = &err {
                tracing::warn!(model = %model.name, version = model.version, "sidecar stderr: {}", stderr.join(" | "));
            }
            let message = format!("model '{}' version {}: {}", model.name, model.version, err.without_stderr());
            if err.is_timeout() {
                BackendError::Timeout(message)
            } else {
                BackendError::Inference(message)
            }
        };
        let output = self
            .pool
            .predict(PredictRequest {
                model_path: &model.path,
                input_names: &batch.columns,
                output_names: Some(&model.outputs),
                rows: batch.rows,
                values: &batch.values,
                timeout: model.timeout,
            })
            .map_err(context)?;
        Ok(Batch {
            columns: if output.rows == 0 { model.outputs.clone() } else { output.output_names },
            rows: output.rows,
            values: output.values,
        })
    }
}
