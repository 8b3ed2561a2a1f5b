//! The batching client: a lazily started pool of sidecar workers.
//!
//! A predict call splits its rows into batches of at most
//! `max_batch_size`, spreads the batches over the workers, and reassembles
//! the outputs in input order. Each worker serves one request at a time;
//! concurrent calls queue on a worker's lock. A worker that times out, dies
//! or breaks the protocol is killed, reaped and removed; the next request
//! on its slot starts a new one, or takes the warm standby worker when the
//! pool keeps one (see [`super::standby`]).

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use sidecar_protocol::{payload, CacheStats, ColumnSpec, Request, MAX_BATCH_SIZE};
use tokio::sync::Mutex;

use super::command::SidecarCommand;
use super::error::ClientError;
use super::trace::{TraceTarget, Tracer};
use super::standby::Standby;
use super::worker::{RequestTime, Worker, WorkerOptions};
use crate::config::MlflowConfig;

/// Default time a sidecar gets to print its readiness line. Importing
/// `mlflow.pyfunc` alone takes about 2 s on a small machine.
pub const DEFAULT_START_TIMEOUT: Duration = Duration::from_secs(20);

/// Default rows per sidecar request. The engine splits statements at
/// `tidb_model_max_batch_size` first; this bounds direct callers. Each
/// Python sidecar request has a fixed cost of about 0.5 ms, while a row of
/// 8 FP32 inputs costs tens of nanoseconds, so large batches keep the
/// fixed cost small (docs/benchmarks.md).
pub const DEFAULT_MAX_BATCH_SIZE: usize = 65536;

/// Default smallest batch a call is split into to use more than one worker.
/// Below it, the fixed cost of a request outweighs the second core (the
/// profile behind this is in docs/benchmarks.md).
pub const DEFAULT_MIN_SPLIT_ROWS: usize = 2048;

/// Settings of a pool.
#[derive(Debug, Clone)]
pub struct PoolConfig {
    /// Program each worker runs.
    pub command: SidecarCommand,
    /// Number of workers.
    pub workers: usize,
    /// Time one request may take.
    pub request_timeout: Duration,
    /// Time a worker may take to become ready.
    pub start_timeout: Duration,
    /// Models each sidecar keeps loaded.
    pub cache_entries: usize,
    /// Rows per batch.
    pub max_batch_size: usize,
    /// Directory for the workers' private socket directories.
    pub socket_parent: PathBuf,
    /// JSON-lines transcript of every frame sent and received
    /// (docs/debugging.md); `None` records nothing.
    pub trace: Option<PathBuf>,
    /// Keeps one spare worker started (after the first worker is ready),
    /// which takes the place of a worker that timed out or died.
    pub standby: bool,
    /// A call is split into one batch per worker when every batch keeps at
    /// least this many rows, even below `max_batch_size`.
    pub min_split_rows: usize,
}

impl PoolConfig {
    /// Builds the settings of a pool that runs `command` with the
    /// `[model-mlflow]` settings.
    pub fn new(command: SidecarCommand, mlflow: &MlflowConfig) -> PoolConfig {
        PoolConfig {
            command,
            workers: mlflow.sidecar_workers,
            request_timeout: mlflow.request_timeout,
            start_timeout: DEFAULT_START_TIMEOUT,
            cache_entries: mlflow.model_cache_entries,
            max_batch_size: DEFAULT_MAX_BATCH_SIZE,
            socket_parent: std::env::temp_dir(),
            trace: None,
            standby: true,
            min_split_rows: DEFAULT_MIN_SPLIT_ROWS,
        }
    }
}

/// One predict call.
#[derive(Debug, Clone, Copy)]
pub struct PredictRequest<'a> {
    /// Absolute path of the MLflow model directory.
    pub model_path: &'a Path,
    /// Input names, in `values` column order.
    pub input_names: &'a [String],
    /// Output names wanted, in response column order; `None` takes the
    /// signature's order.
    pub output_names: Option<&'a [String]>,
    /// Number of rows.
    pub rows: usize,
    /// `rows × input_names.len()` values, row-major.
    pub values: &'a [f32],
    /// A shorter time limit per sidecar request than the pool's
    /// `request_timeout`; the pool uses the smaller of the two.
    pub timeout: Option<Duration>,
}

/// The result of a predict call.
#[derive(Debug, Clone, PartialEq)]
pub struct PredictOutput {
    /// Output names, in `values` column order.
    pub output_names: Vec<String>,
    /// Number of rows, equal to the request's.
    pub rows: usize,
    /// `rows × output_names.len()` values, row-major.
    pub values: Vec<f32>,
}

/// The pool's own counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PoolStats {
    /// Workers started since the pool was made.
    pub launches: u64,
    /// Workers killed after a timeout, death or protocol error.
    pub replacements: u64,
    /// Requests sent.
    pub requests: u64,
    /// Spare workers started, also counted in `launches`.
    pub standby_launches: u64,
    /// Spare workers that took the place of a replaced worker.
    pub standby_takes: u64,
}

struct Slot {
    worker: Option<Worker>,
}

/// A pool of sidecar workers. Cheap to clone; clones share the workers.
#[derive(Clone)]
pub struct SidecarPool {
    inner: Arc<PoolInner>,
}

struct PoolInner {
    config: PoolConfig,
    options: WorkerOptions,
    slots: Vec<Mutex<Slot>>,
    standby: Arc<Standby>,
    next_slot: AtomicUsize,
    closed: AtomicBool,
    launches: AtomicU64,
    replacements: AtomicU64,
    requests: AtomicU64,
    tracer: Option<Arc<Tracer>>,
    /// Process ids of the last [`SPAWNED_PIDS_KEPT`] processes started,
    /// including those whose start failed.
    spawned: std::sync::Mutex<std::collections::VecDeque<u32>>,
}

/// Process ids kept for [`SidecarPool::spawned_pids`].
const SPAWNED_PIDS_KEPT: usize = 1024;

impl SidecarPool {
    /// Makes a pool; no process starts until the first request.
    pub fn new(config: PoolConfig) -> Result<SidecarPool, ClientError> {
        if config.workers == 0 {
            return Err(ClientError::InvalidRequest("the pool needs at least one worker".into()));
        }
        if config.max_batch_size == 0 || config.max_batch_size > MAX_BATCH_SIZE as usize {
            return Err(ClientError::InvalidRequest(format!(
                "max batch size {} is outside 1..={MAX_BATCH_SIZE}",
                config.max_batch_size
            )));
        }
        let options = WorkerOptions {
            command: config.command.clone(),
            cache_entries: config.cache_entries,
            start_timeout: config.start_timeout,
            socket_parent: config.socket_parent.clone(),
        };
        let tracer = match &config.trace {
            Some(path) => Some(Tracer::create(path)?),
            None => None,
        };
        let slots = (0..config.workers)
            .map(|_| Mutex::new(Slot { worker: None }))
            .collect();
        let standby = Standby::new(config.standby);
        Ok(SidecarPool {
            inner: Arc::new(PoolInner {
                config,
                options,
                slots,
                standby,
                next_slot: AtomicUsize::new(0),
                closed: AtomicBool::new(false),
                launches: AtomicU64::new(0),
                replacements: AtomicU64::new(0),
                requests: AtomicU64::new(0),
                tracer,
                spawned: std::sync::Mutex::new(std::collections::VecDeque::new()),
            }),
        })
    }

    /// The pool's settings.
    pub fn config(&self) -> &PoolConfig {
        &self.inner.config
    }

    /// The pool's counters.
    pub fn stats(&self) -> PoolStats {
        let standby_launches = self.inner.standby.launches();
        PoolStats {
            launches: self.inner.launches.load(Ordering::Relaxed) + standby_launches,
            replacements: self.inner.replacements.load(Ordering::Relaxed),
            requests: self.inner.requests.load(Ordering::Relaxed),
            standby_launches,
            standby_takes: self.inner.standby.takes(),
        }
    }

    /// Process ids of the processes the pool started, oldest first (the
    /// last 1024), including those whose start failed; for checking that
    /// every one was reaped.
    pub fn spawned_pids(&self) -> Vec<u32> {
        let spawned = self.inner.spawned.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        spawned.iter().copied().collect()
    }

    /// Process id of the standby worker, when one is started and idle.
    pub fn standby_pid(&self) -> Option<u32> {
        self.inner.standby.pid()
    }

    /// Process ids of the running workers, by slot.
    pub async fn worker_pids(&self) -> Vec<Option<u32>> {
        let mut pids = Vec::with_capacity(self.inner.slots.len());
        for slot in &self.inner.slots {
            pids.push(slot.lock().await.worker.as_ref().map(Worker::pid));
        }
        pids
    }

    /// Runs a model over `request.rows` rows.
    pub async fn predict(&self, request: PredictRequest<'_>) -> Result<PredictOutput, ClientError> {
        let width = request.input_names.len();
        if width == 0 {
            return Err(ClientError::InvalidRequest("no input names".into()));
        }
        let expected = request.rows.checked_mul(width);
        if expected != Some(request.values.len()) {
            return Err(ClientError::InvalidRequest(format!(
                "{} values given for {} rows of {width} inputs",
                request.values.len(),
                request.rows
            )));
        }
        if !request.model_path.is_absolute() {
            return Err(ClientError::InvalidRequest(format!(
                "model path {} is not absolute",
                request.model_path.display()
            )));
        }
        if request.rows == 0 {
            let output_names = request.output_names.map(<[String]>::to_vec).unwrap_or_default();
            return Ok(PredictOutput {
                output_names,
                rows: 0,
                values: Vec::new(),
            });
        }

        // Split into batches and spread them over the slots, starting where
        // the previous call left off so that small calls share the load.
        let batch_rows = self.batch_rows(width, request.rows);
        let batches: Vec<(usize, usize)> = (0..request.rows)
            .step_by(batch_rows)
            .map(|start| (start, (start + batch_rows).min(request.rows)))
            .collect();
        let slot_count = self.inner.slots.len();
        let first_slot = self.inner.next_slot.fetch_add(batches.len(), Ordering::Relaxed);

        // Run the batches in waves of one per slot: each wave sends every
        // request before it reads the first response, so the sidecars work
        // in parallel while this thread does all the I/O.
        let mut output = Assembly::default();
        for (wave_index, wave) in batches.chunks(slot_count).enumerate() {
            let first = first_slot + wave_index * slot_count;
            let slots: Vec<usize> = (0..wave.len()).map(|i| (first + i) % slot_count).collect();
            self.run_wave(request, wave, &slots, width, &mut output).await?;
        }
        output.finish(request.rows)
    }

    /// Sends one batch to each of `slots`, then reads every response in
    /// batch order into `output`. The first failure fails the call, once
    /// every request sent has its response or its worker was discarded.
    async fn run_wave(
        &self,
        request: PredictRequest<'_>,
        batches: &[(usize, usize)],
        slots: &[usize],
        width: usize,
        output: &mut Assembly,
    ) -> Result<(), ClientError> {
        // Lock the slots in ascending order, so that concurrent calls whose
        // waves share slots cannot deadlock.
        let mut order: Vec<usize> = (0..slots.len()).collect();
        order.sort_by_key(|&i| slots[i]);
        let mut guards: Vec<Option<tokio::sync::MutexGuard<'_, Slot>>> =
            slots.iter().map(|_| None).collect();
        for &i in &order {
            guards[i] = Some(self.inner.slots[slots[i]].lock().await);
        }

        let model_path = request.model_path.display().to_string();
        let mut sent = Vec::with_capacity(batches.len());
        for (i, &(start, end)) in batches.iter().enumerate() {
            let Some(slot) = guards[i].as_deref_mut() else {
                return Err(ClientError::ShutDown);
            };
            let values = &request.values[start * width..end * width];
            let result = self
                .send_batch(slots[i], slot, request, &model_path, end - start, values)
                .await;
            if let Err(err) = &result {
                self.discard_if_dead(slot, err);
            }
            sent.push(result);
        }

        let mut first_error = None;
        for (i, result) in sent.into_iter().enumerate() {
            let Some(slot) = guards[i].as_deref_mut() else {
                continue;
            };
            let received = result.and_then(|(wire_request, time)| {
                let Some(worker) = slot.worker.as_mut() else {
                    return Err(ClientError::ShutDown);
                };
                let response = worker.receive_response(&wire_request, time, &model_path)?;
                check_predict_response(&wire_request, response, worker.response_payload(), output)
            });
            if let Err(err) = received {
                self.discard_if_dead(slot, &err);
                first_error.get_or_insert(err);
            }
        }
        match first_error {
            Some(err) => Err(err),
            None => Ok(()),
        }
    }

    /// Rows per batch for a call of `rows` rows: the configured maximum,
    /// lowered so that the payload fits the protocol's default payload
    /// limit, and lowered again so that a call of at least
    /// `2 × min_split_rows` rows keeps more than one worker busy. Batches
    /// come out of equal size, give or take one row.
    fn batch_rows(&self, width: usize, rows: usize) -> usize {
        let limit = sidecar_protocol::frame::DEFAULT_MAX_PAYLOAD_BYTES as usize / (width * 4);
        let max_rows = self.inner.config.max_batch_size.min(limit.max(1));
        let parallel_parts = (rows / self.inner.config.min_split_rows.max(1))
            .min(self.inner.slots.len())
            .max(1);
        let parts = rows.div_ceil(max_rows).max(parallel_parts);
        rows.div_ceil(parts).max(1)
    }

    /// Starts the slot's worker when needed and sends it one batch.
    /// Returns the request sent and its time limit.
    async fn send_batch(
        &self,
        slot_index: usize,
        slot: &mut Slot,
        request: PredictRequest<'_>,
        model_path: &str,
        rows: usize,
        values: &[f32],
    ) -> Result<(Request, RequestTime), ClientError> {
        let worker = self.ready_worker(slot_index, slot).await?;
        let payload_len = values.len().saturating_mul(4);
        if payload_len > worker.max_payload_bytes() {
            return Err(ClientError::InvalidRequest(format!(
                "a batch of {rows} rows is {payload_len} bytes, over the sidecar's payload limit of {} bytes",
                worker.max_payload_bytes()
            )));
        }
        let id = worker.next_id();
        let wire_request = Request::Predict {
            id,
            model_path: model_path.to_string(),
            input_names: request.input_names.to_vec(),
            output_names: request.output_names.map(<[String]>::to_vec),
            batch_size: rows as u32,
        };
        tracing::debug!(
            target: "harness::sidecar",
            slot = slot_index,
            pid = worker.pid(),
            id,
            model = %model_path,
            rows,
            "predict"
        );
        let timeout = match request.timeout {
            Some(limit) if !limit.is_zero() => limit.min(self.inner.config.request_timeout),
            _ => self.inner.config.request_timeout,
        };
        self.inner.requests.fetch_add(1, Ordering::Relaxed);
        let time = RequestTime::starting_now(timeout);
        worker.send_values(&wire_request, values, time, model_path)?;
        Ok((wire_request, time))
    }

    /// Sends `load` to one worker and returns the model's signature.
    pub async fn load(&self, model_path: &Path) -> Result<(bool, Vec<ColumnSpec>, Vec<ColumnSpec>), ClientError> {
        let path = model_path.display().to_string();
        let slot_index = self.inner.next_slot.fetch_add(1, Ordering::Relaxed) % self.inner.slots.len();
        let mut slot = self.inner.slots[slot_index].lock().await;
        let worker = self.ready_worker(slot_index, &mut slot).await?;
        let request = Request::Load {
            id: worker.next_id(),
            model_path: path.clone(),
        };
        self.inner.requests.fetch_add(1, Ordering::Relaxed);
        let result = worker
            .call(&request, Bytes::new(), self.inner.config.request_timeout, &path)
            .await;
        match result {
            Ok((response, _)) => Ok((
                response.cached.unwrap_or(false),
                response.inputs.unwrap_or_default(),
                response.outputs.unwrap_or_default(),
            )),
            Err(err) => {
                self.discard_if_dead(&mut slot, &err);
                Err(err)
            }
        }
    }

    /// Pings the worker in `slot_index`, starting it if needed, and returns
    /// its cache counters.
    pub async fn ping(&self, slot_index: usize) -> Result<CacheStats, ClientError> {
        let slot_index = slot_index % self.inner.slots.len();
        let mut slot = self.inner.slots[slot_index].lock().await;
        let worker = self.ready_worker(slot_index, &mut slot).await?;
        let request = Request::Ping { id: worker.next_id() };
        self.inner.requests.fetch_add(1, Ordering::Relaxed);
        let result = worker
            .call(&request, Bytes::new(), self.inner.config.request_timeout, "-")
            .await;
        match result {
            Ok((response, _)) => Ok(response.cache.unwrap_or_default()),
            Err(err) => {
                self.discard_if_dead(&mut slot, &err);
                Err(err)
            }
        }
    }

    /// Returns the slot's worker, reaping a dead one and starting a new one
    /// when needed.
    async fn ready_worker<'s>(
        &self,
        slot_index: usize,
        slot: &'s mut Slot,
    ) -> Result<&'s mut Worker, ClientError> {
        if self.inner.closed.load(Ordering::Acquire) {
            return Err(ClientError::ShutDown);
        }
        if let Some(worker) = slot.worker.as_mut() {
            if worker.has_exited() {
                tracing::info!(target: "harness::sidecar", pid = worker.pid(), "worker exited; replacing it");
                self.inner.replacements.fetch_add(1, Ordering::Relaxed);
                slot.worker = None;
            }
        }
        if slot.worker.is_none() {
            let record_pid = |pid: u32| {
                let mut spawned = self.inner.spawned.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
                if spawned.len() == SPAWNED_PIDS_KEPT {
                    spawned.pop_front();
                }
                spawned.push_back(pid);
            };
            let mut worker = match self.inner.standby.take() {
                Some(worker) => worker,
                None => {
                    let worker = Worker::launch_with(&self.inner.options, record_pid).await?;
                    tracing::info!(target: "harness::sidecar", pid = worker.pid(), "worker started");
                    self.inner.launches.fetch_add(1, Ordering::Relaxed);
                    worker
                }
            };
            let number = self.inner.launches.load(Ordering::Relaxed);
            if let Some(tracer) = &self.inner.tracer {
                worker.set_trace(TraceTarget {
                    tracer: Arc::clone(tracer),
                    worker: number,
                    slot: slot_index,
                });
            }
            slot.worker = Some(worker);
            // Started after a worker is ready, so the spare does not compete
            // with the first start for the CPU.
            self.inner.standby.refill(&self.inner.options);
        }
        match slot.worker.as_mut() {
            Some(worker) => Ok(worker),
            None => Err(ClientError::ShutDown),
        }
    }

    /// Kills and drops the slot's worker when `err` means it is unusable.
    fn discard_if_dead(&self, slot: &mut Slot, err: &ClientError) {
        if !err.kills_worker() {
            return;
        }
        if let Some(mut worker) = slot.worker.take() {
            let status = match worker.kill() {
                Some(status) => status.to_string(),
                None => "not reaped".to_string(),
            };
            tracing::warn!(
                target: "harness::sidecar",
                pid = worker.pid(),
                %status,
                error = %err,
                "worker killed and will be replaced on the next request"
            );
            self.inner.replacements.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Stops every worker: `shutdown` first, then SIGKILL after a grace
    /// period. Later calls fail with [`ClientError::ShutDown`].
    pub async fn shutdown(&self) {
        self.inner.closed.store(true, Ordering::Release);
        self.inner.standby.shutdown().await;
        for slot in &self.inner.slots {
            let worker = slot.lock().await.worker.take();
            if let Some(worker) = worker {
                worker.shutdown().await;
            }
        }
    }
}

/// The output of a call, filled batch by batch in input order.
#[derive(Debug, Default)]
struct Assembly {
    output_names: Option<Vec<String>>,
    rows: usize,
    values: Vec<f32>,
}

impl Assembly {
    /// Returns the whole output, once every batch is in.
    fn finish(self, rows: usize) -> Result<PredictOutput, ClientError> {
        let Some(output_names) = self.output_names else {
            return Err(ClientError::InvalidRequest("no rows".into()));
        };
        if self.rows != rows {
            return Err(ClientError::Protocol(format!(
                "the batches returned {} rows for a call of {rows}",
                self.rows
            )));
        }
        Ok(PredictOutput {
            output_names,
            rows,
            values: self.values,
        })
    }
}

/// Checks a predict response against its request and appends the decoded
/// payload to `output`.
fn check_predict_response(
    request: &Request,
    response: sidecar_protocol::Response,
    payload: &[u8],
    output: &mut Assembly,
) -> Result<(), ClientError> {
    let Request::Predict {
        output_names: wanted,
        batch_size,
        ..
    } = request
    else {
        return Err(ClientError::Protocol("not a predict request".into()));
    };
    let Some(output_names) = response.output_names else {
        return Err(ClientError::Protocol("predict response without output_names".into()));
    };
    if output_names.is_empty() {
        return Err(ClientError::Protocol("predict response with no output names".into()));
    }
    if let Some(wanted) = wanted {
        if wanted != &output_names {
            return Err(ClientError::Protocol(format!(
                "predict response has outputs {output_names:?}, the request asked for {wanted:?}"
            )));
        }
    }
    if response.batch_size != Some(*batch_size) {
        return Err(ClientError::Protocol(format!(
            "predict response has batch_size {:?} for a request of {batch_size}",
            response.batch_size
        )));
    }
    let expected = payload::payload_len(*batch_size as usize, output_names.len());
    if expected != Some(payload.len()) {
        return Err(ClientError::Protocol(format!(
            "predict response payload has {} bytes, expected {} ({batch_size} rows x {} outputs x 4)",
            payload.len(),
            expected.unwrap_or(0),
            output_names.len()
        )));
    }
    match &output.output_names {
        Some(names) if *names != output_names => {
            return Err(ClientError::Protocol(format!(
                "workers disagree on output names: {names:?} and {output_names:?}"
            )));
        }
        Some(_) => {}
        None => output.output_names = Some(output_names),
    }
    payload::decode_f32s_into(payload, &mut output.values)
        .ok_or_else(|| ClientError::Protocol("payload length is not a multiple of 4".into()))?;
    output.rows += *batch_size as usize;
    Ok(())
}
