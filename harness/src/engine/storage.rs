//! The in-memory MVCC store: versioned rows, a versioned primary-key index
//! and versioned schema, with snapshot reads and write-write conflict
//! detection at commit.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

use super::clock::Clock;
use super::error::{self, EngineResult};
use super::schema::{Catalog, TableDef};
use super::server::SharedServer;
use super::value::Value;

/// A stored row: one value per column in declaration order.
pub type Row = Vec<Value>;

/// The row handle: the integer primary key for tables whose key is one
/// integer column, else a hidden row id in insertion order.
pub type Handle = i64;

/// One committed version: its commit timestamp and the row, or `None` for
/// a delete.
#[derive(Debug, Clone)]
struct Version<T> {
    commit_ts: u64,
    value: Option<T>,
}

/// The versions of one key, oldest first.
type History<T> = Vec<Version<T>>;

fn visible<T>(history: &History<T>, read_ts: u64) -> Option<&Option<T>> {
    history
        .iter()
        .rev()
        .find(|v| v.commit_ts <= read_ts)
        .map(|v| &v.value)
}

/// The committed data of one table id.
#[derive(Debug, Default, Clone)]
struct TableData {
    rows: BTreeMap<Handle, History<Arc<Row>>>,
    /// Encoded primary key to handle, for uniqueness checks.
    keys: HashMap<String, History<Handle>>,
}

/// Uncommitted writes of a transaction.
#[derive(Debug, Clone, Default)]
pub struct WriteSet {
    /// Row writes by (table id, handle); `None` deletes.
    pub rows: BTreeMap<(u64, Handle), Option<Arc<Row>>>,
    /// Primary-key index writes by (table id, encoded key).
    pub keys: BTreeMap<(u64, String), Option<Handle>>,
    /// Table names by id, for conflict messages.
    pub table_names: HashMap<u64, String>,
}

impl WriteSet {
    /// Returns whether nothing was written.
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty() && self.keys.is_empty()
    }
}

/// The whole committed state.
///
/// Table data sits behind `Arc`s, so [`Store::view`] copies only the
/// table map, and a commit copies a table only while a running
/// statement's view still shares it.
#[derive(Debug)]
pub struct Store {
    clock: Clock,
    catalogs: Vec<(u64, Arc<Catalog>)>,
    tables: HashMap<u64, Arc<TableData>>,
    next_table_id: u64,
    next_row_id: Arc<AtomicI64>,
    /// Accounts and global system variables, behind their own lock.
    pub server: SharedServer,
    /// The model catalog and runtime.
    pub models: super::engine_config::ModelState,
}

impl Default for Store {
    fn default() -> Store {
        Store::new()
    }
}

impl Store {
    /// Creates a store with the `test` and `mysql` databases, as a fresh TiDB has.
    pub fn new() -> Store {
        let mut clock = Clock::new();
        let mut catalog = Catalog::default();
        for name in ["test", "mysql"] {
            catalog.databases.insert(
                name.to_string(),
                super::schema::Database {
                    name: name.to_string(),
                    tables: BTreeMap::new(),
                },
            );
        }
        let ts = clock.tick();
        Store {
            clock,
            catalogs: vec![(ts, Arc::new(catalog))],
            tables: HashMap::new(),
            next_table_id: 1,
            next_row_id: Arc::new(AtomicI64::new(1)),
            server: SharedServer::default(),
            models: super::engine_config::ModelState::default(),
        }
    }

    /// Issues a timestamp for a statement or transaction start.
    pub fn tick(&mut self) -> u64 {
        self.clock.tick()
    }

    /// Returns the current time, for rejecting future read timestamps.
    pub fn now(&self) -> u64 {
        self.clock.now()
    }

    /// Returns the schema as of `read_ts`, or `None` before the store existed.
    pub fn catalog_at(&self, read_ts: u64) -> Option<Arc<Catalog>> {
        self.catalogs
            .iter()
            .rev()
            .find(|(ts, _)| *ts <= read_ts)
            .map(|(_, catalog)| catalog.clone())
    }

    /// Returns the newest schema.
    pub fn latest_catalog(&self) -> Arc<Catalog> {
        self.catalogs
            .last()
            .map(|(_, catalog)| catalog.clone())
            .unwrap_or_default()
    }

    /// Commits a new schema version, returning its timestamp.
    pub fn commit_catalog(&mut self, catalog: Catalog) -> u64 {
        let ts = self.clock.tick();
        self.catalogs.push((ts, Arc::new(catalog)));
        ts
    }

    /// Allocates a table id for a new or truncated table.
    pub fn allocate_table_id(&mut self) -> u64 {
        let id = self.next_table_id;
        self.next_table_id += 1;
        id
    }

    /// Takes a snapshot of the committed data for one statement. Commits
    /// after this call get later timestamps than any read ts issued before
    /// it, so reads through the view at such a ts match the store's.
    pub fn view(&self) -> StoreView {
        StoreView {
            tables: self.tables.clone(),
            next_row_id: Arc::clone(&self.next_row_id),
            models: self.models.clone(),
        }
    }

    /// Commits `writes` of a transaction that started at `start_ts`.
    /// Fails with a write conflict if another transaction committed a
    /// write to the same row or key after `start_ts`; nothing is applied
    /// then. Returns the commit timestamp.
    pub fn commit(&mut self, start_ts: u64, writes: WriteSet) -> EngineResult<u64> {
        for (table_id, handle) in writes.rows.keys() {
            let newest = self
                .tables
                .get(table_id)
                .and_then(|data| data.rows.get(handle))
                .and_then(|history| history.last())
                .map(|v| v.commit_ts);
            if let Some(commit_ts) = newest.filter(|ts| *ts > start_ts) {
                let name = writes
                    .table_names
                    .get(table_id)
                    .cloned()
                    .unwrap_or_default();
                return Err(error::write_conflict(start_ts, commit_ts, &name));
            }
        }
        for (table_id, key) in writes.keys.keys() {
            let newest = self
                .tables
                .get(table_id)
                .and_then(|data| data.keys.get(key))
                .and_then(|history| history.last())
                .map(|v| v.commit_ts);
            if let Some(commit_ts) = newest.filter(|ts| *ts > start_ts) {
                let name = writes
                    .table_names
                    .get(table_id)
                    .cloned()
                    .unwrap_or_default();
                return Err(error::write_conflict(start_ts, commit_ts, &name));
            }
        }

        let commit_ts = self.clock.tick();
        for ((table_id, handle), row) in writes.rows {
            let data = Arc::make_mut(self.tables.entry(table_id).or_default());
            data.rows.entry(handle).or_default().push(Version {
                commit_ts,
                value: row,
            });
        }
        for ((table_id, key), handle) in writes.keys {
            let data = Arc::make_mut(self.tables.entry(table_id).or_default());
            data.keys.entry(key).or_default().push(Version {
                commit_ts,
                value: handle,
            });
        }
        Ok(commit_ts)
    }
}

/// The committed data and model state as one statement reads them,
/// taken by [`Store::view`]. Statements run against a view after they
/// release the store lock, so a slow model call blocks no other session.
#[derive(Debug)]
pub struct StoreView {
    tables: HashMap<u64, Arc<TableData>>,
    next_row_id: Arc<AtomicI64>,
    /// The model catalog and runtime when the view was taken.
    pub models: super::engine_config::ModelState,
}

impl StoreView {
    /// Allocates a hidden row handle for tables without an integer key.
    pub fn allocate_row_id(&self) -> Handle {
        self.next_row_id.fetch_add(1, Ordering::Relaxed)
    }

    /// Reads all rows of a table at `read_ts`, overlaid with `writes`, in
    /// handle order.
    pub fn scan(
        &self,
        table: &TableDef,
        read_ts: u64,
        writes: Option<&WriteSet>,
    ) -> Vec<(Handle, Arc<Row>)> {
        let mut merged: BTreeMap<Handle, Arc<Row>> = BTreeMap::new();
        if let Some(data) = self.tables.get(&table.id) {
            for (handle, history) in &data.rows {
                if let Some(Some(row)) = visible(history, read_ts) {
                    merged.insert(*handle, row.clone());
                }
            }
        }
        if let Some(writes) = writes {
            for ((table_id, handle), row) in writes
                .rows
                .range((table.id, Handle::MIN)..=(table.id, Handle::MAX))
            {
                debug_assert_eq!(*table_id, table.id);
                match row {
                    Some(row) => merged.insert(*handle, row.clone()),
                    None => merged.remove(handle),
                };
            }
        }
        merged.into_iter().collect()
    }

    /// Number of rows visible at `read_ts` (for EXPLAIN estimates).
    pub fn count(&self, table: &TableDef, read_ts: u64, writes: Option<&WriteSet>) -> usize {
        self.scan(table, read_ts, writes).len()
    }

    /// Looks up the handle stored under an encoded primary key.
    pub fn key_handle(
        &self,
        table: &TableDef,
        key: &str,
        read_ts: u64,
        writes: Option<&WriteSet>,
    ) -> Option<Handle> {
        if let Some(writes) = writes {
            if let Some(entry) = writes.keys.get(&(table.id, key.to_string())) {
                return *entry;
            }
        }
        let history = self.tables.get(&table.id)?.keys.get(key)?;
        visible(history, read_ts).copied().flatten()
    }

    /// Returns whether a row exists under `handle` at `read_ts`, with
    /// `writes` overlaid.
    pub fn handle_exists(
        &self,
        table: &TableDef,
        handle: Handle,
        read_ts: u64,
        writes: Option<&WriteSet>,
    ) -> bool {
        if let Some(writes) = writes {
            if let Some(entry) = writes.rows.get(&(table.id, handle)) {
                return entry.is_some();
            }
        }
        self.tables
            .get(&table.id)
            .and_then(|data| data.rows.get(&handle))
            .and_then(|history| visible(history, read_ts))
            .is_some_and(|row| row.is_some())
    }

}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::schema::{ColumnDef, ColumnDefault};
    use crate::engine::value::SqlType;

    fn table(id: u64) -> TableDef {
        TableDef {
            id,
            database: "test".into(),
            name: "t".into(),
            columns: vec![ColumnDef {
                name: "a".into(),
                sql_type: SqlType::Int(4),
                nullable: true,
                default: ColumnDefault::None,
            }],
            primary_key: vec![],
        }
    }

    fn write_row(writes: &mut WriteSet, table_id: u64, handle: Handle, value: i64) {
        writes
            .rows
            .insert((table_id, handle), Some(Arc::new(vec![Value::Int(value)])));
    }

    #[test]
    fn snapshots_see_only_earlier_commits() {
        let mut store = Store::new();
        let t = table(1);
        let mut first = WriteSet::default();
        write_row(&mut first, 1, 1, 10);
        let before = store.tick();
        let ts1 = store.commit(before, first).unwrap();
        let between = store.tick();
        let mut second = WriteSet::default();
        write_row(&mut second, 1, 1, 20);
        store.commit(between, second).unwrap();

        assert!(store.view().scan(&t, before, None).is_empty());
        assert_eq!(store.view().scan(&t, ts1, None)[0].1[0], Value::Int(10));
        assert_eq!(store.view().scan(&t, between, None)[0].1[0], Value::Int(10));
        assert_eq!(store.view().scan(&t, store.now(), None)[0].1[0], Value::Int(20));
    }

    #[test]
    fn concurrent_writes_conflict() {
        let mut store = Store::new();
        let start_a = store.tick();
        let start_b = store.tick();
        let mut a = WriteSet::default();
        write_row(&mut a, 1, 7, 1);
        let mut b = WriteSet::default();
        write_row(&mut b, 1, 7, 2);
        store.commit(start_a, a).unwrap();
        let err = store.commit(start_b, b).unwrap_err();
        assert_eq!(err.code, 9007);
        assert_eq!(
            store.view().scan(&table(1), store.now(), None)[0].1[0],
            Value::Int(1)
        );
    }
}
