//! Constructors of the MySQL errors the engine returns, with their codes,
//! SQLSTATEs and message texts as MySQL and TiDB spell them.

pub use crate::target::SqlError;

/// Result of engine operations.
pub type EngineResult<T> = Result<T, SqlError>;

/// 1105 for syntax or features outside the supported subset.
pub fn unsupported(what: impl std::fmt::Display) -> SqlError {
    SqlError::new(
        1105,
        "HY000",
        format!("the reference engine does not support {what}"),
    )
}

/// 1105 with a free-form message, as TiDB reports unregistered errors.
pub fn other(message: impl Into<String>) -> SqlError {
    SqlError::new(1105, "HY000", message)
}

/// 1064 parse error in TiDB's form, before its position is known: the
/// statement's front end replaces `line 1 column 0` with the position of
/// `near` in the statement text ([`locate_syntax_error`]).
pub fn syntax(near: &str) -> SqlError {
    syntax_message(1, 0, near)
}

fn syntax_message(line: usize, column: usize, near: &str) -> SqlError {
    SqlError::new(
        1064,
        "42000",
        format!(
            "You have an error in your SQL syntax; check the manual that corresponds to your TiDB version for the right syntax to use line {line} column {column} near \"{near}\" "
        ),
    )
}

/// 1064 for the token that starts at byte `offset` of `sql`. As in TiDB's
/// parser, the line is that of the token, the column is the byte offset
/// just after the token within its line, and `near` is the text from the
/// token on. At the end of the text the column is the text's length and
/// `near` is empty.
pub fn syntax_at(sql: &str, offset: usize) -> SqlError {
    let offset = floor_char_boundary(sql, offset.min(sql.len()));
    let rest = &sql[offset..];
    let token_end = super::preparse::lex(rest)
        .ok()
        .and_then(|lexemes| lexemes.first().map(|l| offset + l.end))
        .unwrap_or(sql.len());
    let line_start = sql[..offset].rfind('\n').map_or(0, |i| i + 1);
    let line = sql[..offset].matches('\n').count() + 1;
    syntax_message(line, token_end - line_start, rest)
}

/// Gives a 1064 error made by [`syntax`] its position in `sql`, the whole
/// statement: `near` is found as a suffix of the statement, or else at its
/// first occurrence. Other errors, and errors whose `near` text is not in
/// the statement, are returned unchanged.
pub fn locate_syntax_error(sql: &str, error: SqlError) -> SqlError {
    const UNPLACED: &str = "to use line 1 column 0 near \"";
    if error.code != 1064 {
        return error;
    }
    let Some(near_at) = error.message.find(UNPLACED) else {
        return error;
    };
    let near = error.message[near_at + UNPLACED.len()..]
        .strip_suffix("\" ")
        .unwrap_or_default();
    let offset = if sql.ends_with(near) {
        Some(sql.len() - near.len())
    } else {
        sql.find(near)
    };
    match offset {
        Some(offset) if !near.is_empty() || sql.is_empty() => syntax_at(sql, offset),
        _ => error,
    }
}

fn floor_char_boundary(text: &str, mut index: usize) -> usize {
    while !text.is_char_boundary(index) {
        index -= 1;
    }
    index
}

/// 1146 unknown table.
pub fn no_such_table(db: &str, table: &str) -> SqlError {
    SqlError::new(1146, "42S02", format!("Table '{db}.{table}' doesn't exist"))
}

/// 1054 unknown column in the named clause (`field list`, `where clause`,
/// `order clause`, `group statement`, `having clause`, `on clause`).
pub fn unknown_column(name: &str, clause: &str) -> SqlError {
    SqlError::new(
        1054,
        "42S22",
        format!("Unknown column '{name}' in '{clause}'"),
    )
}

/// 1052 ambiguous column.
pub fn ambiguous_column(name: &str, clause: &str) -> SqlError {
    SqlError::new(
        1052,
        "23000",
        format!("Column '{name}' in {clause} is ambiguous"),
    )
}

/// 1049 unknown database.
pub fn unknown_database(db: &str) -> SqlError {
    SqlError::new(1049, "42000", format!("Unknown database '{db}'"))
}

/// 1007 database exists.
pub fn database_exists(db: &str) -> SqlError {
    SqlError::new(
        1007,
        "HY000",
        format!("Can't create database '{db}'; database exists"),
    )
}

/// 1008 database does not exist on DROP.
pub fn database_missing_on_drop(db: &str) -> SqlError {
    SqlError::new(
        1008,
        "HY000",
        format!("Can't drop database '{db}'; database doesn't exist"),
    )
}

/// 1050 table exists.
pub fn table_exists(table: &str) -> SqlError {
    SqlError::new(1050, "42S01", format!("Table '{table}' already exists"))
}

/// 1051 unknown table on DROP.
pub fn bad_table(db: &str, table: &str) -> SqlError {
    SqlError::new(1051, "42S02", format!("Unknown table '{db}.{table}'"))
}

/// 1046 no database selected.
pub fn no_database() -> SqlError {
    SqlError::new(1046, "3D000", "No database selected")
}

/// 1062 duplicate key.
pub fn duplicate_entry(entry: &str, key: &str) -> SqlError {
    SqlError::new(
        1062,
        "23000",
        format!("Duplicate entry '{entry}' for key '{key}'"),
    )
}

/// 1048 NOT NULL violation.
pub fn column_not_null(column: &str) -> SqlError {
    SqlError::new(1048, "23000", format!("Column '{column}' cannot be null"))
}

/// 1364 missing value for a NOT NULL column without default.
pub fn no_default(column: &str) -> SqlError {
    SqlError::new(
        1364,
        "HY000",
        format!("Field '{column}' doesn't have a default value"),
    )
}

/// 1136 column count mismatch in INSERT.
pub fn column_count_mismatch(row: usize) -> SqlError {
    SqlError::new(
        1136,
        "21S01",
        format!("Column count doesn't match value count at row {row}"),
    )
}

/// 1222 operand column counts differ (set operations, INSERT ... SELECT).
pub fn operand_columns(count: usize) -> SqlError {
    SqlError::new(
        1241,
        "21000",
        format!("Operand should contain {count} column(s)"),
    )
}

/// 1264 value out of range in strict mode.
pub fn out_of_range(column: &str, row: usize) -> SqlError {
    SqlError::new(
        1264,
        "22003",
        format!("Out of range value for column '{column}' at row {row}"),
    )
}

/// 1406 string too long in strict mode.
pub fn data_too_long(column: &str, row: usize) -> SqlError {
    SqlError::new(
        1406,
        "22001",
        format!("Data too long for column '{column}' at row {row}"),
    )
}

/// 1366 incorrect value for a typed column in strict mode.
pub fn incorrect_value(kind: &str, value: &str, column: &str, row: usize) -> SqlError {
    SqlError::new(
        1366,
        "HY000",
        format!("Incorrect {kind} value: '{value}' for column '{column}' at row {row}"),
    )
}

/// 1292 incorrect datetime value.
pub fn truncated_datetime(value: &str) -> SqlError {
    SqlError::new(
        1292,
        "22007",
        format!("Incorrect datetime value: '{value}'"),
    )
}

/// 1365 division by zero (strict-mode DML only).
pub fn division_by_zero() -> SqlError {
    SqlError::new(1365, "22012", "Division by 0")
}

/// 1690 numeric value out of range in an expression.
pub fn value_out_of_range(kind: &str, expression: &str) -> SqlError {
    SqlError::new(
        1690,
        "22003",
        format!("{kind} value is out of range in '{expression}'"),
    )
}

/// 1055 non-aggregated column with ONLY_FULL_GROUP_BY.
pub fn not_in_group_by(position: usize, column: &str) -> SqlError {
    SqlError::new(
        1055,
        "42000",
        format!(
            "Expression #{position} of SELECT list is not in GROUP BY clause and contains nonaggregated column '{column}' which is not functionally dependent on columns in GROUP BY clause; this is incompatible with sql_mode=only_full_group_by"
        ),
    )
}

/// 1111 aggregate in the wrong place.
pub fn invalid_group_use() -> SqlError {
    SqlError::new(1111, "HY000", "Invalid use of group function")
}

/// 1582 or 1305: a function that does not exist.
pub fn unknown_function(db: &str, name: &str) -> SqlError {
    SqlError::new(
        1305,
        "42000",
        format!("FUNCTION {db}.{name} does not exist"),
    )
}

/// 1582 wrong argument count.
pub fn wrong_argument_count(name: &str) -> SqlError {
    SqlError::new(
        1582,
        "42000",
        format!("Incorrect parameter count in the call to native function '{name}'"),
    )
}

/// 1193 unknown system variable.
pub fn unknown_system_variable(name: &str) -> SqlError {
    SqlError::new(1193, "HY000", format!("Unknown system variable '{name}'"))
}

/// 1298 unknown time zone.
pub fn unknown_time_zone(name: &str) -> SqlError {
    SqlError::new(
        1298,
        "HY000",
        format!("Unknown or incorrect time zone: '{name}'"),
    )
}

/// 8135 invalid AS OF TIMESTAMP, with TiDB's template.
pub fn invalid_as_of(cause: &str) -> SqlError {
    SqlError::new(8135, "HY000", format!("invalid as of timestamp: {cause}"))
}

/// 8135 for different AS OF timestamps in one statement (TiDB replaces
/// the template for this case).
pub fn different_as_of() -> SqlError {
    SqlError::new(8135, "HY000", "can not set different time in the as of")
}

/// 9006 read timestamp in the future.
pub fn future_read_ts() -> SqlError {
    SqlError::new(9006, "HY000", "cannot set read timestamp to a future time")
}

/// 1792 write in a READ ONLY transaction.
pub fn read_only_transaction() -> SqlError {
    SqlError::new(
        1792,
        "25006",
        "Cannot execute statement in a READ ONLY transaction.",
    )
}

/// 1105 write while `tidb_snapshot` is set.
pub fn snapshot_write() -> SqlError {
    other("can not execute write statement when 'tidb_snapshot' is set")
}

/// 9007 write-write conflict at commit, in TiDB's form.
pub fn write_conflict(start_ts: u64, conflict_commit_ts: u64, table: &str) -> SqlError {
    SqlError::new(
        9007,
        "HY000",
        format!(
            "Write conflict, txnStartTS={start_ts}, conflictCommitTS={conflict_commit_ts}, table={table}, reason=optimistic [try again later]"
        ),
    )
}

/// 1075/1068 multiple primary keys.
pub fn multiple_primary_keys() -> SqlError {
    SqlError::new(1068, "42000", "Multiple primary key defined")
}

/// 1060 duplicate column name.
pub fn duplicate_column(name: &str) -> SqlError {
    SqlError::new(1060, "42S21", format!("Duplicate column name '{name}'"))
}

/// 1067 invalid default value.
pub fn invalid_default(column: &str) -> SqlError {
    SqlError::new(
        1067,
        "42000",
        format!("Invalid default value for '{column}'"),
    )
}

/// 1113 table without columns.
pub fn no_columns() -> SqlError {
    SqlError::new(1113, "42000", "A table must have at least 1 column")
}

/// 1231 invalid value for a variable.
pub fn wrong_value_for_var(name: &str, value: &str) -> SqlError {
    SqlError::new(
        1231,
        "42000",
        format!("Variable '{name}' can't be set to the value of '{value}'"),
    )
}
