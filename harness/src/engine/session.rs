//! Sessions: current database, user and system variables, and the
//! transaction state with snapshot isolation and stale reads.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use crate::catalog::privileges::UserIdentity;
use crate::catalog::sysvars::SessionVars;
use crate::catalog::SqlWarning;

use super::error::{self, EngineResult};
use super::server::{lock_server, SharedServer};
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
    /// Authenticated user name, for `USER()`.
    pub user: String,
    /// The account the session logged in as; privilege checks use it.
    pub identity: UserIdentity,
    /// Accounts and global system variables, shared by every session.
    pub server: SharedServer,
    /// Current database.
    pub database: Option<String>,
    /// User variables by lowercase name.
    pub user_vars: HashMap<String, Value>,
    /// Session values of the system variables.
    pub vars: SessionVars,
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
    /// Notes, warnings and the error of the last statement, for `SHOW
    /// WARNINGS`.
    pub warnings: Vec<SqlWarning>,
    /// Entries of the running statement; they replace `warnings` when it
    /// ends.
    pub statement_warnings: Vec<SqlWarning>,
}

impl Session {
    /// Creates a session for the account `user`@`%` (`root` when `user`
    /// is empty) without checking a password.
    pub fn new(store: Arc<Mutex<Store>>, user: &str, database: Option<String>) -> Session {
        let user = if user.is_empty() { "root" } else { user };
        Session::for_account(store, UserIdentity::new(user, "%"), database)
    }

    /// Creates a session for an authenticated account. The session
    /// variables start from the current global values.
    pub fn for_account(
        store: Arc<Mutex<Store>>,
        identity: UserIdentity,
        database: Option<String>,
    ) -> Session {
        let server = store
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .server
            .clone();
        let vars = lock_server(&server).sysvars.new_session();
        let mut session = Session {
            store,
            user: identity.user.clone(),
            identity,
            server,
            database,
            user_vars: HashMap::new(),
            vars,
            time_zone: TimeZone::system(),
            txn: None,
            next_txn_as_of: None,
            snapshot: None,
            autocommit: true,
            warnings: Vec::new(),
            statement_warnings: Vec::new(),
        };
        session.apply_initial_vars();
        session
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

    /// Reads a system variable for `@@name`; `name` may carry a
    /// `global.`, `session.` or `local.` prefix.
    pub fn system_var(&self, name: &str) -> EngineResult<Value> {
        self.read_variable(name)
    }
}
