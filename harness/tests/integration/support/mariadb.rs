//! A private MariaDB server for tests of the live target.
//!
//! Each [`MariaDb`] gets a fresh data directory in a temporary directory,
//! listens on 127.0.0.1 only, at a free port, with its Unix socket inside
//! that directory. Root has no password (`normal` authentication, grants
//! checked). Dropping it stops the server with SIGTERM, waits for it (so no
//! zombie is left) and removes the directory.
//!
//! Starting takes a few seconds, so a test binary starts one server in one
//! `#[test]` function and runs its checks there with [`run_checks`]. Rust's
//! test harness never drops statics, so a server shared through a
//! `OnceLock` would outlive the tests and leave its process and directory
//! behind.

use std::net::{TcpListener, TcpStream};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

/// How long the server may take to accept connections.
const START_TIMEOUT: Duration = Duration::from_secs(60);
/// How long the server may take to shut down after SIGTERM.
const STOP_TIMEOUT: Duration = Duration::from_secs(30);
/// Start attempts; another process may take the chosen port first.
const START_ATTEMPTS: usize = 3;

const INSTALL_HINT: &str = "install it with `bash scripts/setup.sh` as root, \
                            or `apt-get install mariadb-server mariadb-client`";

/// A running private MariaDB server.
pub struct MariaDb {
    child: Option<Child>,
    port: u16,
    dir: Option<tempfile::TempDir>,
}

impl MariaDb {
    /// Creates a data directory and starts the server. Panics with the fix
    /// when MariaDB is not installed, and with the server's log when it
    /// fails to start.
    pub fn start() -> MariaDb {
        let mariadbd = find_binary("mariadbd", &["/usr/sbin/mariadbd", "/usr/bin/mariadbd"]);
        let install_db = find_binary(
            "mariadb-install-db",
            &[
                "/usr/bin/mariadb-install-db",
                "/usr/sbin/mariadb-install-db",
            ],
        );

        let dir = tempfile::Builder::new()
            .prefix("mariadb-")
            .tempdir_in("/tmp")
            .expect("create a temporary directory for MariaDB");
        install_data_dir(&install_db, dir.path());

        let mut last_log = String::new();
        for _ in 0..START_ATTEMPTS {
            let port = free_port();
            let mut child = spawn_server(&mariadbd, dir.path(), port);
            match wait_until_ready(&mut child, dir.path(), port) {
                Ok(()) => {
                    return MariaDb {
                        child: Some(child),
                        port,
                        dir: Some(dir),
                    };
                }
                Err(log) => {
                    stop_child(&mut child);
                    last_log = log;
                    if !last_log.contains("Address already in use") {
                        break;
                    }
                }
            }
        }
        panic!("MariaDB failed to start; its log:\n{last_log}");
    }

    /// Returns the TCP port on 127.0.0.1.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Returns the server's process id.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("server running").id()
    }

    /// Returns the temporary directory with data, socket and log.
    pub fn dir(&self) -> &Path {
        self.dir.as_ref().expect("server running").path()
    }

    /// `mysql://root@127.0.0.1:PORT/DATABASE`; an empty `database` leaves
    /// the path out.
    pub fn url(&self, database: &str) -> String {
        if database.is_empty() {
            format!("mysql://root@127.0.0.1:{}", self.port)
        } else {
            format!("mysql://root@127.0.0.1:{}/{database}", self.port)
        }
    }

    /// Runs `sql` with the `mariadb` command-line client in batch mode and
    /// returns its stdout: tab-separated cells as the server sent them, no
    /// header, `NULL` for NULL. Tests use it as an independent reading of
    /// the server's text.
    pub fn client_query(&self, sql: &str) -> String {
        let client = find_binary("mariadb", &["/usr/bin/mariadb"]);
        let output = Command::new(client)
            .args(["--no-defaults", "--protocol=TCP", "--host=127.0.0.1"])
            .arg(format!("--port={}", self.port))
            .args([
                "--user=root",
                "--batch",
                "--raw",
                "--skip-column-names",
                "-e",
            ])
            .arg(sql)
            .output()
            .expect("run the mariadb client");
        assert!(
            output.status.success(),
            "mariadb client failed on {sql:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8(output.stdout).expect("client output is UTF-8")
    }

    /// Stops the server, reaps it and removes its directory.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            stop_child(&mut child);
        }
        if let Some(dir) = self.dir.take() {
            let path = dir.path().to_path_buf();
            if let Err(error) = dir.close() {
                eprintln!("failed to remove {}: {error}", path.display());
            }
        }
    }
}

impl Drop for MariaDb {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Runs each named check, reports every failure, and panics at the end if
/// any check failed. A check that panics does not stop the others.
pub fn run_checks(checks: &[(&str, &dyn Fn())]) {
    let mut failed = Vec::new();
    for (name, check) in checks {
        eprintln!("check {name} ...");
        if std::panic::catch_unwind(std::panic::AssertUnwindSafe(check)).is_err() {
            eprintln!("check {name} FAILED");
            failed.push(*name);
        }
    }
    assert!(failed.is_empty(), "failed checks: {failed:?}");
}

fn find_binary(name: &str, fallbacks: &[&str]) -> PathBuf {
    if let Ok(path) = which::which(name) {
        return path;
    }
    fallbacks
        .iter()
        .map(PathBuf::from)
        .find(|path| path.is_file())
        .unwrap_or_else(|| panic!("{name} not found: MariaDB is not installed; {INSTALL_HINT}"))
}

/// Reports whether the tests run as root, from the owner of a directory
/// they created. mariadbd refuses to run as root without `--user=root`.
fn is_root(own_dir: &Path) -> bool {
    std::fs::metadata(own_dir).is_ok_and(|meta| meta.uid() == 0)
}

fn install_data_dir(install_db: &Path, dir: &Path) {
    let log = dir.join("install.log");
    let log_file = std::fs::File::create(&log).expect("create install.log");
    let mut command = Command::new(install_db);
    command
        .arg("--no-defaults")
        .arg(format!("--datadir={}", dir.join("data").display()))
        .args([
            "--auth-root-authentication-method=normal",
            "--skip-test-db",
            "--skip-name-resolve",
        ])
        .stdin(Stdio::null())
        .stdout(log_file.try_clone().expect("clone log handle"))
        .stderr(log_file);
    if is_root(dir) {
        command.arg("--user=root");
    }
    let status = command.status().expect("run mariadb-install-db");
    assert!(
        status.success(),
        "mariadb-install-db failed ({status}):\n{}",
        std::fs::read_to_string(&log).unwrap_or_default()
    );
}

fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind a free port");
    listener.local_addr().expect("local address").port()
}

fn spawn_server(mariadbd: &Path, dir: &Path, port: u16) -> Child {
    let _ = std::fs::remove_file(dir.join("error.log"));
    let mut command = Command::new(mariadbd);
    command
        .arg("--no-defaults")
        .arg(format!("--datadir={}", dir.join("data").display()))
        .arg(format!("--socket={}", dir.join("mysqld.sock").display()))
        .arg(format!("--pid-file={}", dir.join("mysqld.pid").display()))
        .arg(format!("--log-error={}", dir.join("error.log").display()))
        .arg(format!("--tmpdir={}", dir.display()))
        .arg("--bind-address=127.0.0.1")
        .arg(format!("--port={port}"))
        .args(["--skip-name-resolve", "--innodb-buffer-pool-size=16M"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    if is_root(dir) {
        command.arg("--user=root");
    }
    command.spawn().expect("start mariadbd")
}

/// Waits until the log reports the server ready and the port accepts a
/// TCP connection. Returns the log when the server exits or times out.
fn wait_until_ready(child: &mut Child, dir: &Path, port: u16) -> Result<(), String> {
    let log_path = dir.join("error.log");
    let deadline = Instant::now() + START_TIMEOUT;
    loop {
        let log = std::fs::read_to_string(&log_path).unwrap_or_default();
        if let Ok(Some(status)) = child.try_wait() {
            return Err(format!("mariadbd exited with {status}\n{log}"));
        }
        if log.contains("ready for connections") && TcpStream::connect(("127.0.0.1", port)).is_ok()
        {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(format!(
                "mariadbd was not ready after {START_TIMEOUT:?}\n{log}"
            ));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Sends SIGTERM, waits up to `STOP_TIMEOUT`, then SIGKILL; always reaps.
fn stop_child(child: &mut Child) {
    if let Ok(Some(_)) = child.try_wait() {
        return;
    }
    let pid = Pid::from_raw(child.id() as i32);
    let _ = kill(pid, Signal::SIGTERM);
    let deadline = Instant::now() + STOP_TIMEOUT;
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    eprintln!("mariadbd {pid} did not stop within {STOP_TIMEOUT:?}; killing it");
    let _ = child.kill();
    let _ = child.wait();
}
