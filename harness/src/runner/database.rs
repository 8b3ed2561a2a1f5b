//! The per-case database: created before a case and used by its default
//! connection, then dropped after it together with every database the case
//! created, unless schemas are reserved. mysql-tester does the same, so a
//! case starts in a fresh, empty database and leaves nothing behind.

use std::collections::BTreeSet;

use crate::target::{ConnectOptions, Connection, Outcome, SqlError, Target};

/// The case database and the databases that existed before the case, from
/// which cleanup finds the new ones.
#[derive(Debug, Clone)]
pub struct CaseDatabase {
    /// The case's database name.
    pub name: String,
    /// Database names present before the case ran.
    pub existing: BTreeSet<String>,
}

/// Errors while preparing or cleaning up.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum DatabaseError {
    /// Occurs when the target rejects a setup or cleanup statement.
    #[error("{sql} failed: {cause}")]
    Statement {
        /// The statement.
        sql: String,
        /// The target's error.
        cause: SqlError,
    },
    /// Occurs when the target cannot open a connection.
    #[error("cannot connect to {target}: {cause}")]
    Connect {
        /// Target name.
        target: String,
        /// The target's error.
        cause: SqlError,
    },
    /// Occurs when `SHOW DATABASES` returns no result set.
    #[error("SHOW DATABASES returned no result set")]
    NoResultSet,
}

/// Quotes an identifier with backticks, doubling any backtick inside.
pub fn quote_identifier(name: &str) -> String {
    format!("`{}`", name.replace('`', "``"))
}

/// Opens a connection with default options.
pub fn connect_admin(target: &dyn Target) -> Result<Box<dyn Connection>, DatabaseError> {
    target
        .connect(&ConnectOptions::default())
        .map_err(|cause| DatabaseError::Connect {
            target: target.name(),
            cause,
        })
}

/// Records the existing databases, creates `name` and makes it the
/// current database of `connection`.
pub fn prepare(connection: &mut dyn Connection, name: &str) -> Result<CaseDatabase, DatabaseError> {
    let existing = show_databases(connection)?;

    execute(
        connection,
        &format!("CREATE DATABASE IF NOT EXISTS {}", quote_identifier(name)),
    )?;
    execute(connection, &format!("USE {}", quote_identifier(name)))?;

    Ok(CaseDatabase {
        name: name.to_string(),
        existing,
    })
}

/// Drops every database that is not in `database.existing`.
pub fn cleanup(
    connection: &mut dyn Connection,
    database: &CaseDatabase,
) -> Result<Vec<String>, DatabaseError> {
    let now = show_databases(connection)?;
    let mut dropped = Vec::new();

    for name in now.difference(&database.existing) {
        execute(
            connection,
            &format!("DROP DATABASE {}", quote_identifier(name)),
        )?;
        dropped.push(name.clone());
    }

    tracing::debug!(target: "harness::runner", ?dropped, "dropped case databases");
    Ok(dropped)
}

fn show_databases(connection: &mut dyn Connection) -> Result<BTreeSet<String>, DatabaseError> {
    match execute(connection, "SHOW DATABASES")? {
        Outcome::Rows(result) => Ok(result
            .rows
            .into_iter()
            .filter_map(|row| row.into_iter().next().flatten())
            .collect()),
        Outcome::Affected { .. } => Err(DatabaseError::NoResultSet),
    }
}

fn execute(connection: &mut dyn Connection, sql: &str) -> Result<Outcome, DatabaseError> {
    connection
        .execute(sql)
        .map_err(|cause| DatabaseError::Statement {
            sql: sql.to_string(),
            cause,
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers_are_quoted() {
        assert_eq!(quote_identifier("a__b"), "`a__b`");
        assert_eq!(quote_identifier("we`ird"), "`we``ird`");
    }
}
