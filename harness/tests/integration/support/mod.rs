//! Shared helpers for tests that run real sidecars and servers.
#![allow(dead_code)]

pub mod mariadb;
pub mod gated_proxy;
pub mod moto;

use std::path::{Path, PathBuf};
use std::time::Duration;

use harness::sidecar::command::{locate_fake_sidecar, locate_python_sidecar};
use harness::sidecar::pool::{DEFAULT_MIN_SPLIT_ROWS, DEFAULT_START_TIMEOUT};
use harness::sidecar::{BlockingPool, PoolConfig, SidecarCommand};

/// The repository root.
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("harness/ has a parent")
        .to_path_buf()
}

/// Absolute path of a fixture under `fixtures/`.
pub fn fixture(relative: &str) -> PathBuf {
    repo_root().join("fixtures").join(relative)
}

/// The fake sidecar command; fails the test with the fix when the binary
/// is missing.
pub fn fake_command() -> SidecarCommand {
    match locate_fake_sidecar() {
        Ok(path) => SidecarCommand::fake(path),
        Err(message) => panic!("{message}"),
    }
}

/// The Python interpreter with mlflow: `$HARNESS_PYTHON`, else the repo's
/// `.venv`. A missing interpreter fails the test with the fix, because
/// these tests must run the real Python sidecar.
pub fn python() -> PathBuf {
    let path = std::env::var_os("HARNESS_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join(".venv/bin/python"));
    assert!(
        path.is_file(),
        "Python with mlflow not found at {}: run `bash scripts/setup.sh`, or set HARNESS_PYTHON",
        path.display()
    );
    path
}

/// The Python sidecar command.
pub fn python_command() -> SidecarCommand {
    let script = locate_python_sidecar().unwrap_or_else(|message| panic!("{message}"));
    SidecarCommand::python(python(), &script)
}

/// Pool settings with the workers' sockets under `socket_parent`.
pub fn pool_config(command: SidecarCommand, socket_parent: &Path) -> PoolConfig {
    PoolConfig {
        command,
        workers: 2,
        request_timeout: Duration::from_secs(10),
        start_timeout: DEFAULT_START_TIMEOUT,
        cache_entries: 8,
        max_batch_size: 1024,
        socket_parent: socket_parent.to_path_buf(),
        trace: None,
        // Off, so that the tests count launches exactly; the standby tests
        // turn it on.
        standby: false,
        min_split_rows: DEFAULT_MIN_SPLIT_ROWS,
    }
}

/// A pool with its own socket directory, which must be empty after drop.
pub struct TestPool {
    pub pool: Option<BlockingPool>,
    pub sockets: tempfile::TempDir,
}

impl TestPool {
    pub fn new(command: SidecarCommand, tune: impl FnOnce(&mut PoolConfig)) -> TestPool {
        let sockets = tempfile::Builder::new()
            .prefix("hs-")
            .tempdir_in("/tmp")
            .expect("tempdir");
        let mut config = pool_config(command, sockets.path());
        tune(&mut config);
        let pool = BlockingPool::new(config).expect("pool");
        TestPool {
            pool: Some(pool),
            sockets,
        }
    }

    pub fn pool(&self) -> &BlockingPool {
        self.pool.as_ref().expect("pool not closed")
    }

    /// Shuts the pool down and checks that every worker process is gone
    /// (not even a zombie) and no socket directory is left.
    pub fn close(&mut self) {
        let Some(pool) = self.pool.take() else { return };
        let mut pids: Vec<u32> = pool.worker_pids().into_iter().flatten().collect();
        pids.extend(pool.standby_pid());
        drop(pool);
        for pid in pids {
            assert!(
                !process_exists(pid),
                "sidecar {pid} still exists after shutdown"
            );
        }
        let left: Vec<_> = std::fs::read_dir(self.sockets.path())
            .expect("read socket parent")
            .flatten()
            .map(|entry| entry.path())
            .collect();
        assert!(left.is_empty(), "socket directories left behind: {left:?}");
    }
}

impl Drop for TestPool {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            self.close();
        }
    }
}

/// Whether a process with this pid exists, zombies included.
pub fn process_exists(pid: u32) -> bool {
    Path::new(&format!("/proc/{pid}")).exists()
}

/// Reads a numeric CSV fixture.
pub fn read_inputs(relative: &str) -> harness::cli::predict::CsvTable {
    let path = fixture(relative);
    let file = std::fs::File::open(&path).unwrap_or_else(|err| panic!("{}: {err}", path.display()));
    harness::cli::predict::read_csv(std::io::BufReader::new(file), relative).expect("csv")
}

/// Evaluates a fixture's model spec in Rust, with inputs given in
/// `input_names` order.
pub fn spec_eval(model: &str, input_names: &[String], rows: usize, values: &[f32]) -> Vec<f32> {
    let text = std::fs::read_to_string(fixture(model).join("data/model.json")).expect("spec");
    let spec = model_spec::ModelSpec::from_json(&text).expect("valid spec");
    let width = input_names.len();
    let order: Vec<usize> = spec
        .inputs
        .iter()
        .map(|name| {
            input_names
                .iter()
                .position(|n| n == name)
                .expect("input present")
        })
        .collect();
    let mut reordered = Vec::with_capacity(values.len());
    for row in values.chunks_exact(width).take(rows) {
        reordered.extend(order.iter().map(|&i| row[i]));
    }
    spec.eval_batch(rows, &reordered)
}

/// Compares two FP32 vectors bit for bit, naming the first difference.
pub fn assert_same_bits(left: &[f32], right: &[f32], what: &str) {
    assert_eq!(left.len(), right.len(), "{what}: lengths differ");
    for (index, (a, b)) in left.iter().zip(right).enumerate() {
        assert_eq!(
            a.to_bits(),
            b.to_bits(),
            "{what}: value {index} differs: {a} vs {b}"
        );
    }
}

/// Returns the counts of `harness run`'s last line, `N passed, N failed,
/// N skipped`: passed, failed and skipped.
pub fn summary_counts(stdout: &str) -> (usize, usize, usize) {
    let line = stdout.lines().last().unwrap_or_default();
    let numbers: Vec<usize> = line
        .split([' ', ','])
        .filter_map(|word| word.parse().ok())
        .collect();
    assert_eq!(numbers.len(), 3, "no summary line at the end of:\n{stdout}");
    (numbers[0], numbers[1], numbers[2])
}
