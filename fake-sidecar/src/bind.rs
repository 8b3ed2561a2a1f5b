//! Socket binding (docs/protocol.md section 1.2) and the readiness line
//! (section 1.3).

use std::io::{self, Write};
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::path::{Path, PathBuf};

use sidecar_protocol::frame::{DEFAULT_MAX_HEADER_BYTES, DEFAULT_MAX_PAYLOAD_BYTES};
use sidecar_protocol::ReadyLine;
use tokio::net::UnixListener;
use tracing::{debug, info};

/// Size of `sun_path` on Linux, including the terminating NUL.
const SUN_PATH_LEN: usize = 108;

/// The name and version reported in the readiness line and in `ping`.
pub const IMPLEMENTATION: &str = concat!("fake-sidecar/", env!("CARGO_PKG_VERSION"));

/// A socket path that cannot be used. Every variant exits with status 3.
#[derive(Debug, thiserror::Error)]
pub enum BindError {
    /// The path does not fit in `sun_path`.
    #[error("socket path {path:?} is {len} bytes long, the limit is {} bytes; choose a shorter path", SUN_PATH_LEN - 1)]
    TooLong { path: PathBuf, len: usize },

    /// A live sidecar already listens on the path.
    #[error(
        "socket {path:?} accepts connections, so another sidecar owns it; choose another path"
    )]
    Live { path: PathBuf },

    /// A file that is not a socket exists at the path.
    #[error("{path:?} exists and is a {kind}, not a socket; it was left untouched, remove it or choose another path")]
    NotASocket { path: PathBuf, kind: &'static str },

    /// Inspecting, removing or binding the path failed.
    #[error("cannot {action} socket {path:?}: {cause}")]
    Io {
        action: &'static str,
        path: PathBuf,
        cause: io::Error,
    },
}

/// Binds the socket at `path`, replacing a stale socket, and sets its mode
/// to 0600.
pub fn bind(path: &Path) -> Result<UnixListener, BindError> {
    // Step 1: the path must fit in sun_path with its NUL.
    let len = path.as_os_str().len();
    if len >= SUN_PATH_LEN {
        return Err(BindError::TooLong {
            path: path.to_owned(),
            len,
        });
    }

    // Step 2: a file at the path is either a stale socket, which is
    // replaced, or a reason to stop. Symbolic links are not followed.
    match std::fs::symlink_metadata(path) {
        Ok(meta) if meta.file_type().is_socket() => remove_stale_socket(path)?,
        Ok(meta) => {
            return Err(BindError::NotASocket {
                path: path.to_owned(),
                kind: file_kind(&meta.file_type()),
            })
        }
        Err(err) if err.kind() == io::ErrorKind::NotFound => {}
        Err(cause) => {
            return Err(BindError::Io {
                action: "inspect",
                path: path.to_owned(),
                cause,
            })
        }
    }

    // Step 3: bind, then restrict the mode before readiness is announced.
    let listener = UnixListener::bind(path).map_err(|cause| BindError::Io {
        action: "bind",
        path: path.to_owned(),
        cause,
    })?;
    if let Err(cause) = std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)) {
        let _ = std::fs::remove_file(path);
        return Err(BindError::Io {
            action: "set the mode of",
            path: path.to_owned(),
            cause,
        });
    }
    info!(socket = %path.display(), "listening");
    Ok(listener)
}

/// Removes a socket that refuses connections; a socket that accepts one
/// belongs to a live sidecar.
fn remove_stale_socket(path: &Path) -> Result<(), BindError> {
    match std::os::unix::net::UnixStream::connect(path) {
        Ok(_) => Err(BindError::Live {
            path: path.to_owned(),
        }),
        Err(err) if err.kind() == io::ErrorKind::ConnectionRefused => {
            debug!(socket = %path.display(), "replacing a stale socket");
            std::fs::remove_file(path).map_err(|cause| BindError::Io {
                action: "remove stale",
                path: path.to_owned(),
                cause,
            })
        }
        Err(cause) => Err(BindError::Io {
            action: "probe existing",
            path: path.to_owned(),
            cause,
        }),
    }
}

fn file_kind(file_type: &std::fs::FileType) -> &'static str {
    if file_type.is_dir() {
        "directory"
    } else if file_type.is_symlink() {
        "symbolic link"
    } else if file_type.is_fifo() {
        "FIFO"
    } else if file_type.is_file() {
        "regular file"
    } else {
        "special file"
    }
}

/// Writes the readiness line to stdout and flushes it.
pub fn announce_ready() -> io::Result<()> {
    let line = ReadyLine {
        ready: true,
        protocol: u32::from(sidecar_protocol::VERSION),
        pid: std::process::id(),
        implementation: IMPLEMENTATION.to_owned(),
        max_header_bytes: DEFAULT_MAX_HEADER_BYTES,
        max_payload_bytes: DEFAULT_MAX_PAYLOAD_BYTES,
    };
    let mut stdout = io::stdout().lock();
    writeln!(stdout, "{}", line.to_line())?;
    stdout.flush()
}
