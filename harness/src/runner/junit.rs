//! JUnit XML reports of a run, the format CI systems read: one
//! `<testcase>` per case file, with `<failure>` holding the same report
//! the terminal shows and `<skipped>` holding the reason.

use std::io::Write;

use super::summary::{CaseOutcome, Summary};

/// Writes `summary` as a JUnit XML document with one test suite named
/// `suite`.
pub fn write_junit(summary: &Summary, suite: &str, out: &mut dyn Write) -> std::io::Result<()> {
    let total: f64 = summary.records.iter().map(|r| r.elapsed.as_secs_f64()).sum();
    writeln!(out, r#"<?xml version="1.0" encoding="UTF-8"?>"#)?;
    writeln!(out, "<testsuites>")?;
    writeln!(
        out,
        r#"  <testsuite name="{}" tests="{}" failures="{}" errors="0" skipped="{}" time="{total:.3}">"#,
        escape(suite),
        summary.records.len(),
        summary.failed.len(),
        summary.skipped.len(),
    )?;

    for record in &summary.records {
        let path = record.path.display().to_string();
        let (classname, name) = match path.rsplit_once('/') {
            Some((dir, file)) => (dir.replace('/', "."), file.to_string()),
            None => (suite.to_string(), path.clone()),
        };
        write!(
            out,
            r#"    <testcase classname="{}" name="{}" file="{}" time="{:.3}""#,
            escape(&classname),
            escape(&name),
            escape(&path),
            record.elapsed.as_secs_f64()
        )?;
        match &record.outcome {
            CaseOutcome::Passed => writeln!(out, "/>")?,
            CaseOutcome::Skipped(reason) => {
                writeln!(out, ">")?;
                writeln!(out, r#"      <skipped message="{}"/>"#, escape(reason))?;
                writeln!(out, "    </testcase>")?;
            }
            CaseOutcome::Failed(report) => {
                writeln!(out, ">")?;
                writeln!(
                    out,
                    r#"      <failure message="{}">{}</failure>"#,
                    escape(&report.message),
                    escape(&report.to_string())
                )?;
                writeln!(out, "    </testcase>")?;
            }
        }
    }

    writeln!(out, "  </testsuite>")?;
    writeln!(out, "</testsuites>")
}

/// Escapes text for XML attributes and content. Characters XML 1.0 cannot
/// carry at all (most C0 controls) become U+FFFD.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\t' | '\n' | '\r' => out.push(c),
            c if (c as u32) < 0x20 => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use std::path::{Path, PathBuf};
    use std::time::Duration;

    use super::*;
    use crate::runner::summary::FailureReport;
    use crate::runner::Case;

    fn sample() -> Summary {
        let mut summary = Summary::default();
        summary.add_timed(&Case::slt(PathBuf::from("cases/a.slt")), CaseOutcome::Passed, Duration::from_millis(12));
        summary.add_timed(
            &Case::slt(PathBuf::from("cases/b.slt")),
            CaseOutcome::Skipped("requires python (<none>)".into()),
            Duration::ZERO,
        );
        let report = FailureReport::new(Path::new("cases/c.slt"), "row 1 differs: \"x\" & <y>\u{1}").at_line(4);
        summary.add_timed(&Case::slt(PathBuf::from("cases/c.slt")), CaseOutcome::Failed(report), Duration::from_millis(3));
        summary
    }

    #[test]
    fn junit_counts_and_cases() {
        let mut out = Vec::new();
        write_junit(&sample(), "harness", &mut out).unwrap();
        let xml = String::from_utf8(out).unwrap();
        assert!(xml.contains(r#"tests="3" failures="1" errors="0" skipped="1" time="0.015""#), "{xml}");
        assert!(xml.contains(r#"<testcase classname="cases" name="a.slt" file="cases/a.slt" time="0.012"/>"#), "{xml}");
        assert!(xml.contains(r#"<skipped message="requires python (&lt;none&gt;)"/>"#), "{xml}");
    }

    #[test]
    fn junit_failure_is_escaped() {
        let mut out = Vec::new();
        write_junit(&sample(), "harness", &mut out).unwrap();
        let xml = String::from_utf8(out).unwrap();
        assert!(
            xml.contains(r#"<failure message="row 1 differs: &quot;x&quot; &amp; &lt;y&gt;�">FAIL cases/c.slt:4"#),
            "{xml}"
        );
        assert!(!xml.contains('\u{1}'), "control characters removed");
    }
}
