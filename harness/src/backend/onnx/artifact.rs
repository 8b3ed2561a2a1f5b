//! Reading an `.onnx` file and checking its inputs and outputs against the
//! rules of `USING ONNX` models.
//!
//! Every input and output is an FP32 tensor whose first dimension is the
//! batch dimension. Accepted shapes are `[N]` and `[N, 1]`, where the batch
//! dimension `N` is dynamic: a `dim_param` of any name, or a dimension with
//! neither `dim_param` nor `dim_value`. A fixed batch dimension, any other
//! rank, a second dimension other than 1 and a missing input shape are
//! rejected. An output without a declared shape is accepted, and the shape
//! of its value is checked when the model runs.

use std::collections::HashSet;
use std::io::Read;
use std::path::Path;

use tract_onnx::pb;
use tract_onnx::pb::tensor_proto::{DataLocation, DataType};
use tract_onnx::pb::tensor_shape_proto::dimension::Value as DimValue;
use tract_onnx::prelude::Framework;

use crate::backend::{BackendError, IoColumn, ModelIo};

/// Maximum size of an `.onnx` file: protobuf messages cannot exceed 2 GiB.
pub const MAX_MODEL_BYTES: u64 = (2 << 30) - 1;

/// The type name [`IoColumn::data_type`] reports for FP32 tensors.
pub const FLOAT32: &str = "float32";

/// The shape of one input or output tensor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IoShape {
    /// `[N]`: one value per row.
    Vector,
    /// `[N, 1]`: a column of one value per row.
    Column,
}

/// A decoded model with its checked inputs and outputs.
#[derive(Debug, Clone)]
pub struct Artifact {
    /// The decoded protobuf.
    pub proto: pb::ModelProto,
    /// Input and output names and types, in graph order.
    pub io: ModelIo,
    /// Shape of each input, in `io.inputs` order.
    pub input_shapes: Vec<IoShape>,
}

/// Reads and decodes `path`, then checks the inputs and outputs.
pub fn read_artifact(path: &Path) -> Result<Artifact, BackendError> {
    let proto = read_proto(path)?;
    let graph = proto.graph.as_ref().ok_or_else(|| {
        invalid(
            path,
            "the file decodes as ONNX protobuf but contains no graph".into(),
        )
    })?;
    reject_external_data(graph).map_err(|message| invalid(path, message))?;

    let (io, input_shapes) = check_io(graph).map_err(|message| invalid(path, message))?;
    Ok(Artifact {
        proto,
        io,
        input_shapes,
    })
}

fn invalid(path: &Path, message: String) -> BackendError {
    BackendError::Invalid(format!("invalid ONNX model {}: {message}", path.display()))
}

fn read_proto(path: &Path) -> Result<pb::ModelProto, BackendError> {
    // Opening a FIFO would block until a writer appears.
    if path.exists() && !path.is_dir() && !path.is_file() {
        return Err(invalid(
            path,
            "the location is not a regular file; an ONNX model is a single .onnx file".into(),
        ));
    }
    if path.is_dir() {
        return Err(invalid(
            path,
            "the location is a directory; an ONNX model is a single .onnx file \
             (an MLflow model directory is loaded with USING MLFLOW)"
                .into(),
        ));
    }
    let file = std::fs::File::open(path)
        .map_err(|err| invalid(path, format!("cannot open the file: {err}")))?;
    let size = file
        .metadata()
        .map_err(|err| invalid(path, format!("cannot read the file size: {err}")))?
        .len();
    if size > MAX_MODEL_BYTES {
        return Err(invalid(
            path,
            format!("the file has {size} bytes, more than the protobuf limit of {MAX_MODEL_BYTES}"),
        ));
    }
    if size == 0 {
        return Err(invalid(path, "the file is empty".into()));
    }

    // `take` bounds the read even if the file grows after the size check.
    let mut reader = file.take(MAX_MODEL_BYTES);
    tract_onnx::onnx()
        .proto_model_for_read(&mut reader)
        .map_err(|err| invalid(path, format!("not a valid ONNX protobuf: {err:#}")))
}

/// Rejects tensors whose data lives in external files: a `USING ONNX`
/// artifact is one self-contained file, and external paths could point
/// anywhere on the server.
fn reject_external_data(graph: &pb::GraphProto) -> Result<(), String> {
    for tensor in &graph.initializer {
        check_tensor_location(tensor, &graph.name)?;
    }
    for node in &graph.node {
        for attribute in &node.attribute {
            for tensor in attribute.t.iter().chain(&attribute.tensors) {
                check_tensor_location(tensor, &graph.name)?;
            }
            for subgraph in attribute.g.iter().chain(&attribute.graphs) {
                reject_external_data(subgraph)?;
            }
        }
    }
    Ok(())
}

fn check_tensor_location(tensor: &pb::TensorProto, graph: &str) -> Result<(), String> {
    if tensor.data_location == Some(DataLocation::External as i32)
        || !tensor.external_data.is_empty()
    {
        return Err(format!(
            "tensor '{}' in graph '{graph}' stores its data in an external file, \
             but a USING ONNX model must be a single self-contained .onnx file; \
             re-export the model with all tensors embedded",
            tensor.name
        ));
    }
    Ok(())
}

type CheckedIo = (ModelIo, Vec<IoShape>);

fn check_io(graph: &pb::GraphProto) -> Result<CheckedIo, String> {
    // Before IR version 4, initializers were also listed as graph inputs;
    // they have values and are not model inputs.
    let initializers: HashSet<&str> = graph.initializer.iter().map(|t| t.name.as_str()).collect();

    let mut inputs = Vec::new();
    let mut input_shapes = Vec::new();
    for value in graph
        .input
        .iter()
        .filter(|v| !initializers.contains(v.name.as_str()))
    {
        let shape = check_value(value, "input")?;
        let shape = shape.ok_or_else(|| {
            format!(
                "input '{}' declares no shape; model inputs must have the shape [N] or [N, 1] \
                 with a dynamic batch dimension N",
                value.name
            )
        })?;
        inputs.push(float_column(&value.name));
        input_shapes.push(shape);
    }

    // An output without a declared shape passes here, and the shape of
    // its value is checked after every run.
    let mut outputs = Vec::new();
    for value in &graph.output {
        check_value(value, "output")?;
        outputs.push(float_column(&value.name));
    }

    if inputs.is_empty() {
        return Err("the graph declares no inputs; a model needs at least one FP32 input".into());
    }
    if outputs.is_empty() {
        return Err("the graph declares no outputs; a model needs at least one FP32 output".into());
    }
    Ok((ModelIo { inputs, outputs }, input_shapes))
}

fn float_column(name: &str) -> IoColumn {
    IoColumn {
        name: name.to_string(),
        data_type: FLOAT32.to_string(),
    }
}

/// Checks the element type and shape of one graph input or output. Returns
/// `None` when no shape is declared.
fn check_value(value: &pb::ValueInfoProto, role: &str) -> Result<Option<IoShape>, String> {
    let name = &value.name;
    let tensor = match value.r#type.as_ref().and_then(|t| t.value.as_ref()) {
        Some(pb::type_proto::Value::TensorType(tensor)) => tensor,
        None => {
            return Err(format!(
            "{role} '{name}' is not a tensor; every model input and output must be an FP32 tensor"
        ))
        }
    };

    if tensor.elem_type != DataType::Float as i32 {
        return Err(format!(
            "{role} '{name}' has element type {}, but every model input and output must be \
             FP32 (FLOAT); cast inside the model or re-export it with float32 {role}s",
            element_type_name(tensor.elem_type)
        ));
    }

    let Some(shape) = tensor.shape.as_ref() else {
        return Ok(None);
    };
    let dims: Vec<&pb::tensor_shape_proto::Dimension> = shape.dim.iter().collect();
    let described = describe_shape(&dims);
    let rule = "the shape must be [N] or [N, 1] with a dynamic batch dimension N \
                (a dim_param or an unset dimension)";

    let io_shape = match dims.len() {
        1 => IoShape::Vector,
        2 if matches!(dims[1].value, Some(DimValue::DimValue(1))) => IoShape::Column,
        _ => return Err(format!("{role} '{name}' has shape {described}; {rule}")),
    };
    if let Some(DimValue::DimValue(fixed)) = dims[0].value {
        return Err(format!(
            "{role} '{name}' has shape {described} with the fixed batch dimension {fixed}; {rule}"
        ));
    }
    Ok(Some(io_shape))
}

fn describe_shape(dims: &[&pb::tensor_shape_proto::Dimension]) -> String {
    let parts: Vec<String> = dims
        .iter()
        .map(|dim| match &dim.value {
            Some(DimValue::DimValue(value)) => value.to_string(),
            Some(DimValue::DimParam(param)) => param.clone(),
            None => "?".to_string(),
        })
        .collect();
    format!("[{}]", parts.join(", "))
}

/// Returns the ONNX name of an element type code, such as `INT64` or `DOUBLE`.
pub fn element_type_name(code: i32) -> String {
    match DataType::try_from(code) {
        Ok(data_type) => data_type.as_str_name().to_string(),
        Err(_) => format!("unknown type code {code}"),
    }
}
