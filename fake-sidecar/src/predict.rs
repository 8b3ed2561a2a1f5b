//! The `predict` request: input checks, conversion, faults and evaluation,
//! with the same checks, order and messages as the Python sidecar.

use std::time::Duration;

use model_spec::{ModelSpec, CRASH_EXIT_STATUS};
use sidecar_protocol::frame::DEFAULT_MAX_PAYLOAD_BYTES;
use sidecar_protocol::payload::decode_f32s_into;
use sidecar_protocol::ErrorCode;
use tracing::{debug, error, warn};

use crate::error::ServeError;
use crate::mlmodel::{same_names, Column, Conversion};
use crate::server::State;

/// The fields of a `predict` request.
pub struct PredictRequest<'a> {
    /// Absolute path of the model directory.
    pub model_path: &'a str,
    /// Input names in payload column order.
    pub input_names: &'a [String],
    /// Requested output order, or `None` for signature order.
    pub output_names: Option<&'a [String]>,
    /// Number of rows.
    pub batch_size: u32,
    /// Row-major FP32 values, `batch_size × input_names.len()` of them.
    pub payload: &'a [u8],
}

/// A successful prediction.
pub struct Prediction {
    /// Output names in payload column order.
    pub output_names: Vec<String>,
    /// Row-major FP32 values, `batch_size × output_names.len()` of them.
    pub values: Vec<f32>,
}

/// Runs one predict request.
pub fn predict(state: &State, request: PredictRequest<'_>) -> Result<Prediction, ServeError> {
    let rows = request.batch_size as usize;
    let width = request.input_names.len();

    // Step 1: the payload must hold exactly batch_size rows of every input.
    let expected = rows as u64 * width as u64 * 4;
    if request.payload.len() as u64 != expected {
        return Err(ServeError::bad_request(format!(
            "payload has {} bytes, expected {expected} (batch_size {rows} x {width} inputs x 4)",
            request.payload.len()
        )));
    }

    // Step 2: the model, from the cache or loaded now.
    let (model, _) = state.model(request.model_path)?;

    // Step 3: the names must be the signature's.
    check_names("input_names", request.input_names, "inputs", &model.inputs)?;
    let output_names = match request.output_names {
        Some(names) => {
            check_names("output_names", names, "outputs", &model.outputs)?;
            names.to_vec()
        }
        None => model.outputs.iter().map(|c| c.name.clone()).collect(),
    };
    let response_len = rows as u64 * output_names.len() as u64 * 4;
    if response_len > u64::from(DEFAULT_MAX_PAYLOAD_BYTES) {
        return Err(ServeError::new(
            ErrorCode::Internal,
            format!(
                "the response payload would have {response_len} bytes, above the limit of \
                 {DEFAULT_MAX_PAYLOAD_BYTES}; send fewer rows per batch"
            ),
        ));
    }

    // Step 4: decode the values in the spec's input order, then check the
    // conversion of each column to its signature type.
    let spec_rows = decode_reordered(
        request.payload,
        rows,
        request.input_names,
        &model.spec.inputs,
    );
    check_conversions(&model.inputs, &model.spec.inputs, rows, &spec_rows)?;

    // Step 5: run the model.
    let result = run_model(state, request.model_path, &model.spec, rows, &spec_rows)?;

    // Step 6: reorder the outputs to the requested order.
    let spec_outputs = model.spec.output_names();
    let values = if spec_outputs == output_names {
        result
    } else {
        reorder_columns(&result, rows, &spec_outputs, &output_names)
    };
    Ok(Prediction {
        output_names,
        values,
    })
}

/// Checks that `names` are the signature's column names, in any order.
fn check_names(
    key: &str,
    names: &[String],
    side: &str,
    columns: &[Column],
) -> Result<(), ServeError> {
    // Clients usually send the signature's order, which needs no sorting.
    if names.len() == columns.len() && names.iter().zip(columns).all(|(n, c)| *n == c.name) {
        return Ok(());
    }
    let signature: Vec<String> = columns.iter().map(|c| c.name.clone()).collect();
    if same_names(names, &signature) {
        return Ok(());
    }
    Err(ServeError::bad_request(format!(
        "{key} {} do not match the signature {side} {}",
        compact_json(names),
        compact_json(&signature)
    )))
}

fn compact_json(names: &[String]) -> String {
    serde_json::to_string(names).unwrap_or_default()
}

/// Checks the conversion of every value to its column's signature type,
/// column by column in signature order, rows in order. Converting an
/// accepted value back to FP32 gives the same value, so the values are not
/// changed.
fn check_conversions(
    inputs: &[Column],
    input_names: &[String],
    rows: usize,
    values: &[f32],
) -> Result<(), ServeError> {
    let width = input_names.len();
    for column in inputs {
        let Conversion::Integer { min, max } = column.conversion else {
            continue;
        };
        let Some(index) = input_names.iter().position(|n| *n == column.name) else {
            continue;
        };
        for row in 0..rows {
            let value = f64::from(values[row * width + index]);
            if value.fract() != 0.0 || value < min || value > max || !value.is_finite() {
                return Err(ServeError::bad_request(format!(
                    "cannot convert input \"{}\" at batch row {row} (0-based) to {}: \
                     not an integral value in range",
                    column.name, column.data_type
                )));
            }
        }
    }
    Ok(())
}

/// Decodes a row-major FP32 payload whose columns are in the order `from`
/// into values in the order `to`. Both lists contain the same names, and
/// the payload contains `rows × from.len()` values (checked by the caller).
fn decode_reordered(payload: &[u8], rows: usize, from: &[String], to: &[String]) -> Vec<f32> {
    let mut values = Vec::with_capacity(rows * from.len());
    // Decoding fails only for a length that is not a multiple of 4, and
    // `predict` checked the length against rows × inputs × 4 first.
    let _ = decode_f32s_into(payload, &mut values);
    if from == to {
        return values;
    }
    reorder_columns(&values, rows, from, to)
}

/// Reorders the columns of a row-major matrix from the order `from` to
/// the order `to`. Both lists contain the same names.
fn reorder_columns(values: &[f32], rows: usize, from: &[String], to: &[String]) -> Vec<f32> {
    let positions: Vec<usize> = to
        .iter()
        .map(|name| from.iter().position(|n| n == name).unwrap_or(0))
        .collect();
    let width = from.len();
    let mut out = Vec::with_capacity(rows * to.len());
    for row in values.chunks_exact(width).take(rows) {
        out.extend(positions.iter().map(|&p| row[p]));
    }
    out
}

/// Calls the simulated model, applying its faults in the documented order:
/// crash, hang, delay, error, then the computation with `nan` and
/// `wrong_output_count`. A hang or delay ends early when the server stops;
/// the caller then drops the response.
fn run_model(
    state: &State,
    model_path: &str,
    spec: &ModelSpec,
    rows: usize,
    values: &[f32],
) -> Result<Vec<f32>, ServeError> {
    let faults = &spec.faults;
    let count = state.count_predict(model_path);

    if faults.crash_on_request == Some(count) {
        error!(
            model_path,
            count, "crash_on_request fault: exiting with status 70"
        );
        std::process::exit(CRASH_EXIT_STATUS);
    }
    if faults.hang {
        warn!(model_path, "hang fault: this predict never returns");
        state.stop.wait();
        return Err(stopping());
    }
    if faults.delay_ms > 0 {
        debug!(model_path, delay_ms = faults.delay_ms, "delay fault");
        if state.stop.sleep(Duration::from_millis(faults.delay_ms)) {
            return Err(stopping());
        }
    }
    if let Some(message) = &faults.error {
        return Err(ServeError {
            code: ErrorCode::PredictFailed,
            message: format!("RuntimeError: {message}"),
            exception: Some("RuntimeError".into()),
        });
    }

    let mut result = spec.eval_batch(rows, values);
    if faults.nan {
        result.fill(f32::NAN);
    }
    if faults.wrong_output_count {
        return Err(ServeError::new(
            ErrorCode::BadOutput,
            format!("model returned {} rows for a batch of {rows}", rows + 1),
        ));
    }
    Ok(result)
}

/// Returns the error of a predict cut short by the server stopping. The
/// error is never sent.
fn stopping() -> ServeError {
    ServeError::new(ErrorCode::ShuttingDown, "the sidecar is shutting down")
}
