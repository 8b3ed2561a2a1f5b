//! System variables in SQL: `SET` of system and user variables, `@@x`
//! reads and `SHOW VARIABLES`, over the registry in `catalog::sysvars`.
//!
//! Global values live in the shared [`ServerState`](super::server), so SET
//! GLOBAL is seen by sessions opened afterwards. Three variables also
//! drive session state: `autocommit`, `time_zone` and `tidb_snapshot`.
//!
//! Warnings the registry returns, such as 1292 for a clamped integer, go
//! to the session's warning list.

use sqlparser::ast;
use sqlparser::dialect::MySqlDialect;
use sqlparser::parser::Parser;
use sqlparser::tokenizer::Token;

use crate::catalog::sysvars::{definition, SetScope, SetValue, SysVarDef, VarKind};
use crate::target::{Column, ColumnType, Outcome, ResultSet};

use super::bind::{Binder, Scope, ScopeColumn};
use super::error::{self, EngineResult};
use super::expr::like_match;
use super::preparse::{self, Lexeme};
use super::server::lock_server;
use super::session::Session;
use super::time::{DateTime, TimeZone};
use super::value::{SqlType, Value};

/// A `SHOW VARIABLES` filter.
#[derive(Debug, Clone, PartialEq)]
pub enum ShowFilter {
    /// No filter.
    None,
    /// `LIKE 'pattern'`, matched case-insensitively as MySQL does.
    Like(String),
    /// `WHERE <expr>` over the columns `Variable_name` and `Value`.
    Where(String),
}

/// Splits a `@@global.x`-style reference into its scope and name.
fn split_reference(reference: &str) -> (Option<SetScope>, String) {
    let lower = reference.trim().to_ascii_lowercase();
    match lower.split_once('.') {
        Some(("global", name)) => (Some(SetScope::Global), unquote(name)),
        Some(("session" | "local", name)) => (Some(SetScope::Session), unquote(name)),
        _ => (None, unquote(&lower)),
    }
}

fn unquote(name: &str) -> String {
    super::ident::unquote(name)
}

/// The value `SELECT @@x` returns: booleans as 1/0 and integers as
/// integers, as MySQL types them; everything else as text.
fn typed_value(def: &SysVarDef, stored: &str) -> Value {
    match def.kind {
        VarKind::Bool | VarKind::Int { .. } => def
            .select_text(stored)
            .parse::<i64>()
            .map(Value::Int)
            .unwrap_or_else(|_| Value::Str(stored.to_string())),
        _ => Value::Str(def.select_text(stored)),
    }
}

/// Converts an evaluated SET value to the registry's form.
fn set_value_of(value: Value) -> SetValue {
    match value {
        Value::Null => SetValue::Null,
        Value::Int(n) => SetValue::Int(n),
        Value::Float(f) => SetValue::Float(f as f64),
        Value::Double(f) => SetValue::Float(f),
        Value::Decimal(d) => SetValue::Float(d.to_f64()),
        Value::Str(s) => SetValue::Text(s),
        Value::DateTime(dt) => SetValue::Text(dt.render()),
    }
}

/// Returns why the engine cannot honour a stored value, or `None` when it
/// can.
fn unsupported_value(name: &str, stored: &str) -> Option<String> {
    match (name, stored) {
        ("transaction_read_only" | "tx_read_only", "ON") => {
            Some(format!("{name} = ON (use START TRANSACTION READ ONLY)"))
        }
        ("transaction_isolation" | "tx_isolation", level) if level != "REPEATABLE-READ" => Some(
            format!("{name} = '{level}' (only REPEATABLE-READ, as snapshot isolation)"),
        ),
        _ => None,
    }
}

/// Removes a leading `keyword` followed by whitespace, case-insensitively.
fn strip_keyword<'a>(text: &'a str, keyword: &str) -> Option<&'a str> {
    let head = text.get(..keyword.len())?;
    let rest = &text[keyword.len()..];
    (head.eq_ignore_ascii_case(keyword) && rest.starts_with(char::is_whitespace))
        .then(|| rest.trim_start())
}

/// Removes a leading `prefix` case-insensitively.
fn strip_prefix_ci<'a>(text: &'a str, prefix: &str) -> Option<&'a str> {
    let head = text.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| &text[prefix.len()..])
}

/// Reads the scope and name of a SET target. A `GLOBAL`, `SESSION` or
/// `LOCAL` keyword also becomes the scope of later targets without one,
/// as in MySQL.
fn parse_target(target: &str, keyword_scope: &mut SetScope) -> EngineResult<(SetScope, String)> {
    let mut rest = target.trim();
    for (keyword, scope) in [
        ("GLOBAL", SetScope::Global),
        ("SESSION", SetScope::Session),
        ("LOCAL", SetScope::Session),
    ] {
        if let Some(after) = strip_keyword(rest, keyword) {
            *keyword_scope = scope;
            rest = after;
            break;
        }
    }

    let (scope, name) = if let Some(name) = strip_prefix_ci(rest, "@@global.") {
        (SetScope::Global, name)
    } else if let Some(name) =
        strip_prefix_ci(rest, "@@session.").or_else(|| strip_prefix_ci(rest, "@@local."))
    {
        (SetScope::Session, name)
    } else if let Some(name) = rest.strip_prefix("@@") {
        (SetScope::Session, name)
    } else {
        (*keyword_scope, rest)
    };

    let name = unquote(name).to_ascii_lowercase();
    let valid = !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '$');
    if !valid {
        return Err(error::syntax(target));
    }
    Ok((scope, name))
}

impl Session {
    /// Sets the session state that follows variables (`autocommit`,
    /// `time_zone`) from the values a new session starts with.
    pub(super) fn apply_initial_vars(&mut self) {
        let server = lock_server(&self.server);
        let stored = |name: &str| {
            server
                .sysvars
                .get(&self.vars, Some(SetScope::Session), name)
                .unwrap_or_default()
        };
        let autocommit = stored("autocommit") != "OFF";
        // SET GLOBAL time_zone accepts only zones TimeZone::parse accepts.
        let time_zone = TimeZone::parse(&stored("time_zone")).unwrap_or_else(TimeZone::system);
        drop(server);
        self.autocommit = autocommit;
        self.time_zone = time_zone;
    }

    /// Reads `@@x`, `@@global.x` or `@@session.x` (given without `@@`).
    pub(super) fn read_variable(&self, reference: &str) -> EngineResult<Value> {
        let (scope, name) = split_reference(reference);

        // The diagnostics counters are session state, not registry values.
        if scope != Some(SetScope::Global) {
            match name.as_str() {
                "warning_count" => return Ok(Value::Int(self.warning_count() as i64)),
                "error_count" => return Ok(Value::Int(self.error_count() as i64)),
                _ => {}
            }
        }
        let stored = lock_server(&self.server)
            .sysvars
            .get(&self.vars, scope, &name)?;

        // Inside a READ ONLY transaction the flag reads 1 whatever is stored.
        let in_read_only_txn = self.txn.as_ref().is_some_and(|t| t.read_only);
        if matches!(name.as_str(), "transaction_read_only" | "tx_read_only")
            && scope != Some(SetScope::Global)
            && in_read_only_txn
        {
            return Ok(Value::Int(1));
        }

        match definition(&name) {
            Some(def) => Ok(typed_value(def, &stored)),
            None => Ok(Value::Str(stored)),
        }
    }

    /// Runs `SET` with a list of assignments to user and system variables.
    pub(super) fn set_variables(&mut self, assignments: &str) -> EngineResult<Outcome> {
        let mut keyword_scope = SetScope::Session;
        for assignment in split_top_level(assignments)? {
            let lexemes = preparse::lex(&assignment)?;
            if lexemes.first().is_some_and(|l| l.is("NAMES")) {
                self.set_names(&lexemes, &assignment)?;
                continue;
            }
            let Some(eq) = lexemes
                .iter()
                .position(|l| matches!(l.token, Token::Eq | Token::Assignment))
            else {
                return Err(error::syntax(&assignment));
            };
            let target = assignment[..lexemes[eq].start].trim();
            let value_text = assignment[lexemes[eq].end..].trim();
            if value_text.is_empty() {
                return Err(error::syntax(&assignment));
            }

            if let Some(name) = target.strip_prefix('@').filter(|n| !n.starts_with('@')) {
                let value = self.eval_constant(value_text)?;
                self.user_vars
                    .insert(unquote(name).to_ascii_lowercase(), value);
                continue;
            }

            let (scope, name) = parse_target(target, &mut keyword_scope)?;
            let value = self.set_value(&lexemes[eq + 1..], value_text)?;
            self.set_system_var(scope, &name, value)?;
        }
        Ok(Outcome::Affected {
            rows: 0,
            info: String::new(),
        })
    }

    /// Evaluates the right-hand side of a system variable assignment. A
    /// bare word is text (`ON`, `int_only`), except `DEFAULT` and `NULL`.
    fn set_value(&self, value_lexemes: &[Lexeme], value_text: &str) -> EngineResult<SetValue> {
        if let [Lexeme {
            token: Token::Word(word),
            ..
        }] = value_lexemes
        {
            if word.quote_style.is_none() && !word.value.starts_with('@') {
                return Ok(match word.value.to_ascii_uppercase().as_str() {
                    "DEFAULT" => SetValue::Default,
                    "NULL" => SetValue::Null,
                    _ => SetValue::Text(word.value.clone()),
                });
            }
        }
        Ok(set_value_of(self.eval_constant(value_text)?))
    }

    /// `SET NAMES charset [COLLATE collation]`: sets the client,
    /// connection and results character sets of the session.
    fn set_names(&mut self, lexemes: &[Lexeme], text: &str) -> EngineResult<()> {
        let word_or_string = |lexeme: Option<&Lexeme>| match lexeme.map(|l| &l.token) {
            Some(Token::Word(w)) if w.value.eq_ignore_ascii_case("DEFAULT") => {
                Some(SetValue::Default)
            }
            Some(Token::Word(w)) => Some(SetValue::Text(w.value.clone())),
            Some(Token::SingleQuotedString(s)) | Some(Token::DoubleQuotedString(s)) => {
                Some(SetValue::Text(s.clone()))
            }
            _ => None,
        };
        let charset = word_or_string(lexemes.get(1)).ok_or_else(|| error::syntax(text))?;
        let collation = match lexemes.get(2) {
            None => None,
            Some(l) if l.is("COLLATE") && lexemes.len() == 4 => {
                Some(word_or_string(lexemes.get(3)).ok_or_else(|| error::syntax(text))?)
            }
            Some(_) => return Err(error::syntax(text)),
        };

        for name in [
            "character_set_client",
            "character_set_connection",
            "character_set_results",
        ] {
            self.set_registry(SetScope::Session, name, charset.clone())?;
        }
        if let Some(collation) = collation {
            self.set_registry(SetScope::Session, "collation_connection", collation)?;
        }
        Ok(())
    }

    /// Sets one system variable and the session state that follows it.
    pub(super) fn set_system_var(
        &mut self,
        scope: SetScope,
        name: &str,
        value: SetValue,
    ) -> EngineResult<()> {
        // Time zones go through the engine's own parser first, because the
        // registry accepts any well-formed name and the engine supports only
        // fixed-offset zones.
        let zone = match (name, &value) {
            ("time_zone", SetValue::Text(text)) => {
                Some(TimeZone::parse(text.trim()).ok_or_else(|| error::unknown_time_zone(text))?)
            }
            ("time_zone", SetValue::Default) => Some(TimeZone::system()),
            _ => None,
        };

        if scope == SetScope::Global {
            self.set_registry(scope, name, value)?;
            return Ok(());
        }

        match name {
            "time_zone" => {
                self.set_registry(scope, name, value)?;
                if let Some(zone) = zone {
                    self.time_zone = zone;
                }
            }
            "autocommit" => {
                let on = self.set_registry(scope, name, value)? == "ON";
                if on {
                    self.commit()?;
                }
                self.autocommit = on;
            }
            "tidb_snapshot" => self.set_snapshot(value)?,
            _ => {
                self.set_registry(scope, name, value)?;
            }
        }
        Ok(())
    }

    /// `SET tidb_snapshot`: a datetime in the session time zone makes
    /// later reads use that time; `''` clears it.
    fn set_snapshot(&mut self, value: SetValue) -> EngineResult<()> {
        let text = match &value {
            SetValue::Text(text) => text.trim().to_string(),
            SetValue::Default => String::new(),
            SetValue::Int(n) => n.to_string(),
            SetValue::Float(f) => f.to_string(),
            SetValue::Null => {
                return Err(error::wrong_value_for_var("tidb_snapshot", "NULL"));
            }
        };
        let snapshot = if text.is_empty() {
            None
        } else {
            let datetime = DateTime::parse(&text).ok_or_else(|| {
                error::unsupported(format!(
                    "tidb_snapshot = '{text}' (only datetime strings, not TSO numbers)"
                ))
            })?;
            let store = self.lock();
            Some(self.read_ts_from(&store, datetime)?)
        };
        self.set_registry(SetScope::Session, "tidb_snapshot", SetValue::Text(text))?;
        self.snapshot = snapshot;
        Ok(())
    }

    /// Stores a value in the registry and returns its canonical text.
    /// Values the engine cannot honour are rejected and the old value
    /// kept.
    fn set_registry(
        &mut self,
        scope: SetScope,
        name: &str,
        value: SetValue,
    ) -> EngineResult<String> {
        let mut server = lock_server(&self.server);
        let may_set_global = server.privileges.may_set_global(&self.identity);
        let previous = server.sysvars.get(&self.vars, Some(scope), name).ok();
        let warnings = server
            .sysvars
            .set(&mut self.vars, scope, name, value, may_set_global)?;
        let current = server.sysvars.get(&self.vars, Some(scope), name)?;

        if let Some(reason) = unsupported_value(name, &current) {
            if let Some(previous) = previous {
                server
                    .sysvars
                    .set(&mut self.vars, scope, name, SetValue::Text(previous), true)?;
            }
            return Err(error::unsupported(reason));
        }
        drop(server);
        for warning in warnings {
            self.warn(warning);
        }
        Ok(current)
    }

    /// Runs `SHOW [GLOBAL|SESSION] VARIABLES [LIKE 'pattern' | WHERE
    /// expr]`: columns `Variable_name` and `Value`, sorted by name, with
    /// values as stored (booleans as `ON`/`OFF`).
    pub(super) fn show_variables(
        &self,
        scope: SetScope,
        filter: &ShowFilter,
    ) -> EngineResult<Outcome> {
        let all = lock_server(&self.server)
            .sysvars
            .show_variables(&self.vars, scope);
        let rows: Vec<(String, String)> = match filter {
            ShowFilter::None => all,
            ShowFilter::Like(pattern) => {
                let pattern = pattern.to_ascii_lowercase();
                all.into_iter()
                    .filter(|(name, _)| like_match(name, &pattern))
                    .collect()
            }
            ShowFilter::Where(condition) => self.filter_variables(all, condition)?,
        };

        let column = |name: &str| Column {
            name: name.to_string(),
            column_type: ColumnType::Text,
        };
        Ok(Outcome::Rows(ResultSet {
            columns: vec![column("Variable_name"), column("Value")],
            rows: rows
                .into_iter()
                .map(|(name, value)| vec![Some(name), Some(value)])
                .collect(),
        }))
    }

    /// Keeps the `(name, value)` rows for which `condition` is true.
    fn filter_variables(
        &self,
        rows: Vec<(String, String)>,
        condition: &str,
    ) -> EngineResult<Vec<(String, String)>> {
        let expr = parse_expression(condition)?;
        let column = |name: &str| ScopeColumn {
            qualifier: String::new(),
            database: String::new(),
            name: name.to_string(),
            sql_type: SqlType::Varchar(1024),
        };
        let scope = Scope {
            columns: vec![column("Variable_name"), column("Value")],
        };
        let sysvar = |name: &str| self.system_var(name);
        let mut binder = Binder {
            scope: &scope,
            user_vars: &self.user_vars,
            system_var: &sysvar,
            clause: "where clause",
            agg: None,
            saw_aggregate: false,
            allow_aggregates: false,
            has_group_by: false,
            select_position: 0,
        };
        let bound = binder.bind(&expr)?;

        let now = self.lock().tick();
        let eval = self.eval_context(now, false);
        let input: Vec<Vec<Value>> = rows
            .iter()
            .map(|(name, value)| vec![Value::Str(name.clone()), Value::Str(value.clone())])
            .collect();
        let keep = bound.eval(&eval, &input)?;
        Ok(rows
            .into_iter()
            .zip(keep)
            .filter(|(_, keep)| keep.truth() == Some(true))
            .map(|(row, _)| row)
            .collect())
    }
}

/// Reads the scope and filter of `SHOW [GLOBAL|SESSION|LOCAL] VARIABLES
/// ...` from its lexemes (starting at SHOW). Returns `None` when the
/// statement is not SHOW VARIABLES.
pub fn parse_show_variables(
    lexemes: &[Lexeme],
    sql: &str,
) -> EngineResult<Option<(SetScope, ShowFilter)>> {
    let mut i = 1;
    let scope = match lexemes.get(i).and_then(Lexeme::keyword).as_deref() {
        Some("GLOBAL") => {
            i += 1;
            SetScope::Global
        }
        Some("SESSION" | "LOCAL") => {
            i += 1;
            SetScope::Session
        }
        _ => SetScope::Session,
    };
    if !lexemes.get(i).is_some_and(|l| l.is("VARIABLES")) {
        return Ok(None);
    }
    i += 1;

    let filter = match lexemes.get(i) {
        None => ShowFilter::None,
        Some(l) if l.is("LIKE") => match (lexemes.get(i + 1).map(|l| &l.token), lexemes.len()) {
            (Some(Token::SingleQuotedString(p)) | Some(Token::DoubleQuotedString(p)), n)
                if n == i + 2 =>
            {
                ShowFilter::Like(p.clone())
            }
            _ => return Err(error::syntax(&sql[l.start..])),
        },
        Some(l) if l.is("WHERE") && lexemes.len() > i + 1 => {
            ShowFilter::Where(sql[lexemes[i + 1].start..].to_string())
        }
        Some(l) => return Err(error::syntax(&sql[l.start..])),
    };
    Ok(Some((scope, filter)))
}

/// Parses one expression that must span the whole text.
fn parse_expression(text: &str) -> EngineResult<ast::Expr> {
    let dialect = MySqlDialect {};
    let mut parser = Parser::new(&dialect)
        .try_with_sql(text)
        .map_err(|_| error::syntax(text))?;
    let expr = parser.parse_expr().map_err(|_| error::syntax(text))?;
    if parser.peek_token().token != Token::EOF {
        return Err(error::syntax(text));
    }
    Ok(expr)
}

/// Splits `a = 1, b = f(x, y)` at top-level commas.
fn split_top_level(text: &str) -> EngineResult<Vec<String>> {
    let lexemes = preparse::lex(text)?;
    let mut parts = Vec::new();
    let mut depth = 0;
    let mut start = 0;
    for lexeme in &lexemes {
        match lexeme.token {
            Token::LParen => depth += 1,
            Token::RParen => depth -= 1,
            Token::Comma if depth == 0 => {
                parts.push(text[start..lexeme.start].trim().to_string());
                start = lexeme.end;
            }
            _ => {}
        }
    }
    parts.push(text[start..].trim().to_string());
    Ok(parts.into_iter().filter(|p| !p.is_empty()).collect())
}
