//! The accept loop, the shared state, and shutdown on SIGTERM, SIGINT or
//! the `shutdown` request.
//!
//! The accept loop and the signals run on the async runtime's one thread.
//! Each connection runs on its own OS thread with blocking I/O
//! ([`crate::connection`]). On shutdown the server sets the stop flag and
//! shuts every open socket down ([`Stop`]), then waits for the connection
//! threads to end.

use std::collections::HashMap;
use std::num::NonZeroUsize;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use sidecar_protocol::CacheStats;
use tokio::net::UnixListener;
use tokio::signal::unix::{signal, SignalKind};
use tokio::sync::mpsc;
use tracing::{error, info, warn};

use crate::bind;
use crate::cache::ModelCache;
use crate::cli::{Args, EXIT_FATAL, EXIT_OK, EXIT_SOCKET};
use crate::connection::Connection;
use crate::error::ServeError;
use crate::faults::{FaultScript, Readiness};
use crate::mlmodel::LoadedModel;
use crate::replay::Replay;
use crate::shutdown::Stop;

/// Maximum time the server waits for connections to end after the shutdown
/// signal. Shutting a socket down ends a blocked read at once, and waiting
/// faults wake on the stop flag, so this is only a backstop.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(5);

/// State shared by every connection.
pub struct State {
    /// Loaded models. A std mutex, because it is never held across an await.
    cache: Mutex<ModelCache>,
    /// Predicts per model path since the process started, for the
    /// `crash_on_request` fault. Kept apart from the cache so that evicting
    /// a model does not restart its count.
    predict_counts: Mutex<HashMap<String, u64>>,
    /// Set once the response to a `shutdown` request was sent.
    shutting_down: AtomicBool,
    /// Signals the server that a `shutdown` request was served.
    shutdown_request: mpsc::Sender<()>,
    /// Requests received since start over all connections, for the fault
    /// script's `request` index.
    requests_received: AtomicU64,
    /// Exit status once the server stops; a failed replay sets 1.
    exit_status: AtomicU8,
    /// The process-level fault script.
    pub faults: FaultScript,
    /// The transcript being replayed, if any.
    pub replay: Option<Mutex<Replay>>,
    /// The stop flag and the open connections.
    pub stop: Stop,
}

impl State {
    /// Returns the model at `model_path`, loading it on a miss.
    pub fn model(&self, model_path: &str) -> Result<(Arc<LoadedModel>, bool), ServeError> {
        self.cache
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get_or_load(model_path)
    }

    /// Returns the cache counters for `ping`.
    pub fn cache_stats(&self) -> CacheStats {
        self.cache
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .stats()
    }

    /// Counts one more predict of `model_path` and returns the count.
    pub fn count_predict(&self, model_path: &str) -> u64 {
        let mut counts = self
            .predict_counts
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let count = counts.entry(model_path.to_owned()).or_insert(0);
        *count += 1;
        *count
    }

    /// Returns whether a `shutdown` request was already served.
    pub fn is_shutting_down(&self) -> bool {
        self.shutting_down.load(Ordering::SeqCst)
    }

    /// Counts one more received request and returns its 1-based index.
    pub fn next_request_index(&self) -> u64 {
        self.requests_received.fetch_add(1, Ordering::SeqCst) + 1
    }

    /// Sets the exit status the server stops with, for a failed replay.
    pub fn set_exit_status(&self, status: u8) {
        self.exit_status.store(status, Ordering::SeqCst);
    }

    /// Starts the shutdown after a `shutdown` request was answered.
    pub fn request_shutdown(&self) {
        self.shutting_down.store(true, Ordering::SeqCst);
        let _ = self.shutdown_request.try_send(());
    }
}

/// Binds, announces readiness, serves until shutdown and returns the exit
/// status.
pub async fn run(args: Args, faults: FaultScript, replay: Option<Replay>) -> u8 {
    // Step 1: bind the socket.
    let listener = match bind::bind(&args.socket) {
        Ok(listener) => listener,
        Err(err) => {
            error!(cause = %err, "cannot use the socket path");
            return EXIT_SOCKET;
        }
    };

    // Step 2: install the signal handlers before readiness, so that a
    // signal sent right after the readiness line is handled.
    let signals = signal(SignalKind::terminate()).and_then(|term| {
        let int = signal(SignalKind::interrupt())?;
        Ok((term, int))
    });
    let (mut sigterm, mut sigint) = match signals {
        Ok(signals) => signals,
        Err(err) => {
            error!(cause = %err, "cannot install signal handlers");
            remove_socket(&args.socket);
            return EXIT_FATAL;
        }
    };

    // Step 3: readiness, as the fault script's startup section allows.
    // The exits here are abrupt on purpose: like a crash, they leave the
    // socket file for the client to clean up.
    let startup = faults.startup;
    if !startup.ready_delay.is_zero() {
        info!(delay = ?startup.ready_delay, "fault: delaying the readiness line");
        tokio::time::sleep(startup.ready_delay).await;
    }
    match startup.readiness {
        Readiness::ExitBefore(status) => {
            info!(status, "fault: exiting before the readiness line");
            std::process::exit(i32::from(status));
        }
        Readiness::Never => info!("fault: never printing the readiness line"),
        Readiness::Print | Readiness::ThenExit(_) => {
            if let Err(err) = bind::announce_ready() {
                error!(cause = %err, "cannot write the readiness line");
                remove_socket(&args.socket);
                return EXIT_FATAL;
            }
        }
    }
    if let Readiness::ThenExit(status) = startup.readiness {
        info!(status, "fault: exiting after the readiness line");
        std::process::exit(i32::from(status));
    }

    // Step 4: serve until a signal or a shutdown request.
    let capacity = NonZeroUsize::new(args.cache_entries as usize).unwrap_or(NonZeroUsize::MIN);
    let (shutdown_request, mut shutdown_requested) = mpsc::channel(1);
    let state = Arc::new(State {
        cache: Mutex::new(ModelCache::new(capacity)),
        predict_counts: Mutex::new(HashMap::new()),
        shutting_down: AtomicBool::new(false),
        shutdown_request,
        requests_received: AtomicU64::new(0),
        exit_status: AtomicU8::new(EXIT_OK),
        faults,
        replay: replay.map(Mutex::new),
        stop: Stop::default(),
    });

    let status = tokio::select! {
        status = accept_loop(&listener, &state) => status,
        _ = parent_exit() => { warn!("the parent process exited, shutting down"); EXIT_OK }
        _ = sigterm.recv() => { info!("SIGTERM received, shutting down"); EXIT_OK }
        _ = sigint.recv() => { info!("SIGINT received, shutting down"); EXIT_OK }
        _ = shutdown_requested.recv() => { info!("shutdown requested, shutting down"); EXIT_OK }
    };

    // Step 5: stop accepting, tell every connection, and wait for them.
    // Blocking this thread is fine: nothing else runs on the runtime now.
    drop(listener);
    state.stop.stop();
    let open = state.stop.drain(DRAIN_TIMEOUT);
    if open > 0 {
        warn!(open, timeout = ?DRAIN_TIMEOUT, "connections still open after the drain timeout");
    }
    remove_socket(&args.socket);
    let status = status.max(state.exit_status.load(Ordering::SeqCst));
    if let Some(replay) = &state.replay {
        let remaining = replay
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remaining();
        if remaining > 0 {
            warn!(
                remaining,
                "stopped before every recorded request was replayed"
            );
        }
    }
    info!(status, "stopped");
    status
}

/// How often the sidecar checks that its parent is still alive.
const PARENT_CHECK_INTERVAL: Duration = Duration::from_millis(500);

/// Resolves when the process that started the sidecar has exited: the
/// sidecar is then re-parented, so its parent process id changes. A
/// client that crashed cannot send `shutdown`, and without this check its
/// sidecars would run on with their sockets.
async fn parent_exit() {
    let parent = std::os::unix::process::parent_id();
    loop {
        tokio::time::sleep(PARENT_CHECK_INTERVAL).await;
        if std::os::unix::process::parent_id() != parent {
            return;
        }
    }
}

/// Accepts connections until accepting fails; returns the exit status.
async fn accept_loop(listener: &UnixListener, state: &Arc<State>) -> u8 {
    let mut next_id: u64 = 1;
    loop {
        let stream = match listener.accept().await {
            Ok((stream, _)) => stream,
            Err(err) => {
                error!(cause = %err, "failed to accept a connection");
                if is_transient(&err) {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
                return EXIT_FATAL;
            }
        };

        let number = next_id;
        next_id += 1;
        if let Err(err) = start_connection(number, stream, state) {
            error!(number, cause = %err, "cannot serve a connection; closing it");
        }
    }
}

/// Moves an accepted stream to blocking I/O, records it and serves it on
/// a new thread. A blocking read on its own thread costs one system call
/// per frame, where the event loop needed a readiness wait as well.
fn start_connection(
    number: u64,
    stream: tokio::net::UnixStream,
    state: &Arc<State>,
) -> std::io::Result<()> {
    let stream = stream.into_std()?;
    stream.set_nonblocking(false)?;
    if !state.stop.register(number, stream.try_clone()?) {
        return Ok(());
    }
    let connection = Connection::new(number, stream, Arc::clone(state));
    let spawned = std::thread::Builder::new()
        .name(format!("connection-{number}"))
        .spawn(move || connection.run());
    if let Err(err) = spawned {
        state.stop.unregister(number);
        return Err(err);
    }
    Ok(())
}

/// Whether an accept error concerns one connection or a passing shortage
/// (Linux errno values ENOMEM 12, ENFILE 23, EMFILE 24, ECONNABORTED 103),
/// so that accepting again later can succeed.
fn is_transient(err: &std::io::Error) -> bool {
    matches!(err.raw_os_error(), Some(12 | 23 | 24 | 103))
}

fn remove_socket(path: &Path) {
    if let Err(err) = std::fs::remove_file(path) {
        if err.kind() != std::io::ErrorKind::NotFound {
            error!(socket = %path.display(), cause = %err, "cannot remove the socket file");
        }
    }
}
