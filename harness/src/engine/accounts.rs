//! Account statements: CREATE USER, DROP USER, SET PASSWORD, GRANT,
//! REVOKE and SHOW GRANTS, run against the shared
//! [`Privileges`](crate::catalog::privileges::Privileges).
//!
//! Like DDL, each statement commits an open transaction first, and fails
//! while `tidb_snapshot` is set. Changes apply at once to every session,
//! including sessions of the changed account.
//!
//! The notes 3162 and 3163 of `DROP USER IF EXISTS` and `CREATE USER IF
//! NOT EXISTS` go to the session's warning list.

use crate::catalog::privileges::{GrantLevel, Privilege, Privileges, UserIdentity};
use crate::target::{Column, ColumnType, Outcome, ResultSet};

use super::account_syntax::{AccountStatement, LevelSpec, UserSpec};
use super::error::{self, EngineResult};
use super::server::lock_server;
use super::session::Session;

fn done() -> Outcome {
    Outcome::Affected {
        rows: 0,
        info: String::new(),
    }
}

impl Session {
    /// Runs a parsed account statement.
    pub(super) fn execute_account(&mut self, statement: AccountStatement) -> EngineResult<Outcome> {
        if let AccountStatement::ShowGrants { user } = statement {
            return self.show_grants(user);
        }
        self.before_ddl()?;

        let actor = self.identity.clone();
        match statement {
            AccountStatement::CreateUser {
                if_not_exists,
                users,
            } => {
                let notes = lock_server(&self.server).privileges.create_users(
                    &actor,
                    &users,
                    if_not_exists,
                )?;
                for note in notes {
                    self.warn(note);
                }
            }
            AccountStatement::DropUser { if_exists, users } => {
                let users = self.resolve_users(&users);
                let notes = lock_server(&self.server)
                    .privileges
                    .drop_users(&actor, &users, if_exists)?;
                for note in notes {
                    self.warn(note);
                }
            }
            AccountStatement::SetPassword { user, password } => {
                let target = match user {
                    Some(user) => self.resolve_user(&user),
                    None => actor.clone(),
                };
                let mut server = lock_server(&self.server);
                server.privileges.set_password(&actor, &target, &password)?;
            }
            AccountStatement::Grant {
                privileges,
                level,
                users,
                with_grant_option,
            } => {
                let level = self.resolve_level(&level)?;
                let users = self.resolve_users(&users);
                let mut server = lock_server(&self.server);
                server
                    .privileges
                    .grant(&actor, &privileges, &level, &users, with_grant_option)?;
            }
            AccountStatement::Revoke {
                privileges,
                grant_option,
                level,
                users,
            } => {
                let level = self.resolve_level(&level)?;
                let users = self.resolve_users(&users);
                let mut server = lock_server(&self.server);
                server
                    .privileges
                    .revoke(&actor, &privileges, &level, &users, grant_option)?;
            }
            AccountStatement::ShowGrants { .. } => {}
        }
        Ok(done())
    }

    /// `SHOW GRANTS [FOR user]`. Another account's grants need SELECT on
    /// the `mysql` database, as in MySQL.
    fn show_grants(&self, user: Option<UserSpec>) -> EngineResult<Outcome> {
        let target = match user {
            Some(user) => self.resolve_user(&user),
            None => self.identity.clone(),
        };
        let server = lock_server(&self.server);
        if target != self.identity {
            server
                .privileges
                .check_database(&self.identity, Privilege::Select, "mysql")?;
        }
        let lines = server.privileges.show_grants(&target)?;
        Ok(Outcome::Rows(ResultSet {
            columns: vec![Column {
                name: Privileges::show_grants_header(&target),
                column_type: ColumnType::Text,
            }],
            rows: lines.into_iter().map(|line| vec![Some(line)]).collect(),
        }))
    }

    fn resolve_user(&self, user: &UserSpec) -> UserIdentity {
        match user {
            UserSpec::Named(identity) => identity.clone(),
            UserSpec::Current => self.identity.clone(),
        }
    }

    fn resolve_users(&self, users: &[UserSpec]) -> Vec<UserIdentity> {
        users.iter().map(|u| self.resolve_user(u)).collect()
    }

    /// Fills in the current database, and checks that a table named at
    /// table level exists (1146), as MySQL does.
    fn resolve_level(&self, level: &LevelSpec) -> EngineResult<GrantLevel> {
        let current = || self.database.clone().ok_or_else(error::no_database);
        let (db, table) = match level {
            LevelSpec::Global => return Ok(GrantLevel::Global),
            LevelSpec::CurrentDatabase => return Ok(GrantLevel::Database(current()?)),
            LevelSpec::Database(db) => return Ok(GrantLevel::Database(db.clone())),
            LevelSpec::Table(Some(db), table) => (db.clone(), table.clone()),
            LevelSpec::Table(None, table) => (current()?, table.clone()),
        };
        if self.lock().latest_catalog().table(&db, &table).is_none() {
            return Err(error::no_such_table(&db, &table));
        }
        Ok(GrantLevel::Table(db, table))
    }
}
