//! Per-case outcomes, the failure report and the final count line.

use std::fmt;
use std::io::Write;
use std::path::{Path, PathBuf};

use super::discover::Case;

/// The failure of a case, with enough context to find the spot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FailureReport {
    /// The case file.
    pub file: PathBuf,
    /// 1-based line in the case file, when the failure belongs to one.
    pub line: Option<usize>,
    /// The statement being run, as written in the case file.
    pub statement: Option<String>,
    /// The failure message.
    pub message: String,
    /// A `-expected +actual` unified diff, when output differed.
    pub diff: Option<String>,
}

impl FailureReport {
    /// Creates a report on `file` with a message and nothing else.
    pub fn new(file: &Path, message: impl Into<String>) -> FailureReport {
        FailureReport {
            file: file.to_path_buf(),
            line: None,
            statement: None,
            message: message.into(),
            diff: None,
        }
    }

    /// Sets the case-file line.
    pub fn at_line(mut self, line: usize) -> FailureReport {
        self.line = Some(line);
        self
    }

    /// Sets the statement text.
    pub fn with_statement(mut self, statement: impl Into<String>) -> FailureReport {
        self.statement = Some(statement.into());
        self
    }

    /// Sets the diff.
    pub fn with_diff(mut self, diff: String) -> FailureReport {
        self.diff = Some(diff);
        self
    }
}

impl fmt::Display for FailureReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(line) => writeln!(f, "FAIL {}:{line}", self.file.display())?,
            None => writeln!(f, "FAIL {}", self.file.display())?,
        }
        if let Some(statement) = &self.statement {
            writeln!(f, "[SQL] {statement}")?;
        }
        writeln!(f, "{}", self.message)?;
        if let Some(diff) = &self.diff {
            writeln!(f, "[Diff] (-expected|+actual)")?;
            write!(f, "{diff}")?;
            if !diff.ends_with('\n') {
                writeln!(f)?;
            }
        }
        Ok(())
    }
}

/// The result of one case.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CaseOutcome {
    /// Output matched, or was recorded.
    Passed,
    /// Not run, with the reason.
    Skipped(String),
    /// Ran and failed.
    Failed(FailureReport),
}

impl CaseOutcome {
    /// Returns a one-word label for progress lines.
    pub fn label(&self) -> &'static str {
        match self {
            CaseOutcome::Passed => "ok",
            CaseOutcome::Skipped(_) => "skipped",
            CaseOutcome::Failed(_) => "FAIL",
        }
    }
}

/// Totals over a run.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Summary {
    /// Number of cases that passed.
    pub passed: usize,
    /// Failed cases with their reports, in run order.
    pub failed: Vec<FailureReport>,
    /// Skipped cases with the reason, in run order.
    pub skipped: Vec<(PathBuf, String)>,
    /// Every case in run order with its outcome and wall time, for reports
    /// such as JUnit XML.
    pub records: Vec<CaseRecord>,
}

/// One case's outcome and wall time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaseRecord {
    /// The case file.
    pub path: PathBuf,
    /// What happened.
    pub outcome: CaseOutcome,
    /// Wall time of the case.
    pub elapsed: std::time::Duration,
}

impl Summary {
    /// Counts one outcome.
    pub fn add(&mut self, case: &Case, outcome: CaseOutcome) {
        self.add_timed(case, outcome, std::time::Duration::ZERO);
    }

    /// Records a case's outcome with its wall time.
    pub fn add_timed(&mut self, case: &Case, outcome: CaseOutcome, elapsed: std::time::Duration) {
        self.records.push(CaseRecord {
            path: case.path.clone(),
            outcome: outcome.clone(),
            elapsed,
        });
        match outcome {
            CaseOutcome::Passed => self.passed += 1,
            CaseOutcome::Skipped(reason) => self.skipped.push((case.path.clone(), reason)),
            CaseOutcome::Failed(report) => self.failed.push(report),
        }
    }

    /// True when no case failed.
    pub fn success(&self) -> bool {
        self.failed.is_empty()
    }

    /// Writes one line per skipped case, then the count line, which is
    /// always the last line: `N passed, N failed, N skipped`.
    pub fn write_footer(&self, out: &mut dyn Write) -> std::io::Result<()> {
        for (path, reason) in &self.skipped {
            writeln!(out, "skipped {}: {reason}", path.display())?;
        }
        writeln!(out, "{}", self.count_line())
    }

    /// Returns the count line without its newline.
    pub fn count_line(&self) -> String {
        format!(
            "{} passed, {} failed, {} skipped",
            self.passed,
            self.failed.len(),
            self.skipped.len()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn report_names_file_line_statement() {
        let report = FailureReport::new(
            Path::new("t/a.test"),
            "Statement succeeded, expected error(s) 1146",
        )
        .at_line(3)
        .with_statement("select * from missing;");
        let text = report.to_string();
        assert!(text.starts_with("FAIL t/a.test:3\n"), "{text}");
        assert!(text.contains("[SQL] select * from missing;\n"), "{text}");
        assert!(text.contains("expected error(s) 1146"), "{text}");
    }

    #[test]
    fn footer_ends_with_counts() {
        let case = Case::slt(PathBuf::from("a.slt"));
        let mut summary = Summary::default();
        summary.add(&case, CaseOutcome::Passed);
        summary.add(
            &case,
            CaseOutcome::Skipped("requires python (no interpreter)".into()),
        );
        let mut out = Vec::new();
        summary.write_footer(&mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert_eq!(
            text,
            "skipped a.slt: requires python (no interpreter)\n1 passed, 0 failed, 1 skipped\n"
        );
    }
}
