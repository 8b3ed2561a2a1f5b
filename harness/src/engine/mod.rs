//! The reference SQL engine: an in-memory MVCC store under a TiDB-dialect
//! subset with MySQL semantics. See docs/engine.md for the supported
//! subset.

pub mod access;
pub mod aggregate;
pub mod bind;
pub mod clock;
pub mod ddl;
pub mod decimal;
pub mod dml;
pub mod error;
pub mod explain;
pub mod expr;
pub mod frontend;
pub mod functions;
pub mod preparse;
pub mod query;
pub mod render;
pub mod schema;
pub mod session;
pub mod storage;
pub mod time;
pub mod value;

#[cfg(test)]
mod tests;

use std::sync::{Arc, Mutex};

use crate::target::{ConnectOptions, Connection, Outcome, SessionStatus, SqlError, Target};
use session::Session;
use storage::Store;

/// The embedded reference engine as a [`Target`]. Connections share one
/// store; each has its own [`Session`].
#[derive(Debug, Clone, Default)]
pub struct ReferenceTarget {
    store: Arc<Mutex<Store>>,
}

impl ReferenceTarget {
    /// Creates an engine with an empty `test` database.
    pub fn new() -> ReferenceTarget {
        ReferenceTarget::default()
    }
}

/// A connection to the reference engine.
#[derive(Debug)]
pub struct ReferenceConnection {
    session: Session,
}

impl Connection for ReferenceConnection {
    fn execute(&mut self, sql: &str) -> Result<Outcome, SqlError> {
        self.session.execute(sql)
    }

    fn status(&self) -> SessionStatus {
        SessionStatus {
            autocommit: self.session.autocommit,
            in_transaction: self.session.txn.is_some(),
        }
    }
}

impl Target for ReferenceTarget {
    fn connect(&self, options: &ConnectOptions) -> Result<Box<dyn Connection>, SqlError> {
        let database = if options.database.is_empty() {
            None
        } else {
            Some(options.database.clone())
        };
        if let Some(db) = &database {
            let store = self.store.lock().unwrap_or_else(|p| p.into_inner());
            if store.latest_catalog().database(db).is_none() {
                return Err(error::unknown_database(db));
            }
        }
        Ok(Box::new(ReferenceConnection {
            session: Session::new(self.store.clone(), &options.user, database),
        }))
    }

    fn name(&self) -> String {
        "reference".into()
    }
}
