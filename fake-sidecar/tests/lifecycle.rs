//! Start, bind and stop of the real binary (docs/protocol.md section 1).

mod common;

use std::ffi::OsStr;
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::os::unix::net::UnixListener;

use common::*;
use nix::sys::signal::Signal;

#[test]
fn readiness_line_fields() {
    let sidecar = Sidecar::start(&[]);
    let ready = &sidecar.ready;

    assert_eq!(ready["ready"], true);
    assert_eq!(ready["protocol"], 1);
    assert_eq!(ready["pid"], sidecar.pid().as_raw());
    assert_eq!(ready["implementation"], "fake-sidecar/0.1.0");
    assert_eq!(ready["max_header_bytes"], 65536);
    assert_eq!(ready["max_payload_bytes"], 67108864);
    sidecar.stop();
}

#[test]
fn socket_mode_is_0600() {
    let sidecar = Sidecar::start(&[]);
    let meta = std::fs::symlink_metadata(&sidecar.socket).expect("socket exists");

    assert!(meta.file_type().is_socket());
    assert_eq!(meta.permissions().mode() & 0o777, 0o600);
    sidecar.stop();
}

#[test]
fn sigterm_stops_cleanly() {
    let sidecar = Sidecar::start(&[]);
    let mut client = sidecar.connect();
    client.call(&ping(1), &[]);

    // stop() sends SIGTERM and checks status 0 and the removed socket.
    sidecar.stop();
    client.expect_eof();
}

#[test]
fn sigint_stops_cleanly() {
    let mut sidecar = Sidecar::start(&[]);
    sidecar.signal(Signal::SIGINT);

    assert_eq!(sidecar.wait_exit().code(), Some(0));
    sidecar.assert_clean_exit();
}

#[test]
fn shutdown_request_stops_cleanly() {
    let mut sidecar = Sidecar::start(&[]);
    let mut other = sidecar.connect();
    other.call(&ping(1), &[]);
    let mut client = sidecar.connect();

    let (response, payload) = client.call(&sidecar_protocol::Request::Shutdown { id: 9 }, &[]);
    assert!(response.ok);
    assert_eq!(response.to_header(), br#"{"id":9,"ok":true}"#.to_vec());
    assert!(payload.is_empty());

    client.expect_eof();
    other.expect_eof();
    assert_eq!(
        sidecar.wait_exit().code(),
        Some(0),
        "stderr:\n{}",
        sidecar.stderr()
    );
    sidecar.assert_clean_exit();
}

#[test]
fn stale_socket_replaced() {
    let dir = tempfile::tempdir().expect("temp dir");
    let socket = dir.path().join("s.sock");

    // A bound and closed listener leaves a socket that refuses connections.
    drop(UnixListener::bind(&socket).expect("bind"));
    assert!(socket.exists());

    let sidecar = Sidecar::start_in(dir, &[]);
    let mut client = sidecar.connect();
    let (response, _) = client.call(&ping(1), &[]);
    assert!(response.ok);
    sidecar.stop();
}

#[test]
fn regular_file_untouched_exit_3() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("s.sock");
    std::fs::write(&path, b"not a socket").expect("write");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).expect("chmod");

    let (status, stdout, stderr) = run_to_exit(&[OsStr::new("--socket"), path.as_os_str()]);

    assert_eq!(status.code(), Some(3), "stderr:\n{stderr}");
    assert!(stdout.is_empty(), "stdout: {stdout}");
    assert!(stderr.contains("regular file"), "stderr:\n{stderr}");
    assert_eq!(std::fs::read(&path).expect("still there"), b"not a socket");
    let mode = std::fs::metadata(&path)
        .expect("metadata")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o644);
}

#[test]
fn directory_at_path_exit_3() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("s.sock");
    std::fs::create_dir(&path).expect("mkdir");

    let (status, _, stderr) = run_to_exit(&[OsStr::new("--socket"), path.as_os_str()]);

    assert_eq!(status.code(), Some(3), "stderr:\n{stderr}");
    assert!(path.is_dir());
}

#[test]
fn live_socket_exit_3() {
    let sidecar = Sidecar::start(&[]);

    let (status, stdout, stderr) =
        run_to_exit(&[OsStr::new("--socket"), sidecar.socket.as_os_str()]);

    assert_eq!(status.code(), Some(3), "stderr:\n{stderr}");
    assert!(stdout.is_empty(), "stdout: {stdout}");
    assert!(stderr.contains("accepts connections"), "stderr:\n{stderr}");

    // The first sidecar still owns and serves its socket.
    let mut client = sidecar.connect();
    assert!(client.call(&ping(1), &[]).0.ok);
    sidecar.stop();
}

#[test]
fn socket_path_too_long_exit_3() {
    let dir = tempfile::tempdir().expect("temp dir");
    let long = dir.path().join("s".repeat(120));

    let (status, _, stderr) = run_to_exit(&[OsStr::new("--socket"), long.as_os_str()]);

    assert_eq!(status.code(), Some(3), "stderr:\n{stderr}");
    assert!(stderr.contains("limit is 107 bytes"), "stderr:\n{stderr}");
    assert!(!long.exists());
}

#[test]
fn invalid_command_lines_exit_2() {
    let dir = tempfile::tempdir().expect("temp dir");
    let socket = dir.path().join("s.sock");
    let socket = socket.as_os_str();
    let cases: [&[&OsStr]; 5] = [
        &[],
        &[OsStr::new("--socket"), OsStr::new("relative.sock")],
        &[
            OsStr::new("--socket"),
            socket,
            OsStr::new("--cache-entries"),
            OsStr::new("0"),
        ],
        &[
            OsStr::new("--socket"),
            socket,
            OsStr::new("--cache-entries"),
            OsStr::new("65537"),
        ],
        &[OsStr::new("--socket"), socket, OsStr::new("--bogus")],
    ];

    for args in cases {
        let (status, stdout, stderr) = run_to_exit(args);
        assert_eq!(status.code(), Some(2), "{args:?}: stderr:\n{stderr}");
        assert!(stdout.is_empty(), "{args:?}: stdout: {stdout}");
        assert!(!std::path::Path::new(socket).exists(), "{args:?}");
    }
}

/// Reports whether `pid` is a running process (a zombie counts as exited).
fn running(pid: &str) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => !stat.rsplit(')').next().unwrap_or_default().trim_start().starts_with('Z'),
        Err(_) => false,
    }
}

#[test]
fn orphaned_sidecar_stops() {
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("s.sock");
    // The shell starts the sidecar in the background and exits soon
    // after, as a crashed client would.
    let output = std::process::Command::new("sh")
        .arg("-c")
        .arg(r#""$0" --socket "$1" >/dev/null 2>&1 & echo $!; sleep 0.5"#)
        .arg(env!("CARGO_BIN_EXE_fake-sidecar"))
        .arg(&socket)
        .output()
        .unwrap();
    let pid = String::from_utf8_lossy(&output.stdout).trim().to_string();
    assert!(socket.exists(), "the sidecar never bound {}", socket.display());

    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while running(&pid) && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    assert!(!running(&pid), "sidecar {pid} still runs after its parent exited");
    assert!(!socket.exists(), "the orphaned sidecar left its socket");
}
