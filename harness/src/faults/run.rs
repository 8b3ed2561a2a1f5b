//! Runs one fault case through `MlflowBackend` and checks each step's
//! error, worker replacement and duration, then that every process was
//! reaped and no socket directory was left.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::case::{Expect, FaultCase, Step};
use super::FaultCaseError;
use crate::backend::mlflow::MlflowBackend;
use crate::backend::{BackendError, Batch, ModelBackend, ModelRef};
use crate::sidecar::pool::DEFAULT_MAX_BATCH_SIZE;
use crate::sidecar::{PoolConfig, SidecarCommand};

/// Locations of the programs and fixtures the runner uses.
#[derive(Debug, Clone)]
pub struct FaultRunOptions {
    /// The `fake-sidecar` binary.
    pub fake_sidecar: PathBuf,
    /// The `fixtures/` directory; `None` looks for it in the ancestors of
    /// the case file.
    pub fixtures: Option<PathBuf>,
    /// Directory for the per-case temporary directory (fault script and
    /// worker sockets). Keep it short: socket paths must fit in 107 bytes.
    pub temp_parent: PathBuf,
}

impl FaultRunOptions {
    /// Options with the fake sidecar found by
    /// [`crate::sidecar::command::locate_fake_sidecar`] and `/tmp`.
    pub fn locate() -> Result<FaultRunOptions, String> {
        Ok(FaultRunOptions {
            fake_sidecar: crate::sidecar::command::locate_fake_sidecar()?,
            fixtures: None,
            temp_parent: PathBuf::from("/tmp"),
        })
    }
}

/// The result of a case that ran.
#[derive(Debug, Clone)]
pub struct CaseOutcome {
    /// Case name (the file stem).
    pub name: String,
    /// Every expectation that was not met, prefixed by its step; empty
    /// when the case passed.
    pub failures: Vec<String>,
    /// Wall time of the case.
    pub elapsed: Duration,
}

impl CaseOutcome {
    /// Whether every expectation was met.
    pub fn passed(&self) -> bool {
        self.failures.is_empty()
    }

    /// One line for a report: `PASS name` or `FAIL name: first; second`.
    pub fn message(&self) -> String {
        if self.passed() {
            format!("PASS {} ({} ms)", self.name, self.elapsed.as_millis())
        } else {
            format!("FAIL {}: {}", self.name, self.failures.join("; "))
        }
    }
}

/// Runs the fault case at `path`.
pub fn run_fault_case(path: &Path, options: &FaultRunOptions) -> Result<CaseOutcome, FaultCaseError> {
    let started = Instant::now();
    let case = FaultCase::load(path)?;
    let setup = |message: String| FaultCaseError::Setup {
        path: path.to_owned(),
        message,
    };

    // Step 1: the model, its spec (for expected values) and a private
    // temporary directory holding the fault script and the sockets.
    let fixtures = match &options.fixtures {
        Some(dir) => dir.clone(),
        None => find_fixtures(path).ok_or_else(|| {
            setup("no fixtures/ directory above the case file; set FaultRunOptions::fixtures".into())
        })?,
    };
    let model_dir = fixtures.join(&case.model);
    let spec_path = model_dir.join("data/model.json");
    let spec_text = std::fs::read_to_string(&spec_path)
        .map_err(|err| setup(format!("model spec {}: {err}", spec_path.display())))?;
    let spec = model_spec::ModelSpec::from_json(&spec_text)
        .map_err(|err| setup(format!("model spec {}: {err}", spec_path.display())))?;
    let temp = tempfile::Builder::new()
        .prefix("hf-")
        .tempdir_in(&options.temp_parent)
        .map_err(|err| setup(format!("cannot create a temp dir in {}: {err}", options.temp_parent.display())))?;
    let faults_file = temp.path().join("faults.json");
    let sockets = temp.path().join("s");
    std::fs::create_dir(&sockets).map_err(|err| setup(format!("cannot create {}: {err}", sockets.display())))?;
    let script = serde_json::to_vec_pretty(&case.faults).map_err(|err| setup(err.to_string()))?;
    std::fs::write(&faults_file, script)
        .map_err(|err| setup(format!("cannot write {}: {err}", faults_file.display())))?;

    // Step 2: a one-worker pool running the fake sidecar with the script.
    let command = SidecarCommand {
        program: options.fake_sidecar.clone(),
        args: vec!["--faults".into(), faults_file.display().to_string()],
    };
    let config = PoolConfig {
        command,
        workers: 1,
        request_timeout: case.request_timeout,
        start_timeout: case.start_timeout,
        cache_entries: 4,
        max_batch_size: DEFAULT_MAX_BATCH_SIZE,
        socket_parent: sockets.clone(),
        trace: None,
        // No spare worker: the cases count launches and reap exactly.
        standby: false,
        min_split_rows: crate::sidecar::pool::DEFAULT_MIN_SPLIT_ROWS,
    };
    let backend = MlflowBackend::new(config).map_err(|err| setup(err.to_string()))?;
    let model = ModelRef {
        name: case.model_name.clone(),
        version: case.model_version,
        path: model_dir,
        checksum: String::new(),
        inputs: spec.inputs.clone(),
        outputs: spec.output_names(),
        timeout: None,
    };

    // Step 3: the steps.
    let mut failures = Vec::new();
    for (index, step) in case.steps.iter().enumerate() {
        let prefix = format!("step {}", index + 1);
        for failure in run_step(&backend, &model, &spec, step, &sockets) {
            failures.push(format!("{prefix}: {failure}"));
        }
    }

    // Step 4: stop the pool; every process started must be gone, zombies
    // included, and no socket directory may remain.
    let spawned = backend.pool().spawned_pids();
    drop(backend);
    for pid in spawned {
        if let Some(state) = child_state(pid) {
            failures.push(format!("after the case: sidecar {pid} still exists (state {state})"));
        }
    }
    let left = list_dir(&sockets);
    if !left.is_empty() {
        failures.push(format!("after the case: socket directories left behind: {left:?}"));
    }

    Ok(CaseOutcome {
        name: case.name,
        failures,
        elapsed: started.elapsed(),
    })
}

/// Runs one step and returns what differed from its expectations.
fn run_step(backend: &MlflowBackend, model: &ModelRef, spec: &model_spec::ModelSpec, step: &Step, sockets: &Path) -> Vec<String> {
    let mut failures = Vec::new();
    let width = model.inputs.len();
    if let Some(row) = step.rows.iter().find(|row| row.len() != width) {
        return vec![format!("a row has {} values, the model has {width} inputs", row.len())];
    }
    let values: Vec<f32> = step.rows.iter().flatten().copied().collect();
    let batch = Batch {
        columns: model.inputs.clone(),
        rows: step.rows.len(),
        values,
    };

    let before = backend.pool_stats();
    let started = Instant::now();
    let result = backend.infer_batch(model, &batch);
    let elapsed = started.elapsed();
    let after = backend.pool_stats();

    // The result.
    match (step.expect, result) {
        (Expect::Ok, Ok(output)) => {
            let expected = spec.eval_batch(batch.rows, &batch.values);
            let same = output.values.len() == expected.len()
                && output.values.iter().zip(&expected).all(|(a, b)| a.to_bits() == b.to_bits());
            if !same {
                failures.push(format!("values {:?} differ from the spec's {:?}", output.values, expected));
            }
        }
        (Expect::Ok, Err(err)) => failures.push(format!("expected success, got error: {}", backend_message(&err))),
        (Expect::Error, Ok(output)) => {
            failures.push(format!("expected an error, got success with values {:?}", output.values))
        }
        (Expect::Error, Err(err)) => {
            let message = backend_message(&err);
            if let Some(pattern) = &step.error_regex {
                if !pattern.is_match(&message) {
                    failures.push(format!("error {message:?} does not match /{}/", pattern.as_str()));
                }
            }
        }
    }

    // Worker replacement and launches.
    let replaced = after.replacements > before.replacements;
    if let Some(wanted) = step.worker_replaced {
        if wanted != replaced {
            failures.push(format!(
                "worker_replaced is {replaced}, expected {wanted} (replacements {} -> {})",
                before.replacements, after.replacements
            ));
        }
    }
    if let Some(wanted) = step.launches {
        let launched = after.launches - before.launches;
        if launched != wanted {
            failures.push(format!("the call started {launched} workers, expected {wanted}"));
        }
    }

    // Duration.
    if let Some(limit) = step.max_wait {
        if elapsed > limit {
            failures.push(format!("the call took {} ms, over max_wait {} ms", elapsed.as_millis(), limit.as_millis()));
        }
    }
    if let Some(floor) = step.min_wait {
        if elapsed < floor {
            failures.push(format!("the call took {} ms, under min_wait {} ms", elapsed.as_millis(), floor.as_millis()));
        }
    }

    // A replaced or failed-to-start worker must be reaped and its socket
    // directory removed already, not only at shutdown.
    let live: Vec<u32> = backend.pool().worker_pids().into_iter().flatten().collect();
    for pid in backend.pool().spawned_pids() {
        if live.contains(&pid) {
            continue;
        }
        if let Some(state) = child_state(pid) {
            failures.push(format!("dropped sidecar {pid} was not reaped (state {state})"));
        }
    }
    let dirs = list_dir(sockets);
    if dirs.len() > live.len() {
        failures.push(format!("{} socket directories for {} live workers: {dirs:?}", dirs.len(), live.len()));
    }
    failures
}

/// The message of a backend error: for inference errors, the
/// `model '<name>' version <v>: <cause>` text itself.
fn backend_message(err: &BackendError) -> String {
    err.to_string()
}

/// The state letter (`R`, `S`, `Z`, ...) of `pid` when it is still a child
/// of this process; `None` when it is gone or belongs to someone else (its
/// pid was reused).
fn child_state(pid: u32) -> Option<char> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;

    // Fields after the command name, which is in parentheses and may
    // contain spaces: state, ppid, ...
    let rest = &stat[stat.rfind(')')? + 1..];
    let mut fields = rest.split_whitespace();
    let state = fields.next()?.chars().next()?;
    let ppid: u32 = fields.next()?.parse().ok()?;
    (ppid == std::process::id()).then_some(state)
}

fn list_dir(dir: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(dir)
        .map(|entries| entries.flatten().map(|entry| entry.path()).collect())
        .unwrap_or_default()
}

/// The nearest `fixtures/` directory in the ancestors of `path`.
fn find_fixtures(path: &Path) -> Option<PathBuf> {
    let absolute = path.canonicalize().ok()?;
    absolute
        .ancestors()
        .skip(1)
        .map(|dir| dir.join("fixtures"))
        .find(|dir| dir.is_dir())
}
