//! Sessions: current database, user and system variables, and the
//! transaction state with snapshot isolation and stale reads.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use super::error::{self, EngineResult};
use super::storage::{Store, WriteSet};
use super::time::{DateTime, TimeZone};
use super::value::Value;

/// An open transaction.
#[derive(Debug, Clone)]
pub struct Transaction {
    /// Start timestamp; conflicts are commits after it.
    pub start_ts: u64,
    /// Read timestamp (the start timestamp, or the AS OF timestamp).
    pub read_ts: u64,
    /// Uncommitted writes.
    pub writes: WriteSet,
    /// `READ ONLY` (including every stale-read transaction).
    pub read_only: bool,
    /// Whether the transaction reads at an AS OF timestamp.
    pub stale: bool,
    /// Whether BEGIN opened it (false: opened by autocommit=0).
    pub explicit: bool,
}

/// One client session.
#[derive(Debug)]
pub struct Session {
    /// Shared committed state.
    pub store: Arc<Mutex<Store>>,
    /// Authenticated user; privilege checks use it.
    pub user: String,
    /// Current database.
    pub database: Option<String>,
    /// User variables by lowercase name.
    pub user_vars: HashMap<String, Value>,
    /// Session system variables by lowercase name, as text.
    pub system_vars: HashMap<String, String>,
    /// Session time zone.
    pub time_zone: TimeZone,
    /// Open transaction.
    pub txn: Option<Transaction>,
    /// Read timestamp set by `SET TRANSACTION READ ONLY AS OF`, used by the
    /// next transaction.
    pub next_txn_as_of: Option<u64>,
    /// `@@tidb_snapshot` as a read timestamp.
    pub snapshot: Option<u64>,
    /// `@@autocommit`.
    pub autocommit: bool,
}

impl Session {
    /// Creates a session for `user` with an optional default database.
    pub fn new(store: Arc<Mutex<Store>>, user: &str, database: Option<String>) -> Session {
        Session {
            store,
            user: if user.is_empty() {
                "root".into()
            } else {
                user.to_string()
            },
            database,
            user_vars: HashMap::new(),
            system_vars: HashMap::new(),
            time_zone: TimeZone::system(),
            txn: None,
            next_txn_as_of: None,
            snapshot: None,
            autocommit: true,
        }
    }

    /// Locks the shared store. A poisoned lock (a panic in another
    /// session) is recovered, because every store mutation is applied
    /// whole at commit.
    pub fn lock(&self) -> MutexGuard<'_, Store> {
        self.store
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Converts a datetime in the session time zone to a read timestamp,
    /// rejecting future times (9006).
    pub fn read_ts_from(&self, store: &Store, datetime: DateTime) -> EngineResult<u64> {
        let micros = self.time_zone.to_utc_micros(datetime);
        if micros < 0 {
            return Err(error::other(format!(
                "invalid read timestamp {}",
                datetime.render()
            )));
        }
        if micros as u64 > store.now() {
            return Err(error::future_read_ts());
        }
        Ok(micros as u64)
    }

    /// Converts an evaluated AS OF value to a read timestamp: NULL is 8135,
    /// strings must be datetimes.
    pub fn as_of_ts(&self, store: &Store, value: &Value) -> EngineResult<u64> {
        let datetime = match value {
            Value::Null => return Err(error::invalid_as_of("as of timestamp cannot be NULL")),
            Value::DateTime(dt) => *dt,
            Value::Str(s) => DateTime::parse(s).ok_or_else(|| error::truncated_datetime(s))?,
            other => {
                return Err(error::unsupported(format!(
                    "AS OF TIMESTAMP with the value {} (TSO numbers are not supported)",
                    super::render::render_value(other)
                )))
            }
        };
        self.read_ts_from(store, datetime)
    }

    /// Starts a transaction, committing an open one first (MySQL's
    /// implicit commit).
    pub fn begin(&mut self, read_only: bool, as_of: Option<u64>) -> EngineResult<()> {
        self.commit()?;
        let as_of = as_of.or(self.next_txn_as_of.take());
        let start_ts = self.lock().tick();
        self.txn = Some(Transaction {
            start_ts,
            read_ts: as_of.unwrap_or(start_ts),
            writes: WriteSet::default(),
            read_only: read_only || as_of.is_some(),
            stale: as_of.is_some(),
            explicit: true,
        });
        Ok(())
    }

    /// Commits the open transaction, if any. On a write conflict the
    /// transaction is rolled back and the error returned.
    pub fn commit(&mut self) -> EngineResult<()> {
        let Some(txn) = self.txn.take() else {
            return Ok(());
        };
        if txn.writes.is_empty() {
            return Ok(());
        }
        self.lock().commit(txn.start_ts, txn.writes)?;
        Ok(())
    }

    /// Discards the open transaction.
    pub fn rollback(&mut self) {
        self.txn = None;
    }

    /// Reads a system variable for `@@name`.
    pub fn system_var(&self, name: &str) -> EngineResult<Value> {
        let key = name.to_ascii_lowercase();
        Ok(match key.as_str() {
            "time_zone" => Value::Str(self.time_zone.name.clone()),
            "autocommit" => Value::Int(self.autocommit as i64),
            "tidb_snapshot" => Value::Str(
                self.system_vars
                    .get("tidb_snapshot")
                    .cloned()
                    .unwrap_or_default(),
            ),
            "version" => Value::Str(super::functions::VERSION.into()),
            "tidb_version" => Value::Str(super::functions::TIDB_VERSION.into()),
            "sql_mode" => Value::Str(
                self.system_vars
                    .get("sql_mode")
                    .cloned()
                    .unwrap_or_else(|| DEFAULT_SQL_MODE.into()),
            ),
            "div_precision_increment" => Value::Int(super::decimal::DIV_PRECISION_INCREMENT as i64),
            // Drivers read these two right after connecting (mysql_async
            // does); the values are TiDB's defaults.
            "max_allowed_packet" => Value::Int(67_108_864),
            "wait_timeout" => Value::Int(28_800),
            "transaction_read_only" | "tx_read_only" => {
                Value::Int(self.txn.as_ref().is_some_and(|t| t.read_only) as i64)
            }
            _ => match self.system_vars.get(&key) {
                Some(v) => Value::Str(v.clone()),
                None => return Err(error::unknown_system_variable(name)),
            },
        })
    }

    /// Stores a session variable that has no behaviour here.
    ///
    /// NOTE: `tidb_*` names and a few MySQL names are accepted and stored
    /// without validation; a registry of system variables replaces this.
    pub fn set_plain_var(&mut self, name: &str, value: &Value) -> EngineResult<()> {
        let key = name.to_ascii_lowercase();
        let accepted = key.starts_with("tidb_")
            || matches!(
                key.as_str(),
                "sql_mode"
                    | "names"
                    | "character_set_client"
                    | "character_set_connection"
                    | "character_set_results"
                    | "collation_connection"
                    | "max_execution_time"
                    | "sql_select_limit"
                    | "foreign_key_checks"
                    | "transaction_isolation"
                    | "tx_isolation"
                    | "sql_safe_updates"
                    | "group_concat_max_len"
            );
        if !accepted {
            return Err(error::unknown_system_variable(name));
        }
        self.system_vars
            .insert(key, value.to_text().unwrap_or_default());
        Ok(())
    }
}

/// TiDB's default `sql_mode`.
pub const DEFAULT_SQL_MODE: &str =
    "ONLY_FULL_GROUP_BY,STRICT_TRANS_TABLES,NO_ZERO_IN_DATE,NO_ZERO_DATE,ERROR_FOR_DIVISION_BY_ZERO,NO_AUTO_CREATE_USER,NO_ENGINE_SUBSTITUTION";
