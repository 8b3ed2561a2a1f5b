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
pub mod engine_config;
pub mod error;
pub mod explain;
pub mod expr;
pub mod frontend;
pub mod functions;
pub mod model_access;
pub mod model_ddl;
pub mod model_explain;
pub mod model_predict;
pub mod preparse;
pub mod query;
pub mod render;
pub mod schema;
pub mod session;
pub mod storage;
pub mod system_tables;
pub mod time;
pub mod value;

#[cfg(test)]
mod tests;

use std::sync::{Arc, Mutex};

use crate::target::{ConnectOptions, Connection, Outcome, SqlError, Target};
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

    /// Makes checks of `privilege` fail for `user`, on top of the account
    /// checks.
    pub fn deny_model_privilege(&self, user: &str, privilege: crate::catalog::Privilege) {
        self.lock_store()
            .models
            .denied_privileges
            .push((user.to_string(), privilege));
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
