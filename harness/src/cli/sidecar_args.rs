//! Sidecar flags shared by the subcommands that run MLflow models.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;

use crate::config::MlflowConfig;
use crate::duration::parse_go_duration;
use crate::sidecar::command::{locate_fake_sidecar, locate_python_sidecar};
use crate::sidecar::{PoolConfig, SidecarCommand};

/// Which sidecar runs MLflow models.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum SidecarKind {
    /// The deterministic fake sidecar (no Python needed).
    Fake,
    /// The real MLflow sidecar, `sidecar/mlflow_sidecar.py`.
    Python,
    /// Python when its interpreter can import mlflow, else the fake.
    Auto,
}

/// Flags that choose and tune the sidecar pool. Flags override the
/// `[model-mlflow]` block of `--config`.
#[derive(Debug, Clone, clap::Args)]
pub struct SidecarArgs {
    /// Sidecar implementation; `auto` takes python when the interpreter
    /// can import mlflow, else the fake.
    #[arg(long, value_enum, default_value_t = SidecarKind::Auto)]
    pub sidecar: SidecarKind,

    /// Python interpreter for the Python sidecar [default: the config's
    /// `python`, else .venv/bin/python when it exists, else python3].
    #[arg(long, value_name = "PATH")]
    pub python: Option<PathBuf>,

    /// TOML file with a `[model-mlflow]` block.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// Number of sidecar processes, 1 to 64 [default: the config's, else 2].
    #[arg(long, value_name = "N", value_parser = parse_workers)]
    pub workers: Option<usize>,

    /// Per-request timeout, Go duration syntax such as 2s or 500ms
    /// [default: the config's, else 2s].
    #[arg(long, value_name = "DURATION", value_parser = parse_timeout)]
    pub request_timeout: Option<Duration>,

    /// Write every frame sent to and received from the sidecars to FILE,
    /// one JSON object per line (see docs/debugging.md).
    #[arg(long, value_name = "FILE")]
    pub trace: Option<PathBuf>,
}

fn parse_timeout(text: &str) -> Result<Duration, String> {
    match parse_go_duration(text) {
        Ok(duration) if !duration.is_zero() => Ok(duration),
        Ok(_) => Err("the timeout must be greater than 0".to_string()),
        Err(err) => Err(err.to_string()),
    }
}

impl SidecarArgs {
    /// The `[model-mlflow]` settings with the flags applied.
    pub fn mlflow_settings(&self, base: &MlflowConfig) -> MlflowConfig {
        let mut settings = base.clone();
        if let Some(python) = &self.python {
            settings.python = python.display().to_string();
        } else if settings.python == MlflowConfig::default().python {
            // A repository checkout made by scripts/setup.sh has its venv.
            let venv = std::path::Path::new(".venv/bin/python");
            if venv.is_file() {
                // Not canonicalized: resolving the venv's symlink would
                // leave the venv and lose its packages.
                settings.python = std::path::absolute(venv)
                    .unwrap_or_else(|_| venv.to_path_buf())
                    .display()
                    .to_string();
            }
        }
        if let Some(workers) = self.workers {
            settings.sidecar_workers = workers.max(1);
        }
        if let Some(timeout) = self.request_timeout {
            settings.request_timeout = timeout;
        }
        settings
    }

    /// The pool settings: the `[model-mlflow]` block with the flags
    /// applied, and the trace file.
    pub fn pool_config(&self, base: &MlflowConfig) -> anyhow::Result<PoolConfig> {
        let command = self.command(base)?;
        let mut config = PoolConfig::new(command, &self.mlflow_settings(base));
        config.trace = self.trace.clone();
        Ok(config)
    }

    /// The program the pool runs, resolving `auto`.
    pub fn command(&self, base: &MlflowConfig) -> anyhow::Result<SidecarCommand> {
        let settings = self.mlflow_settings(base);
        match self.resolved_kind(&settings) {
            SidecarKind::Fake => {
                let path = locate_fake_sidecar().map_err(anyhow::Error::msg)?;
                Ok(SidecarCommand::fake(path))
            }
            _ => {
                let script = locate_python_sidecar().map_err(anyhow::Error::msg)?;
                Ok(SidecarCommand::python(&settings.python, &script))
            }
        }
    }

    /// `fake` or `python`: `auto` becomes python when the interpreter can
    /// import mlflow.
    pub fn resolved_kind(&self, settings: &MlflowConfig) -> SidecarKind {
        match self.sidecar {
            SidecarKind::Auto => match python_has_mlflow(&settings.python) {
                Ok(()) => SidecarKind::Python,
                Err(reason) => {
                    tracing::info!("--sidecar auto chose the fake sidecar: {reason}");
                    SidecarKind::Fake
                }
            },
            kind => kind,
        }
    }
}

/// Checks that `python` runs and can import the sidecar's dependencies.
pub fn python_has_mlflow(python: &str) -> Result<(), String> {
    let output = std::process::Command::new(python)
        .args(["-c", "import mlflow.pyfunc, numpy, pandas"])
        .stdin(std::process::Stdio::null())
        .output()
        .with_context(|| format!("cannot run {python}"))
        .map_err(|err| format!("{err:#}"))?;
    if output.status.success() {
        Ok(())
    } else {
        let stderr = String::from_utf8_lossy(&output.stderr);
        let last = stderr.lines().last().unwrap_or("").to_string();
        Err(format!(
            "{python} cannot import mlflow, numpy and pandas: {last}; pass --python with a Python \
             that has sidecar/requirements.txt installed, such as the .venv/bin/python that \
             scripts/setup.sh makes in the repository"
        ))
    }
}

/// Parses `--workers`, within the bounds the config file also applies.
fn parse_workers(text: &str) -> Result<usize, String> {
    let max = crate::config::MAX_SIDECAR_WORKERS;
    match text.parse::<usize>() {
        Ok(workers) if (1..=max).contains(&workers) => Ok(workers),
        _ => Err(format!("{text:?} is not a worker count; use a whole number from 1 to {max}")),
    }
}
