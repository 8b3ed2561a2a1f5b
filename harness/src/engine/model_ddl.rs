//! Model DDL: CREATE MODEL, ALTER MODEL, DROP MODEL and SHOW CREATE MODEL,
//! parsed here because sqlparser has no grammar for them.
//!
//! ```text
//! CREATE MODEL [IF NOT EXISTS] [db.]m (INPUT (c TYPE, ...) OUTPUT (c TYPE, ...))
//!     USING ONNX|MLFLOW LOCATION 'uri' CHECKSUM 'sha256:<hex>' [COMMENT [=] 'text']
//! ALTER MODEL [db.]m SET LOCATION 'uri' CHECKSUM 'sha256:<hex>'
//! DROP MODEL [IF EXISTS] [db.]m
//! SHOW CREATE MODEL [db.]m
//! ```
//!
//! CREATE and ALTER fetch and verify the artifact, then check it against
//! the INPUT and OUTPUT lists before anything is committed. The fetch and
//! the checks run without the store lock, so a slow S3 download blocks no
//! other session. The statement takes the lock to check the catalog
//! before the fetch and again to commit, when it checks once more that
//! no other statement changed the model or dropped its database
//! meanwhile.

use std::path::Path;
use std::sync::Arc;

use serde_json::Map;
use sqlparser::tokenizer::Token;

use crate::artifact::{ArtifactError, ArtifactKind};
use crate::backend::{check_io_names, ModelEngine};
use crate::catalog::{
    CreateOutcome, ModelColumn, ModelColumnType, ModelDefinition, ModelSettings, Privilege,
};
use crate::target::{Column, ColumnType, Outcome, ResultSet};

use super::engine_config::ModelRuntime;
use super::error::{self, EngineResult};
use super::model_access;
use super::preparse::Lexeme;
use super::session::Session;
use super::storage::Store;

/// A model name as written, with its optional database.
#[derive(Debug, Clone, PartialEq, Eq)]
struct ModelName {
    db: Option<String>,
    name: String,
}

/// A parsed model statement.
#[derive(Debug, Clone, PartialEq)]
enum ModelStatement {
    Create {
        name: ModelName,
        if_not_exists: bool,
        inputs: Vec<(String, String)>,
        outputs: Vec<(String, String)>,
        engine: String,
        location: String,
        checksum: String,
        comment: Option<String>,
    },
    Alter {
        name: ModelName,
        location: String,
        checksum: String,
    },
    Drop {
        name: ModelName,
        if_exists: bool,
    },
    ShowCreate {
        name: ModelName,
    },
}

/// Whether the statement is one of the model statements this module runs.
pub fn is_model_statement(lexemes: &[Lexeme]) -> bool {
    let word = |i: usize| lexemes.get(i).and_then(Lexeme::keyword).unwrap_or_default();
    match word(0).as_str() {
        "CREATE" | "ALTER" | "DROP" => word(1) == "MODEL",
        "SHOW" => word(1) == "CREATE" && word(2) == "MODEL",
        _ => false,
    }
}

/// Runs a model statement.
pub fn execute(session: &mut Session, lexemes: &[Lexeme], sql: &str) -> EngineResult<Outcome> {
    let statement = Parser {
        lexemes,
        sql,
        position: 0,
    }
    .statement()?;
    match statement {
        ModelStatement::Create {
            name,
            if_not_exists,
            inputs,
            outputs,
            engine,
            location,
            checksum,
            comment,
        } => {
            let (db, name) = qualify(session, &name)?;
            let settings = begin_ddl(session, Privilege::CreateModel, &db, &name)?;
            let engine = parse_engine(&db, &name, &engine)?;
            let definition = ModelDefinition {
                inputs: parse_columns(&inputs)?,
                outputs: parse_columns(&outputs)?,
                engine,
                location,
                checksum,
                comment,
                options: Map::new(),
            };
            create(session, &db, &name, definition, if_not_exists, &settings)
        }
        ModelStatement::Alter {
            name,
            location,
            checksum,
        } => {
            let (db, name) = qualify(session, &name)?;
            let settings = begin_ddl(session, Privilege::AlterModel, &db, &name)?;
            alter(session, &db, &name, &location, &checksum, &settings)
        }
        ModelStatement::Drop { name, if_exists } => {
            let (db, name) = qualify(session, &name)?;
            begin_ddl(session, Privilege::DropModel, &db, &name)?;
            let actor = actor(session);
            let mut store = session.lock();
            let ts = store.tick();
            Arc::make_mut(&mut store.models.catalog)
                .drop_model(&db, &name, if_exists, &actor, ts)?;
            Ok(affected())
        }
        ModelStatement::ShowCreate { name } => {
            let (db, name) = qualify(session, &name)?;
            let store = session.lock();
            let read_ts = session
                .txn
                .as_ref()
                .map(|t| t.read_ts)
                .or(session.snapshot)
                .unwrap_or_else(|| store.now());
            let resolved = store.models.catalog.resolve(&db, &name, read_ts)?;
            let text = crate::catalog::models::render_create_model(&resolved);
            Ok(Outcome::Rows(ResultSet {
                columns: vec![text_column("Model"), text_column("Create Model")],
                rows: vec![vec![Some(resolved.model.model_name), Some(text)]],
            }))
        }
    }
}

/// Drops the models of a dropped database, as DROP DATABASE does.
pub fn drop_database_models(store: &mut Store, db: &str, user: &str) -> EngineResult<()> {
    let has_live = store
        .models
        .catalog
        .model_rows(store.now())
        .iter()
        .any(|row| row.db_name.eq_ignore_ascii_case(db) && row.deleted_at.is_none());
    if has_live {
        let ts = store.tick();
        Arc::make_mut(&mut store.models.catalog).drop_database_models(
            db,
            &format!("{user}@%"),
            ts,
        )?;
    }
    Ok(())
}

fn affected() -> Outcome {
    Outcome::Affected {
        rows: 0,
        info: String::new(),
    }
}

fn text_column(name: &str) -> Column {
    Column {
        name: name.into(),
        column_type: ColumnType::Text,
    }
}

/// The account recorded in `created_by` and `updated_by`.
fn actor(session: &Session) -> String {
    session.identity.to_string()
}

fn qualify(session: &Session, name: &ModelName) -> EngineResult<(String, String)> {
    let db = match &name.db {
        Some(db) => db.clone(),
        None => session.database.clone().ok_or_else(error::no_database)?,
    };
    Ok((db, name.name.clone()))
}

/// Checks the switch and the privilege, then commits an open transaction
/// as DDL does. Returns the settings in force.
fn begin_ddl(
    session: &mut Session,
    privilege: Privilege,
    db: &str,
    name: &str,
) -> EngineResult<ModelSettings> {
    let settings = model_access::model_settings(session);
    if !settings.enable_ddl {
        return Err(error::other(format!(
            "model DDL is disabled, so {} on model '{db}.{name}' is rejected; \
             set tidb_enable_model_ddl = ON to allow it",
            privilege.as_str()
        )));
    }
    model_access::check_privilege(session, privilege, db, name)?;
    if session.snapshot.is_some() {
        return Err(error::snapshot_write());
    }
    session.commit()?;
    Ok(settings)
}

fn parse_engine(db: &str, name: &str, engine: &str) -> EngineResult<ModelEngine> {
    match engine.to_ascii_uppercase().as_str() {
        "ONNX" => Ok(ModelEngine::Onnx),
        "MLFLOW" => Ok(ModelEngine::Mlflow),
        _ => Err(error::other(format!(
            "model '{db}.{name}': USING: unsupported model engine '{engine}'; use ONNX or MLFLOW"
        ))),
    }
}

fn parse_columns(columns: &[(String, String)]) -> EngineResult<Vec<ModelColumn>> {
    columns
        .iter()
        .map(|(name, type_name)| {
            Ok(ModelColumn::new(
                name.clone(),
                ModelColumnType::parse(type_name, name)?,
            ))
        })
        .collect()
}

fn runtime(session: &Session) -> EngineResult<Arc<ModelRuntime>> {
    session.lock().models.runtime.clone().ok_or_else(|| {
        error::unsupported(
            "models in an engine built without a model configuration \
             (build it with ReferenceTarget::with_config)",
        )
    })
}

/// Rejects STRING columns: inputs are cast to FP32 and outputs are FP32.
fn check_numeric(db: &str, name: &str, definition: &ModelDefinition) -> EngineResult<()> {
    let sides = [
        ("INPUT", &definition.inputs),
        ("OUTPUT", &definition.outputs),
    ];
    for (side, columns) in sides {
        if let Some(column) = columns
            .iter()
            .find(|c| c.column_type == ModelColumnType::String)
        {
            return Err(error::other(format!(
                "model '{db}.{name}': {side} column '{}' has type STRING, but model inputs \
                 and outputs are FP32; declare it INT, BIGINT, FLOAT or DOUBLE",
                column.name
            )));
        }
    }
    Ok(())
}

fn create(
    session: &mut Session,
    db: &str,
    name: &str,
    definition: ModelDefinition,
    if_not_exists: bool,
    settings: &ModelSettings,
) -> EngineResult<Outcome> {
    let runtime = runtime(session)?;

    // Run the catalog's own checks (name, columns, checksum form, an
    // existing model) on a copy before fetching anything.
    let actor = actor(session);
    {
        let store = session.lock();
        check_database(&store, db)?;
        let mut trial = store.models.catalog.as_ref().clone();
        let trial_ts = trial.last_commit_ts() + 1;
        let outcome = trial.create_model(
            db,
            name,
            definition.clone(),
            if_not_exists,
            &actor,
            trial_ts,
        )?;
        if let CreateOutcome::AlreadyExists { .. } = outcome {
            return Ok(affected());
        }
    }
    check_numeric(db, name, &definition)?;

    let input_names: Vec<String> = definition.inputs.iter().map(|c| c.name.clone()).collect();
    let output_names: Vec<String> = definition.outputs.iter().map(|c| c.name.clone()).collect();
    let path = load_artifact(
        &runtime,
        db,
        name,
        definition.engine,
        &definition.location,
        &definition.checksum,
    )?;
    validate_artifact(
        &runtime,
        db,
        name,
        definition.engine,
        &path,
        &input_names,
        &output_names,
        settings,
    )?;

    // Another session may have created the model or dropped the database
    // during the fetch; the catalog rejects a duplicate name again here.
    let mut store = session.lock();
    check_database(&store, db)?;
    let ts = store.tick();
    Arc::make_mut(&mut store.models.catalog).create_model(
        db,
        name,
        definition,
        if_not_exists,
        &actor,
        ts,
    )?;
    Ok(affected())
}

/// Fails with 1049 when the database does not exist (any more).
fn check_database(store: &Store, db: &str) -> EngineResult<()> {
    if store.latest_catalog().database(db).is_none() {
        return Err(error::unknown_database(db));
    }
    Ok(())
}

fn alter(
    session: &mut Session,
    db: &str,
    name: &str,
    location: &str,
    checksum: &str,
    settings: &ModelSettings,
) -> EngineResult<Outcome> {
    let runtime = runtime(session)?;
    let actor = actor(session);

    // The catalog checks the model exists and the new values are well
    // formed; the current version gives the engine and the IO lists.
    let current = {
        let store = session.lock();
        check_database(&store, db)?;
        let mut trial = store.models.catalog.as_ref().clone();
        let trial_ts = trial.last_commit_ts() + 1;
        trial.alter_model(db, name, location, checksum, &actor, trial_ts)?;
        store.models.catalog.resolve(db, name, store.now())?
    };
    let engine = current.version.engine;
    let input_names: Vec<String> = current
        .version
        .inputs
        .iter()
        .map(|c| c.name.clone())
        .collect();
    let output_names: Vec<String> = current
        .version
        .outputs
        .iter()
        .map(|c| c.name.clone())
        .collect();
    let path = load_artifact(&runtime, db, name, engine, location, checksum)?;
    validate_artifact(
        &runtime,
        db,
        name,
        engine,
        &path,
        &input_names,
        &output_names,
        settings,
    )?;

    // The artifact was checked against the model as it was before the
    // fetch. Another session may have dropped the model meanwhile (the
    // catalog reports it), or dropped and created it again with another
    // engine or other columns, which that check did not cover.
    let mut store = session.lock();
    check_database(&store, db)?;
    let latest = store.models.catalog.resolve(db, name, store.now())?;
    if latest.version.engine != current.version.engine
        || latest.version.inputs != current.version.inputs
        || latest.version.outputs != current.version.outputs
    {
        return Err(error::other(format!(
            "model '{db}.{name}': another statement changed the model's engine or columns \
             while its artifact was fetched; run ALTER MODEL again"
        )));
    }
    let ts = store.tick();
    Arc::make_mut(&mut store.models.catalog)
        .alter_model(db, name, location, checksum, &actor, ts)?;
    Ok(affected())
}

/// Fetches and verifies the artifact, naming the clause at fault.
fn load_artifact(
    runtime: &ModelRuntime,
    db: &str,
    name: &str,
    engine: ModelEngine,
    location: &str,
    checksum: &str,
) -> EngineResult<std::path::PathBuf> {
    let kind = match engine {
        ModelEngine::Onnx => ArtifactKind::File,
        ModelEngine::Mlflow => ArtifactKind::Directory,
    };
    runtime
        .loader
        .load(location, checksum, kind)
        .map(|artifact| artifact.path)
        .map_err(|err| {
            let field = match err {
                ArtifactError::Checksum(_) | ArtifactError::Mismatch { .. } => "CHECKSUM",
                _ => "LOCATION",
            };
            error::other(format!("model '{db}.{name}': {field}: {err}"))
        })
}

/// Checks the artifact against the INPUT and OUTPUT lists.
#[allow(clippy::too_many_arguments)]
fn validate_artifact(
    runtime: &ModelRuntime,
    db: &str,
    name: &str,
    engine: ModelEngine,
    path: &Path,
    inputs: &[String],
    outputs: &[String],
    settings: &ModelSettings,
) -> EngineResult<()> {
    let fail = |cause: String| error::other(format!("model '{db}.{name}': {cause}"));
    match engine {
        ModelEngine::Mlflow => {
            crate::mlmodel::validate_mlmodel(path, inputs, outputs)
                .map_err(|err| fail(err.to_string()))?;
        }
        ModelEngine::Onnx => {
            runtime
                .onnx
                .set_allow_nondeterministic(settings.allow_nondeterministic);
            runtime
                .onnx
                .set_allow_custom_ops(settings.enable_custom_ops);
            let io = crate::backend::ModelBackend::inspect_io(&runtime.onnx, path)
                .map_err(|err| fail(err.to_string()))?;
            check_io_names(&format!("'{db}.{name}'"), &io, inputs, outputs)
                .map_err(|err| fail(err.to_string()))?;
        }
    }
    Ok(())
}

/// A cursor over the statement's lexemes.
struct Parser<'a> {
    lexemes: &'a [Lexeme],
    sql: &'a str,
    position: usize,
}

impl Parser<'_> {
    fn statement(&mut self) -> EngineResult<ModelStatement> {
        let statement = if self.eat("CREATE") {
            self.expect_word("MODEL")?;
            self.create()?
        } else if self.eat("ALTER") {
            self.expect_word("MODEL")?;
            let name = self.model_name()?;
            self.expect_word("SET")?;
            self.expect_word("LOCATION")?;
            let location = self.string()?;
            let checksum = self.checksum_clause("ALTER MODEL")?;
            ModelStatement::Alter {
                name,
                location,
                checksum,
            }
        } else if self.eat("DROP") {
            self.expect_word("MODEL")?;
            let if_exists = if self.eat("IF") {
                self.expect_word("EXISTS")?;
                true
            } else {
                false
            };
            ModelStatement::Drop {
                name: self.model_name()?,
                if_exists,
            }
        } else {
            self.expect_word("SHOW")?;
            self.expect_word("CREATE")?;
            self.expect_word("MODEL")?;
            ModelStatement::ShowCreate {
                name: self.model_name()?,
            }
        };
        if self.position < self.lexemes.len() {
            return Err(self.syntax_error());
        }
        Ok(statement)
    }

    fn create(&mut self) -> EngineResult<ModelStatement> {
        let if_not_exists = if self.eat("IF") {
            self.expect_word("NOT")?;
            self.expect_word("EXISTS")?;
            true
        } else {
            false
        };
        let name = self.model_name()?;
        self.expect(Token::LParen)?;
        self.expect_word("INPUT")?;
        let inputs = self.column_list()?;
        self.expect_word("OUTPUT")?;
        let outputs = self.column_list()?;
        self.expect(Token::RParen)?;
        self.expect_word("USING")?;
        let engine = self.identifier()?;
        self.expect_word("LOCATION")?;
        let location = self.string()?;
        let checksum = self.checksum_clause("CREATE MODEL")?;
        let comment = if self.eat("COMMENT") {
            if self.peek_token() == Some(&Token::Eq) {
                self.position += 1;
            }
            Some(self.string()?)
        } else {
            None
        };
        Ok(ModelStatement::Create {
            name,
            if_not_exists,
            inputs,
            outputs,
            engine,
            location,
            checksum,
            comment,
        })
    }

    /// `( name TYPE [, name TYPE ...] )`
    fn column_list(&mut self) -> EngineResult<Vec<(String, String)>> {
        self.expect(Token::LParen)?;
        let mut columns = Vec::new();
        if self.peek_token() == Some(&Token::RParen) {
            self.position += 1;
            return Ok(columns);
        }
        loop {
            let name = self.identifier()?;
            let mut type_name = self.identifier()?;
            // A type with arguments (`VARCHAR(10)`, `DECIMAL(10, 2)`) is
            // kept whole, so the type check names it as written.
            if self.peek_token() == Some(&Token::LParen) {
                let start = self.lexemes[self.position].start;
                let mut depth = 0usize;
                loop {
                    let Some(lexeme) = self.lexemes.get(self.position) else {
                        return Err(self.syntax_error());
                    };
                    self.position += 1;
                    match lexeme.token {
                        Token::LParen => depth += 1,
                        Token::RParen => {
                            depth -= 1;
                            if depth == 0 {
                                type_name.push_str(&self.sql[start..lexeme.end]);
                                break;
                            }
                        }
                        _ => {}
                    }
                }
            }
            columns.push((name, type_name));
            match self.peek_token() {
                Some(Token::Comma) => self.position += 1,
                Some(Token::RParen) => {
                    self.position += 1;
                    return Ok(columns);
                }
                _ => return Err(self.syntax_error()),
            }
        }
    }

    fn model_name(&mut self) -> EngineResult<ModelName> {
        let first = self.identifier()?;
        if self.peek_token() == Some(&Token::Period) {
            self.position += 1;
            let name = self.identifier()?;
            return Ok(ModelName {
                db: Some(first),
                name,
            });
        }
        Ok(ModelName {
            db: None,
            name: first,
        })
    }

    fn peek_token(&self) -> Option<&Token> {
        self.lexemes.get(self.position).map(|l| &l.token)
    }

    fn eat(&mut self, word: &str) -> bool {
        let hit = self.lexemes.get(self.position).is_some_and(|l| l.is(word));
        if hit {
            self.position += 1;
        }
        hit
    }

    fn expect_word(&mut self, word: &str) -> EngineResult<()> {
        if self.eat(word) {
            Ok(())
        } else {
            Err(self.syntax_error())
        }
    }

    fn expect(&mut self, token: Token) -> EngineResult<()> {
        if self.peek_token() == Some(&token) {
            self.position += 1;
            Ok(())
        } else {
            Err(self.syntax_error())
        }
    }

    fn identifier(&mut self) -> EngineResult<String> {
        match self.peek_token() {
            Some(Token::Word(word)) => {
                let value = word.value.clone();
                self.position += 1;
                Ok(value)
            }
            _ => Err(self.syntax_error()),
        }
    }

    fn string(&mut self) -> EngineResult<String> {
        match self.peek_token() {
            Some(Token::SingleQuotedString(s)) | Some(Token::DoubleQuotedString(s)) => {
                let value = s.clone();
                self.position += 1;
                Ok(value)
            }
            _ => Err(self.syntax_error()),
        }
    }

    /// Parses `CHECKSUM 'text'` after LOCATION. The CREATE and ALTER MODEL
    /// grammar requires the clause, so a statement without it is a parse
    /// error (1064). The message names the missing clause, which the bare
    /// syntax error does not.
    fn checksum_clause(&mut self, statement: &str) -> EngineResult<String> {
        if !self.eat("CHECKSUM") {
            let offset = self
                .lexemes
                .get(self.position)
                .map_or(self.sql.len(), |l| l.start);
            let mut err = error::syntax_at(self.sql, offset);
            err.message = format!(
                "{}: {statement} requires CHECKSUM 'sha256:<64 hex digits>' after LOCATION, \
                 the SHA-256 digest of the artifact",
                err.message.trim_end()
            );
            return Err(err);
        }
        self.string()
    }

    fn syntax_error(&self) -> error::SqlError {
        let near = self
            .lexemes
            .get(self.position)
            .map_or("", |l| &self.sql[l.start..]);
        error::syntax(near)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::preparse::lex;

    fn parse(sql: &str) -> EngineResult<ModelStatement> {
        let lexemes = lex(sql)?;
        Parser {
            lexemes: &lexemes,
            sql,
            position: 0,
        }
        .statement()
    }

    #[test]
    fn create_model_parses() {
        let statement = parse(
            "CREATE MODEL IF NOT EXISTS db.m (INPUT (a DOUBLE, `b` INT) OUTPUT (s FLOAT)) \
             USING mlflow LOCATION 'file:///m' CHECKSUM 'sha256:00' COMMENT = 'c'",
        )
        .unwrap();
        let ModelStatement::Create {
            name,
            if_not_exists,
            inputs,
            outputs,
            engine,
            location,
            checksum,
            comment,
        } = statement
        else {
            panic!("not a CREATE: {statement:?}");
        };
        assert_eq!(name.db.as_deref(), Some("db"));
        assert_eq!(name.name, "m");
        assert!(if_not_exists);
        assert_eq!(
            inputs,
            vec![("a".into(), "DOUBLE".into()), ("b".into(), "INT".into())]
        );
        assert_eq!(outputs, vec![("s".into(), "FLOAT".into())]);
        assert_eq!(engine, "mlflow");
        assert_eq!(location, "file:///m");
        assert_eq!(checksum, "sha256:00");
        assert_eq!(comment.as_deref(), Some("c"));
    }

    #[test]
    fn other_model_statements_parse() {
        assert!(matches!(
            parse("ALTER MODEL m SET LOCATION 'x' CHECKSUM 'y'").unwrap(),
            ModelStatement::Alter { .. }
        ));
        assert!(matches!(
            parse("DROP MODEL IF EXISTS m").unwrap(),
            ModelStatement::Drop {
                if_exists: true,
                ..
            }
        ));
        assert!(matches!(
            parse("SHOW CREATE MODEL test.m").unwrap(),
            ModelStatement::ShowCreate { .. }
        ));
    }

    #[test]
    fn malformed_model_statements_are_syntax_errors() {
        for sql in [
            "CREATE MODEL m (INPUT (a) OUTPUT (s FLOAT)) USING ONNX LOCATION 'x' CHECKSUM 'y'",
            "CREATE MODEL m (INPUT (a INT) OUTPUT (s FLOAT)) USING ONNX LOCATION 'x'",
            "ALTER MODEL m SET CHECKSUM 'y'",
            "DROP MODEL m extra",
        ] {
            let err = parse(sql).unwrap_err();
            assert_eq!(err.code, 1064, "{sql}");
        }
    }
}
