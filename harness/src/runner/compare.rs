//! Comparison of produced output with a `.result` file, as mysql-tester
//! does it: after each step, the newly written bytes must equal the result
//! file at the same byte offset, and at the end the file may hold nothing
//! more. On a mismatch, a unified diff shows the expected and actual text
//! around it.

use std::path::Path;

use similar::TextDiff;

/// Lines of unchanged context around each difference in the diff.
const CONTEXT_LINES: usize = 3;

/// Lines of unread result file shown when the output ended early.
const EXTRA_LINES_SHOWN: usize = 10;

/// The first difference between the output and the result file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mismatch {
    /// Byte offset of the first difference.
    pub offset: usize,
    /// 1-based line of that offset in the result file.
    pub result_line: usize,
    /// `-expected +actual` unified diff; line numbers in its hunk headers
    /// are result-file line numbers.
    pub diff: String,
}

/// Checks the bytes written since `segment_start`, which are
/// `actual[segment_start..]`, against `expected` at the same offsets.
pub fn check_segment(
    result_path: &Path,
    expected: &[u8],
    actual: &[u8],
    segment_start: usize,
) -> Result<(), Mismatch> {
    let segment = &actual[segment_start..];
    let expected_segment = expected.get(segment_start..).unwrap_or_default();

    let common = segment
        .iter()
        .zip(expected_segment)
        .take_while(|(a, b)| a == b)
        .count();
    if common == segment.len() {
        return Ok(());
    }

    let offset = segment_start + common;
    let shown_end = line_end(expected, actual.len());
    Err(mismatch(result_path, expected, shown_end, actual, offset))
}

/// Checks that the result file contains nothing after the full output.
pub fn check_end(result_path: &Path, expected: &[u8], actual: &[u8]) -> Result<(), Mismatch> {
    if expected.len() <= actual.len() {
        return Ok(());
    }

    // Show the first lines the output never reached.
    let mut shown_end = line_end(expected, actual.len());
    for _ in 0..EXTRA_LINES_SHOWN {
        shown_end = line_end(expected, shown_end + 1);
    }
    Err(mismatch(
        result_path,
        expected,
        shown_end,
        actual,
        actual.len(),
    ))
}

/// Builds the mismatch at `offset`. The diff compares the actual output
/// with the result file up to `shown_end`. Both start at byte 0, so common
/// leading lines fold into context and hunk line numbers are file line
/// numbers.
fn mismatch(
    result_path: &Path,
    expected: &[u8],
    shown_end: usize,
    actual: &[u8],
    offset: usize,
) -> Mismatch {
    let shown_expected = &expected[..shown_end.min(expected.len())];

    let expected_text = String::from_utf8_lossy(shown_expected);
    let actual_text = String::from_utf8_lossy(actual);
    let expected_label = format!("{} (expected)", result_path.display());
    let diff = TextDiff::from_lines(expected_text.as_ref(), actual_text.as_ref())
        .unified_diff()
        .context_radius(CONTEXT_LINES)
        .header(&expected_label, "actual")
        .to_string();

    let clamped = offset.min(expected.len());
    let result_line = expected[..clamped].iter().filter(|&&b| b == b'\n').count() + 1;

    Mismatch {
        offset,
        result_line,
        diff,
    }
}

/// Returns the end of the line containing byte `position - 1`, or the end
/// of `text`.
fn line_end(text: &[u8], position: usize) -> usize {
    if position >= text.len() {
        return text.len();
    }
    if position > 0 && text[position - 1] == b'\n' {
        return position;
    }
    match text[position..].iter().position(|&b| b == b'\n') {
        Some(newline) => position + newline + 1,
        None => text.len(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const EXPECTED: &[u8] = b"select a from t;\na\n1\n2\nselect 2;\n2\n2\n";

    #[test]
    fn equal_prefix_passes() {
        let path = Path::new("r/x.result");
        let actual = b"select a from t;\na\n1\n2\n";
        assert!(check_segment(path, EXPECTED, actual, 0).is_ok());
        assert!(check_end(path, EXPECTED, EXPECTED).is_ok());
    }

    #[test]
    fn changed_row_points_at_line() {
        let path = Path::new("r/x.result");
        let actual = b"select a from t;\na\n1\n3\n";
        let mismatch = check_segment(path, EXPECTED, actual, 0).unwrap_err();
        assert_eq!(mismatch.offset, 21);
        assert_eq!(mismatch.result_line, 4);
        assert!(
            mismatch.diff.contains("--- r/x.result (expected)"),
            "{}",
            mismatch.diff
        );
        assert!(mismatch.diff.contains("+++ actual"), "{}", mismatch.diff);
        assert!(mismatch.diff.contains("\n-2\n+3\n"), "{}", mismatch.diff);
        assert!(
            mismatch.diff.contains("@@ -1,4 +1,4 @@"),
            "{}",
            mismatch.diff
        );
    }

    #[test]
    fn output_past_end_of_file() {
        let path = Path::new("r/x.result");
        let mut actual = EXPECTED.to_vec();
        actual.extend_from_slice(b"select 3;\n");
        let mismatch = check_segment(path, EXPECTED, &actual, EXPECTED.len()).unwrap_err();
        assert_eq!(mismatch.offset, EXPECTED.len());
        assert!(mismatch.diff.contains("+select 3;"), "{}", mismatch.diff);
    }

    #[test]
    fn extra_data_at_end() {
        let path = Path::new("r/x.result");
        let actual = b"select a from t;\na\n1\n2\n";
        let mismatch = check_end(path, EXPECTED, actual).unwrap_err();
        assert_eq!(mismatch.result_line, 5);
        assert!(mismatch.diff.contains("-select 2;"), "{}", mismatch.diff);
    }

    #[test]
    fn line_end_rules() {
        assert_eq!(line_end(b"ab\ncd\n", 0), 3);
        assert_eq!(line_end(b"ab\ncd\n", 3), 3);
        assert_eq!(line_end(b"ab\ncd\n", 4), 6);
        assert_eq!(line_end(b"ab\ncd", 4), 5);
        assert_eq!(line_end(b"ab", 9), 2);
    }
}
