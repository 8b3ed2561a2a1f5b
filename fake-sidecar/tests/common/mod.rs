//! Test support: runs the real `fake-sidecar` binary on a socket in a
//! temporary directory, writes fixture models, and speaks the protocol over
//! a blocking Unix stream.

#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use bytes::BytesMut;
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use serde_json::{json, Value};
use sidecar_protocol::payload::{decode_f32s, encode_f32s};
use sidecar_protocol::{Frame, FrameCodec, Request, Response};
use tempfile::TempDir;
use tokio_util::codec::Decoder;

/// How long a test waits for readiness, a response or an exit.
pub const TIMEOUT: Duration = Duration::from_secs(10);

pub const BIN: &str = env!("CARGO_BIN_EXE_fake-sidecar");

// ===== processes =====

/// A running sidecar. Dropping it kills and reaps the process if it is
/// still running and removes what it left behind.
pub struct Sidecar {
    pub child: Option<Child>,
    pub dir: TempDir,
    pub socket: PathBuf,
    /// The readiness line, parsed.
    pub ready: Value,
    /// Lines written to stdout after the readiness line.
    stdout_rest: mpsc::Receiver<String>,
    stderr_path: PathBuf,
}

impl Sidecar {
    /// Starts a sidecar with `extra` arguments and waits for readiness.
    pub fn start(extra: &[&str]) -> Sidecar {
        let dir = tempfile::tempdir().expect("temp dir");
        Sidecar::start_in(dir, extra)
    }

    /// Starts a sidecar on `<dir>/s.sock` and waits for readiness.
    pub fn start_in(dir: TempDir, extra: &[&str]) -> Sidecar {
        let socket = dir.path().join("s.sock");
        let (mut child, stderr_path) = spawn(dir.path(), &socket, extra);

        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });

        let line = match rx.recv_timeout(TIMEOUT) {
            Ok(line) => line,
            Err(err) => {
                let _ = child.kill();
                let _ = child.wait();
                panic!("no readiness line ({err}); stderr:\n{}", read(&stderr_path));
            }
        };
        let ready: Value = serde_json::from_str(&line).expect("readiness line is JSON");
        Sidecar {
            child: Some(child),
            dir,
            socket,
            ready,
            stdout_rest: rx,
            stderr_path,
        }
    }

    pub fn pid(&self) -> Pid {
        Pid::from_raw(self.child.as_ref().expect("running").id() as i32)
    }

    pub fn connect(&self) -> Client {
        Client::connect(&self.socket)
    }

    pub fn stderr(&self) -> String {
        read(&self.stderr_path)
    }

    pub fn signal(&self, signal: Signal) {
        kill(self.pid(), signal).expect("send signal");
    }

    /// Waits for the process to exit and reaps it.
    pub fn wait_exit(&mut self) -> ExitStatus {
        let mut child = self.child.take().expect("running");
        let status = wait_timeout(&mut child).unwrap_or_else(|| {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "sidecar did not exit within {TIMEOUT:?}; stderr:\n{}",
                self.stderr()
            )
        });
        status
    }

    /// Stops the sidecar with SIGTERM and checks the clean stop: exit
    /// status 0, socket removed, nothing on stdout after readiness.
    pub fn stop(mut self) {
        self.signal(Signal::SIGTERM);
        let status = self.wait_exit();
        assert_eq!(status.code(), Some(0), "stderr:\n{}", self.stderr());
        self.assert_clean_exit();
    }

    /// Checks what a clean exit leaves: no socket file, no further stdout.
    pub fn assert_clean_exit(&self) {
        assert!(!self.socket.exists(), "socket file left behind");
        let rest: Vec<String> = self.stdout_rest.try_iter().collect();
        assert!(rest.is_empty(), "stdout after readiness: {rest:?}");
    }
}

impl Drop for Sidecar {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        // A killed sidecar leaves its socket; the starter removes it.
        let _ = std::fs::remove_file(&self.socket);
    }
}

/// Spawns the binary with stdout piped and stderr in a file.
pub fn spawn(dir: &Path, socket: &Path, extra: &[&str]) -> (Child, PathBuf) {
    let stderr_path = dir.join(format!("stderr-{}.log", std::process::id()));
    let stderr = std::fs::File::create(&stderr_path).expect("stderr file");
    let child = Command::new(BIN)
        .arg("--socket")
        .arg(socket)
        .args(extra)
        .env("RUST_LOG", "debug")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(stderr)
        .spawn()
        .expect("spawn fake-sidecar");
    (child, stderr_path)
}

/// Runs the binary to completion (for start failures); returns its exit
/// status and stderr.
pub fn run_to_exit(args: &[&std::ffi::OsStr]) -> (ExitStatus, String, String) {
    let mut child = Command::new(BIN)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn fake-sidecar");
    let status = match wait_timeout(&mut child) {
        Some(status) => status,
        None => {
            let _ = child.kill();
            let _ = child.wait();
            panic!("fake-sidecar did not exit within {TIMEOUT:?}");
        }
    };
    let mut stdout = String::new();
    let mut stderr = String::new();
    child
        .stdout
        .take()
        .expect("piped")
        .read_to_string(&mut stdout)
        .ok();
    child
        .stderr
        .take()
        .expect("piped")
        .read_to_string(&mut stderr)
        .ok();
    (status, stdout, stderr)
}

pub fn wait_timeout(child: &mut Child) -> Option<ExitStatus> {
    let deadline = Instant::now() + TIMEOUT;
    while Instant::now() < deadline {
        if let Some(status) = child.try_wait().expect("try_wait") {
            return Some(status);
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    None
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

// ===== client =====

/// A blocking protocol client on one connection.
pub struct Client {
    pub stream: UnixStream,
    codec: FrameCodec,
    buf: BytesMut,
}

/// What reading the next frame gave.
#[derive(Debug)]
#[allow(clippy::large_enum_variant)]
pub enum Next {
    Frame(Response, Vec<f32>),
    Eof,
    TimedOut,
}

impl Client {
    pub fn connect(socket: &Path) -> Client {
        let stream = UnixStream::connect(socket).expect("connect to the sidecar");
        stream.set_read_timeout(Some(TIMEOUT)).expect("timeout");
        Client {
            stream,
            codec: FrameCodec::default(),
            buf: BytesMut::new(),
        }
    }

    pub fn send_raw(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).expect("write to the sidecar");
    }

    /// Sends a frame with any header bytes, written without the encoder so
    /// that headers the encoder rejects (not UTF-8) can be sent too.
    pub fn send_frame(&mut self, header: &[u8], payload: &[f32]) {
        let payload = encode_f32s(payload);
        let preamble = sidecar_protocol::Preamble {
            header_len: header.len() as u32,
            payload_len: payload.len() as u32,
        };
        let mut out = preamble.to_bytes().to_vec();
        out.extend_from_slice(header);
        out.extend_from_slice(&payload);
        self.send_raw(&out);
    }

    pub fn send(&mut self, request: &Request, payload: &[f32]) {
        self.send_frame(&request.to_header(), payload);
    }

    /// Reads the next frame, waiting at most `timeout`.
    pub fn read_within(&mut self, timeout: Duration) -> Next {
        self.stream
            .set_read_timeout(Some(timeout))
            .expect("timeout");
        let result = loop {
            match self.codec.decode(&mut self.buf) {
                Ok(Some(frame)) => break Next::Frame(parse(&frame), decode(&frame)),
                Ok(None) => {}
                Err(err) => panic!("invalid frame from the sidecar: {err}"),
            }
            let mut chunk = [0u8; 4096];
            match self.stream.read(&mut chunk) {
                Ok(0) => {
                    assert!(self.buf.is_empty(), "EOF inside a frame");
                    break Next::Eof;
                }
                Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
                Err(err)
                    if matches!(
                        err.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) =>
                {
                    break Next::TimedOut
                }
                Err(err) if err.kind() == std::io::ErrorKind::ConnectionReset => break Next::Eof,
                Err(err) => panic!("read from the sidecar: {err}"),
            }
        };
        self.stream
            .set_read_timeout(Some(TIMEOUT))
            .expect("timeout");
        result
    }

    /// Reads the next response and its payload.
    pub fn recv(&mut self) -> (Response, Vec<f32>) {
        match self.read_within(TIMEOUT) {
            Next::Frame(response, payload) => (response, payload),
            other => panic!("expected a response, got {other:?}"),
        }
    }

    /// Sends a request and reads its response.
    pub fn call(&mut self, request: &Request, payload: &[f32]) -> (Response, Vec<f32>) {
        self.send(request, payload);
        let (response, values) = self.recv();
        assert_eq!(response.id, request.id(), "response id");
        (response, values)
    }

    /// Sends a request and returns its error as (code, message, exception).
    pub fn call_err(
        &mut self,
        request: &Request,
        payload: &[f32],
    ) -> (String, String, Option<String>) {
        let (response, values) = self.call(request, payload);
        assert!(!response.ok, "expected an error, got {response:?}");
        assert!(values.is_empty(), "error with a payload");
        let error = response.error.expect("error body");
        (
            error.code.as_str().to_owned(),
            error.message,
            error.exception,
        )
    }

    pub fn expect_eof(&mut self) {
        match self.read_within(TIMEOUT) {
            Next::Eof => {}
            other => panic!("expected EOF, got {other:?}"),
        }
    }
}

fn parse(frame: &Frame) -> Response {
    Response::from_header(&frame.header).unwrap_or_else(|err| {
        panic!(
            "response header {:?} does not decode: {err}",
            frame.header_str()
        )
    })
}

fn decode(frame: &Frame) -> Vec<f32> {
    decode_f32s(&frame.payload).expect("aligned payload")
}

// ===== requests =====

pub fn ping(id: u64) -> Request {
    Request::Ping { id }
}

pub fn load(id: u64, model: &Path) -> Request {
    Request::Load {
        id,
        model_path: model.to_str().expect("UTF-8 path").to_owned(),
    }
}

pub fn predict(
    id: u64,
    model: &Path,
    inputs: &[&str],
    outputs: Option<&[&str]>,
    batch: u32,
) -> Request {
    Request::Predict {
        id,
        model_path: model.to_str().expect("UTF-8 path").to_owned(),
        input_names: inputs.iter().map(|s| s.to_string()).collect(),
        output_names: outputs.map(|o| o.iter().map(|s| s.to_string()).collect()),
        batch_size: batch,
    }
}

// ===== fixtures =====

/// A fixture model: signature columns as (name, MLflow type) and the spec.
pub struct ModelFixture {
    pub inputs: Vec<(String, String)>,
    pub outputs: Vec<(String, String)>,
    pub spec: Value,
    /// Write the signature as tensor-based columns with these dtypes.
    pub tensor: bool,
}

impl ModelFixture {
    /// Two double inputs and two float outputs with different activations.
    pub fn linear() -> ModelFixture {
        ModelFixture {
            inputs: vec![
                ("tenure".into(), "double".into()),
                ("spend".into(), "double".into()),
            ],
            outputs: vec![
                ("score".into(), "float".into()),
                ("margin".into(), "float".into()),
            ],
            spec: json!({
                "format": "tidb-model-spec/1",
                "kind": "linear",
                "inputs": ["tenure", "spend"],
                "outputs": [
                    {"name": "score", "weights": [0.03125, 0.0078125], "bias": -2.0, "activation": "sigmoid"},
                    {"name": "margin", "weights": [0.1, -0.3], "bias": 0.7, "activation": "identity"}
                ]
            }),
            tensor: false,
        }
    }

    pub fn with_faults(mut self, faults: Value) -> ModelFixture {
        self.spec["faults"] = faults;
        self
    }

    /// Writes `<parent>/<name>/MLmodel` and `data/model.json`; returns the
    /// model directory.
    pub fn write(&self, parent: &Path, name: &str) -> PathBuf {
        let dir = parent.join(name);
        std::fs::create_dir_all(dir.join("data")).expect("model dir");
        let columns = |cols: &[(String, String)]| -> String {
            let items: Vec<Value> = cols
                .iter()
                .map(|(name, ty)| {
                    if self.tensor {
                        json!({"type": "tensor", "tensor-spec": {"dtype": ty, "shape": [-1]}, "name": name})
                    } else {
                        json!({"type": ty, "name": name, "required": true})
                    }
                })
                .collect();
            serde_json::to_string(&items).expect("JSON")
        };
        let mlmodel = format!(
            "artifact_path: model\n\
             flavors:\n  python_function:\n    code: code\n    data: data/model.json\n    \
             env:\n      virtualenv: python_env.yaml\n    loader_module: spec_model\n    \
             python_version: 3.12.3\n\
             mlflow_version: 3.1.8\n\
             signature:\n  inputs: '{}'\n  outputs: '{}'\n  params: null\n",
            columns(&self.inputs),
            columns(&self.outputs)
        );
        std::fs::write(dir.join("MLmodel"), mlmodel).expect("MLmodel");
        std::fs::write(
            dir.join("data/model.json"),
            serde_json::to_string_pretty(&self.spec).expect("JSON"),
        )
        .expect("model.json");
        dir
    }

    /// The spec as the evaluator reads it.
    pub fn model_spec(&self) -> model_spec::ModelSpec {
        model_spec::ModelSpec::from_json(&self.spec.to_string()).expect("valid spec")
    }
}
