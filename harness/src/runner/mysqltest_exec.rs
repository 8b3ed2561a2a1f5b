//! Runs a parsed `.test` file against a target and writes the result text
//! byte for byte as mysql-tester does, with `-check-error` on:
//!
//! - With the query log on, each statement is echoed as written, delimiter
//!   included, then `\n`.
//! - A result set prints its column names joined by tabs, then one line per
//!   row with cells joined by tabs; NULL prints as `NULL`. A statement
//!   without a result set prints nothing, unless `--enable_info` is on.
//! - An expected error prints its error line; with several listed codes it
//!   prints `Got one of the listed errors`, or nothing when the first listed
//!   code is 0.
//! - A statement that succeeds while an error was expected fails the case
//!   unless 0 is listed. A wrong code or an unexpected error fails it too.
//!
//! Output is compared with the `.result` file after every step (see
//! [`compare`](super::compare)); with `record` on, the file is rewritten
//! instead.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::compare::{check_end, check_segment};
use super::config::RunnerConfig;
use super::database::{self, connect_admin, CaseDatabase};
use super::discover::{Case, CaseKind};
use super::mysqltest_parser::{parse_file, Command, ConnectArgs, ExpectedErrors, LetValue, Step};
use super::normalize::{error_text, result_cell};
use super::result_filters::{apply_regex, apply_replace_column, sort_rows, RegexRule};
use super::substitute::expand;
use super::summary::{CaseOutcome, FailureReport};
use crate::target::{ConnectOptions, Connection, Outcome, ResultSet, SqlError, Target};

/// Name of the connection every case starts on.
const DEFAULT_CONNECTION: &str = "default";

/// Header of the `SHOW WARNINGS` result that `--enable_warnings` prints.
const WARNINGS_SQL: &str = "SHOW WARNINGS";

/// Runs one mysql-tester case.
pub fn run_test(target: &dyn Target, config: &RunnerConfig, case: &Case) -> CaseOutcome {
    let CaseKind::MysqlTest { .. } = &case.kind else {
        return CaseOutcome::Failed(FailureReport::new(&case.path, "not a mysql-tester case"));
    };
    let Some(result_path) = case.result_path() else {
        return CaseOutcome::Failed(FailureReport::new(&case.path, "not a mysql-tester case"));
    };

    // Parse the whole file first, so a syntax error costs no database work.
    let steps = match parse_file(&case.path) {
        Ok(steps) => steps,
        Err(err) => return CaseOutcome::Failed(parse_failure(&case.path, err)),
    };

    // In compare mode the result file must exist.
    let expected = if config.record {
        None
    } else {
        match std::fs::read(&result_path) {
            Ok(bytes) => Some(bytes),
            Err(err) => {
                return CaseOutcome::Failed(FailureReport::new(
                    &case.path,
                    format!(
                        "cannot read result file {}: {err}; run with --record to create it",
                        result_path.display()
                    ),
                ))
            }
        }
    };

    // The default connection creates and uses the case database.
    let mut default = match connect_admin(target) {
        Ok(connection) => connection,
        Err(err) => {
            return CaseOutcome::Failed(FailureReport::new(
                &case.path,
                format!("setup failed: {err}"),
            ))
        }
    };
    let database = match database::prepare(default.as_mut(), &case.database_name()) {
        Ok(database) => database,
        Err(err) => {
            return CaseOutcome::Failed(FailureReport::new(
                &case.path,
                format!("setup failed: {err}"),
            ))
        }
    };

    let mut session = Session::new(
        target,
        config,
        &case.path,
        &result_path,
        expected.as_deref(),
        default,
    );
    let run = session.run(&steps);
    let output = session.finish();

    let cleanup = cleanup(target, config, &database);

    // The first failure wins; a cleanup failure only matters when the case
    // itself passed.
    if let Err(report) = run {
        return CaseOutcome::Failed(report);
    }
    if let Err(message) = cleanup {
        return CaseOutcome::Failed(FailureReport::new(&case.path, message));
    }

    match expected {
        Some(expected) => match check_end(&result_path, &expected, &output) {
            Ok(()) => CaseOutcome::Passed,
            Err(mismatch) => CaseOutcome::Failed(
                FailureReport::new(
                    &case.path,
                    format!(
                        "there is extra data at the end of the result file {}:{}",
                        result_path.display(),
                        mismatch.result_line
                    ),
                )
                .with_diff(mismatch.diff),
            ),
        },
        None => match write_result(&result_path, &output) {
            Ok(()) => CaseOutcome::Passed,
            Err(err) => CaseOutcome::Failed(FailureReport::new(
                &case.path,
                format!("cannot write result file {}: {err}", result_path.display()),
            )),
        },
    }
}

fn parse_failure(path: &Path, err: super::mysqltest_parser::ParseFileError) -> FailureReport {
    use super::mysqltest_parser::ParseFileError;

    match err {
        ParseFileError::Parse(parse) => {
            FailureReport::new(path, parse.kind.to_string()).at_line(parse.line)
        }
        other => FailureReport::new(path, other.to_string()),
    }
}

/// Drops the case's databases on a fresh connection, unless reserved.
fn cleanup(
    target: &dyn Target,
    config: &RunnerConfig,
    database: &CaseDatabase,
) -> Result<(), String> {
    if config.reserve_schema {
        return Ok(());
    }
    let mut connection = connect_admin(target).map_err(|err| format!("cleanup failed: {err}"))?;
    database::cleanup(connection.as_mut(), database)
        .map_err(|err| format!("cleanup failed: {err}"))?;
    Ok(())
}

fn write_result(path: &Path, output: &[u8]) -> std::io::Result<()> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)?;
    }
    std::fs::write(path, output)
}

/// The state of one running case.
struct Session<'a> {
    target: &'a dyn Target,
    config: &'a RunnerConfig,
    case_path: &'a Path,
    result_path: PathBuf,
    /// The result file's bytes; `None` when recording.
    expected: Option<&'a [u8]>,
    /// Everything written so far.
    output: Vec<u8>,
    connections: BTreeMap<String, Box<dyn Connection>>,
    current: String,
    /// Variables set by `let`, consulted before the environment.
    variables: BTreeMap<String, String>,
    query_log: bool,
    result_log: bool,
    warnings: bool,
    info: bool,
    /// Settings for the next statement only.
    next: NextStatement,
}

/// Directives that apply to the next statement only.
#[derive(Default)]
struct NextStatement {
    sorted: bool,
    replace_column: Vec<(usize, String)>,
    replace_regex: Vec<RegexRule>,
    expected_errors: Option<ExpectedErrors>,
}

impl<'a> Session<'a> {
    fn new(
        target: &'a dyn Target,
        config: &'a RunnerConfig,
        case_path: &'a Path,
        result_path: &Path,
        expected: Option<&'a [u8]>,
        default: Box<dyn Connection>,
    ) -> Session<'a> {
        let mut connections = BTreeMap::new();
        connections.insert(DEFAULT_CONNECTION.to_string(), default);
        Session {
            target,
            config,
            case_path,
            result_path: result_path.to_path_buf(),
            expected,
            output: Vec::new(),
            connections,
            current: DEFAULT_CONNECTION.to_string(),
            variables: BTreeMap::new(),
            query_log: true,
            result_log: true,
            warnings: false,
            info: false,
            next: NextStatement::default(),
        }
    }

    /// Closes every connection and returns the output.
    fn finish(self) -> Vec<u8> {
        self.output
    }

    fn run(&mut self, steps: &[Step]) -> Result<(), FailureReport> {
        for step in steps {
            tracing::trace!(target: "harness::runner", line = step.line, command = ?step.command, "step");
            self.run_step(step)?;
        }
        Ok(())
    }

    fn run_step(&mut self, step: &Step) -> Result<(), FailureReport> {
        let case_path = self.case_path;
        let fail = |message: String| FailureReport::new(case_path, message).at_line(step.line);

        match &step.command {
            Command::Statement { text, sql } => self.run_statement(step.line, text, sql)?,
            Command::QueryLog(on) => self.query_log = *on,
            Command::ResultLog(on) => self.result_log = *on,
            Command::Warnings(on) => self.warnings = *on,
            Command::Info(on) => self.info = *on,
            Command::SortedResult => self.next.sorted = true,
            Command::ReplaceColumn(pairs) => self.next.replace_column = pairs.clone(),
            Command::ReplaceRegex(rules) => self.next.replace_regex = rules.clone(),
            Command::Error(expected) => self.next.expected_errors = Some(expected.clone()),
            Command::Echo(text) => {
                let start = self.output.len();
                let line = self.expand_variables(text);
                self.output.extend_from_slice(line.as_bytes());
                self.output.push(b'\n');
                self.compare(step.line, None, start)?;
            }
            Command::Let { name, value } => {
                let value = match value {
                    LetValue::Literal(text) => text.clone(),
                    LetValue::Query(query) => self.let_query(query).map_err(fail)?,
                };
                self.variables.insert(name.clone(), value);
            }
            Command::Connect(args) => self.connect(args).map_err(fail)?,
            Command::Connection(name) => {
                if !self.connections.contains_key(name) {
                    return Err(fail(format!("connection {name:?} does not exist")));
                }
                self.current = name.clone();
            }
            Command::Disconnect(name) => {
                if name == DEFAULT_CONNECTION {
                    return Err(fail(
                        "the default connection cannot be disconnected".to_string(),
                    ));
                }
                if self.connections.remove(name).is_none() {
                    return Err(fail(format!("connection {name:?} does not exist")));
                }
                self.current = DEFAULT_CONNECTION.to_string();
            }
            Command::RemoveFile(path) => {
                let path = expand(path, self.config).map_err(|err| fail(err.to_string()))?;
                std::fs::remove_file(&path)
                    .map_err(|err| fail(format!("remove_file {path} failed: {err}")))?;
            }
            Command::NotImplemented(name) => {
                tracing::warn!(target: "harness::runner", file = %self.case_path.display(), line = step.line, "command not implemented: {name}");
            }
        }
        Ok(())
    }

    /// Executes one statement and writes its output.
    fn run_statement(&mut self, line: usize, text: &str, sql: &str) -> Result<(), FailureReport> {
        let next = std::mem::take(&mut self.next);
        let case_path = self.case_path;
        let fail = |message: String| {
            FailureReport::new(case_path, message)
                .at_line(line)
                .with_statement(text)
        };
        let start = self.output.len();

        // Placeholders are expanded in what is sent, never in the echo.
        let sql = expand(sql, self.config).map_err(|err| fail(err.to_string()))?;

        if self.query_log {
            self.output.extend_from_slice(text.as_bytes());
            self.output.push(b'\n');
        }

        let result = self.connection().map_err(&fail)?.execute(&sql);
        match (result, next.expected_errors) {
            (Ok(outcome), None) => self.write_outcome(
                outcome,
                &next.replace_regex,
                &next.replace_column,
                next.sorted,
            ),
            (Ok(outcome), Some(expected)) => {
                if !expected.codes.contains(&0) {
                    return Err(fail(format!(
                        "Statement succeeded, expected error(s) {}",
                        expected.text
                    )));
                }
                self.write_outcome(
                    outcome,
                    &next.replace_regex,
                    &next.replace_column,
                    next.sorted,
                );
            }
            (Err(err), None) => {
                return Err(fail(format!(
                    "Statement failed unexpectedly: {}",
                    error_text(&err)
                )))
            }
            (Err(err), Some(expected)) => {
                if err.code == 0 || !expected.codes.contains(&err.code) {
                    return Err(fail(format!(
                        "Statement failed with {}, expected error(s) {}",
                        error_text(&err),
                        expected.text
                    )));
                }
                self.write_expected_error(&err, &expected, &next.replace_regex);
            }
        }

        if self.warnings {
            self.write_warnings().map_err(&fail)?;
        }

        self.compare(line, Some(text), start)
    }

    fn write_expected_error(
        &mut self,
        err: &SqlError,
        expected: &ExpectedErrors,
        rules: &[RegexRule],
    ) {
        if expected.codes.len() == 1 {
            let line = apply_regex(rules, &error_text(err));
            self.write_line(&line);
        } else if expected.codes.first() != Some(&0) {
            self.write_line("Got one of the listed errors");
        }
    }

    fn write_outcome(
        &mut self,
        outcome: Outcome,
        rules: &[RegexRule],
        replace_column: &[(usize, String)],
        sorted: bool,
    ) {
        match outcome {
            Outcome::Rows(result) => {
                if self.result_log {
                    self.write_result_set(result, rules, replace_column, sorted);
                }
            }
            Outcome::Affected { rows, info } => {
                if self.info {
                    self.write_line(&format!("affected rows: {rows}"));
                    self.write_line(&format!("info: {info}"));
                }
            }
        }
    }

    /// Writes a header and rows: regex on cells, then sorting, then column
    /// replacement, as mysql-tester orders them.
    fn write_result_set(
        &mut self,
        result: ResultSet,
        rules: &[RegexRule],
        replace_column: &[(usize, String)],
        sorted: bool,
    ) {
        if result.columns.is_empty() {
            return;
        }
        let header: Vec<&str> = result.columns.iter().map(|c| c.name.as_str()).collect();
        self.write_line(&header.join("\t"));

        let mut rows = result.rows;
        if !rules.is_empty() {
            for cell in rows.iter_mut().flatten().flatten() {
                *cell = apply_regex(rules, cell);
            }
        }
        if sorted {
            sort_rows(&mut rows);
        }
        apply_replace_column(replace_column, &mut rows);

        for row in rows {
            let cells: Vec<&str> = row
                .iter()
                .map(|cell| result_cell(cell.as_deref()))
                .collect();
            self.write_line(&cells.join("\t"));
        }
    }

    /// Runs `SHOW WARNINGS` and prints any rows, sorted.
    fn write_warnings(&mut self) -> Result<(), String> {
        let outcome = self
            .connection()?
            .execute(WARNINGS_SQL)
            .map_err(|err| format!("{WARNINGS_SQL} failed: {}", error_text(&err)))?;
        if let Outcome::Rows(result) = outcome {
            if !result.rows.is_empty() {
                self.write_result_set(result, &[], &[], true);
            }
        }
        Ok(())
    }

    fn write_line(&mut self, line: &str) {
        self.output.extend_from_slice(line.as_bytes());
        self.output.push(b'\n');
    }

    /// Compares the bytes written since `start` with the result file.
    fn compare(
        &self,
        line: usize,
        statement: Option<&str>,
        start: usize,
    ) -> Result<(), FailureReport> {
        let Some(expected) = self.expected else {
            return Ok(());
        };
        let Err(mismatch) = check_segment(&self.result_path, expected, &self.output, start) else {
            return Ok(());
        };

        let mut report = FailureReport::new(
            self.case_path,
            format!(
                "output differs from the result file at {}:{}",
                self.result_path.display(),
                mismatch.result_line
            ),
        )
        .at_line(line)
        .with_diff(mismatch.diff);
        if let Some(statement) = statement {
            report = report.with_statement(statement);
        }
        Err(report)
    }

    fn connection(&mut self) -> Result<&mut Box<dyn Connection>, String> {
        let current = &self.current;
        self.connections
            .get_mut(current)
            .ok_or_else(|| format!("the current connection {current:?} does not exist"))
    }

    /// Runs a `let` query: the first column of the first row, `NULL` for
    /// NULL, empty when there is no row.
    fn let_query(&mut self, query: &str) -> Result<String, String> {
        let sql = expand(query, self.config).map_err(|err| err.to_string())?;
        let outcome = self
            .connection()?
            .execute(&sql)
            .map_err(|err| format!("let query {query:?} failed: {}", error_text(&err)))?;
        let value = match outcome {
            Outcome::Rows(result) => result
                .rows
                .into_iter()
                .next()
                .and_then(|row| row.into_iter().next())
                .map(|cell| result_cell(cell.as_deref()).to_string())
                .unwrap_or_default(),
            Outcome::Affected { .. } => String::new(),
        };
        Ok(value)
    }

    /// Opens a named connection and switches to it. With a pending
    /// `--error`, a connection failure with a listed code is accepted and
    /// prints nothing.
    fn connect(&mut self, args: &ConnectArgs) -> Result<(), String> {
        let expected = self.next.expected_errors.take();
        if self.connections.contains_key(&args.name) {
            return Err(format!("connection {:?} already exists", args.name));
        }

        let options = ConnectOptions {
            user: args.user.clone(),
            password: args.password.clone(),
            database: args.database.clone(),
        };
        match (self.target.connect(&options), expected) {
            (Ok(connection), None) => {
                self.connections.insert(args.name.clone(), connection);
                self.current = args.name.clone();
                Ok(())
            }
            (Ok(_), Some(expected)) => Err(format!(
                "connect succeeded, expected error(s) {}",
                expected.text
            )),
            (Err(err), None) => Err(format!(
                "connect {:?} failed: {}",
                args.name,
                error_text(&err)
            )),
            (Err(err), Some(expected)) => {
                if expected.codes.contains(&err.code) {
                    Ok(())
                } else {
                    Err(format!(
                        "connect failed with {}, expected error(s) {}",
                        error_text(&err),
                        expected.text
                    ))
                }
            }
        }
    }

    /// Replaces each word `$name` with the `let` variable or environment
    /// variable `name`, or with nothing when neither is set, as mysql-tester
    /// does. The name is letters, digits and `_`, and a space or the end of
    /// the line follows it. Other words stay as written.
    fn expand_variables(&self, text: &str) -> String {
        let is_name = |name: &str| {
            !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        };
        let words: Vec<String> = text
            .split(' ')
            .map(|word| match word.strip_prefix('$') {
                Some(name) if is_name(name) => match self.variables.get(name) {
                    Some(value) => value.clone(),
                    None => std::env::var(name).unwrap_or_else(|_| {
                        tracing::warn!(target: "harness::runner", "echo variable ${name} is not set");
                        String::new()
                    }),
                },
                _ => word.to_string(),
            })
            .collect();
        words.join(" ")
    }
}
