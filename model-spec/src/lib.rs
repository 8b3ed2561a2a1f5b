//! The fixture model spec (`data/model.json`) and its evaluation.
//!
//! docs/model-spec.md defines the format and the exact order of FP32
//! operations. The Python loader module of each fixture computes the same
//! steps with numpy, so both sidecars give bit-identical results.

use serde::Deserialize;

/// The only accepted value of `format`.
pub const FORMAT: &str = "tidb-model-spec/1";

/// A parsed and validated model spec.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelSpec {
    /// Input names, in weight order.
    pub inputs: Vec<String>,
    /// Outputs, in signature order.
    pub outputs: Vec<OutputSpec>,
    /// Deterministic model-level faults.
    pub faults: Faults,
}

/// One output of a linear model.
#[derive(Debug, Clone, PartialEq)]
pub struct OutputSpec {
    /// Output name.
    pub name: String,
    /// One weight per input, rounded to FP32.
    pub weights: Vec<f32>,
    /// Bias, rounded to FP32.
    pub bias: f32,
    /// Activation applied to the accumulator.
    pub activation: Activation,
}

/// Activation functions of docs/model-spec.md.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Activation {
    /// `acc`.
    Identity,
    /// `max(acc, 0)`.
    Relu,
    /// `1 / (1 + exp(-acc))` in FP64, rounded once to FP32.
    Sigmoid,
}

/// Deterministic fault knobs.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Faults {
    /// Milliseconds to sleep before every predict.
    #[serde(default)]
    pub delay_ms: u64,
    /// Never answer a predict.
    #[serde(default)]
    pub hang: bool,
    /// The N-th predict of the model in a process exits the process (status 70).
    #[serde(default)]
    pub crash_on_request: Option<u64>,
    /// Every predict fails with this message.
    #[serde(default)]
    pub error: Option<String>,
    /// Every output value is NaN.
    #[serde(default)]
    pub nan: bool,
    /// The model returns one row more than the batch.
    #[serde(default)]
    pub wrong_output_count: bool,
}

/// Exit status of a process that a `crash_on_request` fault ends.
pub const CRASH_EXIT_STATUS: i32 = 70;

/// A spec that cannot be used.
#[derive(Debug, thiserror::Error)]
#[error("invalid model spec: {0}")]
pub struct SpecError(pub String);

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSpec {
    format: String,
    kind: String,
    inputs: Vec<String>,
    outputs: Vec<RawOutput>,
    #[serde(default)]
    faults: Faults,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawOutput {
    name: String,
    weights: Vec<f64>,
    bias: f64,
    activation: Activation,
}

impl ModelSpec {
    /// Parses and validates a spec from JSON text.
    pub fn from_json(text: &str) -> Result<ModelSpec, SpecError> {
        let raw: RawSpec =
            serde_json::from_str(text).map_err(|err| SpecError(err.to_string()))?;
        if raw.format != FORMAT {
            return Err(SpecError(format!(
                "format is {:?}, expected {FORMAT:?}",
                raw.format
            )));
        }
        if raw.kind != "linear" {
            return Err(SpecError(format!("kind is {:?}, expected \"linear\"", raw.kind)));
        }
        if raw.inputs.is_empty() || raw.outputs.is_empty() {
            return Err(SpecError("inputs and outputs must not be empty".into()));
        }

        let mut outputs = Vec::with_capacity(raw.outputs.len());
        for output in raw.outputs {
            if output.weights.len() != raw.inputs.len() {
                return Err(SpecError(format!(
                    "output {:?} has {} weights for {} inputs",
                    output.name,
                    output.weights.len(),
                    raw.inputs.len()
                )));
            }
            outputs.push(OutputSpec {
                name: output.name,
                weights: output.weights.iter().map(|w| *w as f32).collect(),
                bias: output.bias as f32,
                activation: output.activation,
            });
        }

        Ok(ModelSpec {
            inputs: raw.inputs,
            outputs,
            faults: raw.faults,
        })
    }

    /// Output names in signature order.
    pub fn output_names(&self) -> Vec<String> {
        self.outputs.iter().map(|o| o.name.clone()).collect()
    }

    /// Evaluates one row given in `inputs` order, writing one value per
    /// output to `out`.
    pub fn eval_row(&self, row: &[f32], out: &mut Vec<f32>) {
        for output in &self.outputs {
            let mut acc = output.bias;
            for (weight, x) in output.weights.iter().zip(row) {
                // Two roundings, product then sum: never a fused multiply-add.
                let product = weight * x;
                acc += product;
            }
            out.push(output.activation.apply(acc));
        }
    }

    /// Evaluates a row-major batch given in `inputs` order.
    ///
    /// Works through blocks of rows one output at a time, so that each
    /// row's accumulator is independent of the others' and the additions
    /// of many rows overlap. Each row still goes through the same
    /// operations in the same order as [`ModelSpec::eval_row`], so the bits
    /// are equal.
    pub fn eval_batch(&self, rows: usize, values: &[f32]) -> Vec<f32> {
        let width = self.inputs.len();
        let count = self.outputs.len();
        if width == 0 {
            return Vec::new();
        }
        let rows = rows.min(values.len() / width);
        let mut out = vec![0.0f32; rows * count];
        let mut acc = vec![0.0f32; EVAL_BLOCK_ROWS.min(rows)];
        let blocks = values[..rows * width].chunks(EVAL_BLOCK_ROWS * width);
        for (block_index, block) in blocks.enumerate() {
            let block_rows = block.len() / width;
            let first_row = block_index * EVAL_BLOCK_ROWS;
            let acc = &mut acc[..block_rows];
            for (column, output) in self.outputs.iter().enumerate() {
                acc.fill(output.bias);
                for (input, weight) in output.weights.iter().enumerate() {
                    for (acc, row) in acc.iter_mut().zip(block.chunks_exact(width)) {
                        // Two roundings, product then sum: never a fused
                        // multiply-add.
                        let product = weight * row[input];
                        *acc += product;
                    }
                }
                let targets = out[first_row * count..].iter_mut().skip(column).step_by(count);
                for (target, acc) in targets.zip(acc.iter()) {
                    *target = output.activation.apply(*acc);
                }
            }
        }
        out
    }
}

/// Rows evaluated together by [`ModelSpec::eval_batch`]: few enough that a
/// block of inputs stays in the first-level cache.
const EVAL_BLOCK_ROWS: usize = 512;

impl Activation {
    /// Applies the activation to an FP32 accumulator.
    pub fn apply(self, acc: f32) -> f32 {
        match self {
            Activation::Identity => acc,
            Activation::Relu => {
                if acc > 0.0 {
                    acc
                } else {
                    0.0
                }
            }
            Activation::Sigmoid => (1.0 / (1.0 + (-f64::from(acc)).exp())) as f32,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CHURN: &str = r#"{"format":"tidb-model-spec/1","kind":"linear","inputs":["tenure","spend"],
        "outputs":[{"name":"score","weights":[0.03125,0.0078125],"bias":-2.0,"activation":"sigmoid"}]}"#;

    #[test]
    fn sigmoid_of_zero_is_half() {
        let spec = ModelSpec::from_json(CHURN).unwrap();
        // -2 + 0.03125*32 + 0.0078125*128 = 0
        assert_eq!(spec.eval_batch(1, &[32.0, 128.0]), vec![0.5]);
    }

    #[test]
    fn batch_matches_row_by_row_bit_for_bit() {
        let text = r#"{"format":"tidb-model-spec/1","kind":"linear","inputs":["a","b","c"],
            "outputs":[{"name":"x","weights":[0.1,-0.7,3.3],"bias":0.25,"activation":"identity"},
                       {"name":"y","weights":[1e-3,2.5,-0.125],"bias":-1.0,"activation":"sigmoid"}]}"#;
        let spec = ModelSpec::from_json(text).unwrap();
        let rows = 1500;
        let values: Vec<f32> = (0..rows * 3).map(|i| ((i * 37) % 1000) as f32 / 250.0 - 2.0).collect();
        let mut expected = Vec::new();
        for row in values.chunks_exact(3) {
            spec.eval_row(row, &mut expected);
        }
        let got = spec.eval_batch(rows, &values);
        let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        assert_eq!(bits(&got), bits(&expected));
        assert_eq!(spec.eval_batch(0, &values), Vec::<f32>::new());
    }

    #[test]
    fn relu_clamps_negative() {
        assert_eq!(Activation::Relu.apply(-3.0), 0.0);
        assert_eq!(Activation::Relu.apply(2.5), 2.5);
    }

    #[test]
    fn weight_count_mismatch_rejected() {
        let text = CHURN.replace("[0.03125,0.0078125]", "[1.0]");
        let err = ModelSpec::from_json(&text).unwrap_err();
        assert!(err.to_string().contains("1 weights for 2 inputs"), "{err}");
    }

    #[test]
    fn unknown_fault_rejected() {
        let text = CHURN.replace("}]}", "}],\"faults\":{\"explode\":true}}");
        assert!(ModelSpec::from_json(&text).is_err());
    }
}
