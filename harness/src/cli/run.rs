//! `harness run`: execute `.test`/`.result` and `.slt` cases against a
//! target and report failures.
//!
//! Prints one report per failing case, a line per skipped case, and ends
//! with `N passed, N failed, N skipped`. Exits 1 when any case failed.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;

use crate::runner::{discover, run_cases, Case, ChecksumFn, Requirements, RunnerConfig};
use crate::target::Target;

/// Arguments of `harness run`.
#[derive(Debug, clap::Args)]
pub struct RunArgs {
    /// Target that runs the statements: `reference` is the embedded
    /// reference engine.
    #[arg(long, default_value = "reference")]
    pub target: String,
    /// Sidecar that serves MLflow models.
    #[arg(long, value_enum, default_value_t = SidecarChoice::Auto)]
    pub sidecar: SidecarChoice,
    /// Python interpreter for the MLflow sidecar (default: .venv/bin/python
    /// in the current directory, then python3 on PATH).
    #[arg(long, value_name = "PATH")]
    pub python: Option<PathBuf>,
    /// Rewrite .result files and .slt expectations with the actual output.
    #[arg(long)]
    pub record: bool,
    /// Digest method behind `${CHECKSUM:...}`.
    #[arg(long, value_enum, default_value_t = ChecksumVariant::Manifest)]
    pub checksum_variant: ChecksumVariant,
    /// Fixtures directory for `${FIXTURES_DIR}` (default: the nearest
    /// `fixtures` directory above the first case path, then above the
    /// current directory).
    #[arg(long, value_name = "DIR")]
    pub fixtures_dir: Option<PathBuf>,
    /// Keep each case's database and any database it created.
    #[arg(long)]
    pub reserve_schema: bool,
    /// Case files (.test, .slt), suite directories holding t/ and r/, or
    /// directory trees.
    #[arg(required = true, value_name = "PATH")]
    pub paths: Vec<PathBuf>,
}

/// The sidecar behind MLflow models.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum SidecarChoice {
    /// The deterministic Rust fake sidecar; no Python needed.
    Fake,
    /// The Python sidecar running mlflow.
    Python,
    /// Python when an interpreter is found, otherwise the fake.
    Auto,
}

/// Digest method for a model directory.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ChecksumVariant {
    /// The manifest variant of the artifact checksum.
    Manifest,
    /// The stream variant of the artifact checksum.
    Stream,
}

/// Runs the subcommand.
pub fn run(args: RunArgs) -> anyhow::Result<u8> {
    let cases = discover(&args.paths)?;
    let fixtures_dir = resolve_fixtures_dir(&args)?;

    let mut config = RunnerConfig::new();
    config.record = args.record;
    config.reserve_schema = args.reserve_schema;
    config.requirements = requirements(&args, fixtures_dir.as_deref());
    config.fixtures_dir = fixtures_dir;
    config.checksum = make_checksum(&args);
    config.progress = true;

    let target = make_target(&args)?;
    run_with_target(target, &config, &cases)
}

/// Runs `cases` against an already-built target and returns the exit
/// status: 0 when every case passed or was skipped, 1 otherwise.
pub fn run_with_target(
    target: Arc<dyn Target>,
    config: &RunnerConfig,
    cases: &[Case],
) -> anyhow::Result<u8> {
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    let summary = run_cases(target.as_ref(), config, cases, &mut out)
        .context("writing the report to stdout")?;
    Ok(if summary.success() { 0 } else { 1 })
}

/// Builds the target named by `--target`.
pub fn make_target(args: &RunArgs) -> anyhow::Result<Arc<dyn Target>> {
    // TODO: build the reference engine (with the sidecar from --sidecar and
    // --python) once it is part of the build.
    anyhow::bail!(
        "reference target not available in this build (requested --target {})",
        args.target
    )
}

/// Builds the digest function behind `${CHECKSUM:...}`.
fn make_checksum(args: &RunArgs) -> ChecksumFn {
    let variant = args.checksum_variant;
    // TODO: call the artifact checksum code for `variant` once it is part of
    // the build; until then a case using ${CHECKSUM:...} fails with this
    // message.
    Box::new(move |path: &Path| {
        Err(format!(
            "checksum ({variant:?}) of {} is not available in this build",
            path.display()
        ))
    })
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
fn requirements(args: &RunArgs, fixtures_dir: Option<&Path>) -> Requirements {
    let mut requirements = Requirements::default();

    match args.sidecar {
        SidecarChoice::Python => {
            requirements.met("python");
        }
        SidecarChoice::Fake => {
            requirements.unmet("python", "--sidecar fake selected");
        }
        SidecarChoice::Auto => match find_python(args.python.as_deref()) {
            Some(_) => {
                requirements.met("python");
            }
            None => {
                requirements.unmet("python", "no Python interpreter found; pass --python PATH");
            }
        },
    }

    match fixtures_dir {
        Some(_) => requirements.met("models"),
        None => requirements.unmet(
            "models",
            "no fixtures directory found; pass --fixtures-dir DIR",
        ),
    };
    requirements
}

/// `--python`, else `.venv/bin/python` in the current directory, else
/// `python3` on PATH.
// NOTE: this only finds an interpreter; whether mlflow imports in it is
// found out when the sidecar starts.
fn find_python(explicit: Option<&Path>) -> Option<PathBuf> {
    if let Some(path) = explicit {
        return path.is_file().then(|| path.to_path_buf());
    }
    let venv = PathBuf::from(".venv/bin/python");
    if venv.is_file() {
        return Some(venv);
    }
    which::which("python3").ok()
}
