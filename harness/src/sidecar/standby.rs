//! A warm standby worker: one spare sidecar, started in the background,
//! that takes the place of a worker that timed out, died or broke the
//! protocol.
//!
//! Starting the Python sidecar costs the `import mlflow.pyfunc` time, about
//! 2 s on a small machine. With a spare ready, the call after a failure only
//! pays for killing the old process and loading the model in the spare.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::task::JoinHandle;

use super::worker::{Worker, WorkerOptions};

/// The spare worker of a pool, shared with the task that starts it.
pub(crate) struct Standby {
    enabled: bool,
    state: Mutex<State>,
    launches: AtomicU64,
    takes: AtomicU64,
}

#[derive(Default)]
struct State {
    worker: Option<Worker>,
    /// The task starting a spare, while it runs or until the next refill.
    refill: Option<JoinHandle<()>>,
    /// Set by shutdown; a spare that finishes starting afterwards is killed.
    closed: bool,
}

impl Standby {
    /// Makes an empty standby; with `enabled` false it never starts a worker.
    pub(crate) fn new(enabled: bool) -> Arc<Standby> {
        Arc::new(Standby {
            enabled,
            state: Mutex::new(State::default()),
            launches: AtomicU64::new(0),
            takes: AtomicU64::new(0),
        })
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock leaves the state consistent: every
        // critical section only moves an Option in or out.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Takes the spare when one is started and still running.
    pub(crate) fn take(&self) -> Option<Worker> {
        let mut worker = self.lock().worker.take()?;
        if worker.has_exited() {
            tracing::warn!(target: "harness::sidecar", pid = worker.pid(), "standby worker exited while idle; starting a new worker instead");
            return None;
        }
        self.takes.fetch_add(1, Ordering::Relaxed);
        tracing::info!(target: "harness::sidecar", pid = worker.pid(), "standby worker takes a slot");
        Some(worker)
    }

    /// Starts a spare in the background unless one is ready or starting,
    /// the standby is disabled or shut down, or no tokio runtime runs.
    pub(crate) fn refill(self: &Arc<Self>, options: &WorkerOptions) {
        if !self.enabled {
            return;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let mut state = self.lock();
        let starting = state
            .refill
            .as_ref()
            .is_some_and(|task| !task.is_finished());
        if state.closed || state.worker.is_some() || starting {
            return;
        }

        let standby = Arc::clone(self);
        let options = options.clone();
        state.refill = Some(runtime.spawn(async move {
            let worker = match Worker::launch(&options).await {
                Ok(worker) => worker,
                Err(err) => {
                    tracing::warn!(target: "harness::sidecar", error = %err, "standby worker failed to start");
                    return;
                }
            };
            standby.launches.fetch_add(1, Ordering::Relaxed);
            let mut state = standby.lock();
            if state.closed {
                // Dropping the worker kills and reaps it.
                drop(state);
                drop(worker);
                return;
            }
            tracing::info!(target: "harness::sidecar", pid = worker.pid(), "standby worker ready");
            state.worker = Some(worker);
        }));
    }

    /// Process id of the spare, when one is ready.
    pub(crate) fn pid(&self) -> Option<u32> {
        self.lock().worker.as_ref().map(Worker::pid)
    }

    /// Workers started as spares.
    pub(crate) fn launches(&self) -> u64 {
        self.launches.load(Ordering::Relaxed)
    }

    /// Spares that took a slot.
    pub(crate) fn takes(&self) -> u64 {
        self.takes.load(Ordering::Relaxed)
    }

    /// Stops the spare and any start in progress. Later refills do nothing.
    pub(crate) async fn shutdown(&self) {
        let (worker, refill) = {
            let mut state = self.lock();
            state.closed = true;
            (state.worker.take(), state.refill.take())
        };
        if let Some(task) = refill {
            // Aborting drops the launch future, whose guard kills and reaps
            // a process that has not become ready yet.
            task.abort();
            let _ = task.await;
        }
        // A start that finishes after `closed` was set kills its own worker,
        // because it checks `closed` under the same lock.
        if let Some(worker) = worker {
            worker.shutdown().await;
        }
    }
}
