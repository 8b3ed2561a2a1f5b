//! `MODEL_PREDICT` execution: which models a statement calls, their
//! versions at the statement's read ts, and batch inference.
//!
//! A statement finds its model calls in the text before it takes the
//! store lock, and checks the switch and the EXECUTE MODEL privilege for
//! each. It then resolves every model once at the read ts (the AS OF ts,
//! or the statement start) and fetches its artifact. Evaluation sends each batch
//! of rows to the backend in calls of at most `tidb_model_max_batch_size`
//! rows; rows with a NULL input under `RETURN_NULL` are not sent.
//!
//! Inputs are cast to FP32 with round-to-nearest-even, as a float32
//! conversion does: integers beyond 2^24 lose their low bits, DOUBLE and
//! DECIMAL values round to the nearest FP32, and values beyond the FP32
//! range are errors. Strings and datetimes are errors.

use std::fmt::Write as _;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use sqlparser::tokenizer::Token;

use crate::artifact::ArtifactKind;
use crate::backend::{Batch, ModelEngine, ModelRef};
use crate::catalog::{ModelSettings, NullBehavior, Privilege, ResolvedModel};

use super::engine_config::ModelRuntime;
use super::error::{self, EngineResult};
use super::expr::{EvalContext, Expr};
use super::model_access;
use super::preparse::{self, Lexeme, MODEL_PREDICT_OUTPUT};
use super::render::render_float;
use super::session::Session;
use super::storage::StoreView;
use super::time::TimeZone;
use super::value::Value;

/// One `MODEL_PREDICT` call found in the statement text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelCallText {
    /// Database, qualified with the current database.
    pub db: String,
    /// Model name.
    pub name: String,
    /// Number of input arguments.
    pub arguments: usize,
    /// Selected output, for `MODEL_PREDICT(...).output`.
    pub output: Option<String>,
}

/// The calls of a statement after the switch and privilege checks.
#[derive(Debug, Clone, Default)]
pub struct CheckedCalls {
    calls: Vec<ModelCallText>,
    settings: Option<ModelSettings>,
}

impl CheckedCalls {
    /// Returns whether the statement calls any model.
    pub fn calls_any(&self) -> bool {
        !self.calls.is_empty()
    }
}

/// Rows, batches and time one model spent in a statement.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ModelStats {
    /// Rows sent to the backend.
    pub rows: u64,
    /// Backend calls.
    pub batches: u64,
    /// Time inside the backend.
    pub elapsed: Duration,
}

/// A model resolved for one statement.
#[derive(Debug)]
pub struct PreparedModel {
    /// Database as stored in the catalog.
    pub db: String,
    /// Name as stored in the catalog.
    pub name: String,
    /// The model row and the version in force.
    pub resolved: ResolvedModel,
    /// Backend inputs.
    pub model_ref: ModelRef,
    /// Runtime counters for EXPLAIN ANALYZE.
    pub stats: Mutex<ModelStats>,
}

impl PreparedModel {
    /// The version number in force.
    pub fn version(&self) -> u64 {
        self.resolved.version.version
    }

    /// The engine of the version in force.
    pub fn engine(&self) -> ModelEngine {
        self.resolved.version.engine
    }
}

/// Per-statement model state carried in [`EvalContext::models`].
#[derive(Debug)]
pub struct ModelContext {
    /// Session time zone, for rendering catalog timestamps.
    pub time_zone: TimeZone,
    /// Statement ts.
    pub statement_ts: u64,
    /// Settings in force; `None` when the statement calls no model.
    settings: Option<ModelSettings>,
    /// Loader and backends.
    runtime: Option<Arc<ModelRuntime>>,
    /// Models by lowercase (db, name), in first-call order.
    models: Vec<((String, String), Arc<PreparedModel>)>,
}

impl ModelContext {
    /// A context for a statement that calls no model.
    pub fn empty(time_zone: TimeZone, statement_ts: u64) -> ModelContext {
        ModelContext {
            time_zone,
            statement_ts,
            settings: None,
            runtime: None,
            models: Vec::new(),
        }
    }

    /// The model a call names (`m` or `db.m`), qualified with `database`.
    pub fn lookup(&self, database: Option<&str>, model: &str) -> Option<&Arc<PreparedModel>> {
        let (db, name) = split_name(database, model)?;
        let key = (db.to_ascii_lowercase(), name.to_ascii_lowercase());
        self.models.iter().find(|(k, _)| *k == key).map(|(_, m)| m)
    }

    /// Every model of the statement, in first-call order.
    pub fn models(&self) -> impl Iterator<Item = &Arc<PreparedModel>> {
        self.models.iter().map(|(_, m)| m)
    }
}

fn split_name(database: Option<&str>, model: &str) -> Option<(String, String)> {
    match model.split_once('.') {
        Some((db, name)) => Some((unquote(db), unquote(name))),
        None => Some((database?.to_string(), unquote(model))),
    }
}

fn unquote(name: &str) -> String {
    super::ident::unquote(name)
}

/// Finds the `MODEL_PREDICT` calls in a statement already rewritten by
/// [`preparse::rewrite_model_predict`].
pub fn scan_calls(sql: &str, database: Option<&str>) -> EngineResult<Vec<ModelCallText>> {
    let lexemes = preparse::lex(sql)?;
    let mut calls = Vec::new();
    for (i, lexeme) in lexemes.iter().enumerate() {
        let Some(word) = lexeme.keyword() else {
            continue;
        };
        let with_output = word.eq_ignore_ascii_case(MODEL_PREDICT_OUTPUT);
        if !(with_output || word == "MODEL_PREDICT")
            || lexemes.get(i + 1).map(|l| &l.token) != Some(&Token::LParen)
        {
            continue;
        }
        let arguments = top_level_arguments(&lexemes[i + 2..]);
        let Some(first) = arguments.first() else {
            return Err(error::other(
                "MODEL_PREDICT needs a model name and its input arguments",
            ));
        };
        if let [Lexeme {
            token: Token::SingleQuotedString(text) | Token::DoubleQuotedString(text),
            ..
        }] = first
        {
            return Err(error::other(format!(
                "the first argument of MODEL_PREDICT names a model, not a string: write {text} or `{text}` without string quotes"
            )));
        }
        let model_text: String = first
            .iter()
            .map(|l| &sql[l.start..l.end])
            .collect::<Vec<_>>()
            .join("");
        let (db, name) = split_name(database, &model_text).ok_or_else(error::no_database)?;
        let (inputs, output) = if with_output {
            let output = arguments.last().and_then(|last| match last {
                [Lexeme {
                    token: Token::SingleQuotedString(s),
                    ..
                }] => Some(s.clone()),
                _ => None,
            });
            (arguments.len().saturating_sub(2), output)
        } else {
            (arguments.len() - 1, None)
        };
        calls.push(ModelCallText {
            db,
            name,
            arguments: inputs,
            output,
        });
    }
    Ok(calls)
}

/// Splits the lexemes after `(` into top-level arguments, up to the
/// matching `)`.
fn top_level_arguments(lexemes: &[Lexeme]) -> Vec<&[Lexeme]> {
    let mut arguments = Vec::new();
    let mut depth = 0;
    let mut start = 0;
    for (i, lexeme) in lexemes.iter().enumerate() {
        match lexeme.token {
            Token::LParen => depth += 1,
            Token::RParen if depth == 0 => {
                if i > start {
                    arguments.push(&lexemes[start..i]);
                }
                break;
            }
            Token::RParen => depth -= 1,
            Token::Comma if depth == 0 => {
                arguments.push(&lexemes[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    arguments
}

/// Checks `tidb_enable_model_inference` and EXECUTE MODEL for every call.
/// Must run before the store lock is taken.
pub fn check_access(session: &Session, calls: Vec<ModelCallText>) -> EngineResult<CheckedCalls> {
    if calls.is_empty() {
        return Ok(CheckedCalls::default());
    }
    if session.lock().models.runtime.is_none() {
        return Err(no_runtime());
    }
    let settings = model_access::model_settings(session);
    if !settings.enable_inference {
        let first = &calls[0];
        return Err(error::other(format!(
            "model inference is disabled, so MODEL_PREDICT of model '{}.{}' is rejected; \
             set tidb_enable_model_inference = ON to allow it",
            first.db, first.name
        )));
    }
    for call in &calls {
        model_access::check_privilege(session, Privilege::ExecuteModel, &call.db, &call.name)?;
    }
    Ok(CheckedCalls {
        calls,
        settings: Some(settings),
    })
}

/// Resolves every called model at `read_ts`, checks the calls against the
/// version's INPUT and OUTPUT lists, and fetches the artifacts.
pub fn prepare(
    store: &StoreView,
    checked: CheckedCalls,
    read_ts: u64,
    statement_ts: u64,
    time_zone: TimeZone,
) -> EngineResult<ModelContext> {
    let mut context = ModelContext::empty(time_zone, statement_ts);
    if checked.calls.is_empty() {
        return Ok(context);
    }
    let runtime = store.models.runtime.clone().ok_or_else(no_runtime)?;
    context.settings = checked.settings;

    for call in &checked.calls {
        let key = (call.db.to_ascii_lowercase(), call.name.to_ascii_lowercase());
        let prepared = match context.models.iter().find(|(k, _)| *k == key) {
            Some((_, prepared)) => prepared.clone(),
            None => {
                let resolved = store
                    .models
                    .catalog
                    .resolve(&call.db, &call.name, read_ts)?;
                let prepared = Arc::new(load(&runtime, resolved)?);
                context.models.push((key, prepared.clone()));
                prepared
            }
        };
        check_call(&prepared, call)?;
    }
    context.runtime = Some(runtime);
    Ok(context)
}

fn no_runtime() -> error::SqlError {
    error::unsupported(
        "MODEL_PREDICT in an engine built without a model configuration \
         (build it with ReferenceTarget::with_config)",
    )
}

fn load(runtime: &ModelRuntime, resolved: ResolvedModel) -> EngineResult<PreparedModel> {
    let db = resolved.model.db_name.clone();
    let name = resolved.model.model_name.clone();
    let version = &resolved.version;
    let kind = match version.engine {
        ModelEngine::Onnx => ArtifactKind::File,
        ModelEngine::Mlflow => ArtifactKind::Directory,
    };
    let artifact = runtime
        .loader
        .load(&version.location, &version.checksum, kind)
        .map_err(|err| {
            error::other(format!(
                "model '{db}.{name}' version {}: cannot load the artifact: {err}",
                version.version
            ))
        })?;
    let model_ref = ModelRef {
        name: format!("{db}.{name}"),
        version: version.version,
        path: artifact.path,
        checksum: version.checksum.clone(),
        inputs: version.inputs.iter().map(|c| c.name.clone()).collect(),
        outputs: version.outputs.iter().map(|c| c.name.clone()).collect(),
        timeout: None,
    };
    Ok(PreparedModel {
        db,
        name,
        resolved,
        model_ref,
        stats: Mutex::new(ModelStats::default()),
    })
}

fn check_call(model: &PreparedModel, call: &ModelCallText) -> EngineResult<()> {
    check_arguments(model, call.arguments)?;
    if let Some(output) = &call.output {
        output_position(model, output)?;
    }
    Ok(())
}

fn check_arguments(model: &PreparedModel, arguments: usize) -> EngineResult<()> {
    let inputs = &model.model_ref.inputs;
    if arguments != inputs.len() {
        return Err(error::other(format!(
            "MODEL_PREDICT of model '{}.{}' version {} takes {} input arguments ({}), got {arguments}",
            model.db,
            model.name,
            model.version(),
            inputs.len(),
            inputs.join(", ")
        )));
    }
    Ok(())
}

fn output_position(model: &PreparedModel, output: &str) -> EngineResult<usize> {
    let outputs = &model.model_ref.outputs;
    outputs
        .iter()
        .position(|o| o.eq_ignore_ascii_case(output))
        .ok_or_else(|| {
            error::other(format!(
                "model '{}.{}' version {} has no output '{output}'; its outputs are {}",
                model.db,
                model.name,
                model.version(),
                outputs.join(", ")
            ))
        })
}

/// Relative cost of a WHERE or ON conjunct: plain predicates first, then
/// ONNX model predicates (in-process), then MLflow ones (a sidecar round
/// trip).
pub fn conjunct_cost(ctx: &EvalContext, expr: &Expr) -> u32 {
    let mut cost = 1;
    expr.visit(&mut |e| {
        if let Expr::ModelPredict { model, .. } = e {
            let engine = ctx
                .models
                .as_ref()
                .and_then(|m| m.lookup(ctx.database.as_deref(), model))
                .map(|m| m.engine());
            let call_cost = match engine {
                Some(ModelEngine::Onnx) => 100,
                _ => 200,
            };
            cost = cost.max(call_cost);
        }
    });
    cost
}

/// Orders conjuncts by [`conjunct_cost`], keeping the written order among
/// equals. Only top-level conjuncts move, so OR and NOT keep their meaning.
pub fn order_conjuncts(ctx: &EvalContext, conjuncts: &mut [Expr]) {
    conjuncts.sort_by_key(|e| conjunct_cost(ctx, e));
}

/// The models an operator's expressions call, as EXPLAIN operator info:
/// `model:test.m, version:1` for each, in first-call order.
pub fn explain_models(ctx: &EvalContext, exprs: &[Expr]) -> String {
    let mut seen: Vec<String> = Vec::new();
    let mut parts = Vec::new();
    for expr in exprs {
        expr.visit(&mut |e| {
            if let Expr::ModelPredict { model, .. } = e {
                let Some(prepared) = ctx
                    .models
                    .as_ref()
                    .and_then(|m| m.lookup(ctx.database.as_deref(), model))
                else {
                    return;
                };
                let key = prepared.model_ref.name.clone();
                if !seen.contains(&key) {
                    parts.push(format!("model:{key}, version:{}", prepared.version()));
                    seen.push(key);
                }
            }
        });
    }
    parts.join(", ")
}

/// Evaluates one `MODEL_PREDICT` call over a batch of rows whose argument
/// values are `arguments[j][i]`.
pub fn evaluate(
    ctx: &EvalContext,
    model: &str,
    output: Option<&str>,
    arguments: &[Vec<Value>],
    rows: usize,
) -> EngineResult<Vec<Value>> {
    let context = ctx.models.as_ref().ok_or_else(|| {
        error::other(format!(
            "model '{model}' was not prepared for this statement"
        ))
    })?;
    let prepared = context
        .lookup(ctx.database.as_deref(), model)
        .ok_or_else(|| {
            error::other(format!(
                "model '{model}' was not prepared for this statement"
            ))
        })?;
    let (Some(settings), Some(runtime)) = (&context.settings, &context.runtime) else {
        return Err(error::other(format!(
            "model '{model}' was not prepared for this statement"
        )));
    };
    check_arguments(prepared, arguments.len())?;
    let selected = output.map(|o| output_position(prepared, o)).transpose()?;

    // Cast the inputs of every row; rows with a NULL input are not sent
    // under RETURN_NULL.
    let width = arguments.len();
    let mut sent_rows = Vec::with_capacity(rows);
    let mut values = Vec::with_capacity(rows * width);
    'rows: for i in 0..rows {
        let start = values.len();
        for (j, column) in arguments.iter().enumerate() {
            match cast_input(prepared, j, &column[i])? {
                Some(v) => values.push(v),
                None if settings.null_behavior == NullBehavior::ReturnNull => {
                    values.truncate(start);
                    continue 'rows;
                }
                None => {
                    return Err(error::other(format!(
                        "model '{}' version {}: argument {} of MODEL_PREDICT is NULL; \
                         set tidb_model_null_behavior = 'RETURN_NULL' to get NULL instead",
                        prepared.model_ref.name,
                        prepared.version(),
                        j + 1
                    )))
                }
            }
        }
        sent_rows.push(i);
    }

    // Run the sent rows in backend calls of at most max_batch_size rows.
    // The statement runs on a store view without the store lock, so other
    // sessions go on while the backend works.
    let backend = runtime.backend(prepared.engine()).map_err(|cause| {
        error::other(format!(
            "model '{}' version {}: {cause}",
            prepared.model_ref.name,
            prepared.version()
        ))
    })?;
    let max_batch = usize::try_from(settings.max_batch_size.max(1)).unwrap_or(usize::MAX);
    let output_count = prepared.model_ref.outputs.len();
    let mut results: Vec<Option<Vec<f32>>> = vec![None; rows];
    let model_ref = ModelRef {
        timeout: Some(settings.timeout),
        ..prepared.model_ref.clone()
    };
    for (chunk_index, chunk) in sent_rows.chunks(max_batch).enumerate() {
        let offset = chunk_index * max_batch;
        let batch = Batch {
            columns: prepared.model_ref.inputs.clone(),
            rows: chunk.len(),
            values: values[offset * width..(offset + chunk.len()) * width].to_vec(),
        };
        let hit = super::model_cache::record_use(runtime, prepared, context.statement_ts);
        let started = Instant::now();
        let result = backend.infer_batch(&model_ref, &batch);
        let elapsed = started.elapsed();
        {
            let mut stats = prepared.stats.lock().unwrap_or_else(|p| p.into_inner());
            stats.rows += chunk.len() as u64;
            stats.batches += 1;
            stats.elapsed += elapsed;
        }
        let result = result.map_err(|err| error::other(err.to_string()))?;
        tracing::debug!(model = %prepared.model_ref.name, version = prepared.version(), rows = chunk.len(), cache_hit = hit, "ran a model batch");
        let columns = output_columns(prepared, &result)?;
        for (k, &row) in chunk.iter().enumerate() {
            let outputs: Vec<f32> = columns
                .iter()
                .map(|&c| result.values[k * result.columns.len() + c])
                .collect();
            debug_assert_eq!(outputs.len(), output_count);
            results[row] = Some(outputs);
        }
    }

    // Build the SQL values: one FLOAT for `.output`, else the JSON object.
    results
        .into_iter()
        .map(|row| {
            let Some(outputs) = row else {
                return Ok(Value::Null);
            };
            match selected {
                Some(position) => {
                    check_finite(prepared, position, outputs[position])?;
                    Ok(Value::Float(outputs[position]))
                }
                None => {
                    for (position, value) in outputs.iter().enumerate() {
                        check_finite(prepared, position, *value)?;
                    }
                    Ok(Value::Str(outputs_json(
                        &prepared.model_ref.outputs,
                        &outputs,
                    )))
                }
            }
        })
        .collect()
}

/// Positions in the backend's result of each SQL output, checking the
/// shape.
fn output_columns(prepared: &PreparedModel, result: &Batch) -> EngineResult<Vec<usize>> {
    let fail = |cause: String| {
        error::other(format!(
            "model '{}' version {}: {cause}",
            prepared.model_ref.name,
            prepared.version()
        ))
    };
    if result.values.len() != result.rows * result.columns.len() {
        return Err(fail(format!(
            "the backend returned {} values for {} rows of {} outputs",
            result.values.len(),
            result.rows,
            result.columns.len()
        )));
    }
    prepared
        .model_ref
        .outputs
        .iter()
        .map(|name| {
            result
                .columns
                .iter()
                .position(|c| c == name)
                .ok_or_else(|| fail(format!("the backend returned no output '{name}'")))
        })
        .collect()
}

/// Casts one argument to FP32; `None` for NULL.
fn cast_input(prepared: &PreparedModel, index: usize, value: &Value) -> EngineResult<Option<f32>> {
    let reject = |what: String| {
        error::other(format!(
            "model '{}' version {}: argument {} of MODEL_PREDICT is {what}, but model inputs are \
             FP32; pass a numeric value",
            prepared.model_ref.name,
            prepared.version(),
            index + 1
        ))
    };
    let cast = match value {
        Value::Null => return Ok(None),
        Value::Int(i) => *i as f32,
        Value::Float(f) => *f,
        Value::Double(d) => *d as f32,
        Value::Decimal(d) => d
            .to_string()
            .parse::<f32>()
            .map_err(|_| reject(format!("the decimal {d}")))?,
        Value::Str(s) => return Err(reject(format!("the string '{s}'"))),
        Value::DateTime(dt) => return Err(reject(format!("the datetime '{}'", dt.render()))),
    };
    if !cast.is_finite() {
        return Err(reject(format!(
            "{}, outside the FP32 range",
            super::render::render_value(value)
        )));
    }
    Ok(Some(cast))
}

fn check_finite(prepared: &PreparedModel, position: usize, value: f32) -> EngineResult<()> {
    if value.is_finite() {
        return Ok(());
    }
    Err(error::other(format!(
        "model '{}' version {}: output '{}' is {value}, which SQL FLOAT cannot hold",
        prepared.model_ref.name,
        prepared.version(),
        prepared.model_ref.outputs[position]
    )))
}

/// The bare `MODEL_PREDICT` value: a JSON object of every output in
/// OUTPUT order, numbers rendered as FLOAT, e.g. `{"score": 0.5}`.
fn outputs_json(names: &[String], values: &[f32]) -> String {
    let mut text = String::from("{");
    for (i, (name, value)) in names.iter().zip(values).enumerate() {
        if i > 0 {
            text.push_str(", ");
        }
        let _ = write!(
            text,
            "{}: {}",
            serde_json::Value::String(name.clone()),
            render_float(*value)
        );
    }
    text.push('}');
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn calls_are_found_in_rewritten_text() {
        let sql = preparse::rewrite_model_predict(
            "SELECT MODEL_PREDICT(m, a, f(b, c)).score FROM t WHERE MODEL_PREDICT(db.n, a) IS NOT NULL",
        )
        .unwrap();
        let calls = scan_calls(&sql, Some("test")).unwrap();
        assert_eq!(
            calls,
            vec![
                ModelCallText {
                    db: "test".into(),
                    name: "m".into(),
                    arguments: 2,
                    output: Some("score".into()),
                },
                ModelCallText {
                    db: "db".into(),
                    name: "n".into(),
                    arguments: 1,
                    output: None,
                },
            ]
        );
    }

    #[test]
    fn integers_round_like_float32() {
        // 2^24 + 1 is the first integer FP32 cannot hold; it rounds to even.
        assert_eq!(16_777_217_i64 as f32, 16_777_216.0);
        assert_eq!(16_777_219_i64 as f32, 16_777_220.0);
    }

    #[test]
    fn bare_output_is_a_json_object() {
        let text = outputs_json(&["score".into(), "band".into()], &[0.5, 0.1]);
        assert_eq!(text, r#"{"score": 0.5, "band": 0.1}"#);
    }
}
