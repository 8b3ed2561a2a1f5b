//! Socket path rules of docs/protocol.md sections 1.1 and 1.2, checked on
//! both the fake sidecar binary and the Python sidecar.

use crate::support;

use std::io::{BufRead, BufReader};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use harness::sidecar::SidecarCommand;

use support::*;

/// Time a sidecar gets to print its readiness line or exit; the Python
/// sidecar imports mlflow first.
const START_WAIT: Duration = Duration::from_secs(30);

/// What a started sidecar did first.
enum Start {
    /// It printed the readiness line and is running.
    Ready(Child),
    /// It exited with this status and stderr before any readiness line.
    Exited(ExitStatus, String),
}

fn start(command: &SidecarCommand, socket: &Path) -> Start {
    let mut child = Command::new(&command.program)
        .args(&command.args)
        .arg("--socket")
        .arg(socket)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("sidecar spawns");
    let stdout = child.stdout.take().expect("stdout");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut line = String::new();
        let _ = BufReader::new(stdout).read_line(&mut line);
        let _ = tx.send(line);
    });
    let line = rx.recv_timeout(START_WAIT).unwrap_or_default();
    if line.contains("\"ready\":true") {
        return Start::Ready(child);
    }
    let deadline = Instant::now() + START_WAIT;
    let status = loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("sidecar neither became ready nor exited");
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let mut stderr = String::new();
    if let Some(mut pipe) = child.stderr.take() {
        use std::io::Read;
        let _ = pipe.read_to_string(&mut stderr);
    }
    Start::Exited(status, stderr)
}

fn expect_ready(command: &SidecarCommand, socket: &Path, what: &str) -> Child {
    match start(command, socket) {
        Start::Ready(child) => child,
        Start::Exited(status, stderr) => panic!("{what}: exited with {status}: {stderr}"),
    }
}

fn expect_exit(command: &SidecarCommand, socket: &Path, what: &str) -> (i32, String) {
    match start(command, socket) {
        Start::Ready(mut child) => {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{what}: became ready, expected exit status 3");
        }
        Start::Exited(status, stderr) => (status.code().unwrap_or(-1), stderr),
    }
}

fn stop(mut child: Child) {
    let _ = child.kill();
    let _ = child.wait();
}

fn commands() -> [(&'static str, SidecarCommand); 2] {
    [("fake", fake_command()), ("python", python_command())]
}

fn short_dir() -> tempfile::TempDir {
    tempfile::Builder::new().prefix("hh-").tempdir_in("/tmp").expect("tempdir")
}

#[test]
fn overlong_socket_path_exits_3() {
    for (name, command) in commands() {
        let dir = short_dir();
        let mut socket: PathBuf = dir.path().to_path_buf();
        while socket.as_os_str().len() < 110 {
            socket = socket.join("long-directory-name");
        }
        std::fs::create_dir_all(&socket).expect("mkdir");
        let socket = socket.join("s.sock");
        let length = socket.as_os_str().len().to_string();
        let (code, stderr) = expect_exit(&command, &socket, name);
        assert_eq!(code, 3, "{name}: {stderr}");
        assert!(stderr.contains(&socket.display().to_string()), "{name} names the path: {stderr}");
        assert!(stderr.contains(&length), "{name} names the length {length}: {stderr}");
        assert!(stderr.contains("107") || stderr.contains("108"), "{name} names the limit: {stderr}");
    }
}

#[test]
fn stale_socket_of_killed_sidecar_is_replaced() {
    for (name, command) in commands() {
        let dir = short_dir();
        let socket = dir.path().join("s.sock");
        let first = expect_ready(&command, &socket, name);
        stop(first);
        assert!(socket.exists(), "{name}: SIGKILL leaves the socket file");

        let second = expect_ready(&command, &socket, name);
        assert!(UnixStream::connect(&socket).is_ok(), "{name}: the new sidecar listens");
        stop(second);
    }
}

#[test]
fn regular_file_at_socket_path_is_kept() {
    for (name, command) in commands() {
        let dir = short_dir();
        let socket = dir.path().join("s.sock");
        std::fs::write(&socket, "not a socket").expect("write");
        let (code, stderr) = expect_exit(&command, &socket, name);
        assert_eq!(code, 3, "{name}: {stderr}");
        assert!(stderr.contains(&socket.display().to_string()), "{name}: {stderr}");
        let content = std::fs::read_to_string(&socket).expect("file still there");
        assert_eq!(content, "not a socket", "{name}: file untouched");
    }
}

#[test]
fn live_socket_is_not_taken_over() {
    for (name, command) in commands() {
        let dir = short_dir();
        let socket = dir.path().join("s.sock");
        let owner = expect_ready(&command, &socket, name);

        let (code, stderr) = expect_exit(&command, &socket, name);
        assert_eq!(code, 3, "{name}: {stderr}");
        assert!(UnixStream::connect(&socket).is_ok(), "{name}: the owner still listens");
        stop(owner);
    }
}
