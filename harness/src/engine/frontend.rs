//! The statement front end: recognizes session, transaction and simple DDL
//! statements itself, rewrites TiDB syntax, and hands the rest to
//! sqlparser (MySQL dialect).

use std::sync::Arc;

use sqlparser::ast::{self, Statement};
use sqlparser::dialect::MySqlDialect;
use sqlparser::parser::Parser;
use sqlparser::tokenizer::Token;

use super::bind::Scope;
use super::ddl;
use super::dml;
use super::error::{self, EngineResult};
use super::explain;
use super::expr::EvalContext;
use super::model_explain::{self, ExplainMode};
use super::model_predict;
use super::preparse::{self, Lexeme};
use super::query::{self, ReadContext};
use super::session::{Session, Transaction};
use super::storage::{Store, WriteSet};
use super::value::Value;
use crate::catalog::privileges::Privilege;
use crate::target::{Column, ColumnType, Outcome, ResultSet};

fn affected(rows: u64) -> Outcome {
    Outcome::Affected {
        rows,
        info: String::new(),
    }
}

fn text_rows(name: &str, values: Vec<String>) -> Outcome {
    Outcome::Rows(ResultSet {
        columns: vec![Column {
            name: name.into(),
            column_type: ColumnType::Text,
        }],
        rows: values.into_iter().map(|v| vec![Some(v)]).collect(),
    })
}

/// Maps a sqlparser error to TiDB's 1064 message form, at the token whose
/// 1-based line and column sqlparser reports.
fn parse_error(sql: &str, error: sqlparser::parser::ParserError) -> error::SqlError {
    error::syntax_at(sql, parse_error_offset(sql, &error))
}

/// Returns the byte offset in `sql` of the token at the line and column
/// that a sqlparser error reports, or the end of `sql` when it reports
/// none.
fn parse_error_offset(sql: &str, error: &sqlparser::parser::ParserError) -> usize {
    let message = error.to_string();
    let position = message.rsplit_once("Line: ").and_then(|(_, tail)| {
        let (line, column) = tail.split_once(", Column: ")?;
        let line = line.trim().parse::<usize>().ok()?;
        let column = column.trim().parse::<usize>().ok()?;
        Some((line, column))
    });
    let Some((line, column)) = position else {
        return sql.len();
    };
    let line_start = sql
        .match_indices('\n')
        .nth(line.saturating_sub(2))
        .filter(|_| line > 1)
        .map_or(0, |(i, _)| i + 1);
    sql[line_start..]
        .char_indices()
        .nth(column.saturating_sub(1))
        .map_or(sql.len(), |(i, _)| line_start + i)
}

fn unquote(name: &str) -> String {
    super::ident::unquote(name)
}

impl Session {
    /// Executes one statement. Statements other than `SHOW WARNINGS` and
    /// the other diagnostic statements replace the session's warning list
    /// with their own notes, warnings and error.
    pub fn execute(&mut self, sql: &str) -> EngineResult<Outcome> {
        let trimmed = sql.trim().trim_end_matches(';').trim();
        if let Ok(lexemes) = preparse::lex(trimmed) {
            if let Some(diagnostic) = super::warnings::diagnostic(&lexemes) {
                return Ok(self.show_diagnostic(diagnostic));
            }
        }
        self.statement_warnings.clear();
        let result = self
            .execute_statement(trimmed)
            .map_err(|err| error::locate_syntax_error(trimmed, err));
        self.finish_statement(&result);
        result
    }

    fn execute_statement(&mut self, sql: &str) -> EngineResult<Outcome> {
        let lexemes = preparse::lex(sql)?;
        let Some(first) = lexemes.first().and_then(Lexeme::keyword) else {
            if lexemes.is_empty() {
                return Err(error::SqlError::new(1065, "42000", "Query was empty"));
            }
            return Err(error::syntax(sql));
        };
        let word = |i: usize| lexemes.get(i).and_then(Lexeme::keyword).unwrap_or_default();
        let rest_from = |i: usize| lexemes.get(i).map_or("", |l| &sql[l.start..]);

        if let Some(outcome) = self.execute_admin(&lexemes, sql)? {
            return Ok(outcome);
        }

        match first.as_str() {
            _ if super::model_ddl::is_model_statement(&lexemes) => {
                super::model_ddl::execute(self, &lexemes, sql)
            }
            "BEGIN" => {
                self.begin(false, None)?;
                Ok(affected(0))
            }
            "START" if word(1) == "TRANSACTION" => self.start_transaction(&lexemes, sql),
            "COMMIT" => {
                self.commit()?;
                Ok(affected(0))
            }
            "ROLLBACK" => {
                self.rollback();
                Ok(affected(0))
            }
            "SET" if word(1) == "TRANSACTION" => self.set_transaction(&lexemes, sql),
            "SET" => self.set_variables(rest_from(1)),
            "USE" => {
                let name = unquote(rest_from(1).trim());
                self.authorize_use(&name)?;
                if self.lock().latest_catalog().database(&name).is_none() {
                    return Err(error::unknown_database(&name));
                }
                self.database = Some(name);
                Ok(affected(0))
            }
            "CREATE" | "DROP" if matches!(word(1).as_str(), "DATABASE" | "SCHEMA") => {
                let (if_clause, name_at) =
                    match (word(2).as_str(), word(3).as_str(), word(4).as_str()) {
                        ("IF", "NOT", "EXISTS") => (true, 5),
                        ("IF", "EXISTS", _) => (true, 4),
                        _ => (false, 2),
                    };
                if lexemes.len() != name_at + 1 {
                    return Err(error::syntax(rest_from(name_at.min(lexemes.len()))));
                }
                let name = unquote(&sql[lexemes[name_at].start..lexemes[name_at].end]);
                let privilege = if first == "CREATE" {
                    Privilege::Create
                } else {
                    Privilege::Drop
                };
                self.authorize_database(privilege, &name)?;
                self.before_ddl()?;
                let mut store = self.lock();
                if first == "CREATE" {
                    let note = ddl::create_database(&mut store, &name, if_clause)?;
                    drop(store);
                    if let Some(note) = note {
                        self.warn(note);
                    }
                } else {
                    let note = ddl::drop_database(&mut store, &name, if_clause)?;
                    super::model_ddl::drop_database_models(&mut store, &name, &self.user)?;
                    drop(store);
                    if let Some(note) = note {
                        self.warn(note);
                    }
                    if self
                        .database
                        .as_deref()
                        .is_some_and(|d| d.eq_ignore_ascii_case(&name))
                    {
                        self.database = None;
                    }
                }
                Ok(affected(if first == "DROP" { 0 } else { 1 }))
            }
            "DROP" if word(1) == "TABLE" => {
                let (if_exists, from) = if word(2) == "IF" && word(3) == "EXISTS" {
                    (true, 4)
                } else {
                    (false, 2)
                };
                let mut names = Vec::new();
                for part in rest_from(from).split(',') {
                    names.push(self.qualify(part.trim())?);
                }
                if names.is_empty() {
                    return Err(error::syntax(sql));
                }
                for (db, table) in &names {
                    self.authorize_table(Privilege::Drop, db, table)?;
                }
                self.before_ddl()?;
                let notes = ddl::drop_tables(&mut self.lock(), &names, if_exists)?;
                for note in notes {
                    self.warn(note);
                }
                Ok(affected(0))
            }
            "TRUNCATE" => {
                let from = if word(1) == "TABLE" { 2 } else { 1 };
                let (db, table) = self.qualify(rest_from(from).trim())?;
                self.authorize_table(Privilege::Drop, &db, &table)?;
                self.before_ddl()?;
                ddl::truncate(&mut self.lock(), &db, &table)?;
                Ok(affected(0))
            }
            "SHOW" => self.show(&lexemes, sql),
            "EXPLAIN" | "DESC" | "DESCRIBE" => {
                let mut i = 1;
                let mut mode = ExplainMode::Plan;
                if word(1) == "ANALYZE" {
                    mode = ExplainMode::Analyze;
                    i = 2;
                }
                if word(i) == "FORMAT" {
                    let format = match lexemes.get(i + 2).map(|l| &l.token) {
                        Some(Token::SingleQuotedString(s)) | Some(Token::DoubleQuotedString(s)) => {
                            s.to_ascii_lowercase()
                        }
                        _ => return Err(error::syntax(rest_from(1))),
                    };
                    if format != "brief" && format != "row" {
                        return Err(error::unsupported(format!("EXPLAIN FORMAT='{format}'")));
                    }
                    i += 3;
                }
                if word(i) != "SELECT" {
                    return Err(error::unsupported(
                        "EXPLAIN of statements other than SELECT",
                    ));
                }
                self.data_statement(rest_from(i), mode)
            }
            "SELECT" | "INSERT" | "UPDATE" | "DELETE" | "WITH" => {
                self.data_statement(sql, ExplainMode::None)
            }
            "CREATE" if word(1) == "TABLE" => self.data_statement(sql, ExplainMode::None),
            _ => {
                let what = lexemes
                    .iter()
                    .take(2)
                    .filter_map(Lexeme::keyword)
                    .collect::<Vec<_>>()
                    .join(" ");
                Err(error::unsupported(format!("the statement {what}")))
            }
        }
    }

    fn qualify(&self, name: &str) -> EngineResult<(String, String)> {
        let parts: Vec<String> = name.split('.').map(|p| unquote(p.trim())).collect();
        match parts.as_slice() {
            [t] if !t.is_empty() => Ok((
                self.database.clone().ok_or_else(error::no_database)?,
                t.clone(),
            )),
            [d, t] => Ok((d.clone(), t.clone())),
            _ => Err(error::syntax(name)),
        }
    }

    /// Checks that DDL may run and commits the open transaction, as DDL
    /// implicitly does in MySQL.
    pub(super) fn before_ddl(&mut self) -> EngineResult<()> {
        if self.snapshot.is_some() {
            return Err(error::snapshot_write());
        }
        self.commit()
    }

    /// Evaluates a constant expression (no columns) at the current time.
    pub(super) fn eval_constant(&self, text: &str) -> EngineResult<Value> {
        let dialect = MySqlDialect {};
        let mut parser = Parser::new(&dialect)
            .try_with_sql(text)
            .map_err(|e| parse_error(text, e))?;
        let expr = parser.parse_expr().map_err(|e| parse_error(text, e))?;
        if parser.peek_token().token != Token::EOF {
            return Err(error::syntax(text));
        }
        let now = self.lock().tick();
        let eval = self.eval_context(now, false);
        let scope = Scope::default();
        let sysvar = |name: &str| self.system_var(name);
        let mut binder = super::bind::Binder {
            scope: &scope,
            user_vars: &self.user_vars,
            system_var: &sysvar,
            clause: "field list",
            agg: None,
            saw_aggregate: false,
            allow_aggregates: false,
            has_group_by: false,
            select_position: 0,
        };
        let bound = binder.bind(&expr)?;
        Ok(bound
            .eval(&eval, &[Vec::new()])?
            .pop()
            .unwrap_or(Value::Null))
    }

    pub(super) fn eval_context(&self, now_ts: u64, strict_division: bool) -> EvalContext {
        EvalContext {
            now: self.time_zone.from_utc_micros(now_ts as i64, 6),
            database: self.database.clone(),
            user: self.user.clone(),
            strict_division,
            models: None,
        }
    }

    fn start_transaction(&mut self, lexemes: &[Lexeme], sql: &str) -> EngineResult<Outcome> {
        let words: Vec<String> = lexemes
            .iter()
            .skip(2)
            .take(5)
            .filter_map(Lexeme::keyword)
            .collect();
        let words: Vec<&str> = words.iter().map(String::as_str).collect();
        match words.as_slice() {
            [] | ["WITH", "CONSISTENT", "SNAPSHOT", ..] | ["READ", "WRITE", ..] => {
                self.begin(false, None)?
            }
            ["READ", "ONLY", "AS", "OF", "TIMESTAMP"] => {
                let Some(expr_start) = lexemes.get(7) else {
                    return Err(error::syntax(sql));
                };
                let value = self.eval_constant(&sql[expr_start.start..])?;
                let ts = {
                    let store = self.lock();
                    self.as_of_ts(&store, &value)?
                };
                self.begin(true, Some(ts))?;
            }
            ["READ", "ONLY"] => self.begin(true, None)?,
            _ => return Err(error::syntax(sql)),
        }
        Ok(affected(0))
    }

    fn set_transaction(&mut self, lexemes: &[Lexeme], sql: &str) -> EngineResult<Outcome> {
        let words: Vec<String> = lexemes
            .iter()
            .skip(2)
            .take(6)
            .filter_map(Lexeme::keyword)
            .collect();
        let words: Vec<&str> = words.iter().map(String::as_str).collect();
        match words.as_slice() {
            ["READ", "ONLY", "AS", "OF", "TIMESTAMP", ..] => {
                if self.txn.as_ref().is_some_and(|t| t.explicit) {
                    return Err(error::invalid_as_of(
                        "as of timestamp can't be set in transaction.",
                    ));
                }
                let Some(expr_start) = lexemes.get(7) else {
                    return Err(error::syntax(sql));
                };
                let value = self.eval_constant(&sql[expr_start.start..])?;
                let ts = {
                    let store = self.lock();
                    self.as_of_ts(&store, &value)?
                };
                self.next_txn_as_of = Some(ts);
                Ok(affected(0))
            }
            ["ISOLATION", "LEVEL", "REPEATABLE", "READ", ..] => Ok(affected(0)),
            _ => Err(error::unsupported(format!(
                "`{sql}` (only READ ONLY AS OF TIMESTAMP and REPEATABLE READ)"
            ))),
        }
    }

    fn show(&mut self, lexemes: &[Lexeme], sql: &str) -> EngineResult<Outcome> {
        let word = |i: usize| lexemes.get(i).and_then(Lexeme::keyword).unwrap_or_default();
        let catalog = {
            let store = self.lock();
            let ts = self.snapshot.unwrap_or_else(|| store.now());
            store.catalog_at(ts).unwrap_or_default()
        };
        match (word(1).as_str(), word(2).as_str()) {
            ("DATABASES", _) if lexemes.len() == 2 => {
                let mut names: Vec<String> =
                    catalog.databases.values().map(|d| d.name.clone()).collect();
                names.extend(["INFORMATION_SCHEMA".to_string()]);
                names.sort();
                Ok(text_rows("Database", names))
            }
            ("TABLES", _) if lexemes.len() == 2 => {
                let db = self.database.clone().ok_or_else(error::no_database)?;
                let database = catalog
                    .database(&db)
                    .ok_or_else(|| error::unknown_database(&db))?;
                let names = database.tables.values().map(|t| t.name.clone()).collect();
                Ok(text_rows(&format!("Tables_in_{db}"), names))
            }
            ("CREATE", "TABLE") => {
                let name = lexemes.get(3).map_or("", |l| &sql[l.start..]);
                let (db, table) = self.qualify(name.trim())?;
                let def = catalog
                    .table(&db, &table)
                    .ok_or_else(|| error::no_such_table(&db, &table))?;
                Ok(Outcome::Rows(ResultSet {
                    columns: vec![
                        Column {
                            name: "Table".into(),
                            column_type: ColumnType::Text,
                        },
                        Column {
                            name: "Create Table".into(),
                            column_type: ColumnType::Text,
                        },
                    ],
                    rows: vec![vec![
                        Some(def.name.clone()),
                        Some(ddl::show_create_table(def)),
                    ]],
                }))
            }
            _ => Err(error::unsupported(format!("`{sql}`"))),
        }
    }

    /// SELECT, INSERT, UPDATE, DELETE, CREATE TABLE, and EXPLAIN SELECT.
    fn data_statement(&mut self, sql: &str, explain: ExplainMode) -> EngineResult<Outcome> {
        let (without_as_of, as_of_exprs, as_of_map) = preparse::extract_as_of(sql)?;
        let item_texts = preparse::select_item_texts(&without_as_of)?;
        let (rewritten, model_map) = preparse::rewrite_model_predict_mapped(&without_as_of)?;
        let dialect = MySqlDialect {};
        // A syntax error is found in the rewritten text but reported at
        // its place in the statement as written.
        // sqlparser counts nested parentheses, unary operators and
        // subqueries against its recursion limit (50 by default). The
        // engine allows the same depth as its own expression guard.
        let parsed = Parser::new(&dialect)
            .with_recursion_limit(super::bind::MAX_EXPR_DEPTH)
            .try_with_sql(&rewritten)
            .and_then(|mut parser| parser.parse_statements());
        let mut statements = parsed.map_err(|e| {
            if matches!(e, sqlparser::parser::ParserError::RecursionLimitExceeded) {
                return super::depth::too_deep();
            }
            let offset = parse_error_offset(&rewritten, &e);
            error::syntax_at(
                sql,
                as_of_map.source_offset(model_map.source_offset(offset)),
            )
        })?;
        if statements.len() != 1 {
            return Err(error::unsupported("several statements in one call"));
        }
        let statement = super::depth::check_statement(statements.remove(0))?;
        self.authorize_statement(&statement)?;

        if let Statement::CreateTable(create) = &statement {
            let db = match create.name.0.as_slice() {
                [_] => self.database.clone().ok_or_else(error::no_database)?,
                [d, _] => unquote(&d.to_string()),
                _ => return Err(error::syntax(sql)),
            };
            self.before_ddl()?;
            let now = self.lock().tick();
            let eval = self.eval_context(now, true);
            let note = ddl::create_table(&mut self.lock(), create, &db, &eval)?;
            if let Some(note) = note {
                self.warn(note);
            }
            return Ok(affected(0));
        }
        let is_write = match &statement {
            Statement::Query(_) => false,
            Statement::Insert(_) | Statement::Update(_) | Statement::Delete(_) => true,
            other => return Err(error::unsupported(format!("the statement `{other}`"))),
        };

        // Model switches and privileges are checked before the store is
        // locked, because the checks read shared state themselves.
        let model_calls = model_predict::scan_calls(&rewritten, self.database.as_deref())?;
        let model_calls = model_predict::check_access(self, model_calls)?;
        let model_settings = super::model_access::model_settings(self);

        // Resolve the read timestamp.
        let store_handle = self.store.clone();
        let mut store = store_handle.lock().unwrap_or_else(|p| p.into_inner());
        let statement_ts = store.tick();
        if let Some(runtime) = &store.models.runtime {
            super::model_cache::apply_settings(runtime, &model_settings, statement_ts);
        }
        let mut read_ts = statement_ts;
        let mut read_only = false;
        let mut stale = false;
        if !as_of_exprs.is_empty() {
            if self.txn.as_ref().is_some_and(|t| t.explicit) {
                return Err(error::invalid_as_of(
                    "as of timestamp can't be set in transaction.",
                ));
            }
            if self.next_txn_as_of.is_some() {
                return Err(error::invalid_as_of(
                    "can't use select as of while already set transaction as of",
                ));
            }
            drop(store);
            let mut timestamps = Vec::new();
            for text in &as_of_exprs {
                let value = self.eval_constant(text)?;
                let guard = store_handle.lock().unwrap_or_else(|p| p.into_inner());
                timestamps.push(self.as_of_ts(&guard, &value)?);
            }
            store = store_handle.lock().unwrap_or_else(|p| p.into_inner());
            let table_refs = match &statement {
                Statement::Query(q) => count_table_refs(q),
                _ => usize::MAX,
            };
            if timestamps.windows(2).any(|w| w[0] != w[1]) || timestamps.len() != table_refs {
                return Err(error::different_as_of());
            }
            read_ts = timestamps[0];
            read_only = true;
            stale = true;
        } else if let Some(txn) = &self.txn {
            read_ts = txn.read_ts;
            read_only = txn.read_only;
            stale = txn.stale;
        } else if let Some(ts) = self.next_txn_as_of.take() {
            read_ts = ts;
            read_only = true;
            stale = true;
        } else if let Some(ts) = self.snapshot {
            read_ts = ts;
            if is_write {
                return Err(error::snapshot_write());
            }
        }
        if is_write && (read_only || stale) {
            return Err(error::read_only_transaction());
        }
        if is_write && self.snapshot.is_some() {
            return Err(error::snapshot_write());
        }
        if !self.autocommit && self.txn.is_none() && !stale {
            self.txn = Some(Transaction {
                start_ts: statement_ts,
                read_ts: statement_ts,
                writes: WriteSet::default(),
                read_only: false,
                stale: false,
                explicit: false,
            });
        }

        // Before the first schema version no table exists, so reads fail
        // with 1146.
        let catalog = store.catalog_at(read_ts).unwrap_or_default();

        // The statement runs on a view of the store. Reads and statements
        // that call a model release the store lock first, so a slow model
        // blocks no other session. Other writes keep it until they commit,
        // so an autocommit write stays atomic as before.
        let view = store.view();
        let calls_model = model_calls.calls_any();
        let mut held_lock = if is_write && !calls_model {
            Some(store)
        } else {
            drop(store);
            None
        };
        let mut eval = self.eval_context(statement_ts, false);
        eval.models = Some(Arc::new(model_predict::prepare(
            &view,
            model_calls,
            read_ts,
            statement_ts,
            self.time_zone.clone(),
        )?));
        let sysvar = |name: &str| self.system_var(name);

        if !is_write {
            let writes = self.txn.as_ref().map(|t| &t.writes);
            let ctx = ReadContext {
                store: &view,
                catalog,
                read_ts,
                writes,
                database: self.database.clone(),
                eval,
                user_vars: &self.user_vars,
                system_var: &sysvar,
            };
            let Statement::Query(query) = &statement else {
                return Err(error::unsupported("this statement"));
            };
            match explain {
                ExplainMode::None => {}
                ExplainMode::Plan => {
                    let plan = query::plan_query(&ctx, query, &item_texts)?;
                    return Ok(Outcome::Rows(explain::render(&explain::build(&ctx, &plan))));
                }
                ExplainMode::Analyze => {
                    let plan = query::plan_query(&ctx, query, &item_texts)?;
                    return model_explain::analyze(&ctx, &plan).map(Outcome::Rows);
                }
            }
            return query::run_select(&ctx, query, &item_texts).map(Outcome::Rows);
        }

        // Writes go to the transaction's write set, or to a statement
        // write set committed right away in autocommit mode. A failed
        // statement leaves the transaction's writes as they were.
        let in_txn = self.txn.is_some();
        let start_ts = self.txn.as_ref().map_or(statement_ts, |t| t.start_ts);
        let mut writes = self
            .txn
            .as_ref()
            .map(|t| t.writes.clone())
            .unwrap_or_default();
        let outcome = {
            let ctx = ReadContext {
                store: &view,
                catalog,
                read_ts,
                writes: None,
                database: self.database.clone(),
                eval,
                user_vars: &self.user_vars,
                system_var: &sysvar,
            };
            run_write(&ctx, &mut writes, &statement)?
        };
        // The view shares table data with the store; dropping it first
        // spares the commit a copy of every written table.
        drop(view);
        if in_txn {
            if let Some(txn) = self.txn.as_mut() {
                txn.writes = writes;
            }
        } else if !writes.is_empty() {
            // A write that called a model committed nothing while the lock
            // was released, so a row another session changed meanwhile is
            // a write conflict (9007), as in TiDB's optimistic mode.
            let mut store = match held_lock.take() {
                Some(store) => store,
                None => store_handle.lock().unwrap_or_else(|p| p.into_inner()),
            };
            commit_now(&mut store, start_ts, writes)?;
        }
        Ok(outcome)
    }
}

fn commit_now(store: &mut Store, start_ts: u64, writes: WriteSet) -> EngineResult<()> {
    store.commit(start_ts, writes).map(|_| ())
}

fn run_write(
    ctx: &ReadContext,
    writes: &mut WriteSet,
    statement: &Statement,
) -> EngineResult<Outcome> {
    match statement {
        Statement::Insert(insert) => {
            let rows = dml::insert(ctx, writes, insert)?;
            let multi = matches!(insert.source.as_deref().map(|s| s.body.as_ref()), Some(ast::SetExpr::Values(v)) if v.rows.len() > 1)
                || !matches!(
                    insert.source.as_deref().map(|s| s.body.as_ref()),
                    Some(ast::SetExpr::Values(_))
                );
            let info = if multi {
                format!("Records: {rows}  Duplicates: 0  Warnings: 0")
            } else {
                String::new()
            };
            Ok(Outcome::Affected { rows, info })
        }
        Statement::Update(update) => {
            let (matched, changed) = dml::update(ctx, writes, update)?;
            Ok(Outcome::Affected {
                rows: changed,
                info: format!("Rows matched: {matched}  Changed: {changed}  Warnings: 0"),
            })
        }
        Statement::Delete(delete) => Ok(affected(dml::delete(ctx, writes, delete)?)),
        other => Err(error::unsupported(format!("the statement `{other}`"))),
    }
}

fn count_table_refs(query: &ast::Query) -> usize {
    match query.body.as_ref() {
        ast::SetExpr::Select(select) => select.from.iter().map(|t| 1 + t.joins.len()).sum(),
        _ => 0,
    }
}
