//! Validation of an MLflow model directory's `MLmodel` file for
//! `CREATE MODEL ... USING MLFLOW`.
//!
//! A model is accepted when its `MLmodel` has a `python_function` flavor
//! with a `loader_module` and a signature whose inputs and outputs are all
//! named, numeric and one value per row. When SQL lists are given, the
//! input and output names must also equal the SQL `INPUT` and `OUTPUT`
//! lists.
//!
//! Signature entries are MLflow ColSpecs (`{"type": "double", "name": "x"}`)
//! or TensorSpecs (`{"type": "tensor", "name": "x", "tensor-spec":
//! {"dtype": "float32", "shape": [-1]}}`); one list never mixes the two.

use std::collections::HashSet;
use std::fmt;
use std::path::{Path, PathBuf};

use serde_json::Value as Json;
use serde_yaml_ng::Value as Yaml;

use crate::backend::{IoColumn, ModelIo};

/// Largest `MLmodel` file read, in bytes. Real ones are a few KiB.
pub const MAX_MLMODEL_BYTES: u64 = 16 * 1024 * 1024;

/// ColSpec types accepted: each value converts to and from FP32.
pub const COLUMN_TYPES: &[&str] = &["double", "float", "long", "integer"];

/// TensorSpec dtypes accepted (numpy names).
pub const TENSOR_DTYPES: &[&str] = &[
    "float16", "float32", "float64", "int8", "int16", "int32", "int64", "uint8", "uint16",
    "uint32", "uint64",
];

/// Validation rule an `MLmodel` broke.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum MlmodelRule {
    /// The directory or its `MLmodel` file is missing or unreadable.
    MissingMlmodel,
    /// `MLmodel` is not valid YAML or not a mapping.
    YamlSyntax,
    /// No `flavors.python_function`.
    NoPyfuncFlavor,
    /// `flavors.python_function.loader_module` is missing or empty.
    NoLoaderModule,
    /// No `signature`, or it lacks inputs or outputs.
    NoSignature,
    /// The signature JSON is malformed or has duplicate names.
    InvalidSignature,
    /// A signature entry has no name.
    UnnamedSignature,
    /// One list mixes ColSpecs and TensorSpecs.
    MixedSpec,
    /// A type or dtype is not numeric.
    UnsupportedType,
    /// A tensor shape is not one value per row.
    UnsupportedShape,
    /// The number of inputs or outputs differs from the SQL list.
    CountMismatch,
    /// A name differs from the SQL list.
    NameMismatch,
}

/// An invalid MLflow model: the directory, the `MLmodel` field and the reason.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid MLflow model {}: {field}: {reason}", dir.display())]
pub struct MlmodelError {
    /// The model directory.
    pub dir: PathBuf,
    /// The broken rule.
    pub rule: MlmodelRule,
    /// The `MLmodel` field, e.g. `signature.inputs[1].type`.
    pub field: String,
    /// Problem description and, where it helps, the fix.
    pub reason: String,
}

/// Side of the signature: inputs or outputs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Side {
    Inputs,
    Outputs,
}

impl fmt::Display for Side {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Side::Inputs => "inputs",
            Side::Outputs => "outputs",
        })
    }
}

impl Side {
    fn sql_list(self) -> &'static str {
        match self {
            Side::Inputs => "INPUT",
            Side::Outputs => "OUTPUT",
        }
    }
}

/// Checks `dir/MLmodel` and returns its inputs and outputs in signature
/// order, without comparing them to SQL lists.
pub fn inspect_mlmodel(dir: &Path) -> Result<ModelIo, MlmodelError> {
    let fail = |rule, field: &str, reason: String| MlmodelError {
        dir: dir.to_path_buf(),
        rule,
        field: field.to_string(),
        reason,
    };

    let document = read_mlmodel(dir)?;

    // The PyFunc flavor and its loader module.
    let pyfunc = document
        .get("flavors")
        .and_then(|flavors| flavors.get("python_function"))
        .filter(|flavor| flavor.is_mapping())
        .ok_or_else(|| {
            fail(
                MlmodelRule::NoPyfuncFlavor,
                "flavors.python_function",
                "the python_function (PyFunc) flavor is missing; only PyFunc models can be served"
                    .to_string(),
            )
        })?;
    let loader = pyfunc
        .get("loader_module")
        .and_then(Yaml::as_str)
        .unwrap_or("");
    if loader.trim().is_empty() {
        return Err(fail(
            MlmodelRule::NoLoaderModule,
            "flavors.python_function.loader_module",
            "missing or empty; the PyFunc flavor must name the module that loads the model"
                .to_string(),
        ));
    }

    // The signature, with both sides.
    let signature = document
        .get("signature")
        .filter(|s| s.is_mapping())
        .ok_or_else(|| {
            fail(
                MlmodelRule::NoSignature,
                "signature",
                "the model has no signature; log it with a signature that names every input and output".to_string(),
            )
        })?;
    let inputs = parse_side(dir, signature, Side::Inputs)?;
    let outputs = parse_side(dir, signature, Side::Outputs)?;
    Ok(ModelIo { inputs, outputs })
}

/// Checks `dir/MLmodel` as [`inspect_mlmodel`] does, then requires the
/// signature's input and output names to equal the SQL lists (any order,
/// same count, exact case).
pub fn validate_mlmodel(
    dir: &Path,
    sql_inputs: &[String],
    sql_outputs: &[String],
) -> Result<ModelIo, MlmodelError> {
    let io = inspect_mlmodel(dir)?;
    match_names(dir, Side::Inputs, &io.inputs, sql_inputs)?;
    match_names(dir, Side::Outputs, &io.outputs, sql_outputs)?;
    Ok(io)
}

/// Reads and parses `dir/MLmodel` as a YAML mapping.
fn read_mlmodel(dir: &Path) -> Result<Yaml, MlmodelError> {
    let fail = |rule, reason: String| MlmodelError {
        dir: dir.to_path_buf(),
        rule,
        field: "MLmodel".to_string(),
        reason,
    };
    let path = dir.join("MLmodel");

    let meta = match std::fs::metadata(&path) {
        Ok(meta) => meta,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
            let reason = if dir.is_dir() {
                "the file is missing; an MLflow model directory must contain MLmodel".to_string()
            } else {
                "the model directory does not exist".to_string()
            };
            return Err(fail(MlmodelRule::MissingMlmodel, reason));
        }
        Err(_) if dir.is_file() => {
            return Err(fail(
                MlmodelRule::MissingMlmodel,
                "the location is a file; an MLflow model is a directory holding an MLmodel file \
                 (a single .onnx file is loaded with USING ONNX)"
                    .to_string(),
            ))
        }
        Err(err) => {
            return Err(fail(
                MlmodelRule::MissingMlmodel,
                format!("cannot read: {err}"),
            ))
        }
    };
    if !meta.is_file() {
        return Err(fail(
            MlmodelRule::MissingMlmodel,
            "not a regular file".to_string(),
        ));
    }
    if meta.len() > MAX_MLMODEL_BYTES {
        return Err(fail(
            MlmodelRule::YamlSyntax,
            format!(
                "the file is {} bytes, above the {MAX_MLMODEL_BYTES}-byte limit",
                meta.len()
            ),
        ));
    }

    let text = std::fs::read_to_string(&path)
        .map_err(|err| fail(MlmodelRule::MissingMlmodel, format!("cannot read: {err}")))?;
    let document: Yaml = serde_yaml_ng::from_str(&text)
        .map_err(|err| fail(MlmodelRule::YamlSyntax, format!("invalid YAML: {err}")))?;
    if !document.is_mapping() {
        return Err(fail(
            MlmodelRule::YamlSyntax,
            "the top level is not a YAML mapping".to_string(),
        ));
    }
    Ok(document)
}

/// Parses one side of the signature into columns, checking names, kinds,
/// types and shapes.
fn parse_side(dir: &Path, signature: &Yaml, side: Side) -> Result<Vec<IoColumn>, MlmodelError> {
    let field = format!("signature.{side}");
    let fail = |rule, field: String, reason: String| MlmodelError {
        dir: dir.to_path_buf(),
        rule,
        field,
        reason,
    };

    // MLflow stores each side as a JSON string inside the YAML.
    let entries: Json = match signature.get(side.to_string()) {
        None | Some(Yaml::Null) => {
            return Err(fail(
                MlmodelRule::NoSignature,
                field,
                format!("the signature has no {side}; log the model with named {side}"),
            ))
        }
        Some(Yaml::String(text)) => serde_json::from_str(text).map_err(|err| {
            fail(
                MlmodelRule::InvalidSignature,
                field.clone(),
                format!("invalid JSON: {err}"),
            )
        })?,
        Some(other) => serde_json::to_value(other).map_err(|err| {
            fail(
                MlmodelRule::InvalidSignature,
                field.clone(),
                format!("not a JSON list: {err}"),
            )
        })?,
    };
    let Some(entries) = entries.as_array().filter(|list| !list.is_empty()) else {
        return Err(fail(
            MlmodelRule::NoSignature,
            field,
            format!("expected a non-empty list of {side}"),
        ));
    };

    // A list is all TensorSpecs or all ColSpecs.
    let is_tensor = |entry: &Json| entry.get("type").and_then(Json::as_str) == Some("tensor");
    let tensors = entries.iter().filter(|entry| is_tensor(entry)).count();
    if tensors != 0 && tensors != entries.len() {
        return Err(fail(
            MlmodelRule::MixedSpec,
            field,
            "mixes column specs and tensor specs; use one kind for the whole list".to_string(),
        ));
    }

    let mut columns = Vec::with_capacity(entries.len());
    let mut seen = HashSet::new();
    for (index, entry) in entries.iter().enumerate() {
        let entry_field = format!("{field}[{index}]");
        let column = parse_entry(entry, &entry_field)
            .map_err(|(rule, field, reason)| fail(rule, field, reason))?;
        if !seen.insert(column.name.clone()) {
            return Err(fail(
                MlmodelRule::InvalidSignature,
                format!("{entry_field}.name"),
                format!("duplicate name {:?}", column.name),
            ));
        }
        columns.push(column);
    }
    Ok(columns)
}

/// A rule, field and reason, before the directory is attached.
type EntryError = (MlmodelRule, String, String);

/// Parses one ColSpec or TensorSpec.
fn parse_entry(entry: &Json, field: &str) -> Result<IoColumn, EntryError> {
    if !entry.is_object() {
        return Err((
            MlmodelRule::InvalidSignature,
            field.to_string(),
            "expected a JSON object".to_string(),
        ));
    }
    let name = entry.get("name").and_then(Json::as_str).unwrap_or("");
    if name.is_empty() {
        return Err((
            MlmodelRule::UnnamedSignature,
            format!("{field}.name"),
            "the entry has no name; every input and output must be named to match the SQL lists"
                .to_string(),
        ));
    }
    let Some(spec_type) = entry.get("type").and_then(Json::as_str) else {
        return Err((
            MlmodelRule::InvalidSignature,
            format!("{field}.type"),
            "missing type".to_string(),
        ));
    };

    let data_type = if spec_type == "tensor" {
        parse_tensor(entry, field, name)?
    } else if COLUMN_TYPES.contains(&spec_type) {
        spec_type.to_string()
    } else {
        return Err((
            MlmodelRule::UnsupportedType,
            format!("{field}.type"),
            format!(
                "column {name:?} has type {spec_type:?}, which is not numeric; allowed: {}",
                COLUMN_TYPES.join(", ")
            ),
        ));
    };
    Ok(IoColumn {
        name: name.to_string(),
        data_type,
    })
}

/// Checks a TensorSpec's dtype and shape, returning the dtype.
fn parse_tensor(entry: &Json, field: &str, name: &str) -> Result<String, EntryError> {
    let spec_field = format!("{field}.tensor-spec");
    let Some(spec) = entry.get("tensor-spec").filter(|s| s.is_object()) else {
        return Err((
            MlmodelRule::InvalidSignature,
            spec_field,
            "missing tensor-spec object".to_string(),
        ));
    };

    let dtype = spec.get("dtype").and_then(Json::as_str).unwrap_or("");
    if !TENSOR_DTYPES.contains(&dtype) {
        return Err((
            MlmodelRule::UnsupportedType,
            format!("{spec_field}.dtype"),
            format!(
                "tensor {name:?} has dtype {dtype:?}, which is not a numeric type convertible to FP32; allowed: {}",
                TENSOR_DTYPES.join(", ")
            ),
        ));
    }

    // One SQL value per row: shape [-1] or [-1, 1].
    let shape: Option<Vec<i64>> = spec
        .get("shape")
        .and_then(Json::as_array)
        .map(|dims| dims.iter().map(Json::as_i64).collect::<Option<Vec<_>>>())
        .unwrap_or(None);
    let scalar_per_row = matches!(shape.as_deref(), Some([-1]) | Some([-1, 1]));
    if !scalar_per_row {
        return Err((
            MlmodelRule::UnsupportedShape,
            format!("{spec_field}.shape"),
            format!(
                "tensor {name:?} has shape {}, but each tensor carries one SQL column: use [-1] or [-1, 1]",
                spec.get("shape").map(Json::to_string).unwrap_or_else(|| "(missing)".to_string())
            ),
        ));
    }
    Ok(dtype.to_string())
}

/// Requires the signature names of one side to equal the SQL list.
fn match_names(
    dir: &Path,
    side: Side,
    columns: &[IoColumn],
    sql: &[String],
) -> Result<(), MlmodelError> {
    let fail = |rule, reason: String| MlmodelError {
        dir: dir.to_path_buf(),
        rule,
        field: format!("signature.{side}"),
        reason,
    };
    let model_names: Vec<&str> = columns.iter().map(|c| c.name.as_str()).collect();
    let list = side.sql_list();

    if model_names.len() != sql.len() {
        return Err(fail(
            MlmodelRule::CountMismatch,
            format!(
                "the model has {} {side} ({}) but the SQL {list} list has {} ({})",
                model_names.len(),
                model_names.join(", "),
                sql.len(),
                sql.join(", ")
            ),
        ));
    }

    for name in sql {
        if model_names.contains(&name.as_str()) {
            continue;
        }
        let hint = model_names
            .iter()
            .find(|model| model.eq_ignore_ascii_case(name))
            .map(|model| format!("; the model has {model:?}, which differs only in case"))
            .unwrap_or_default();
        return Err(fail(
            MlmodelRule::NameMismatch,
            format!(
                "SQL {list} column {name:?} is not in the model {side} ({}){hint}",
                model_names.join(", ")
            ),
        ));
    }

    // Equal counts and every SQL name present still allow a duplicate SQL
    // name hiding a model name, so check the reverse direction too.
    if let Some(extra) = model_names
        .iter()
        .find(|model| !sql.iter().any(|s| s == *model))
    {
        return Err(fail(
            MlmodelRule::NameMismatch,
            format!(
                "the model {side} include {extra:?}, which is not in the SQL {list} list ({})",
                sql.join(", ")
            ),
        ));
    }
    Ok(())
}
