//! The bare Unix-socket echo baseline: a separate process that reads
//! protocol frames and writes the same bytes back, and a blocking client.
//! It is the lower bound for any client and sidecar pair on the same
//! machine: one round trip through the kernel between two processes, with
//! no encoding, no model and no runtime.
//!
//! The server runs in its own process, as a sidecar does, so that the
//! baseline crosses the same process boundary as the paths compared with
//! it.

use std::io::{Read, Write};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use sidecar_protocol::frame::{DEFAULT_MAX_HEADER_BYTES, DEFAULT_MAX_PAYLOAD_BYTES};

/// Bytes before the header in every frame.
const PREAMBLE_BYTES: usize = 16;

/// How long the server waits for its client, and the client for the
/// server's socket, before giving up.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// How long `stop` waits for the server to exit after the client closed.
const EXIT_TIMEOUT: Duration = Duration::from_secs(5);

/// A running echo server process and a client connected to it.
pub struct Echo {
    client: Option<UnixStream>,
    server: Option<Child>,
    buffer: Vec<u8>,
    checked: bool,
    _dir: tempfile::TempDir,
}

impl Echo {
    /// Starts `program echo-args... --socket PATH` with the socket in a new
    /// private directory under `parent`, and connects to it. `program` is
    /// a binary that runs [`serve_socket`] for those arguments.
    pub fn start(program: &Path, echo_args: &[&str], parent: &Path) -> std::io::Result<Echo> {
        let dir = tempfile::Builder::new()
            .prefix("bench-echo-")
            .tempdir_in(parent)?;
        let path = dir.path().join("echo.sock");
        let mut server = Command::new(program)
            .args(echo_args)
            .arg("--socket")
            .arg(&path)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()?;
        let client = match connect(&path, &mut server) {
            Ok(client) => client,
            Err(err) => {
                let _ = server.kill();
                let _ = server.wait();
                return Err(err);
            }
        };
        Ok(Echo {
            client: Some(client),
            server: Some(server),
            buffer: Vec::new(),
            checked: false,
            _dir: dir,
        })
    }

    /// Sends `frame` and reads the echoed bytes back. The first call
    /// compares the bytes; later calls only read them, so that the
    /// baseline carries no work the other paths do not.
    pub fn round_trip(&mut self, frame: &[u8]) -> std::io::Result<()> {
        let Some(client) = self.client.as_mut() else {
            return Err(std::io::Error::other("the echo client is closed"));
        };
        client.write_all(frame)?;
        self.buffer.resize(frame.len(), 0);
        client.read_exact(&mut self.buffer)?;
        if !self.checked {
            if self.buffer != frame {
                return Err(std::io::Error::other(
                    "the echo server returned different bytes",
                ));
            }
            self.checked = true;
        }
        Ok(())
    }

    /// Closes the client and reaps the server, killing it if it does not
    /// exit in time.
    pub fn stop(&mut self) -> std::io::Result<()> {
        drop(self.client.take());
        let Some(mut server) = self.server.take() else {
            return Ok(());
        };
        let deadline = Instant::now() + EXIT_TIMEOUT;
        loop {
            if let Some(status) = server.try_wait()? {
                if status.success() {
                    return Ok(());
                }
                return Err(std::io::Error::other(format!(
                    "the echo server exited with {status}{}",
                    stderr_of(&mut server)
                )));
            }
            if Instant::now() >= deadline {
                let _ = server.kill();
                server.wait()?;
                return Err(std::io::Error::other(format!(
                    "the echo server did not exit within {EXIT_TIMEOUT:?} and was killed"
                )));
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }
}

impl Drop for Echo {
    fn drop(&mut self) {
        let _ = self.stop();
    }
}

/// Returns what an exited server wrote to stderr, up to 4 KiB, as `: text`,
/// or nothing when it wrote nothing.
fn stderr_of(server: &mut Child) -> String {
    let mut text = String::new();
    if let Some(stderr) = server.stderr.take() {
        let _ = stderr.take(4096).read_to_string(&mut text);
    }
    match text.trim() {
        "" => String::new(),
        trimmed => format!(": {trimmed}"),
    }
}

/// Connects to the server's socket once it exists, failing if the server
/// exits first or the socket does not appear in time.
fn connect(path: &Path, server: &mut Child) -> std::io::Result<UnixStream> {
    let deadline = Instant::now() + CONNECT_TIMEOUT;
    loop {
        match UnixStream::connect(path) {
            Ok(stream) => return Ok(stream),
            Err(err) => {
                if let Some(status) = server.try_wait()? {
                    return Err(std::io::Error::other(format!(
                        "the echo server exited with {status} before listening on {}{}",
                        path.display(),
                        stderr_of(server)
                    )));
                }
                if Instant::now() >= deadline {
                    return Err(std::io::Error::other(format!(
                        "the echo server did not listen on {} within {CONNECT_TIMEOUT:?}: {err}",
                        path.display()
                    )));
                }
                std::thread::sleep(Duration::from_millis(2));
            }
        }
    }
}

/// Binds `socket`, accepts one client within the connect timeout and
/// echoes its frames until it closes the connection. Returns the number
/// of frames echoed. This is the body of the server process.
pub fn serve_socket(socket: &Path) -> std::io::Result<u64> {
    let listener = UnixListener::bind(socket)?;
    listener.set_nonblocking(true)?;
    let deadline = Instant::now() + CONNECT_TIMEOUT;
    let stream = loop {
        match listener.accept() {
            Ok((stream, _)) => break stream,
            Err(err) if err.kind() == std::io::ErrorKind::WouldBlock => {
                if Instant::now() >= deadline {
                    return Err(std::io::Error::other(format!(
                        "no client connected to {} within {CONNECT_TIMEOUT:?}",
                        socket.display()
                    )));
                }
                std::thread::sleep(Duration::from_millis(2));
            }
            Err(err) => return Err(err),
        }
    };
    drop(listener);
    stream.set_nonblocking(false)?;
    serve(stream)
}

/// Echoes whole frames until the client closes the connection, each with
/// one read of the preamble, one of the rest and one write.
fn serve(mut stream: UnixStream) -> std::io::Result<u64> {
    let mut frames = 0;
    let mut frame = vec![0u8; PREAMBLE_BYTES];
    loop {
        frame.truncate(PREAMBLE_BYTES);
        match stream.read_exact(&mut frame) {
            Ok(()) => {}
            Err(err) if err.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(frames),
            Err(err) => return Err(err),
        }
        let header_len = u32::from_le_bytes([frame[8], frame[9], frame[10], frame[11]]);
        let payload_len = u32::from_le_bytes([frame[12], frame[13], frame[14], frame[15]]);
        // The lengths are checked before the frame buffer grows.
        if header_len > DEFAULT_MAX_HEADER_BYTES || payload_len > DEFAULT_MAX_PAYLOAD_BYTES {
            return Err(std::io::Error::other(format!(
                "echo frame of {header_len} header and {payload_len} payload bytes is over the protocol limits"
            )));
        }
        frame.resize(
            PREAMBLE_BYTES + header_len as usize + payload_len as usize,
            0,
        );
        stream.read_exact(&mut frame[PREAMBLE_BYTES..])?;
        stream.write_all(&frame)?;
        frames += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(payload: &[u8]) -> Vec<u8> {
        let mut frame = bytes::BytesMut::new();
        sidecar_protocol::frame::encode_into(
            br#"{"op":"ping","id":1}"#,
            payload,
            &Default::default(),
            &mut frame,
        )
        .expect("encode");
        frame.to_vec()
    }

    #[test]
    fn serve_echoes_until_close() {
        let (mut client, server) = UnixStream::pair().expect("socket pair");
        let server = std::thread::spawn(move || serve(server));
        for payload in [&[7u8; 4096][..], &[][..], &[1, 2, 3, 4]] {
            let sent = frame(payload);
            client.write_all(&sent).expect("write");
            let mut back = vec![0u8; sent.len()];
            client.read_exact(&mut back).expect("read");
            assert_eq!(back, sent);
        }
        drop(client);
        assert_eq!(server.join().expect("join").expect("serve"), 3);
    }

    #[test]
    fn serve_rejects_oversized_lengths() {
        let (mut client, server) = UnixStream::pair().expect("socket pair");
        let server = std::thread::spawn(move || serve(server));
        let mut preamble = frame(b"")[..PREAMBLE_BYTES].to_vec();
        preamble[12..16].copy_from_slice(&u32::MAX.to_le_bytes());
        client.write_all(&preamble).expect("write");
        let err = server.join().expect("join").expect_err("over the limit");
        assert!(
            err.to_string().contains("over the protocol limits"),
            "{err}"
        );
    }
}
