//! The conformance runner: executes mysql-tester `.test`/`.result` files and
//! sqllogictest `.slt` files against a [`Target`](crate::target::Target).
//!
//! # Layout
//!
//! - [`discover`]: finds case files under the given paths, in a fixed order.
//! - [`requires`]: `# requires:` headers that skip a case when unmet.
//! - [`mysqltest_parser`]: turns a `.test` file into steps.
//! - [`mysqltest_exec`]: runs the steps and writes the result text.
//! - [`result_filters`]: `--sorted_result`, `--replace_column` and
//!   `--replace_regex`.
//! - [`error_names`]: `ER_*`/`Err*` names accepted by `--error`.
//! - [`compare`]: byte-offset comparison against the `.result` file and the
//!   mismatch diff.
//! - [`slt`]: the sqllogictest adapter over a target connection.
//! - [`substitute`]: `${FIXTURES_DIR}` and `${CHECKSUM:...}` placeholders.
//! - [`normalize`]: how cells are rendered as text.
//! - [`database`]: the per-case database and the cleanup after a case.
//! - [`config`]: what a run is configured with.
//! - [`summary`]: per-case outcomes, the failure report and the final count.

pub mod compare;
pub mod config;
pub mod database;
pub mod discover;
pub mod error_names;
pub mod mysqltest_exec;
pub mod mysqltest_parser;
pub mod normalize;
pub mod requires;
pub mod result_filters;
pub mod slt;
pub mod slt_includes;
pub mod substitute;
pub mod junit;
pub mod summary;

use std::io::{IsTerminal, Write};

use crate::target::Target;

pub use config::{ChecksumFn, Requirements, RunnerConfig};
pub use discover::{discover, Case, CaseKind, DiscoverError};
pub use summary::{CaseOutcome, FailureReport, Summary};

/// Runs every case in order and writes the failure reports and the final
/// `N passed, N failed, N skipped` line to `out`.
///
/// A progress line per case goes to stderr when
/// [`RunnerConfig::progress`] is set and stderr is a terminal.
pub fn run_cases(
    target: &dyn Target,
    config: &RunnerConfig,
    cases: &[Case],
    out: &mut dyn Write,
) -> std::io::Result<Summary> {
    let show_progress = config.progress && std::io::stderr().is_terminal();
    let mut summary = Summary::default();

    for (index, case) in cases.iter().enumerate() {
        if show_progress {
            eprint!(
                "[{}/{}] {} ... ",
                index + 1,
                cases.len(),
                case.path.display()
            );
        }

        let started = std::time::Instant::now();
        let outcome = run_case(target, config, case);
        let elapsed = started.elapsed();

        if show_progress {
            eprintln!("{}", outcome.label());
        }
        if let CaseOutcome::Failed(report) = &outcome {
            writeln!(out, "{report}")?;
        }
        summary.add_timed(case, outcome, elapsed);
    }

    summary.write_footer(out)?;
    Ok(summary)
}

/// Runs one case: checks its requirements, then dispatches on its kind.
pub fn run_case(target: &dyn Target, config: &RunnerConfig, case: &Case) -> CaseOutcome {
    let _span = tracing::info_span!(target: "harness::runner", "case", path = %case.path.display())
        .entered();

    match requires::check(&case.path, &config.requirements) {
        Ok(None) => {}
        Ok(Some(reason)) => return CaseOutcome::Skipped(reason),
        Err(report) => return CaseOutcome::Failed(report),
    }

    match &case.kind {
        CaseKind::MysqlTest { .. } => mysqltest_exec::run_test(target, config, case),
        CaseKind::Slt => slt::run_slt(target, config, case),
        CaseKind::Fault => run_fault(config, case),
    }
}

/// Runs a fault case against the fake sidecar. Fault cases exercise the
/// batching client, not the SQL target, so they run the same under every
/// target.
fn run_fault(config: &RunnerConfig, case: &Case) -> CaseOutcome {
    let mut options = match crate::faults::FaultRunOptions::locate() {
        Ok(options) => options,
        Err(message) => return CaseOutcome::Failed(FailureReport::new(&case.path, message)),
    };
    options.fixtures = config.fixtures_dir.clone();
    match crate::faults::run_fault_case(&case.path, &options) {
        Ok(outcome) if outcome.passed() => CaseOutcome::Passed,
        Ok(outcome) => CaseOutcome::Failed(FailureReport::new(&case.path, outcome.message())),
        Err(err) => CaseOutcome::Failed(FailureReport::new(&case.path, err.to_string())),
    }
}
