//! The two things model statements ask of the session: the model system
//! variables in force, and whether the current user has a privilege.
//!
//! Model code calls only these functions, so accounts and system variables
//! can change underneath without touching it. Both lock only the server
//! state, never the store, so they may be called while a statement holds
//! the store lock.

use crate::catalog::privileges::Privilege;
use crate::catalog::sysvars::ModelSettings;
use crate::target::SqlError;

use super::server::lock_server;
use super::session::Session;

/// Returns the model settings (`tidb_enable_model_ddl`, `tidb_model_*`)
/// in force for this session. Every model variable is GLOBAL, so this reads the
/// global values shared by all sessions: a SET GLOBAL is seen by the next
/// call in any session.
pub fn model_settings(session: &Session) -> ModelSettings {
    lock_server(&session.server).sysvars.model_settings()
}

/// Checks that the session's user has `privilege` on `database` (and
/// `object`, a table or model name, where the privilege has that level).
///
/// - Model privileges (`CREATE MODEL`, `ALTER MODEL`, `DROP MODEL`,
///   `EXECUTE MODEL`) exist globally and per database, so `object` is not
///   consulted. A denial is 1227 naming the privilege. Without a database
///   (neither given nor current) only the global grant counts.
/// - Global-only privileges (SUPER, PROCESS, CREATE USER,
///   SYSTEM_VARIABLES_ADMIN) are 1227 too.
/// - Table privileges on an object are 1142, on a database 1044.
///
/// `database` defaults to the session's current database.
pub fn check_privilege(
    session: &Session,
    privilege: Privilege,
    database: Option<&str>,
    object: Option<&str>,
) -> Result<(), SqlError> {
    let database = database.or(session.database.as_deref());
    let server = lock_server(&session.server);
    let privileges = &server.privileges;
    let account = &session.identity;

    let is_model = matches!(
        privilege,
        Privilege::CreateModel
            | Privilege::AlterModel
            | Privilege::DropModel
            | Privilege::ExecuteModel
    );
    let result = match (database, object) {
        (Some(db), _) if is_model => privileges.check_model(account, privilege, db),
        (_, _) if is_model || !privilege.allowed_on_database() => {
            privileges.check_global(account, privilege)
        }
        (Some(db), Some(table)) => privileges.check_table(account, privilege, db, table),
        (Some(db), None) => privileges.check_database(account, privilege, db),
        (None, _) => privileges.check_global(account, privilege),
    };
    result.map_err(SqlError::from)
}
