//! Text rendering of result cells and errors, in one place for both formats.

use crate::target::SqlError;

/// Text of a SQL NULL, as mysql-tester prints it.
pub const NULL_TEXT: &str = "NULL";

/// Text of an empty string in `.slt` output, as sqllogictest-engines' MySQL
/// driver prints it: slt separates columns with whitespace, so an empty
/// cell would otherwise vanish.
pub const EMPTY_SLT_TEXT: &str = "(empty)";

/// Renders a cell for a `.result` file: NULL is `NULL`, anything else is the
/// server's text unchanged.
pub fn result_cell(cell: Option<&str>) -> &str {
    cell.unwrap_or(NULL_TEXT)
}

/// Renders a cell for `.slt` comparison: NULL is `NULL`, the empty string
/// is `(empty)`.
pub fn slt_cell(cell: Option<&str>) -> String {
    match cell {
        None => NULL_TEXT.to_string(),
        Some("") => EMPTY_SLT_TEXT.to_string(),
        Some(text) => text.to_string(),
    }
}

/// Renders an error as go-sql-driver/mysql prints it and mysql-tester
/// writes it: `Error <code> (<SQLSTATE>): <message>`, or
/// `Error <code>: <message>` without a SQLSTATE. Carriage returns are
/// removed, as mysql-tester removes them.
pub fn error_text(err: &SqlError) -> String {
    let text = if err.sqlstate.is_empty() {
        format!("Error {}: {}", err.code, err.message)
    } else {
        format!("Error {} ({}): {}", err.code, err.sqlstate, err.message)
    };
    text.replace('\r', "")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn null_and_empty() {
        assert_eq!(result_cell(None), "NULL");
        assert_eq!(result_cell(Some("")), "");
        assert_eq!(slt_cell(None), "NULL");
        assert_eq!(slt_cell(Some("")), "(empty)");
        assert_eq!(slt_cell(Some("1.5")), "1.5");
    }

    #[test]
    fn error_with_and_without_sqlstate() {
        let err = SqlError::new(1146, "42S02", "Table 'db.t' doesn't exist");
        assert_eq!(
            error_text(&err),
            "Error 1146 (42S02): Table 'db.t' doesn't exist"
        );
        let err = SqlError::new(1105, "", "line\r\nnext");
        assert_eq!(error_text(&err), "Error 1105: line\nnext");
    }
}
