//! The sqllogictest adapter: runs `.slt` files through the `sqllogictest`
//! crate (0.29) over target connections.
//!
//! - Each `connection <name>` record gets its own target connection, opened
//!   on the case database.
//! - Result sets become `DBOutput::Rows` with column types `I` (integers),
//!   `R` (FLOAT, DOUBLE, DECIMAL) or `T` (the rest). Cells render NULL as
//!   `NULL` and the empty string as `(empty)`. Other statements become
//!   `StatementComplete(affected rows)`.
//! - Errors display as `Error <code> (<SQLSTATE>): <message>`, so
//!   `statement error <regex>` matches the same text a `.result` file
//!   holds, and `statement error (<SQLSTATE>)` compares the SQLSTATE.
//! - The engine label (the target name unless configured) and every met
//!   requirement are labels for `skipif`/`onlyif`.
//! - `${FIXTURES_DIR}` and `${CHECKSUM:...}` are expanded in the SQL of
//!   every record whether or not `control substitution on` is set;
//!   `FIXTURES_DIR` is also set as a runner variable for `$FIXTURES_DIR`.

use std::fmt::Write as _;
use std::path::Path;

use sqllogictest::{
    default_column_validator, default_normalizer, default_validator, update_record_with_output,
    DBOutput, DefaultColumnType, Injected, Record, Runner,
};

use super::config::RunnerConfig;
use super::database::{self, connect_admin};
use super::discover::Case;
use super::normalize::{error_text, slt_cell};
use super::substitute::{expand, SubstituteError};
use super::summary::{CaseOutcome, FailureReport};
use crate::target::{ColumnType, ConnectOptions, Connection, Outcome, SqlError, Target};

/// Column separator written by `--record`.
const COLUMN_SEPARATOR: &str = " ";

/// A target connection seen as a sqllogictest database.
pub struct SltConnection {
    connection: Box<dyn Connection>,
    engine: String,
}

impl SltConnection {
    /// Wraps a connection; `engine` is the label `skipif`/`onlyif` test.
    pub fn new(connection: Box<dyn Connection>, engine: String) -> SltConnection {
        SltConnection { connection, engine }
    }
}

/// A target error, displayed as mysql-tester prints it.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{}", error_text(.0))]
pub struct SltError(pub SqlError);

impl sqllogictest::DB for SltConnection {
    type Error = SltError;
    type ColumnType = DefaultColumnType;

    fn run(&mut self, sql: &str) -> Result<DBOutput<DefaultColumnType>, SltError> {
        match self.connection.execute(sql).map_err(SltError)? {
            Outcome::Rows(result) => {
                let types = result
                    .columns
                    .iter()
                    .map(|c| column_type(c.column_type))
                    .collect();
                let rows = result
                    .rows
                    .iter()
                    .map(|row| row.iter().map(|cell| slt_cell(cell.as_deref())).collect())
                    .collect();
                Ok(DBOutput::Rows { types, rows })
            }
            Outcome::Affected { rows, .. } => Ok(DBOutput::StatementComplete(rows)),
        }
    }

    fn engine_name(&self) -> &str {
        &self.engine
    }

    fn error_sql_state(err: &SltError) -> Option<String> {
        Some(err.0.sqlstate.clone()).filter(|state| !state.is_empty())
    }
}

/// Maps a target column type to the slt type letter.
pub fn column_type(column_type: ColumnType) -> DefaultColumnType {
    match column_type {
        ColumnType::Int => DefaultColumnType::Integer,
        ColumnType::Float | ColumnType::Double | ColumnType::Decimal => {
            DefaultColumnType::FloatingPoint
        }
        ColumnType::Text | ColumnType::DateTime | ColumnType::Json => DefaultColumnType::Text,
        ColumnType::Null => DefaultColumnType::Any,
    }
}

/// Runs one `.slt` case, or rewrites its expectations when recording.
pub fn run_slt(target: &dyn Target, config: &RunnerConfig, case: &Case) -> CaseOutcome {
    let path = case.path.as_path();

    // The sqllogictest parser panics on a path or a file that is not
    // UTF-8, on an include of a directory, and recurses without end on an
    // include cycle, so those are checked here first.
    if path.to_str().is_none() {
        let report = FailureReport::new(
            path,
            "the file name is not UTF-8; rename the file".to_string(),
        );
        return CaseOutcome::Failed(report);
    }
    if let Err(problem) = super::slt_includes::check_include_tree(path) {
        return CaseOutcome::Failed(FailureReport::new(path, problem));
    }

    // Parse first, so a syntax error costs no database work.
    let records = match sqllogictest::parse_file::<DefaultColumnType>(path) {
        Ok(records) => records,
        Err(err) => {
            let location = err.location();
            let report =
                FailureReport::new(path, format!("parse error at {location}: {}", err.kind()));
            return CaseOutcome::Failed(report.at_line(location.line() as usize));
        }
    };

    // The setup connection creates the database; cleanup uses a fresh one.
    let name = case.database_name();
    let mut admin = match connect_admin(target) {
        Ok(connection) => connection,
        Err(err) => {
            return CaseOutcome::Failed(FailureReport::new(path, format!("setup failed: {err}")))
        }
    };
    let database = match database::prepare(admin.as_mut(), &name) {
        Ok(database) => database,
        Err(err) => {
            return CaseOutcome::Failed(FailureReport::new(path, format!("setup failed: {err}")))
        }
    };
    drop(admin);

    let engine = config.engine_label.clone().unwrap_or_else(|| target.name());
    let options = ConnectOptions {
        database: name,
        ..ConnectOptions::default()
    };
    let connection_engine = engine.clone();
    let mut runner = Runner::new(move || {
        let connection = target
            .connect(&options)
            .map(|connection| SltConnection::new(connection, connection_engine.clone()))
            .map_err(SltError);
        std::future::ready(connection)
    });
    runner.add_label(&engine);
    for name in config.requirements.met_names() {
        runner.add_label(name);
    }
    if let Some(dir) = config.server_fixtures_dir.as_ref().or(config.fixtures_dir.as_ref()) {
        runner.set_var(
            "FIXTURES_DIR".to_string(),
            dir.to_string_lossy().into_owned(),
        );
    }

    let outcome = if config.record {
        record_file(&mut runner, config, path, records)
    } else {
        run_records(&mut runner, config, path, records)
    };
    runner.shutdown();
    drop(runner);

    let cleanup = if config.reserve_schema {
        Ok(())
    } else {
        connect_admin(target)
            .and_then(|mut connection| {
                database::cleanup(connection.as_mut(), &database).map(|_| ())
            })
            .map_err(|err| format!("cleanup failed: {err}"))
    };

    match (outcome, cleanup) {
        (Err(report), _) => CaseOutcome::Failed(report),
        (Ok(()), Err(message)) => CaseOutcome::Failed(FailureReport::new(path, message)),
        (Ok(()), Ok(())) => CaseOutcome::Passed,
    }
}

type SltRunner<M> = Runner<SltConnection, M>;

/// Runs records until the first failure or `halt`.
fn run_records<M>(
    runner: &mut SltRunner<M>,
    config: &RunnerConfig,
    path: &Path,
    records: Vec<Record<DefaultColumnType>>,
) -> Result<(), FailureReport>
where
    M: sqllogictest::MakeConnection<Conn = SltConnection>,
{
    for record in records {
        if matches!(record, Record::Halt { .. }) {
            break;
        }
        let line = record_line(&record);
        let record =
            expand_record(record, config).map_err(|err| substitution_failure(path, line, err))?;

        if let Err(err) = runner.run(record) {
            let location = err.location();
            let report = FailureReport::new(path, err.display(false).to_string().trim_end());
            return Err(report.at_line(location.line() as usize));
        }
    }
    Ok(())
}

/// Runs every record and rewrites the file with the actual results. Records
/// from `include`d files run but are not rewritten; the top-level file keeps
/// its `include` line. Placeholders stay as written in the file.
fn record_file<M>(
    runner: &mut SltRunner<M>,
    config: &RunnerConfig,
    path: &Path,
    records: Vec<Record<DefaultColumnType>>,
) -> Result<(), FailureReport>
where
    M: sqllogictest::MakeConnection<Conn = SltConnection>,
{
    let mut text = String::new();
    let mut include_depth = 0usize;
    let mut halted = false;

    for record in records {
        match &record {
            Record::Injected(Injected::BeginInclude(_)) => {
                include_depth += 1;
                continue;
            }
            Record::Injected(Injected::EndInclude(_)) => {
                include_depth = include_depth.saturating_sub(1);
                continue;
            }
            _ => {}
        }

        let write = include_depth == 0;
        if halted || matches!(record, Record::Halt { .. }) {
            halted = true;
            if write {
                let _ = writeln!(text, "{record}");
            }
            continue;
        }

        let line = record_line(&record);
        let expanded = expand_record(record.clone(), config)
            .map_err(|err| substitution_failure(path, line, err))?;
        let output = futures::executor::block_on(runner.apply_record(expanded));
        if write {
            let updated = update_record_with_output(
                &record,
                &output,
                COLUMN_SEPARATOR,
                default_validator,
                default_normalizer,
                default_column_validator,
            )
            .unwrap_or(record);
            let _ = writeln!(text, "{updated}");
        }
    }

    // One newline at the end, however many blank records came last.
    let trimmed = text.trim_end_matches('\n');
    let text = format!("{trimmed}\n");
    replace_file(path, &text)
        .map_err(|err| FailureReport::new(path, format!("cannot write {}: {err}", path.display())))
}

/// Writes through a temporary file in the same directory, then renames.
fn replace_file(path: &Path, text: &str) -> std::io::Result<()> {
    let mut temporary = path.as_os_str().to_owned();
    temporary.push(".record-tmp");
    std::fs::write(&temporary, text)?;
    std::fs::rename(&temporary, path)
}

/// Expands placeholders in the SQL of statement, query and let records.
fn expand_record(
    record: Record<DefaultColumnType>,
    config: &RunnerConfig,
) -> Result<Record<DefaultColumnType>, SubstituteError> {
    let record = match record {
        Record::Statement {
            loc,
            conditions,
            connection,
            sql,
            expected,
            retry,
        } => Record::Statement {
            loc,
            conditions,
            connection,
            sql: expand(&sql, config)?,
            expected,
            retry,
        },
        Record::Query {
            loc,
            conditions,
            connection,
            sql,
            expected,
            retry,
        } => Record::Query {
            loc,
            conditions,
            connection,
            sql: expand(&sql, config)?,
            expected,
            retry,
        },
        Record::Let {
            loc,
            conditions,
            connection,
            variables,
            sql,
        } => Record::Let {
            loc,
            conditions,
            connection,
            variables,
            sql: expand(&sql, config)?,
        },
        other => other,
    };
    Ok(record)
}

fn record_line(record: &Record<DefaultColumnType>) -> usize {
    match record {
        Record::Statement { loc, .. } | Record::Query { loc, .. } | Record::Let { loc, .. } => {
            loc.line() as usize
        }
        _ => 0,
    }
}

fn substitution_failure(path: &Path, line: usize, err: SubstituteError) -> FailureReport {
    let report = FailureReport::new(path, err.to_string());
    if line > 0 {
        report.at_line(line)
    } else {
        report
    }
}
