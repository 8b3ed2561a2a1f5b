//! A scripted target for runner tests: each SQL text maps to an outcome or
//! an error. Database statements the runner issues itself (SHOW, CREATE,
//! USE and DROP DATABASE) are handled by a small catalog of names, so the
//! per-case database logic runs for real. Unscripted SQL fails with 1105.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};

use harness::target::{
    Column, ColumnType, ConnectOptions, Connection, Outcome, ResultSet, SqlError, Target,
};

/// What the fake does for one SQL text.
#[derive(Clone)]
pub enum Reply {
    Rows(ResultSet),
    Affected(u64, String),
    Error(SqlError),
}

#[derive(Default)]
struct State {
    script: BTreeMap<String, Reply>,
    databases: BTreeSet<String>,
    /// Every statement executed, prefixed with the connection id.
    log: Vec<String>,
    connects: Vec<ConnectOptions>,
    /// Users the fake rejects at connect time, with the error.
    rejected_users: BTreeMap<String, SqlError>,
    /// Warnings returned by SHOW WARNINGS, per connection id.
    warnings: Vec<Vec<Option<String>>>,
}

/// A table-driven target.
#[derive(Clone, Default)]
pub struct FakeTarget {
    state: Arc<Mutex<State>>,
}

pub fn rows(columns: &[&str], data: &[&[Option<&str>]]) -> Reply {
    Reply::Rows(ResultSet {
        columns: columns
            .iter()
            .map(|name| Column {
                name: name.to_string(),
                column_type: ColumnType::Text,
            })
            .collect(),
        rows: data
            .iter()
            .map(|row| row.iter().map(|c| c.map(str::to_string)).collect())
            .collect(),
    })
}

pub fn int_rows(columns: &[&str], data: &[&[Option<&str>]]) -> Reply {
    let Reply::Rows(mut result) = rows(columns, data) else {
        unreachable!()
    };
    for column in &mut result.columns {
        column.column_type = ColumnType::Int;
    }
    Reply::Rows(result)
}

pub fn error(code: u16, sqlstate: &str, message: &str) -> Reply {
    Reply::Error(SqlError::new(code, sqlstate, message))
}

impl FakeTarget {
    pub fn new() -> FakeTarget {
        let target = FakeTarget::default();
        target
            .state
            .lock()
            .unwrap()
            .databases
            .insert("mysql".to_string());
        target
    }

    pub fn script(&self, sql: &str, reply: Reply) -> &Self {
        self.state
            .lock()
            .unwrap()
            .script
            .insert(sql.to_string(), reply);
        self
    }

    pub fn reject_user(&self, user: &str, err: SqlError) {
        self.state
            .lock()
            .unwrap()
            .rejected_users
            .insert(user.to_string(), err);
    }

    pub fn set_warnings(&self, warnings: &[&[Option<&str>]]) {
        self.state.lock().unwrap().warnings = warnings
            .iter()
            .map(|row| row.iter().map(|c| c.map(str::to_string)).collect())
            .collect();
    }

    pub fn log(&self) -> Vec<String> {
        self.state.lock().unwrap().log.clone()
    }

    pub fn databases(&self) -> BTreeSet<String> {
        self.state.lock().unwrap().databases.clone()
    }

    pub fn connects(&self) -> Vec<ConnectOptions> {
        self.state.lock().unwrap().connects.clone()
    }
}

impl Target for FakeTarget {
    fn connect(&self, options: &ConnectOptions) -> Result<Box<dyn Connection>, SqlError> {
        let mut state = self.state.lock().unwrap();
        if let Some(err) = state.rejected_users.get(&options.user) {
            return Err(err.clone());
        }
        state.connects.push(options.clone());
        let id = state.connects.len();
        Ok(Box::new(FakeConnection {
            id,
            state: self.state.clone(),
        }))
    }

    fn name(&self) -> String {
        "fake".to_string()
    }
}

struct FakeConnection {
    id: usize,
    state: Arc<Mutex<State>>,
}

impl Connection for FakeConnection {
    fn execute(&mut self, sql: &str) -> Result<Outcome, SqlError> {
        let mut state = self.state.lock().unwrap();
        state.log.push(format!("{}: {sql}", self.id));

        if sql == "SHOW DATABASES" {
            let rows = state
                .databases
                .iter()
                .map(|name| vec![Some(name.clone())])
                .collect();
            return Ok(Outcome::Rows(ResultSet {
                columns: vec![Column {
                    name: "Database".into(),
                    column_type: ColumnType::Text,
                }],
                rows,
            }));
        }
        if sql == "SHOW WARNINGS" {
            let columns = ["Level", "Code", "Message"]
                .iter()
                .map(|name| Column {
                    name: name.to_string(),
                    column_type: ColumnType::Text,
                })
                .collect();
            return Ok(Outcome::Rows(ResultSet {
                columns,
                rows: state.warnings.clone(),
            }));
        }
        if let Some(name) = sql
            .strip_prefix("CREATE DATABASE IF NOT EXISTS ")
            .or_else(|| sql.strip_prefix("create database "))
        {
            state.databases.insert(name.trim_matches('`').to_string());
            return Ok(Outcome::Affected {
                rows: 0,
                info: String::new(),
            });
        }
        if let Some(name) = sql.strip_prefix("DROP DATABASE ") {
            state.databases.remove(name.trim_matches('`'));
            return Ok(Outcome::Affected {
                rows: 0,
                info: String::new(),
            });
        }
        if sql.starts_with("USE ") {
            return Ok(Outcome::Affected {
                rows: 0,
                info: String::new(),
            });
        }

        match state.script.get(sql) {
            Some(Reply::Rows(result)) => Ok(Outcome::Rows(result.clone())),
            Some(Reply::Affected(rows, info)) => Ok(Outcome::Affected {
                rows: *rows,
                info: info.clone(),
            }),
            Some(Reply::Error(err)) => Err(err.clone()),
            None => Err(SqlError::new(
                1105,
                "HY000",
                format!("fake target has no reply for {sql:?}"),
            )),
        }
    }
}
