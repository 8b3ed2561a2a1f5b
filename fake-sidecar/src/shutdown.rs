//! The server-wide stop signal and the register of open connections.
//!
//! Connections run on their own threads with blocking I/O, so the server
//! cannot interrupt them at an await point. Instead it keeps a handle on
//! every open socket: stopping sets a flag that wakes waiting threads
//! (faults that hang or delay) and shuts every socket down, which ends a
//! blocked read with end of stream.

use std::collections::HashMap;
use std::net::Shutdown;
use std::os::unix::net::UnixStream;
use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use tracing::debug;

/// The stop flag and the open connections.
#[derive(Debug, Default)]
pub struct Stop {
    inner: Mutex<Inner>,
    /// Notified when the flag is set and when a connection ends.
    changed: Condvar,
}

#[derive(Debug, Default)]
struct Inner {
    stopped: bool,
    /// A second handle on each open socket, by connection number.
    open: HashMap<u64, UnixStream>,
}

impl Stop {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Returns whether the server is stopping.
    pub fn is_stopped(&self) -> bool {
        self.lock().stopped
    }

    /// Records an open connection. Returns false, and records nothing, when
    /// the server is already stopping.
    pub fn register(&self, number: u64, handle: UnixStream) -> bool {
        let mut inner = self.lock();
        if inner.stopped {
            return false;
        }
        inner.open.insert(number, handle);
        true
    }

    /// Forgets a connection that ended.
    pub fn unregister(&self, number: u64) {
        self.lock().open.remove(&number);
        self.changed.notify_all();
    }

    /// Sets the flag, wakes every waiting thread and shuts every open
    /// socket down, so that the peers see the connection close.
    pub fn stop(&self) {
        let mut inner = self.lock();
        inner.stopped = true;
        for (number, stream) in &inner.open {
            if let Err(err) = stream.shutdown(Shutdown::Both) {
                debug!(number, cause = %err, "shutting a connection down failed");
            }
        }
        drop(inner);
        self.changed.notify_all();
    }

    /// Sleeps for `duration` unless the server stops first. Returns true
    /// when it stopped.
    pub fn sleep(&self, duration: Duration) -> bool {
        let deadline = Instant::now() + duration;
        let mut inner = self.lock();
        while !inner.stopped {
            let now = Instant::now();
            if now >= deadline {
                return false;
            }
            inner = self
                .changed
                .wait_timeout(inner, deadline - now)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
        true
    }

    /// Waits until the server stops.
    pub fn wait(&self) {
        let mut inner = self.lock();
        while !inner.stopped {
            inner = self
                .changed
                .wait(inner)
                .unwrap_or_else(PoisonError::into_inner);
        }
    }

    /// Waits until every connection ended or `timeout` passed. Returns the
    /// number still open.
    pub fn drain(&self, timeout: Duration) -> usize {
        let deadline = Instant::now() + timeout;
        let mut inner = self.lock();
        while !inner.open.is_empty() {
            let now = Instant::now();
            if now >= deadline {
                break;
            }
            inner = self
                .changed
                .wait_timeout(inner, deadline - now)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
        inner.open.len()
    }
}
