//! `harness run`: execute `.test`/`.result` and `.slt` cases against a
//! target and report failures.
//!
//! Prints one report per failing case, a line per skipped case, and ends
//! with `N passed, N failed, N skipped`. Exits 1 when any case failed.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;

use crate::artifact::checksum::{path_checksum, DirVariant};
use crate::config::Config;
use crate::engine::ReferenceTarget;
use crate::runner::junit::write_junit;
use crate::runner::{discover, run_cases, Case, ChecksumFn, Requirements, RunnerConfig};
use crate::target::Target;

use super::sidecar_args::{python_has_mlflow, SidecarArgs, SidecarKind};

/// Arguments of `harness run`.
#[derive(Debug, clap::Args)]
pub struct RunArgs {
    /// Target that runs the statements: `reference` is the embedded
    /// reference engine.
    #[arg(long, default_value = "reference")]
    pub target: String,
    #[command(flatten)]
    pub sidecar: SidecarArgs,
    /// Rewrite .result files and .slt expectations with the actual output.
    #[arg(long)]
    pub record: bool,
    /// Digest method behind `${CHECKSUM:...}` for model directories.
    #[arg(long, value_enum, default_value_t = DirVariant::Manifest)]
    pub checksum_variant: DirVariant,
    /// Fixtures directory for `${FIXTURES_DIR}` (default: the nearest
    /// `fixtures` directory above the first case path, then above the
    /// current directory).
    #[arg(long, value_name = "DIR")]
    pub fixtures_dir: Option<PathBuf>,
    /// Also write a JUnit XML report of the run to FILE.
    #[arg(long, value_name = "FILE")]
    pub junit: Option<PathBuf>,
    /// Keep each case's database and any database it created.
    #[arg(long)]
    pub reserve_schema: bool,
    /// Case files (.test, .slt), suite directories holding t/ and r/, or
    /// directory trees.
    #[arg(required = true, value_name = "PATH")]
    pub paths: Vec<PathBuf>,
}

/// Runs the subcommand.
pub fn run(args: RunArgs) -> anyhow::Result<u8> {
    let cases = discover(&args.paths)?;
    let fixtures_dir = resolve_fixtures_dir(&args)?;

    let config_file = match &args.sidecar.config {
        Some(path) => Config::load(path)?,
        None => Config::default(),
    };
    let mlflow = args.sidecar.mlflow_settings(&config_file.model_mlflow);
    let sidecar = args.sidecar.resolved_kind(&mlflow);
    if sidecar == SidecarKind::Python {
        python_has_mlflow(&mlflow.python).map_err(anyhow::Error::msg)?;
    }

    let mut config = RunnerConfig::new();
    config.record = args.record;
    config.reserve_schema = args.reserve_schema;
    config.requirements = requirements(sidecar, fixtures_dir.as_deref());
    config.fixtures_dir = fixtures_dir;
    config.checksum = make_checksum(&args);
    config.progress = true;

    let target = make_target(&args)?;
    let junit = args.junit.clone();
    eprintln!("harness run: target {}, {} sidecar, {} case files", target.name(), sidecar_name(sidecar), cases.len());
    run_with_target(target, &config, &cases, junit.as_deref())
}

/// Runs `cases` against an already-built target and returns the exit
/// status: 0 when every case passed or was skipped, 1 otherwise.
pub fn run_with_target(
    target: Arc<dyn Target>,
    config: &RunnerConfig,
    cases: &[Case],
    junit: Option<&Path>,
) -> anyhow::Result<u8> {
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    let summary = run_cases(target.as_ref(), config, cases, &mut out)
        .context("writing the report to stdout")?;
    if let Some(path) = junit {
        let file = std::fs::File::create(path)
            .with_context(|| format!("cannot create the JUnit report {}", path.display()))?;
        let mut writer = std::io::BufWriter::new(file);
        write_junit(&summary, &target.name(), &mut writer)
            .and_then(|()| writer.flush())
            .with_context(|| format!("cannot write the JUnit report {}", path.display()))?;
    }
    Ok(if summary.success() { 0 } else { 1 })
}

/// Builds the target named by `--target`.
pub fn make_target(args: &RunArgs) -> anyhow::Result<Arc<dyn Target>> {
    match args.target.as_str() {
        "reference" => Ok(Arc::new(ReferenceTarget::new())),
        other => anyhow::bail!(
            "unknown target {other:?}; use `reference` for the embedded reference engine"
        ),
    }
}

/// Builds the digest function behind `${CHECKSUM:...}`: the artifact
/// checksum of a file, or of a directory with the chosen variant.
fn make_checksum(args: &RunArgs) -> ChecksumFn {
    let variant = args.checksum_variant;
    Box::new(move |path: &Path| {
        path_checksum(path, variant)
            .map(|checksum| checksum.to_string())
            .map_err(|err| err.to_string())
    })
}

fn sidecar_name(kind: SidecarKind) -> &'static str {
    match kind {
        SidecarKind::Python => "python",
        _ => "fake",
    }
}

/// Finds the fixtures directory: `--fixtures-dir`, else the nearest
/// `fixtures` directory above the first case path, else above the current
/// directory. Returns an absolute path.
fn resolve_fixtures_dir(args: &RunArgs) -> anyhow::Result<Option<PathBuf>> {
    if let Some(dir) = &args.fixtures_dir {
        let absolute = dir
            .canonicalize()
            .with_context(|| format!("--fixtures-dir {}: directory not found", dir.display()))?;
        anyhow::ensure!(
            absolute.is_dir(),
            "--fixtures-dir {} is not a directory",
            dir.display()
        );
        return Ok(Some(absolute));
    }

    let mut starts = Vec::new();
    if let Some(first) = args.paths.first() {
        starts.push(
            first
                .canonicalize()
                .with_context(|| format!("cannot resolve {}", first.display()))?,
        );
    }
    starts.push(std::env::current_dir().context("cannot read the current directory")?);

    for start in starts {
        for ancestor in start.ancestors() {
            let candidate = ancestor.join("fixtures");
            if candidate.is_dir() {
                return Ok(Some(candidate));
            }
        }
    }
    Ok(None)
}

/// Determines which `# requires:` names this run meets.
fn requirements(sidecar: SidecarKind, fixtures_dir: Option<&Path>) -> Requirements {
    let mut requirements = Requirements::default();

    match sidecar {
        SidecarKind::Python => requirements.met("python"),
        _ => requirements.unmet(
            "python",
            "the fake sidecar runs MLflow models; pass --sidecar python (or auto with mlflow installed)",
        ),
    };

    match fixtures_dir {
        Some(_) => requirements.met("models"),
        None => requirements.unmet(
            "models",
            "no fixtures directory found; pass --fixtures-dir DIR",
        ),
    };
    requirements
}
