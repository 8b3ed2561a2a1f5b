//! The REST baseline: `mlflow models serve` on 127.0.0.1 with
//! `--env-manager local`, and a minimal HTTP/1.1 client that posts
//! `dataframe_split` JSON over one keep-alive connection.
//!
//! The server runs in its own process group, because the MLflow command
//! starts uvicorn as a child process; stopping the group stops both.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::{killpg, Signal};
use nix::unistd::Pid;

/// Largest response header block accepted, in bytes.
const MAX_HEAD_BYTES: usize = 64 * 1024;

/// Largest response body accepted, in bytes.
const MAX_BODY_BYTES: usize = 512 * 1024 * 1024;

/// How long the server gets to exit after SIGTERM before SIGKILL.
const STOP_GRACE: Duration = Duration::from_secs(5);

/// A running `mlflow models serve` process group.
pub struct RestServer {
    child: Option<Child>,
    address: SocketAddr,
    log: tempfile::NamedTempFile,
}

impl RestServer {
    /// Starts `python -m mlflow models serve` for `model` on a free port
    /// of 127.0.0.1 and waits until `GET /ping` answers 200, for at most
    /// `start_timeout`.
    pub fn start(
        python: &Path,
        model: &Path,
        start_timeout: Duration,
    ) -> anyhow::Result<RestServer> {
        // A free port: bind port 0, read it, release it. Another process
        // could take it in between; the start then fails and says so.
        let port = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?
            .local_addr()?
            .port();
        let address = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
        let log = tempfile::Builder::new()
            .prefix("bench-serve-")
            .suffix(".log")
            .tempfile()?;

        // MLflow runs `uvicorn` by name, so the interpreter's bin directory
        // (the venv's, not resolved through symlinks) goes first on PATH.
        let bin_dir = python.parent().unwrap_or(Path::new("."));
        let path = match std::env::var_os("PATH") {
            Some(old) => {
                let mut dirs = vec![bin_dir.to_path_buf()];
                dirs.extend(std::env::split_paths(&old));
                std::env::join_paths(dirs)?
            }
            None => bin_dir.as_os_str().to_owned(),
        };
        let child = Command::new(python)
            .args([
                "-m",
                "mlflow",
                "models",
                "serve",
                "--env-manager",
                "local",
                "-h",
                "127.0.0.1",
                "-p",
            ])
            .arg(port.to_string())
            .arg("-m")
            .arg(model)
            .env("PATH", path)
            .stdin(Stdio::null())
            .stdout(log.reopen()?)
            .stderr(log.reopen()?)
            .process_group(0)
            .spawn()
            .map_err(|err| {
                anyhow::anyhow!(
                    "cannot run {} -m mlflow models serve: {err}",
                    python.display()
                )
            })?;
        let mut server = RestServer {
            child: Some(child),
            address,
            log,
        };

        let deadline = Instant::now() + start_timeout;
        loop {
            if let Some(status) = server
                .child
                .as_mut()
                .and_then(|child| child.try_wait().ok().flatten())
            {
                anyhow::bail!(
                    "mlflow models serve exited with {status} before it served /ping; its log ends with: {}",
                    server.log_tail()
                );
            }
            if let Ok(mut connection) = HttpConnection::connect(address) {
                if let Ok((200, _)) = connection.request("GET", "/ping", None) {
                    return Ok(server);
                }
            }
            if Instant::now() >= deadline {
                anyhow::bail!(
                    "mlflow models serve did not answer /ping on {address} within {start_timeout:?}; its log ends with: {}",
                    server.log_tail()
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Address the server listens on.
    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// The last lines of the server's output, for error messages.
    pub fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(self.log.path()).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(5)..].join(" | ")
    }

    /// Stops the process group (SIGTERM, then SIGKILL after a grace period)
    /// and reaps the server process.
    pub fn stop(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        let group = Pid::from_raw(child.id() as i32);
        let _ = killpg(group, Signal::SIGTERM);
        let deadline = Instant::now() + STOP_GRACE;
        loop {
            match child.try_wait() {
                Ok(Some(_)) => break,
                Ok(None) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(20))
                }
                _ => {
                    let _ = killpg(group, Signal::SIGKILL);
                    let _ = child.wait();
                    break;
                }
            }
        }
        // uvicorn may outlive the MLflow command by a moment; the group
        // still exists while it does.
        let _ = killpg(group, Signal::SIGKILL);
    }
}

impl Drop for RestServer {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The `dataframe_split` request body for row-major `values`.
pub fn dataframe_split_body(names: &[&str], values: &[f32]) -> Vec<u8> {
    let width = names.len().max(1);
    let rows: Vec<Vec<f32>> = values.chunks_exact(width).map(<[f32]>::to_vec).collect();
    let body = serde_json::json!({ "dataframe_split": { "columns": names, "data": rows } });
    body.to_string().into_bytes()
}

/// Reads the `predictions` of a scoring-server response as one output
/// column named `output`.
pub fn parse_predictions(body: &[u8], output: &str) -> anyhow::Result<Vec<f32>> {
    let value: serde_json::Value = serde_json::from_slice(body)?;
    let Some(rows) = value
        .get("predictions")
        .and_then(serde_json::Value::as_array)
    else {
        anyhow::bail!("the response has no `predictions` array");
    };
    rows.iter()
        .map(|row| {
            let cell = row.get(output).unwrap_or(row);
            cell.as_f64()
                .map(|number| number as f32)
                .ok_or_else(|| anyhow::anyhow!("prediction {row} is not a number"))
        })
        .collect()
}

/// One keep-alive HTTP/1.1 connection.
pub struct HttpConnection {
    reader: BufReader<TcpStream>,
    host: String,
}

impl HttpConnection {
    /// Connects to `address`.
    pub fn connect(address: SocketAddr) -> std::io::Result<HttpConnection> {
        let stream = TcpStream::connect_timeout(&address, Duration::from_secs(2))?;
        stream.set_nodelay(true)?;
        stream.set_read_timeout(Some(Duration::from_secs(120)))?;
        Ok(HttpConnection {
            reader: BufReader::new(stream),
            host: address.to_string(),
        })
    }

    /// Sends one request and returns the status code and body. Responses
    /// must carry `Content-Length`, as uvicorn's do.
    pub fn request(
        &mut self,
        method: &str,
        path: &str,
        json: Option<&[u8]>,
    ) -> anyhow::Result<(u16, Vec<u8>)> {
        let body = json.unwrap_or_default();
        let mut head = format!(
            "{method} {path} HTTP/1.1\r\nHost: {}\r\nConnection: keep-alive\r\n",
            self.host
        );
        if json.is_some() {
            head.push_str("Content-Type: application/json\r\n");
        }
        head.push_str(&format!("Content-Length: {}\r\n\r\n", body.len()));
        let stream = self.reader.get_mut();
        stream.write_all(head.as_bytes())?;
        stream.write_all(body)?;

        let mut status_line = String::new();
        self.reader.read_line(&mut status_line)?;
        let status: u16 = status_line
            .split_whitespace()
            .nth(1)
            .and_then(|code| code.parse().ok())
            .ok_or_else(|| anyhow::anyhow!("invalid HTTP status line {status_line:?}"))?;

        let mut content_length = None;
        let mut head_bytes = status_line.len();
        loop {
            let mut line = String::new();
            let read = self.reader.read_line(&mut line)?;
            head_bytes += read;
            if read == 0 {
                anyhow::bail!("the connection closed inside the response headers");
            }
            if head_bytes > MAX_HEAD_BYTES {
                anyhow::bail!("response headers exceed {MAX_HEAD_BYTES} bytes");
            }
            let line = line.trim_end();
            if line.is_empty() {
                break;
            }
            if let Some((name, value)) = line.split_once(':') {
                if name.eq_ignore_ascii_case("content-length") {
                    content_length = value.trim().parse::<usize>().ok();
                }
            }
        }
        let Some(length) = content_length else {
            anyhow::bail!("the response to {method} {path} has no valid Content-Length");
        };
        if length > MAX_BODY_BYTES {
            anyhow::bail!("response body of {length} bytes exceeds {MAX_BODY_BYTES} bytes");
        }
        let mut response = vec![0u8; length];
        self.reader.read_exact(&mut response)?;
        Ok((status, response))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn body_is_dataframe_split() {
        let body = dataframe_split_body(&["a", "b"], &[1.0, 2.5, -3.0, 0.5]);
        let text = String::from_utf8(body).expect("utf-8");
        assert_eq!(
            text,
            r#"{"dataframe_split":{"columns":["a","b"],"data":[[1.0,2.5],[-3.0,0.5]]}}"#
        );
    }

    #[test]
    fn predictions_by_name_or_bare() {
        let named =
            parse_predictions(br#"{"predictions":[{"y":1.5},{"y":-2}]}"#, "y").expect("named");
        assert_eq!(named, vec![1.5, -2.0]);
        let bare = parse_predictions(br#"{"predictions":[0.25]}"#, "y").expect("bare");
        assert_eq!(bare, vec![0.25]);
        assert!(parse_predictions(br#"{"nope":[]}"#, "y").is_err());
    }

    #[test]
    fn http_client_reads_content_length_body() {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind");
        let address = listener.local_addr().expect("address");
        let server = std::thread::spawn(move || {
            let (mut stream, _) = listener.accept().expect("accept");
            let mut buffer = [0u8; 1024];
            let _ = stream.read(&mut buffer).expect("read");
            stream
                .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\ncontent-type: text/plain\r\n\r\nhello")
                .expect("write");
        });
        let mut connection = HttpConnection::connect(address).expect("connect");
        let (status, body) = connection.request("GET", "/ping", None).expect("request");
        assert_eq!(status, 200);
        assert_eq!(body, b"hello");
        server.join().expect("server thread");
    }
}
