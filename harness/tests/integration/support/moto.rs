//! A moto S3 server on 127.0.0.1 for tests of `s3://` artifacts.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use harness::artifact::S3Config;

const STARTUP_TIMEOUT: Duration = Duration::from_secs(30);

/// A running moto server, killed and reaped on drop.
pub struct MotoServer {
    child: Child,
    /// Port on 127.0.0.1.
    pub port: u16,
    log: PathBuf,
    _log_dir: tempfile::TempDir,
}

impl MotoServer {
    /// Starts moto from the repository's `.venv` and waits until it listens.
    pub fn start() -> MotoServer {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"))
            .parent()
            .expect("workspace root");
        let binary = root.join(".venv/bin/moto_server");
        assert!(
            binary.is_file(),
            "{} is missing: the S3 tests need moto's server mode; run `bash scripts/setup.sh` in the repository root to create .venv with moto[server]",
            binary.display()
        );

        let port = free_port();
        let log_dir = tempfile::tempdir().expect("tempdir");
        let log = log_dir.path().join("moto.log");
        let log_file = std::fs::File::create(&log).expect("log file");
        let child = Command::new(&binary)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdin(Stdio::null())
            .stdout(log_file.try_clone().expect("clone log"))
            .stderr(log_file)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", binary.display()));
        let mut server = MotoServer {
            child,
            port,
            log,
            _log_dir: log_dir,
        };
        server.wait_ready();
        server
    }

    /// Waits until the port accepts connections, failing if moto exits.
    fn wait_ready(&mut self) {
        let deadline = Instant::now() + STARTUP_TIMEOUT;
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                panic!("moto_server exited with {status}: {}", self.log_text());
            }
            if TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "moto_server did not listen within {STARTUP_TIMEOUT:?}: {}",
                self.log_text()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Returns the server's output so far, for failure messages.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// S3 settings that reach this server.
    pub fn config(&self) -> S3Config {
        S3Config {
            endpoint: Some(format!("http://127.0.0.1:{}", self.port)),
            region: Some("us-east-1".to_string()),
            access_key_id: Some("testing".to_string()),
            secret_access_key: Some("testing".to_string()),
            allow_http: Some(true),
        }
    }

    /// Creates a bucket with a plain path-style PUT; moto accepts it unsigned.
    pub fn create_bucket(&self, bucket: &str) {
        let mut stream = TcpStream::connect(("127.0.0.1", self.port)).expect("connect");
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .expect("timeout");
        write!(
            stream,
            "PUT /{bucket} HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
            self.port
        )
        .expect("send");
        let mut response = String::new();
        stream.read_to_string(&mut response).expect("read");
        assert!(
            response.starts_with("HTTP/1.1 200") || response.starts_with("HTTP/1.0 200"),
            "create bucket: {response}"
        );
    }
}

impl Drop for MotoServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Returns a port on 127.0.0.1 that was free a moment ago.
pub fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.local_addr().expect("addr").port()
}
