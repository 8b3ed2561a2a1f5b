//! A synchronous front for the pool, for the reference engine and the CLI,
//! which run on plain threads.

use sidecar_protocol::CacheStats;

use super::error::ClientError;
use super::pool::{PoolConfig, PoolStats, PredictOutput, PredictRequest, SidecarPool};

/// A pool with its own tokio runtime.
///
/// Calls block the current thread; they must not be made from inside a
/// tokio runtime (use [`SidecarPool`] there).
pub struct BlockingPool {
    // Field order matters: the pool (and its workers' sockets) drops before
    // the runtime that registered them.
    pool: SidecarPool,
    runtime: tokio::runtime::Runtime,
}

impl BlockingPool {
    /// Makes a pool and a small runtime for it.
    pub fn new(config: PoolConfig) -> Result<BlockingPool, ClientError> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("sidecar-client")
            .enable_all()
            .build()
            .map_err(|err| ClientError::InvalidRequest(format!("cannot start a runtime: {err}")))?;
        let pool = SidecarPool::new(config)?;
        Ok(BlockingPool { pool, runtime })
    }

    /// The async pool inside.
    pub fn pool(&self) -> &SidecarPool {
        &self.pool
    }

    /// See [`SidecarPool::predict`].
    pub fn predict(&self, request: PredictRequest<'_>) -> Result<PredictOutput, ClientError> {
        self.runtime.block_on(self.pool.predict(request))
    }

    /// See [`SidecarPool::ping`].
    pub fn ping(&self, slot: usize) -> Result<CacheStats, ClientError> {
        self.runtime.block_on(self.pool.ping(slot))
    }

    /// See [`SidecarPool::load`]: whether the model was cached, and its
    /// signature's inputs and outputs.
    #[allow(clippy::type_complexity)]
    pub fn load(
        &self,
        model_path: &std::path::Path,
    ) -> Result<(bool, Vec<sidecar_protocol::ColumnSpec>, Vec<sidecar_protocol::ColumnSpec>), ClientError> {
        self.runtime.block_on(self.pool.load(model_path))
    }

    /// See [`SidecarPool::stats`].
    pub fn stats(&self) -> PoolStats {
        self.pool.stats()
    }

    /// See [`SidecarPool::spawned_pids`].
    pub fn spawned_pids(&self) -> Vec<u32> {
        self.pool.spawned_pids()
    }

    /// Process id of the standby worker, when one is started and idle.
    pub fn standby_pid(&self) -> Option<u32> {
        self.pool.standby_pid()
    }

    /// Process ids of the running workers, by slot.
    pub fn worker_pids(&self) -> Vec<Option<u32>> {
        self.runtime.block_on(self.pool.worker_pids())
    }

    /// Stops every worker; see [`SidecarPool::shutdown`].
    pub fn shutdown(&self) {
        self.runtime.block_on(self.pool.shutdown());
    }
}

impl Drop for BlockingPool {
    fn drop(&mut self) {
        self.runtime.block_on(self.pool.shutdown());
    }
}
