//! The bare Unix-socket echo baseline: a thread that reads protocol frames
//! and writes the same bytes back, and a blocking client. It is the lower
//! bound for any client and sidecar pair on the same machine: one round
//! trip through the kernel with no encoding, no model and no runtime.

use std::io::{Read, Write};
use std::os::unix::net::{UnixListener, UnixStream};
use std::thread::JoinHandle;

use sidecar_protocol::frame::{DEFAULT_MAX_HEADER_BYTES, DEFAULT_MAX_PAYLOAD_BYTES};

/// Bytes before the header in every frame.
const PREAMBLE_BYTES: usize = 16;

/// A running echo server and a client connected to it.
pub struct Echo {
    client: Option<UnixStream>,
    server: Option<JoinHandle<std::io::Result<u64>>>,
    buffer: Vec<u8>,
    _dir: tempfile::TempDir,
}

impl Echo {
    /// Starts the server on a socket in a new private directory under
    /// `parent` and connects to it.
    pub fn start(parent: &std::path::Path) -> std::io::Result<Echo> {
        let dir = tempfile::Builder::new()
            .prefix("bench-echo-")
            .tempdir_in(parent)?;
        let path = dir.path().join("echo.sock");
        let listener = UnixListener::bind(&path)?;
        let server = std::thread::Builder::new()
            .name("bench-echo".into())
            .spawn(move || -> std::io::Result<u64> {
                let (stream, _) = listener.accept()?;
                serve(stream)
            })?;
        let client = UnixStream::connect(&path)?;
        Ok(Echo {
            client: Some(client),
            server: Some(server),
            buffer: Vec::new(),
            _dir: dir,
        })
    }

    /// Sends `frame` and reads the echoed bytes back.
    pub fn round_trip(&mut self, frame: &[u8]) -> std::io::Result<()> {
        let Some(client) = self.client.as_mut() else {
            return Err(std::io::Error::other("the echo client is closed"));
        };
        client.write_all(frame)?;
        self.buffer.resize(frame.len(), 0);
        client.read_exact(&mut self.buffer)?;
        if self.buffer != frame {
            return Err(std::io::Error::other(
                "the echo server returned different bytes",
            ));
        }
        Ok(())
    }

    /// Closes the client and joins the server; returns the frames it echoed.
    pub fn stop(&mut self) -> std::io::Result<u64> {
        drop(self.client.take());
        match self.server.take() {
            Some(server) => server
                .join()
                .map_err(|_| std::io::Error::other("the echo server thread panicked"))?,
            None => Ok(0),
        }
    }
}

impl Drop for Echo {
    fn drop(&mut self) {
        let _ = self.stop();
    }
}

/// Echoes whole frames until the client closes the connection.
fn serve(mut stream: UnixStream) -> std::io::Result<u64> {
    let mut frames = 0;
    let mut body = Vec::new();
    loop {
        let mut preamble = [0u8; PREAMBLE_BYTES];
        match stream.read_exact(&mut preamble) {
            Ok(()) => {}
            Err(err) if err.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(frames),
            Err(err) => return Err(err),
        }
        let header_len = u32::from_le_bytes([preamble[8], preamble[9], preamble[10], preamble[11]]);
        let payload_len =
            u32::from_le_bytes([preamble[12], preamble[13], preamble[14], preamble[15]]);
        // The lengths are checked before the body is allocated.
        if header_len > DEFAULT_MAX_HEADER_BYTES || payload_len > DEFAULT_MAX_PAYLOAD_BYTES {
            return Err(std::io::Error::other(format!(
                "echo frame of {header_len} header and {payload_len} payload bytes is over the protocol limits"
            )));
        }
        body.resize(header_len as usize + payload_len as usize, 0);
        stream.read_exact(&mut body)?;
        stream.write_all(&preamble)?;
        stream.write_all(&body)?;
        frames += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn echo_returns_the_frame() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut echo = Echo::start(dir.path()).expect("start");
        let mut frame = bytes::BytesMut::new();
        sidecar_protocol::frame::encode_into(
            br#"{"op":"ping","id":1}"#,
            &[7u8; 4096],
            &Default::default(),
            &mut frame,
        )
        .expect("encode");
        echo.round_trip(&frame).expect("first round trip");
        echo.round_trip(&frame).expect("second round trip");
        assert_eq!(echo.stop().expect("stop"), 2);
    }
}
