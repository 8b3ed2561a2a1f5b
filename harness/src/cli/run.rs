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
use crate::target::mysql::MysqlTarget;
use crate::runner::junit::write_junit;
use crate::runner::{discover, run_cases, Case, ChecksumFn, Requirements, RunnerConfig};
use crate::target::Target;

use super::engine::build_reference_engine;
use super::sidecar_args::{python_has_mlflow, SidecarArgs, SidecarKind};

/// Arguments of `harness run`.
#[derive(Debug, clap::Args)]
pub struct RunArgs {
    /// Target that runs the statements: `reference` is the embedded
    /// reference engine; `mysql://USER[:PASS]@HOST:PORT[/DB]` is a live
    /// MySQL-protocol server such as TiDB (docs/gating.md).
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
    /// Fixtures directory as the target's server sees it, which
    /// `${FIXTURES_DIR}` expands to (default: the local one). Give it when
    /// the server runs on another host with the fixtures staged there.
    #[arg(long, value_name = "DIR")]
    pub fixtures_dir: Option<PathBuf>,
    /// Local fixtures directory that checksums and fault cases read
    /// (default: the nearest `fixtures` directory above the first case
    /// path, then above the current directory).
    #[arg(long, value_name = "DIR")]
    pub local_fixtures_dir: Option<PathBuf>,
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

    let (target, capabilities) = make_target(&args, &config_file, sidecar)?;
    let sidecar_note = if capabilities.reference {
        format!("{} sidecar", sidecar_name(sidecar))
    } else {
        "model cases on the server's own sidecar, fault cases on the local fake".to_string()
    };
    if let Some(reason) = capabilities.models_unmet {
        config.requirements.unmet("models", &reason);
    }
    if let Some(reason) = capabilities.tidb_unmet {
        config.requirements.unmet("tidb", &reason);
    }
    if !capabilities.reference {
        config.requirements.unmet("python", "the Python sidecar runs only under the reference target");
    }
    config.server_fixtures_dir = args.fixtures_dir.as_ref().map(|dir| {
        std::path::absolute(dir).unwrap_or_else(|_| dir.clone())
    });
    let junit = args.junit.clone();
    let files = if cases.len() == 1 { "case file" } else { "case files" };
    eprintln!("harness run: target {}, {sidecar_note}, {} {files}", target.name(), cases.len());
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

/// Capabilities of the run's target, found by its probe.
#[derive(Debug, Default)]
pub struct TargetCapabilities {
    /// The embedded reference engine (which runs the sidecars itself).
    pub reference: bool,
    /// Reason model cases cannot run, when they cannot.
    pub models_unmet: Option<String>,
    /// Reason cases of TiDB-only SQL cannot run, when they cannot.
    pub tidb_unmet: Option<String>,
}

/// Builds the target named by `--target`: `reference`, or a live server as
/// `mysql://USER[:PASS]@HOST:PORT[/DB]`, whose model support is probed.
pub fn make_target(
    args: &RunArgs,
    config: &Config,
    sidecar: SidecarKind,
) -> anyhow::Result<(Arc<dyn Target>, TargetCapabilities)> {
    if args.target == "reference" {
        let capabilities = TargetCapabilities {
            reference: true,
            models_unmet: None,
            tidb_unmet: None,
        };
        let mlflow = args.sidecar.mlflow_settings(&config.model_mlflow);
        let engine =
            build_reference_engine(&args.sidecar, &mlflow, sidecar, args.checksum_variant, &config.s3)?;
        return Ok((Arc::new(engine), capabilities));
    }
    if args.target.starts_with("mysql://") {
        let target = MysqlTarget::new(&args.target)?;
        let probe = target
            .capabilities()
            .map_err(|err| anyhow::anyhow!("cannot probe {}: {err}", target.name()))?;
        eprintln!(
            "harness run: {} is {}{}; model statements {}",
            target.name(),
            probe.server_version,
            probe.tidb_version.as_deref().map(|v| format!(" (TiDB {v})")).unwrap_or_default(),
            if probe.models { "supported" } else { "not supported" }
        );
        let capabilities = TargetCapabilities {
            reference: false,
            models_unmet: probe.models_skip_reason(),
            tidb_unmet: (!probe.tidb).then(|| {
                format!("server {} is not TiDB (tidb_version() failed)", probe.server_version)
            }),
        };
        return Ok((Arc::new(target), capabilities));
    }
    anyhow::bail!(
        "unknown target {:?}; use `reference` for the embedded reference engine or \
         mysql://USER[:PASS]@HOST:PORT[/DB] for a live server",
        args.target
    )
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

/// Finds the local fixtures directory: `--local-fixtures-dir`, else the nearest
/// `fixtures` directory above the first case path, else above the current
/// directory. Returns an absolute path.
fn resolve_fixtures_dir(args: &RunArgs) -> anyhow::Result<Option<PathBuf>> {
    if let Some(dir) = &args.local_fixtures_dir {
        let absolute = dir.canonicalize().with_context(|| {
            format!("--local-fixtures-dir {}: directory not found", dir.display())
        })?;
        anyhow::ensure!(
            absolute.is_dir(),
            "--local-fixtures-dir {} is not a directory",
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

    // The reference engine speaks TiDB's dialect; a live target that is
    // not TiDB turns this off after its probe.
    requirements.met("tidb");

    match fixtures_dir {
        Some(_) => requirements.met("models"),
        None => requirements.unmet(
            "models",
            "no local fixtures directory found above the case paths; pass --local-fixtures-dir DIR",
        ),
    };
    requirements
}
