//! One worker: a sidecar process, its private socket directory and the
//! connection to it.
//!
//! The process is managed with `std::process` so that killing and reaping
//! are synchronous and happen in `Drop` too. Socket I/O is blocking, on the
//! thread that makes the call, bounded by a deadline per request: a
//! response then needs no wake-up of another thread. The frame buffers
//! stay with the worker, so large batches allocate nothing after the first.

use std::collections::VecDeque;
use std::io::{BufRead, BufReader};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use sidecar_protocol::blocking::{write_frame, FrameReader};
use sidecar_protocol::trace::Direction;
use sidecar_protocol::{Frame, FrameError, Limits, ReadyLine, Request, Response};

use super::command::SidecarCommand;
use super::deadline::{DeadlineStream, SocketTimeouts};
use super::error::ClientError;
use super::trace::TraceTarget;

/// Largest socket path, in bytes: `sun_path` is 108 bytes on Linux and the
/// path needs a terminating NUL.
pub const MAX_SOCKET_PATH_BYTES: usize = 107;

/// Lines of sidecar stderr kept for error messages.
const STDERR_TAIL_LINES: usize = 20;

/// Longest stderr line kept, in bytes.
const STDERR_LINE_BYTES: usize = 400;

/// How long a sidecar gets to exit after `shutdown` before it is killed.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(2);

/// How long to wait for the stderr reader to drain after the process died.
const STDERR_DRAIN: Duration = Duration::from_millis(200);

/// Settings for starting a worker.
#[derive(Debug, Clone)]
pub struct WorkerOptions {
    /// Program to run.
    pub command: SidecarCommand,
    /// `--cache-entries` for the sidecar.
    pub cache_entries: usize,
    /// Time allowed from spawn to the readiness line.
    pub start_timeout: Duration,
    /// Directory in which each worker's private socket directory is made.
    pub socket_parent: PathBuf,
}

/// The last lines a sidecar wrote to stderr.
#[derive(Debug, Clone, Default)]
struct StderrTail {
    lines: Arc<Mutex<VecDeque<String>>>,
    done: Arc<(Mutex<bool>, std::sync::Condvar)>,
}

impl StderrTail {
    fn push(&self, mut line: String) {
        if line.len() > STDERR_LINE_BYTES {
            let mut cut = STDERR_LINE_BYTES;
            while !line.is_char_boundary(cut) {
                cut -= 1;
            }
            line.truncate(cut);
            line.push('…');
        }
        if let Ok(mut lines) = self.lines.lock() {
            if lines.len() == STDERR_TAIL_LINES {
                lines.pop_front();
            }
            lines.push_back(line);
        }
    }

    fn finish(&self) {
        let (lock, condvar) = &*self.done;
        if let Ok(mut done) = lock.lock() {
            *done = true;
            condvar.notify_all();
        }
    }

    /// The tail, after waiting briefly for the reader to reach EOF.
    fn snapshot(&self, wait: Duration) -> Vec<String> {
        let (lock, condvar) = &*self.done;
        if let Ok(done) = lock.lock() {
            let _ = condvar.wait_timeout_while(done, wait, |done| !*done);
        }
        self.lines
            .lock()
            .map(|lines| lines.iter().cloned().collect())
            .unwrap_or_default()
    }
}

/// The time limit of one request: its length, and when it ends.
#[derive(Debug, Clone, Copy)]
pub struct RequestTime {
    /// Instant by which the response must arrive.
    pub deadline: Instant,
    /// The limit, for messages.
    pub timeout: Duration,
}

impl RequestTime {
    /// Creates a limit of `timeout` from now.
    pub fn starting_now(timeout: Duration) -> RequestTime {
        RequestTime {
            deadline: Instant::now() + timeout,
            timeout,
        }
    }

    fn expired(&self, model_path: &str) -> ClientError {
        ClientError::Timeout {
            model_path: model_path.to_string(),
            timeout: self.timeout,
        }
    }
}

/// A running sidecar and its connection.
pub struct Worker {
    child: Child,
    pid: u32,
    /// The private 0700 directory holding the socket; removed on drop.
    dir: Option<tempfile::TempDir>,
    socket_path: PathBuf,
    stream: UnixStream,
    limits: Limits,
    timeouts: SocketTimeouts,
    reader: FrameReader,
    /// Preamble and header of the frame being sent.
    scratch: Vec<u8>,
    /// Encoded payload of the predict request being sent.
    payload: Vec<u8>,
    next_id: u64,
    stderr: StderrTail,
    ready: ReadyLine,
    exited: Option<ExitStatus>,
    trace: Option<TraceTarget>,
}

impl std::fmt::Debug for Worker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Worker")
            .field("pid", &self.pid)
            .field("socket_path", &self.socket_path)
            .finish_non_exhaustive()
    }
}

impl Worker {
    /// Starts a sidecar, waits for its readiness line and connects.
    pub async fn launch(options: &WorkerOptions) -> Result<Worker, ClientError> {
        Worker::launch_with(options, |_| {}).await
    }

    /// As [`Worker::launch`], calling `on_spawn` with the process id as
    /// soon as the process exists, so that callers can account for
    /// processes whose start then fails.
    pub async fn launch_with(
        options: &WorkerOptions,
        on_spawn: impl FnOnce(u32),
    ) -> Result<Worker, ClientError> {
        let command_line = options.command.display();
        let start_error = |reason: String, stderr: Vec<String>| ClientError::Start {
            command: command_line.clone(),
            reason,
            stderr,
        };

        // Step 1: a private directory for the socket, created with mode
        // 0700 so no other user can reach the socket.
        let dir = tempfile::Builder::new()
            .prefix("tidb-sidecar-")
            .permissions(std::fs::Permissions::from_mode(0o700))
            .tempdir_in(&options.socket_parent)
            .map_err(|err| {
                start_error(
                    format!(
                        "cannot create a socket directory in {}: {err}",
                        options.socket_parent.display()
                    ),
                    Vec::new(),
                )
            })?;
        let socket_path = dir.path().join("sidecar.sock");
        check_socket_path(&socket_path).map_err(|reason| start_error(reason, Vec::new()))?;

        // Step 2: spawn with stdout and stderr piped.
        let mut child = Command::new(&options.command.program)
            .args(&options.command.args)
            .arg("--socket")
            .arg(&socket_path)
            .arg("--cache-entries")
            .arg(options.cache_entries.to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|err| start_error(format!("cannot run the program: {err}"), Vec::new()))?;
        let pid = child.id();
        on_spawn(pid);

        // Step 3: background readers. stdout yields the readiness line, and
        // anything after it is logged; stderr is kept as a tail.
        let stderr = StderrTail::default();
        if let Some(pipe) = child.stderr.take() {
            let tail = stderr.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(pipe).lines() {
                    let Ok(line) = line else { break };
                    tracing::debug!(target: "harness::sidecar", pid, "stderr: {line}");
                    tail.push(line);
                }
                tail.finish();
            });
        } else {
            stderr.finish();
        }
        let (ready_tx, ready_rx) = tokio::sync::oneshot::channel::<Option<String>>();
        if let Some(pipe) = child.stdout.take() {
            std::thread::spawn(move || {
                let mut lines = BufReader::new(pipe).lines();
                let first = lines.next().and_then(Result::ok);
                let _ = ready_tx.send(first);
                for line in lines {
                    let Ok(line) = line else { break };
                    tracing::warn!(target: "harness::sidecar", pid, "unexpected stdout after readiness: {line}");
                }
            });
        }

        let mut guard = ChildGuard(Some(child));

        // Step 4: wait for readiness within the start timeout.
        let line = match tokio::time::timeout(options.start_timeout, ready_rx).await {
            Ok(Ok(Some(line))) => line,
            Ok(_) => {
                let status = guard.reap();
                return Err(start_error(
                    format!("exited before the readiness line ({})", describe_status(status)),
                    stderr.snapshot(STDERR_DRAIN),
                ));
            }
            Err(_) => {
                guard.reap();
                return Err(start_error(
                    format!(
                        "no readiness line within {}",
                        crate::duration::format_go_duration(options.start_timeout)
                    ),
                    stderr.snapshot(STDERR_DRAIN),
                ));
            }
        };
        let ready: ReadyLine = match serde_json::from_str(&line) {
            Ok(ready) => ready,
            Err(err) => {
                guard.reap();
                return Err(start_error(
                    format!("invalid readiness line {line:?}: {err}"),
                    stderr.snapshot(STDERR_DRAIN),
                ));
            }
        };
        if !ready.ready || ready.protocol != sidecar_protocol::VERSION as u32 {
            guard.reap();
            return Err(start_error(
                format!(
                    "readiness line announces protocol {} (ready: {}), expected protocol 1",
                    ready.protocol, ready.ready
                ),
                Vec::new(),
            ));
        }

        // Step 5: connect.
        let stream = match UnixStream::connect(&socket_path) {
            Ok(stream) => stream,
            Err(err) => {
                guard.reap();
                return Err(start_error(
                    format!("cannot connect to {}: {err}", socket_path.display()),
                    stderr.snapshot(STDERR_DRAIN),
                ));
            }
        };
        let limits = Limits {
            max_header_bytes: ready.max_header_bytes,
            max_payload_bytes: ready.max_payload_bytes,
        };
        tracing::debug!(target: "harness::sidecar", pid, implementation = %ready.implementation, "sidecar ready");

        Ok(Worker {
            child: guard.take(),
            pid,
            dir: Some(dir),
            socket_path,
            stream,
            limits,
            timeouts: SocketTimeouts::default(),
            reader: FrameReader::new(),
            scratch: Vec::new(),
            payload: Vec::new(),
            next_id: 1,
            stderr,
            ready,
            exited: None,
            trace: None,
        })
    }

    /// Records every later frame of this worker in a transcript.
    pub fn set_trace(&mut self, target: TraceTarget) {
        self.trace = Some(target);
    }

    /// Process id of the sidecar.
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// Path of the socket.
    pub fn socket_path(&self) -> &Path {
        &self.socket_path
    }

    /// The readiness line the sidecar printed.
    pub fn ready_line(&self) -> &ReadyLine {
        &self.ready
    }

    /// Largest payload the sidecar accepts.
    pub fn max_payload_bytes(&self) -> usize {
        self.ready.max_payload_bytes as usize
    }

    /// Whether the process has exited (reaping it if so).
    pub fn has_exited(&mut self) -> bool {
        if self.exited.is_some() {
            return true;
        }
        match self.child.try_wait() {
            Ok(Some(status)) => {
                self.exited = Some(status);
                true
            }
            Ok(None) => false,
            Err(_) => true,
        }
    }

    /// Allocates the next request id.
    pub fn next_id(&mut self) -> u64 {
        let id = self.next_id;
        self.next_id += 1;
        id
    }

    /// Sends one request and waits for its response, all within `timeout`.
    ///
    /// On success the response has `ok: true` and the same id. An error
    /// response becomes [`ClientError::Remote`]. The I/O blocks the thread
    /// that polls this future; see [`Worker::call_blocking`].
    pub async fn call(
        &mut self,
        request: &Request,
        payload: Bytes,
        timeout: Duration,
        model_path: &str,
    ) -> Result<(Response, Bytes), ClientError> {
        let time = RequestTime::starting_now(timeout);
        self.send(request, &payload, time, model_path)?;
        let response = self.receive_response(request, time, model_path)?;
        Ok((response, Bytes::copy_from_slice(self.reader.payload())))
    }

    /// Sends one request and waits for its response on this thread, within
    /// `timeout`. The response payload is then [`Worker::response_payload`].
    pub fn call_blocking(
        &mut self,
        request: &Request,
        payload: &[u8],
        timeout: Duration,
        model_path: &str,
    ) -> Result<Response, ClientError> {
        let time = RequestTime::starting_now(timeout);
        self.send(request, payload, time, model_path)?;
        self.receive_response(request, time, model_path)
    }

    /// Sends a predict request whose payload is `values`, encoded into the
    /// worker's own buffer.
    pub fn send_values(
        &mut self,
        request: &Request,
        values: &[f32],
        time: RequestTime,
        model_path: &str,
    ) -> Result<(), ClientError> {
        let mut payload = std::mem::take(&mut self.payload);
        sidecar_protocol::payload::encode_f32s_into(values, &mut payload);
        let sent = self.send(request, &payload, time, model_path);
        self.payload = payload;
        sent
    }

    /// Sends one request frame, blocking until it is written or the
    /// request's time is up.
    pub fn send(
        &mut self,
        request: &Request,
        payload: &[u8],
        time: RequestTime,
        model_path: &str,
    ) -> Result<(), ClientError> {
        let header = request.to_header();
        self.send_frame(&header, payload, request.op(), time, model_path)
    }

    /// Reads the response to `request`, sent before within `time`, and
    /// checks its id and `ok`.
    pub fn receive_response(
        &mut self,
        request: &Request,
        time: RequestTime,
        model_path: &str,
    ) -> Result<Response, ClientError> {
        self.receive_frame(request.op(), time, model_path)?;
        let response = Response::from_header(self.reader.header())
            .map_err(|err| ClientError::Protocol(format!("invalid response header: {err}")))?;
        if response.id != request.id() {
            return Err(ClientError::Protocol(format!(
                "response id {} does not match request id {}",
                response.id,
                request.id()
            )));
        }
        if !response.ok {
            let Some(error) = response.error else {
                return Err(ClientError::Protocol(
                    "error response without an `error` object".to_string(),
                ));
            };
            return Err(ClientError::Remote {
                code: error.code,
                message: error.message,
                exception: error.exception,
            });
        }
        Ok(response)
    }

    /// Payload of the last response received.
    pub fn response_payload(&self) -> &[u8] {
        self.reader.payload()
    }

    /// Sends one frame and reads the next frame, all within `timeout`,
    /// without interpreting the response. `op` and `model_path` only name
    /// the request in errors. The I/O blocks the thread that polls this
    /// future.
    pub async fn exchange(
        &mut self,
        frame: Frame,
        op: &str,
        timeout: Duration,
        model_path: &str,
    ) -> Result<Frame, ClientError> {
        let time = RequestTime::starting_now(timeout);
        self.send_frame(&frame.header, &frame.payload, op, time, model_path)?;
        self.receive_frame(op, time, model_path)?;
        Ok(Frame::new(
            Bytes::copy_from_slice(self.reader.header()),
            Bytes::copy_from_slice(self.reader.payload()),
        ))
    }

    fn send_frame(
        &mut self,
        header: &[u8],
        payload: &[u8],
        op: &str,
        time: RequestTime,
        model_path: &str,
    ) -> Result<(), ClientError> {
        if let Some(target) = &self.trace {
            let frame = Frame::new(header.to_vec(), payload.to_vec());
            target.tracer.record(Direction::ToSidecar, target.worker, target.slot, self.pid, &frame);
        }
        // A frame already buffered before the request is sent was never
        // asked for (a duplicated or unsolicited response).
        if self.reader.buffered() > 0 {
            return Err(ClientError::Protocol(format!(
                "{} bytes arrived from the sidecar before the {op} request was sent",
                self.reader.buffered()
            )));
        }
        let mut stream = DeadlineStream {
            stream: &self.stream,
            deadline: time.deadline,
            timeouts: &mut self.timeouts,
        };
        match write_frame(&mut stream, header, payload, &self.limits, &mut self.scratch) {
            Ok(()) => Ok(()),
            Err(FrameError::Io(err)) if err.kind() == std::io::ErrorKind::TimedOut => {
                Err(time.expired(model_path))
            }
            Err(FrameError::Io(err)) => Err(self.io_failure(format!("sending {op} failed: {err}"))),
            Err(other) => Err(ClientError::InvalidRequest(format!("cannot send {op}: {other}"))),
        }
    }

    fn receive_frame(&mut self, op: &str, time: RequestTime, model_path: &str) -> Result<(), ClientError> {
        let mut stream = DeadlineStream {
            stream: &self.stream,
            deadline: time.deadline,
            timeouts: &mut self.timeouts,
        };
        match self.reader.read_frame(&mut stream, &self.limits) {
            Ok(true) => {}
            Ok(false) => {
                return Err(self.io_failure(format!("connection closed before the {op} response")))
            }
            Err(FrameError::Io(err)) if err.kind() == std::io::ErrorKind::TimedOut => {
                return Err(time.expired(model_path))
            }
            Err(FrameError::Io(err)) => {
                return Err(self.io_failure(format!("reading the {op} response failed: {err}")))
            }
            Err(other) => {
                return Err(ClientError::Protocol(format!("invalid response frame: {other}")))
            }
        }
        self.trace_received();
        Ok(())
    }

    /// Records the frame just read in the transcript, when there is one.
    fn trace_received(&self) {
        if let Some(target) = &self.trace {
            let frame = Frame::new(self.reader.header().to_vec(), self.reader.payload().to_vec());
            target.tracer.record(Direction::FromSidecar, target.worker, target.slot, self.pid, &frame);
        }
    }

    /// Builds a `Died` error, reaping the process if it has exited so the
    /// message can carry its exit status and stderr.
    fn io_failure(&mut self, what: String) -> ClientError {
        let status = wait_briefly(&mut self.child, Duration::from_millis(200));
        if status.is_some() {
            self.exited = status;
        }
        let reason = match status {
            Some(status) => format!("{what}; the process {}", describe_status(Some(status))),
            None => what,
        };
        ClientError::Died {
            reason,
            stderr: self.stderr.snapshot(STDERR_DRAIN),
        }
    }

    /// Asks the sidecar to stop, waits up to a grace period, then kills it.
    /// A sidecar that does not acknowledge the request is killed at once:
    /// it is broken, and waiting would only delay the caller. Always reaps
    /// the process and removes the socket directory.
    pub async fn shutdown(mut self) {
        if !self.has_exited() && self.acknowledges_shutdown() {
            let deadline = Instant::now() + SHUTDOWN_GRACE;
            while Instant::now() < deadline && !self.has_exited() {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
        self.kill();
    }

    /// Sends `shutdown` and reports whether an `ok` response with its id
    /// came back within the grace period. Failures are not diagnosed further
    /// (no waiting for an exit status or stderr), since the worker is
    /// killed next anyway.
    fn acknowledges_shutdown(&mut self) -> bool {
        let request = Request::Shutdown { id: self.next_id() };
        let time = RequestTime::starting_now(SHUTDOWN_GRACE);
        if self.send(&request, &[], time, "-").is_err() {
            return false;
        }
        let mut stream = DeadlineStream {
            stream: &self.stream,
            deadline: time.deadline,
            timeouts: &mut self.timeouts,
        };
        if !matches!(self.reader.read_frame(&mut stream, &self.limits), Ok(true)) {
            return false;
        }
        self.trace_received();
        matches!(
            Response::from_header(self.reader.header()),
            Ok(response) if response.ok && response.id == request.id()
        )
    }

    /// Kills (SIGKILL) and reaps the process and removes its directory.
    /// Returns the exit status when one was collected.
    pub fn kill(&mut self) -> Option<ExitStatus> {
        if self.exited.is_none() {
            let _ = self.child.kill();
            self.exited = self.child.wait().ok();
        }
        if let Some(dir) = self.dir.take() {
            let path = dir.path().to_path_buf();
            if let Err(err) = dir.close() {
                tracing::warn!(target: "harness::sidecar", dir = %path.display(), "cannot remove socket directory: {err}");
            }
        }
        self.exited
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Kills and reaps a child on drop unless it was taken out.
struct ChildGuard(Option<Child>);

impl ChildGuard {
    fn reap(&mut self) -> Option<ExitStatus> {
        let child = self.0.as_mut()?;
        if let Ok(Some(status)) = child.try_wait() {
            return Some(status);
        }
        if let Some(status) = wait_briefly(child, Duration::from_millis(100)) {
            return Some(status);
        }
        let _ = child.kill();
        child.wait().ok()
    }

    fn take(&mut self) -> Child {
        // Only called once, on the success path.
        self.0.take().expect("child taken once")
    }
}

impl Drop for ChildGuard {
    fn drop(&mut self) {
        if self.0.is_some() {
            self.reap();
        }
    }
}

/// Polls for the child's exit for up to `wait`.
fn wait_briefly(child: &mut Child, wait: Duration) -> Option<ExitStatus> {
    let deadline = Instant::now() + wait;
    loop {
        match child.try_wait() {
            Ok(Some(status)) => return Some(status),
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(5)),
            _ => return None,
        }
    }
}

fn describe_status(status: Option<ExitStatus>) -> String {
    use std::os::unix::process::ExitStatusExt;
    match status {
        Some(status) => match (status.code(), status.signal()) {
            (Some(code), _) => format!("exited with status {code}"),
            (None, Some(signal)) => format!("was killed by signal {signal}"),
            _ => "exited".to_string(),
        },
        None => "is still running".to_string(),
    }
}

/// Rejects socket paths that do not fit in `sun_path`.
pub fn check_socket_path(path: &Path) -> Result<(), String> {
    let len = path.as_os_str().len();
    if len > MAX_SOCKET_PATH_BYTES {
        return Err(format!(
            "socket path {} is {len} bytes long, over the limit of {MAX_SOCKET_PATH_BYTES} bytes \
             for a Unix socket; choose a shorter socket directory",
            path.display()
        ));
    }
    Ok(())
}
