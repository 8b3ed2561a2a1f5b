//! Reading a model directory: the `MLmodel` file, its signature and the
//! model spec named by the `python_function` flavor's `data` key.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use model_spec::ModelSpec;
use serde::Deserialize;
use serde_json::Value;
use sidecar_protocol::{ColumnSpec, ErrorCode};

use crate::error::ServeError;

/// The conversion of a signature column's values from FP32.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Conversion {
    /// A floating-point type: every FP32 value is accepted unchanged.
    Float,
    /// An integer type: the value must be integral and within `min..=max`.
    Integer { min: f64, max: f64 },
}

/// One column of a model signature.
#[derive(Debug, Clone, PartialEq)]
pub struct Column {
    /// Column name.
    pub name: String,
    /// MLflow type name for column-based signatures, numpy dtype for
    /// tensor-based ones.
    pub data_type: String,
    /// The conversion the type requires.
    pub conversion: Conversion,
}

/// A loaded model: its signature and the spec that simulates it.
#[derive(Debug)]
pub struct LoadedModel {
    /// Signature inputs, in signature order.
    pub inputs: Vec<Column>,
    /// Signature outputs, in signature order.
    pub outputs: Vec<Column>,
    /// The model spec read from the flavor's data file.
    pub spec: ModelSpec,
}

impl LoadedModel {
    /// Signature inputs as reported by `load`.
    pub fn input_specs(&self) -> Vec<ColumnSpec> {
        column_specs(&self.inputs)
    }

    /// Signature outputs as reported by `load`.
    pub fn output_specs(&self) -> Vec<ColumnSpec> {
        column_specs(&self.outputs)
    }
}

fn column_specs(columns: &[Column]) -> Vec<ColumnSpec> {
    columns
        .iter()
        .map(|c| ColumnSpec {
            name: c.name.clone(),
            data_type: c.data_type.clone(),
        })
        .collect()
}

/// The parts of `MLmodel` the fake sidecar reads.
#[derive(Deserialize)]
struct MlModelFile {
    #[serde(default)]
    flavors: BTreeMap<String, serde_yaml_ng::Value>,
    #[serde(default)]
    signature: Option<RawSignature>,
}

/// MLflow stores each side of the signature as a JSON string inside the YAML.
#[derive(Deserialize)]
struct RawSignature {
    #[serde(default)]
    inputs: Option<String>,
    #[serde(default)]
    outputs: Option<String>,
}

/// Reads the model in `model_path`.
pub fn load(model_path: &str) -> Result<LoadedModel, ServeError> {
    let dir = Path::new(model_path);
    if !dir.is_absolute() {
        return Err(ServeError::new(
            ErrorCode::ModelNotFound,
            format!("model path \"{model_path}\" is not absolute"),
        ));
    }

    // Step 1: MLmodel must exist and parse.
    let mlmodel_path = dir.join("MLmodel");
    if !mlmodel_path.is_file() {
        return Err(ServeError::new(
            ErrorCode::ModelNotFound,
            format!("no MLmodel file in \"{model_path}\""),
        ));
    }
    let invalid = |reason: String| {
        ServeError::new(
            ErrorCode::ModelInvalid,
            format!("MLmodel in \"{model_path}\" {reason}"),
        )
    };
    let text = read_bounded(&mlmodel_path).map_err(|err| invalid(format!("cannot be read: {err}")))?;
    let file: MlModelFile = serde_yaml_ng::from_str(&text)
        .map_err(|err| invalid(format!("is not valid MLmodel YAML: {err}")))?;

    // Step 2: the flavor and the signature.
    let Some(flavor) = file.flavors.get("python_function") else {
        return Err(invalid("has no python_function flavor".into()));
    };
    let has_loader = flavor
        .get("loader_module")
        .and_then(serde_yaml_ng::Value::as_str)
        .is_some_and(|name| !name.is_empty());
    if !has_loader {
        return Err(invalid_columns(
            model_path,
            "the python_function flavor has no loader_module".into(),
        ));
    }
    let Some(raw_inputs) = file.signature.as_ref().and_then(|s| s.inputs.as_deref()) else {
        return Err(invalid("has no signature".into()));
    };
    let Some(raw_outputs) = file.signature.as_ref().and_then(|s| s.outputs.as_deref()) else {
        return Err(invalid("has no outputs in its signature".into()));
    };
    let inputs =
        parse_columns(raw_inputs, "input").map_err(|reason| invalid_columns(model_path, reason))?;
    let outputs = parse_columns(raw_outputs, "output")
        .map_err(|reason| invalid_columns(model_path, reason))?;

    // Step 3: the model spec the fake sidecar simulates.
    let spec = read_spec(dir, flavor, &inputs, &outputs).map_err(|reason| {
        ServeError::new(
            ErrorCode::LoadFailed,
            format!("fake-sidecar cannot simulate the model in \"{model_path}\": {reason}"),
        )
    })?;

    Ok(LoadedModel {
        inputs,
        outputs,
        spec,
    })
}

fn invalid_columns(model_path: &str, reason: String) -> ServeError {
    ServeError::new(
        ErrorCode::ModelInvalid,
        format!("MLmodel in \"{model_path}\": {reason}"),
    )
}

/// Parses one side of the signature. `side` is `input` or `output`.
fn parse_columns(json: &str, side: &str) -> Result<Vec<Column>, String> {
    let items: Vec<Value> = serde_json::from_str(json)
        .map_err(|err| format!("signature {side}s are not a JSON array: {err}"))?;
    if items.is_empty() {
        return Err(format!("signature has no {side}s"));
    }

    // A schema is all ColSpec or all TensorSpec; MLflow refuses a mix.
    let tensors = items
        .iter()
        .filter(|item| item.get("type").and_then(Value::as_str) == Some("tensor"))
        .count();
    if tensors != 0 && tensors != items.len() {
        return Err(format!(
            "the signature {side}s mix column and tensor specs, which MLflow does not support"
        ));
    }

    let mut columns = Vec::with_capacity(items.len());
    for item in &items {
        let Some(name) = item.get("name").and_then(Value::as_str) else {
            return Err(format!(
                "the signature {side}s have no names; save the model with a signature that names every column"
            ));
        };

        // Tensor-based columns carry their numpy dtype in tensor-spec.
        let declared = item.get("type").and_then(Value::as_str).unwrap_or("");
        let data_type = if declared == "tensor" {
            item.pointer("/tensor-spec/dtype")
                .and_then(Value::as_str)
                .unwrap_or("")
        } else {
            declared
        };
        // A named tensor is read as one column, so it must hold one value
        // per row.
        if declared == "tensor" {
            check_tensor_shape(item, side, name)?;
        }

        let Some(conversion) = conversion_of(data_type) else {
            return Err(format!(
                "{side} \"{name}\" has type {data_type}, which is not numeric"
            ));
        };
        columns.push(Column {
            name: name.to_owned(),
            data_type: data_type.to_owned(),
            conversion,
        });
    }
    Ok(columns)
}

/// Accepts tensor shapes `[-1]` and `[-1, 1]`, with the message the Python
/// sidecar gives (a Python list repr of the shape).
fn check_tensor_shape(item: &Value, side: &str, name: &str) -> Result<(), String> {
    let shape: Vec<i64> = item
        .pointer("/tensor-spec/shape")
        .and_then(Value::as_array)
        .map(|dims| dims.iter().filter_map(Value::as_i64).collect())
        .unwrap_or_default();
    if shape == [-1] || shape == [-1, 1] {
        return Ok(());
    }
    let dims: Vec<String> = shape.iter().map(i64::to_string).collect();
    Err(format!(
        "{side} \"{name}\" is a tensor of shape [{}]; only named tensors of shape [-1] or [-1, 1] \
         (one value per row) are supported",
        dims.join(", ")
    ))
}

/// The conversion for an MLflow column type or numpy dtype, or `None` when
/// the type is not numeric (`boolean`, `string`, `binary`, `datetime`, ...).
fn conversion_of(data_type: &str) -> Option<Conversion> {
    let integer = |min: f64, max: f64| Some(Conversion::Integer { min, max });
    match data_type {
        "double" | "float" | "float16" | "float32" | "float64" => Some(Conversion::Float),
        "long" | "int64" => integer(-(2f64.powi(63)), 2f64.powi(63) - 1.0),
        "integer" | "int32" => integer(-(2f64.powi(31)), 2f64.powi(31) - 1.0),
        "int16" => integer(-32_768.0, 32_767.0),
        "int8" => integer(-128.0, 127.0),
        "uint64" => integer(0.0, 2f64.powi(64) - 1.0),
        "uint32" => integer(0.0, 2f64.powi(32) - 1.0),
        "uint16" => integer(0.0, 65_535.0),
        "uint8" => integer(0.0, 255.0),
        _ => None,
    }
}

/// Largest MLmodel or model spec file read, as `harness inspect` allows.
const MAX_FILE_BYTES: u64 = 16 * 1024 * 1024;

/// Reads a UTF-8 text file of at most [`MAX_FILE_BYTES`], checking the
/// size before reading.
fn read_bounded(path: &Path) -> std::io::Result<String> {
    use std::io::Read;

    let file = std::fs::File::open(path)?;
    let size = file.metadata()?.len();
    if size > MAX_FILE_BYTES {
        return Err(std::io::Error::other(format!(
            "the file is {size} bytes, above the {MAX_FILE_BYTES}-byte limit"
        )));
    }
    let mut text = String::with_capacity(size as usize);
    file.take(MAX_FILE_BYTES + 1).read_to_string(&mut text)?;
    if text.len() as u64 > MAX_FILE_BYTES {
        return Err(std::io::Error::other(format!(
            "the file grew above the {MAX_FILE_BYTES}-byte limit while it was read"
        )));
    }
    Ok(text)
}

/// Reads the spec from the flavor's `data` file and checks that its names
/// are the signature's.
fn read_spec(
    dir: &Path,
    flavor: &serde_yaml_ng::Value,
    inputs: &[Column],
    outputs: &[Column],
) -> Result<ModelSpec, String> {
    let Some(data) = flavor.get("data").and_then(serde_yaml_ng::Value::as_str) else {
        return Err("the python_function flavor has no data file".into());
    };
    let data_path: PathBuf = dir.join(data);
    let text = read_bounded(&data_path).map_err(|err| format!("cannot read {data}: {err}"))?;
    let spec = ModelSpec::from_json(&text).map_err(|err| format!("{data}: {err}"))?;

    let signature_inputs: Vec<&str> = inputs.iter().map(|c| c.name.as_str()).collect();
    if !same_names(&spec.inputs, &signature_inputs) {
        return Err(format!(
            "the spec's inputs {:?} are not the signature's inputs {:?}",
            spec.inputs, signature_inputs
        ));
    }
    let spec_outputs = spec.output_names();
    let signature_outputs: Vec<&str> = outputs.iter().map(|c| c.name.as_str()).collect();
    if !same_names(&spec_outputs, &signature_outputs) {
        return Err(format!(
            "the spec's outputs {spec_outputs:?} are not the signature's outputs {signature_outputs:?}"
        ));
    }
    Ok(spec)
}

/// Returns whether both lists contain the same names, in any order.
pub fn same_names<A: AsRef<str>, B: AsRef<str>>(a: &[A], b: &[B]) -> bool {
    let mut a: Vec<&str> = a.iter().map(AsRef::as_ref).collect();
    let mut b: Vec<&str> = b.iter().map(AsRef::as_ref).collect();
    a.sort_unstable();
    b.sort_unstable();
    a == b
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn oversized_mlmodel_is_rejected_unread() {
        let dir = tempfile::tempdir().expect("tempdir");
        // A sparse file: the size check must come before any read.
        let file = std::fs::File::create(dir.path().join("MLmodel")).expect("create");
        file.set_len(MAX_FILE_BYTES + 1).expect("set_len");
        let path = dir.path().to_str().expect("UTF-8 path");

        let err = load(path).err().expect("rejected");
        assert_eq!(err.code, ErrorCode::ModelInvalid);
        assert!(err.message.contains("above the 16777216-byte limit"), "{}", err.message);
    }
}
