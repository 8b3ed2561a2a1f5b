//! The reference SQL engine: an in-memory MVCC store under a TiDB-dialect
//! subset with MySQL semantics. See docs/engine.md for the supported
//! subset.

pub mod access;
pub mod account_syntax;
pub mod accounts;
mod admin;
pub mod aggregate;
pub mod authorize;
pub mod bind;
pub mod clock;
pub mod ddl;
pub mod decimal;
pub mod depth;
pub mod dml;
pub mod engine_config;
pub mod error;
pub mod explain;
pub mod expr;
pub mod frontend;
pub mod functions;
pub mod ident;
pub mod model_access;
pub mod model_cache;
pub mod model_ddl;
pub mod model_explain;
pub mod model_predict;
pub mod preparse;
pub mod query;
pub mod render;
pub mod schema;
pub mod server;
pub mod session;
pub mod storage;
pub mod system_tables;
pub mod time;
pub mod type_aggregation;
pub mod value;
pub mod variables;
pub mod warnings;

#[cfg(test)]
mod account_tests;
#[cfg(test)]
mod explain_tests;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod warning_tests;

use std::sync::{Arc, Mutex};

use crate::catalog::privileges::UserIdentity;
use crate::target::{ConnectOptions, Connection, Outcome, SessionStatus, SqlError, Target};
use server::{lock_server, SharedServer};
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

    fn server(&self) -> SharedServer {
        self.store
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .server
            .clone()
    }

    /// Authenticates a `mysql_native_password` login from `client_host`
    /// (`response` is the client's scramble of the password with `salt`),
    /// for a MySQL protocol front end. An empty `user` means `root`.
    /// Fails with 1045 for an unknown user or a wrong response.
    pub fn authenticate_native(
        &self,
        user: &str,
        client_host: &str,
        salt: &[u8],
        response: &[u8],
    ) -> Result<UserIdentity, SqlError> {
        lock_server(&self.server()).authenticate_native(user, client_host, salt, response)
    }

    /// The account that a login as `user` from `client_host` uses, if any.
    pub fn find_account(&self, user: &str, client_host: &str) -> Option<UserIdentity> {
        lock_server(&self.server())
            .privileges
            .find_account(user, client_host)
            .cloned()
    }

    /// Opens a session for an account that is already authenticated, such
    /// as one [`ReferenceTarget::authenticate_native`] returned. A default
    /// database must exist and the account must hold some privilege there.
    pub fn connect_as(
        &self,
        identity: UserIdentity,
        database: &str,
    ) -> Result<ReferenceConnection, SqlError> {
        let database = if database.is_empty() {
            None
        } else {
            Some(database.to_string())
        };
        let session = Session::for_account(self.store.clone(), identity, database.clone());
        if let Some(db) = &database {
            session.authorize_use(db)?;
            if session.lock().latest_catalog().database(db).is_none() {
                return Err(error::unknown_database(db));
            }
        }
        Ok(ReferenceConnection { session })
    }

    /// Creates an engine that runs models with `config`: one artifact
    /// loader, one ONNX backend and one MLflow sidecar pool shared by all
    /// its connections.
    pub fn with_config(
        config: engine_config::EngineConfig,
    ) -> Result<ReferenceTarget, engine_config::EngineConfigError> {
        let runtime = engine_config::ModelRuntime::new(config)?;
        let target = ReferenceTarget::default();
        target.lock_store().models.runtime = Some(Arc::new(runtime));
        Ok(target)
    }

    /// Makes every session use `settings` instead of the model system
    /// variables; `None` restores the variables.
    pub fn override_model_settings(&self, settings: Option<crate::catalog::ModelSettings>) {
        self.lock_store().models.settings_override = settings;
    }

    fn lock_store(&self) -> std::sync::MutexGuard<'_, Store> {
        self.store.lock().unwrap_or_else(|p| p.into_inner())
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
    /// Authenticates `options.user` with `options.password` as a client
    /// on 127.0.0.1 (1045 on failure) and opens a session.
    fn connect(&self, options: &ConnectOptions) -> Result<Box<dyn Connection>, SqlError> {
        let identity =
            lock_server(&self.server()).authenticate_password(&options.user, &options.password)?;
        Ok(Box::new(self.connect_as(identity, &options.database)?))
    }

    fn name(&self) -> String {
        "reference".into()
    }
}
