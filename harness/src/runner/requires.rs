//! Requirement headers: a case declares what it needs with comment lines
//! such as `# requires: python` or `# requires: python, models` at the top
//! of the file, before the first line that is not a comment or blank. The
//! same syntax works in `.test` and `.slt` files.

use std::path::Path;

use super::config::Requirements;
use super::summary::FailureReport;

/// Upper bound on how much of a file the header scan reads, so a huge case
/// file is not read twice in full.
const HEADER_SCAN_BYTES: usize = 64 * 1024;

/// Returns the requirement names declared in the header of `text`.
pub fn parse_header(text: &str) -> Vec<(usize, String)> {
    let mut names = Vec::new();

    for (index, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        let Some(comment) = line.strip_prefix('#') else {
            break;
        };
        let Some(list) = comment.trim_start().strip_prefix("requires:") else {
            continue;
        };
        for name in list.split(|c: char| c == ',' || c.is_whitespace()) {
            if !name.is_empty() {
                names.push((index + 1, name.to_string()));
            }
        }
    }

    names
}

/// Checks the header of the case at `path`: `Ok(None)` to run it,
/// `Ok(Some(reason))` to skip it, and a failure for an unknown requirement
/// or an unreadable file.
pub fn check(path: &Path, requirements: &Requirements) -> Result<Option<String>, FailureReport> {
    let text = read_head(path)
        .map_err(|err| FailureReport::new(path, format!("cannot read the case file: {err}")))?;

    let mut unmet = Vec::new();
    for (line, name) in parse_header(&text) {
        match requirements.status(&name) {
            Some(Ok(())) => {}
            Some(Err(reason)) => unmet.push(format!("requires {name} ({reason})")),
            None => {
                let known = requirements.known_names().join(", ");
                return Err(FailureReport::new(
                    path,
                    format!(
                        "unknown requirement {name:?} in the header; known requirements: {known}"
                    ),
                )
                .at_line(line));
            }
        }
    }

    if unmet.is_empty() {
        Ok(None)
    } else {
        Ok(Some(unmet.join("; ")))
    }
}

fn read_head(path: &Path) -> std::io::Result<String> {
    use std::io::Read;

    let file = std::fs::File::open(path)?;
    let mut bytes = Vec::new();
    file.take(HEADER_SCAN_BYTES as u64)
        .read_to_end(&mut bytes)?;
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_lists_names() {
        let text =
            "# a case\n# requires: python, models\n\n# requires: s3\nselect 1;\n# requires: late\n";
        let names: Vec<String> = parse_header(text)
            .into_iter()
            .map(|(_, name)| name)
            .collect();
        assert_eq!(names, ["python", "models", "s3"]);
    }

    #[test]
    fn header_stops_at_first_statement() {
        assert!(parse_header("select 1;\n# requires: python\n").is_empty());
    }

    #[test]
    fn unknown_requirement_fails() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.slt");
        std::fs::write(&path, "# requires: pyhton\n").unwrap();
        let mut requirements = Requirements::default();
        requirements.met("python");
        let report = check(&path, &requirements).unwrap_err();
        assert!(report.message.contains("pyhton"), "{report}");
        assert!(
            report.message.contains("known requirements: python"),
            "{report}"
        );
    }

    #[test]
    fn unmet_requirement_skips_with_reason() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.slt");
        std::fs::write(&path, "# requires: python\n").unwrap();
        let mut requirements = Requirements::default();
        requirements.unmet("python", "--sidecar fake selected");
        let reason = check(&path, &requirements).unwrap();
        assert_eq!(
            reason.as_deref(),
            Some("requires python (--sidecar fake selected)")
        );
    }
}
