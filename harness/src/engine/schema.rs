//! Databases and table definitions. A [`Catalog`] is immutable; DDL makes a
//! new version, and the store keeps every version with its commit
//! timestamp so snapshot reads see the historical schema.

use std::collections::BTreeMap;
use std::sync::Arc;

use super::value::{SqlType, Value};

/// The default of a column.
#[derive(Debug, Clone, PartialEq)]
pub enum ColumnDefault {
    /// No DEFAULT clause: NULL for nullable columns, an error otherwise.
    None,
    /// A constant default, already converted to the column type.
    Value(Value),
    /// `DEFAULT CURRENT_TIMESTAMP[(fsp)]`.
    CurrentTimestamp,
}

/// One column of a table.
#[derive(Debug, Clone, PartialEq)]
pub struct ColumnDef {
    /// Name as declared.
    pub name: String,
    /// Declared type.
    pub sql_type: SqlType,
    /// Whether NULL is allowed.
    pub nullable: bool,
    /// Default value.
    pub default: ColumnDefault,
}

/// A table definition. The id changes on TRUNCATE and re-creation, so old
/// data stays readable at old timestamps.
#[derive(Debug, Clone, PartialEq)]
pub struct TableDef {
    /// Storage id of the table's rows.
    pub id: u64,
    /// Database name.
    pub database: String,
    /// Table name as declared.
    pub name: String,
    /// Columns in declaration order.
    pub columns: Vec<ColumnDef>,
    /// Positions of the primary-key columns (empty if none).
    pub primary_key: Vec<usize>,
}

impl TableDef {
    /// Finds a column by name, case-insensitively.
    pub fn column_index(&self, name: &str) -> Option<usize> {
        self.columns
            .iter()
            .position(|c| c.name.eq_ignore_ascii_case(name))
    }

    /// Whether the primary key is one integer column, which TiDB stores as
    /// the row handle (a clustered index), so scans return rows in key
    /// order.
    pub fn int_handle(&self) -> Option<usize> {
        match self.primary_key.as_slice() {
            [only] if matches!(self.columns[*only].sql_type, SqlType::Int(_)) => Some(*only),
            _ => None,
        }
    }
}

/// A database and its tables, keyed by lowercase name (table names are
/// case-insensitive, as TiDB's `lower_case_table_names = 2`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Database {
    /// Name as created.
    pub name: String,
    /// Tables by lowercase name.
    pub tables: BTreeMap<String, Arc<TableDef>>,
}

/// One version of the whole schema.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Catalog {
    /// Databases by lowercase name.
    pub databases: BTreeMap<String, Database>,
}

impl Catalog {
    /// Looks up a database.
    pub fn database(&self, name: &str) -> Option<&Database> {
        self.databases.get(&name.to_ascii_lowercase())
    }

    /// Looks up a table.
    pub fn table(&self, database: &str, table: &str) -> Option<&Arc<TableDef>> {
        self.database(database)?
            .tables
            .get(&table.to_ascii_lowercase())
    }
}
