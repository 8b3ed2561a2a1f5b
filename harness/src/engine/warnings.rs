//! The session's warning list: `SHOW WARNINGS`, `SHOW ERRORS`,
//! `SHOW COUNT(*) WARNINGS|ERRORS`, `@@warning_count` and `@@error_count`.
//!
//! As in MySQL, each statement other than these diagnostic statements
//! replaces the list with the notes and warnings it produced, and a
//! failed statement adds its error with the level `Error`.

use crate::catalog::SqlWarning;
use crate::target::{Column, ColumnType, Outcome, ResultSet};

use super::error::SqlError;
use super::preparse::Lexeme;
use super::session::Session;

/// A diagnostic statement, which reads the warning list and keeps it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Diagnostic {
    /// `SHOW WARNINGS`: every entry.
    Warnings,
    /// `SHOW ERRORS`: entries of level `Error`.
    Errors,
    /// `SHOW COUNT(*) WARNINGS`.
    WarningCount,
    /// `SHOW COUNT(*) ERRORS`.
    ErrorCount,
}

/// Recognizes a diagnostic statement from its lexemes.
pub fn diagnostic(lexemes: &[Lexeme]) -> Option<Diagnostic> {
    let words: Vec<String> = lexemes
        .iter()
        .map(|l| l.keyword().unwrap_or_else(|| l.token.to_string()))
        .collect();
    let words: Vec<&str> = words.iter().map(String::as_str).collect();
    match words.as_slice() {
        ["SHOW", "WARNINGS"] => Some(Diagnostic::Warnings),
        ["SHOW", "ERRORS"] => Some(Diagnostic::Errors),
        ["SHOW", "COUNT", "(", "*", ")", "WARNINGS"] => Some(Diagnostic::WarningCount),
        ["SHOW", "COUNT", "(", "*", ")", "ERRORS"] => Some(Diagnostic::ErrorCount),
        _ => None,
    }
}

/// Builds the note MySQL records when `IF [NOT] EXISTS` turns `error`
/// into a no-op.
pub fn note_from(error: SqlError) -> SqlWarning {
    SqlWarning {
        level: "Note",
        code: error.code,
        message: error.message,
    }
}

/// Builds the `Error` entry of a failed statement.
pub fn error_entry(error: &SqlError) -> SqlWarning {
    SqlWarning {
        level: "Error",
        code: error.code,
        message: error.message.clone(),
    }
}

fn column(name: &str, column_type: ColumnType) -> Column {
    Column {
        name: name.into(),
        column_type,
    }
}

impl Session {
    /// Records a note or warning of the running statement.
    pub(super) fn warn(&mut self, warning: SqlWarning) {
        self.statement_warnings.push(warning);
    }

    /// Number of entries of the last statement's list (`@@warning_count`).
    pub(super) fn warning_count(&self) -> usize {
        self.warnings.len()
    }

    /// Number of `Error` entries of the last statement's list
    /// (`@@error_count`).
    pub(super) fn error_count(&self) -> usize {
        self.warnings.iter().filter(|w| w.level == "Error").count()
    }

    /// Runs a diagnostic statement over the last statement's list.
    pub(super) fn show_diagnostic(&self, diagnostic: Diagnostic) -> Outcome {
        let count = |name: &str, n: usize| {
            Outcome::Rows(ResultSet {
                columns: vec![column(name, ColumnType::Int)],
                rows: vec![vec![Some(n.to_string())]],
            })
        };
        let errors_only = match diagnostic {
            Diagnostic::Warnings => false,
            Diagnostic::Errors => true,
            Diagnostic::WarningCount => {
                return count("@@session.warning_count", self.warning_count())
            }
            Diagnostic::ErrorCount => return count("@@session.error_count", self.error_count()),
        };
        let rows = self
            .warnings
            .iter()
            .filter(|w| !errors_only || w.level == "Error")
            .map(|w| {
                vec![
                    Some(w.level.to_string()),
                    Some(w.code.to_string()),
                    Some(w.message.clone()),
                ]
            })
            .collect();
        Outcome::Rows(ResultSet {
            columns: vec![
                column("Level", ColumnType::Text),
                column("Code", ColumnType::Int),
                column("Message", ColumnType::Text),
            ],
            rows,
        })
    }

    /// Replaces the warning list with the finished statement's entries,
    /// adding its error if it failed.
    pub(super) fn finish_statement<T>(&mut self, result: &Result<T, SqlError>) {
        let mut warnings = std::mem::take(&mut self.statement_warnings);
        if let Err(error) = result {
            warnings.push(error_entry(error));
        }
        self.warnings = warnings;
    }
}
