//! Privilege checks of the session's account before a statement runs:
//! table privileges for SELECT, INSERT, UPDATE, DELETE and table DDL
//! (1142), database privileges for CREATE and DROP DATABASE and for USE
//! (1044).
//!
//! Checks run before the objects are looked up, so a user without the
//! privilege gets the access error even for a missing table, as in MySQL.
//! `INFORMATION_SCHEMA` is readable by every account.

use sqlparser::ast::{self, Statement};

use crate::catalog::privileges::Privilege;
use crate::catalog::PrivilegeError;

use super::error::EngineResult;
use super::server::lock_server;
use super::session::Session;

const INFORMATION_SCHEMA: &str = "information_schema";

fn name_parts(name: &ast::ObjectName) -> Vec<String> {
    name.0
        .iter()
        .map(|part| super::ident::unquote(&part.to_string()))
        .collect()
}

impl Session {
    /// Checks a table privilege on `db.table`; 1142 when denied.
    pub(super) fn authorize_table(
        &self,
        privilege: Privilege,
        db: &str,
        table: &str,
    ) -> EngineResult<()> {
        if db.eq_ignore_ascii_case(INFORMATION_SCHEMA) {
            return self.authorize_information_schema(privilege, table);
        }
        if super::system_tables::lookup(db, table).is_some() && privilege != Privilege::Select {
            // NOTE: TiDB stores these as ordinary tables, so root can write
            // them there. The engine builds them from the model catalog and
            // has no storage to write to.
            return Err(super::error::unsupported(format!(
                "{} on the model system table {db}.{table}; change models with \
                 CREATE, ALTER and DROP MODEL",
                privilege.as_str()
            )));
        }
        lock_server(&self.server)
            .privileges
            .check_table(&self.identity, privilege, db, table)?;
        Ok(())
    }

    /// Allows SELECT on `INFORMATION_SCHEMA` to every account and denies
    /// every other table privilege, root included, with 1142. TiDB's
    /// privilege manager (`RequestVerification`) rejects CREATE, ALTER,
    /// DROP, INDEX, CREATE VIEW, INSERT, UPDATE and DELETE on its memory
    /// databases this way.
    fn authorize_information_schema(&self, privilege: Privilege, table: &str) -> EngineResult<()> {
        if privilege == Privilege::Select {
            return Ok(());
        }
        Err(PrivilegeError::TableAccessDenied {
            privilege: privilege.as_str().to_string(),
            user: self.identity.user.clone(),
            host: self.identity.host.clone(),
            table: table.to_lowercase(),
        }
        .into())
    }

    /// Checks a database privilege (CREATE or DROP DATABASE); 1044 when
    /// denied. `INFORMATION_SCHEMA` and `mysql` are denied to every
    /// account, root included, because the engine keeps its system tables
    /// there. MySQL and TiDB reject CREATE or DROP of INFORMATION_SCHEMA
    /// with this 1044.
    pub(super) fn authorize_database(&self, privilege: Privilege, db: &str) -> EngineResult<()> {
        if db.eq_ignore_ascii_case(INFORMATION_SCHEMA) || db.eq_ignore_ascii_case("mysql") {
            return Err(PrivilegeError::DbAccessDenied {
                user: self.identity.user.clone(),
                host: self.identity.host.clone(),
                db: db.to_lowercase(),
            }
            .into());
        }
        lock_server(&self.server)
            .privileges
            .check_database(&self.identity, privilege, db)?;
        Ok(())
    }

    /// Checks that the account has some privilege in `db`, which `USE`
    /// and a connection's default database need. Fails with 1044 otherwise.
    pub(super) fn authorize_use(&self, db: &str) -> EngineResult<()> {
        if db.eq_ignore_ascii_case(INFORMATION_SCHEMA) {
            return Ok(());
        }
        lock_server(&self.server)
            .privileges
            .check_any_in_database(&self.identity, db)?;
        Ok(())
    }

    /// Checks the table privileges a parsed statement needs. A query
    /// needs SELECT on every table it reads. INSERT, UPDATE and DELETE
    /// need their privilege on the target, and UPDATE and DELETE with
    /// WHERE also need SELECT there, because they read the rows. CREATE
    /// TABLE needs CREATE.
    pub(super) fn authorize_statement(&self, statement: &Statement) -> EngineResult<()> {
        let mut needed: Vec<(Privilege, &ast::ObjectName)> = Vec::new();
        match statement {
            Statement::Query(query) => {
                for name in query_tables(query) {
                    needed.push((Privilege::Select, name));
                }
            }
            Statement::Insert(insert) => {
                if let ast::TableObject::TableName(name) = &insert.table {
                    needed.push((Privilege::Insert, name));
                }
                if let Some(source) = &insert.source {
                    for name in query_tables(source) {
                        needed.push((Privilege::Select, name));
                    }
                }
            }
            Statement::Update(update) => {
                let mut targets = Vec::new();
                joined_tables(&update.table, &mut targets);
                for name in &targets {
                    needed.push((Privilege::Update, *name));
                }
                if update.selection.is_some() {
                    for name in &targets {
                        needed.push((Privilege::Select, *name));
                    }
                }
            }
            Statement::Delete(delete) => {
                let from = match &delete.from {
                    ast::FromTable::WithFromKeyword(from)
                    | ast::FromTable::WithoutKeyword(from) => from,
                };
                let mut targets = Vec::new();
                for table in from {
                    joined_tables(table, &mut targets);
                }
                for name in &targets {
                    needed.push((Privilege::Delete, *name));
                }
                if delete.selection.is_some() {
                    for name in &targets {
                        needed.push((Privilege::Select, *name));
                    }
                }
            }
            Statement::CreateTable(create) => needed.push((Privilege::Create, &create.name)),
            _ => {}
        }

        for (privilege, name) in needed {
            // A name without a database and no current database fails
            // later with 1046, as in MySQL.
            let (db, table) = match name_parts(name).as_slice() {
                [table] => match &self.database {
                    Some(db) => (db.clone(), table.clone()),
                    None => continue,
                },
                [db, table] => (db.clone(), table.clone()),
                _ => continue,
            };
            self.authorize_table(privilege, &db, &table)?;
        }
        Ok(())
    }
}

/// Collects the tables a query reads in its FROM clauses, derived tables
/// included.
fn query_tables(query: &ast::Query) -> Vec<&ast::ObjectName> {
    let mut names = Vec::new();
    set_expr_tables(&query.body, &mut names);
    names
}

fn set_expr_tables<'a>(body: &'a ast::SetExpr, names: &mut Vec<&'a ast::ObjectName>) {
    match body {
        ast::SetExpr::Select(select) => {
            for table in &select.from {
                joined_tables(table, names);
            }
        }
        ast::SetExpr::Query(query) => set_expr_tables(&query.body, names),
        ast::SetExpr::SetOperation { left, right, .. } => {
            set_expr_tables(left, names);
            set_expr_tables(right, names);
        }
        _ => {}
    }
}

fn joined_tables<'a>(table: &'a ast::TableWithJoins, names: &mut Vec<&'a ast::ObjectName>) {
    factor_tables(&table.relation, names);
    for join in &table.joins {
        factor_tables(&join.relation, names);
    }
}

fn factor_tables<'a>(factor: &'a ast::TableFactor, names: &mut Vec<&'a ast::ObjectName>) {
    match factor {
        ast::TableFactor::Table { name, .. } => names.push(name),
        ast::TableFactor::Derived { subquery, .. } => set_expr_tables(&subquery.body, names),
        ast::TableFactor::NestedJoin {
            table_with_joins, ..
        } => joined_tables(table_with_joins, names),
        _ => {}
    }
}
