//! Transcripts: every frame a pool's workers send and receive, written as
//! JSON lines in the format of [`sidecar_protocol::trace`].

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant;

use sidecar_protocol::trace::{Direction, TraceRecord};
use sidecar_protocol::Frame;

use super::error::ClientError;

/// An open transcript file shared by the workers of one pool.
#[derive(Debug)]
pub struct Tracer {
    path: PathBuf,
    out: Mutex<BufWriter<File>>,
    start: Instant,
    /// Set after the first write error, so that it is logged once.
    failed: AtomicBool,
}

impl Tracer {
    /// Creates (or truncates) the transcript at `path`.
    pub fn create(path: &Path) -> Result<Arc<Tracer>, ClientError> {
        let file = File::create(path).map_err(|err| {
            ClientError::InvalidRequest(format!("cannot create trace file {}: {err}", path.display()))
        })?;
        Ok(Arc::new(Tracer {
            path: path.to_owned(),
            out: Mutex::new(BufWriter::new(file)),
            start: Instant::now(),
            failed: AtomicBool::new(false),
        }))
    }

    /// Appends one frame. Each line is flushed at once so that the
    /// transcript is complete up to a crash of the client. A failed write
    /// is logged once and does not fail the call being traced.
    pub fn record(&self, direction: Direction, worker: u64, slot: usize, pid: u32, frame: &Frame) {
        let t_ms = self.start.elapsed().as_secs_f64() * 1000.0;
        let record = TraceRecord::new(direction, worker, slot, pid, (t_ms * 1000.0).round() / 1000.0, frame);
        let result = serde_json::to_string(&record)
            .map_err(std::io::Error::other)
            .and_then(|line| {
                let mut out = self.out.lock().unwrap_or_else(PoisonError::into_inner);
                writeln!(out, "{line}")?;
                out.flush()
            });
        if let Err(err) = result {
            if !self.failed.swap(true, Ordering::Relaxed) {
                tracing::warn!(target: "harness::sidecar", path = %self.path.display(), "cannot write the trace file: {err}");
            }
        }
    }
}

/// Where a worker's frames go: the tracer and the worker's identity.
#[derive(Debug, Clone)]
pub struct TraceTarget {
    /// The shared transcript.
    pub tracer: Arc<Tracer>,
    /// Launch number of the worker in its pool, from 1.
    pub worker: u64,
    /// Pool slot, from 0.
    pub slot: usize,
}
