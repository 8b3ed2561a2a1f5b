//! Which program a worker runs: the fake sidecar or the Python sidecar.

use std::path::{Path, PathBuf};

/// A program and its leading arguments; the worker appends `--socket` and
/// `--cache-entries`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SidecarCommand {
    /// Executable to run.
    pub program: PathBuf,
    /// Arguments before the protocol's own.
    pub args: Vec<String>,
}

impl SidecarCommand {
    /// The fake sidecar binary at `path`.
    pub fn fake(path: impl Into<PathBuf>) -> SidecarCommand {
        SidecarCommand {
            program: path.into(),
            args: Vec::new(),
        }
    }

    /// The Python sidecar script run by `python`.
    pub fn python(python: impl Into<PathBuf>, script: &Path) -> SidecarCommand {
        SidecarCommand {
            program: python.into(),
            args: vec![script.display().to_string()],
        }
    }

    /// The command line, for messages.
    pub fn display(&self) -> String {
        let mut parts = vec![self.program.display().to_string()];
        parts.extend(self.args.iter().cloned());
        parts.join(" ")
    }
}

/// Finds the `fake-sidecar` binary: `$FAKE_SIDECAR_BIN`, then next to the
/// running executable (cargo puts both binaries in one directory, and test
/// binaries one level below it in `deps/`), then `PATH`.
pub fn locate_fake_sidecar() -> Result<PathBuf, String> {
    if let Some(path) = std::env::var_os("FAKE_SIDECAR_BIN") {
        let path = PathBuf::from(path);
        if path.is_file() {
            return Ok(path);
        }
        return Err(format!(
            "FAKE_SIDECAR_BIN is {}, which is not a file",
            path.display()
        ));
    }

    if let Ok(exe) = std::env::current_exe() {
        for dir in exe.ancestors().skip(1).take(2) {
            let candidate = dir.join("fake-sidecar");
            if candidate.is_file() {
                return Ok(candidate);
            }
        }
    }

    which::which("fake-sidecar").map_err(|_| {
        "fake-sidecar binary not found: build it with `cargo build -p fake-sidecar`, \
         or set FAKE_SIDECAR_BIN to its path"
            .to_string()
    })
}

/// Finds `sidecar/mlflow_sidecar.py`: `$HARNESS_SIDECAR_SCRIPT`, then the
/// repository this binary was built from, then relative to the current
/// directory.
pub fn locate_python_sidecar() -> Result<PathBuf, String> {
    if let Some(path) = std::env::var_os("HARNESS_SIDECAR_SCRIPT") {
        let path = PathBuf::from(path);
        if path.is_file() {
            return Ok(path);
        }
        return Err(format!(
            "HARNESS_SIDECAR_SCRIPT is {}, which is not a file",
            path.display()
        ));
    }

    let candidates = [
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../sidecar/mlflow_sidecar.py"),
        PathBuf::from("sidecar/mlflow_sidecar.py"),
    ];
    for candidate in candidates {
        if candidate.is_file() {
            return Ok(candidate.canonicalize().unwrap_or(candidate));
        }
    }
    Err("sidecar/mlflow_sidecar.py not found: run from the repository, \
         or set HARNESS_SIDECAR_SCRIPT to its path"
        .to_string())
}
