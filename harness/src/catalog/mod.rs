//! Server metadata the reference engine consults: the model catalog with
//! its MVCC versions, accounts and privileges, and system variables.
//!
//! No SQL is parsed here. The engine parses statements, then calls these
//! types with names, values and timestamps, and turns the typed errors into
//! [`SqlError`](crate::target::SqlError) with `?` or `.into()`.
//!
//! # Layout
//!
//! - [`models`]: `mysql.tidb_model` and `mysql.tidb_model_version` as MVCC
//!   histories; CREATE/ALTER/DROP MODEL, resolution at a read ts, SHOW
//!   CREATE MODEL.
//! - [`rows`]: those tables and the `INFORMATION_SCHEMA` model views as
//!   generic rows.
//! - [`privileges`]: accounts, GRANT/REVOKE, checks, SHOW GRANTS.
//! - [`sysvars`]: the system variable registry and values.
//! - [`tso`]: reading commit timestamps as TiDB TSOs.
//! - [`errors`]: every error with its MySQL code and SQLSTATE.

pub mod errors;
pub mod models;
pub mod privileges;
pub mod rows;
pub mod sysvars;
pub mod tso;

#[cfg(test)]
mod models_tests;
#[cfg(test)]
mod privileges_tests;
#[cfg(test)]
mod sysvars_tests;

pub use errors::{ModelError, PrivilegeError, SqlWarning, SysVarError};
pub use models::{
    CreateOutcome, DropOutcome, ModelCatalog, ModelColumn, ModelColumnType, ModelDefinition,
    ModelRow, ModelStatus, ModelVersionRow, ResolvedModel,
};
pub use privileges::{GrantLevel, NewUser, Privilege, PrivilegeList, Privileges, UserIdentity};
pub use rows::{ModelCacheRow, SystemColumn, SystemTable, SystemValue};
pub use sysvars::{ModelSettings, NullBehavior, SessionVars, SetScope, SetValue, SysVars};
