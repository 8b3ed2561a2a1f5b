//! `harness predict`: run an MLflow model over a CSV through a sidecar.
//!
//! Input: a CSV whose header row holds the model's input names and whose
//! rows hold numbers; each value is parsed straight to FP32 (correctly
//! rounded). Output: a header of output names, then one row per input row,
//! each value in shortest round-trip FP32 form.

use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};

use crate::config::Config;
use crate::sidecar::{BlockingPool, PredictRequest};

use super::sidecar_args::SidecarArgs;

/// Largest input file accepted, in bytes; larger inputs belong in batches
/// driven by SQL, not one CLI call.
const MAX_INPUT_BYTES: u64 = 1 << 30;

/// Arguments of `harness predict`.
#[derive(Debug, clap::Args)]
pub struct PredictArgs {
    /// MLflow model directory (the one holding MLmodel).
    #[arg(long, value_name = "DIR")]
    pub model: PathBuf,

    /// Input CSV with a header row of input names, or `-` for stdin.
    #[arg(long, value_name = "FILE.csv|-")]
    pub input: String,

    #[command(flatten)]
    pub sidecar: SidecarArgs,
}

/// Runs the subcommand.
pub fn run(args: PredictArgs) -> anyhow::Result<u8> {
    // Step 1: settings and the model path, which the protocol wants absolute.
    let config = match &args.sidecar.config {
        Some(path) => Config::load(path)?,
        None => Config::default(),
    };
    let model = args
        .model
        .canonicalize()
        .with_context(|| format!("model directory {} not found", args.model.display()))?;
    if !model.is_dir() {
        bail!("model path {} is not a directory; pass the MLflow model directory", model.display());
    }

    // Step 2: the input rows.
    let table = if args.input == "-" {
        read_csv(std::io::stdin().lock(), "<stdin>")?
    } else {
        let path = Path::new(&args.input);
        let size = std::fs::metadata(path)
            .with_context(|| format!("input file {} not found", path.display()))?
            .len();
        if size > MAX_INPUT_BYTES {
            bail!("input file {} is {size} bytes, over the limit of {MAX_INPUT_BYTES}", path.display());
        }
        let file = std::fs::File::open(path)
            .with_context(|| format!("cannot open input file {}", path.display()))?;
        read_csv(std::io::BufReader::new(file), &args.input)?
    };

    // Step 3: predict through the pool.
    let pool_config = args.sidecar.pool_config(&config.model_mlflow)?;
    let pool = BlockingPool::new(pool_config)?;
    if table.rows == 0 {
        // No batch to send: the model's signature gives the header, after
        // the same name check a predict request gets.
        let result = header_only(&pool, &model, &table.columns);
        pool.shutdown();
        let names = result?;
        println!("{}", names.join(","));
        return Ok(0);
    }
    let output = pool
        .predict(PredictRequest {
            model_path: &model,
            input_names: &table.columns,
            output_names: None,
            rows: table.rows,
            values: &table.values,
            timeout: None,
        })
        .with_context(|| format!("prediction with model {} failed", model.display()))?;
    pool.shutdown();

    // Step 4: print CSV.
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    writeln!(out, "{}", output.output_names.join(","))?;
    let width = output.output_names.len();
    for row in output.values.chunks_exact(width.max(1)).take(output.rows) {
        let cells: Vec<String> = row.iter().map(|v| format_f32(*v)).collect();
        writeln!(out, "{}", cells.join(","))?;
    }
    out.flush()?;
    Ok(0)
}

/// Loads the model and returns its output names, after checking that
/// `columns` are its input names in some order.
fn header_only(pool: &BlockingPool, model: &Path, columns: &[String]) -> anyhow::Result<Vec<String>> {
    let (_, inputs, outputs) = pool
        .load(model)
        .with_context(|| format!("loading model {} failed", model.display()))?;
    let mut expected: Vec<&str> = inputs.iter().map(|c| c.name.as_str()).collect();
    let mut header: Vec<&str> = columns.iter().map(String::as_str).collect();
    expected.sort_unstable();
    header.sort_unstable();
    if expected != header {
        bail!(
            "the input header {} does not match the inputs of model {}: {}",
            columns.join(","),
            model.display(),
            inputs.iter().map(|c| c.name.as_str()).collect::<Vec<_>>().join(",")
        );
    }
    Ok(outputs.into_iter().map(|c| c.name).collect())
}

/// Formats an FP32 value in shortest round-trip form (`0.5`, `1e20` as
/// `100000000000000000000`, `NaN`, `inf`).
pub fn format_f32(value: f32) -> String {
    format!("{value}")
}

/// A parsed numeric CSV.
#[derive(Debug, Clone, PartialEq)]
pub struct CsvTable {
    /// Header names.
    pub columns: Vec<String>,
    /// Number of data rows.
    pub rows: usize,
    /// Row-major values.
    pub values: Vec<f32>,
}

/// Reads a numeric CSV: a header row of names, then rows of numbers.
/// Blank lines are skipped; quoting is not supported because names and
/// numbers never need it.
pub fn read_csv(reader: impl BufRead, source: &str) -> anyhow::Result<CsvTable> {
    let mut lines = reader.lines().enumerate();
    let columns: Vec<String> = loop {
        let Some((index, line)) = lines.next() else {
            bail!("{source} is empty; it needs a header row of input names");
        };
        let line = line.with_context(|| format!("cannot read {source} line {}", index + 1))?;
        // Spreadsheet programs often start a UTF-8 CSV with a byte-order mark.
        let line = line.strip_prefix('\u{feff}').unwrap_or(&line);
        if line.trim().is_empty() {
            continue;
        }
        break line.split(',').map(|name| name.trim().to_string()).collect();
    };
    if columns.iter().any(String::is_empty) {
        bail!("{source}: the header row has an empty column name");
    }
    let mut seen = std::collections::HashSet::new();
    for name in &columns {
        if !seen.insert(name.as_str()) {
            bail!("{source}: the header names column {name:?} twice");
        }
    }

    let mut values = Vec::new();
    let mut rows = 0;
    for (index, line) in lines {
        let number = index + 1;
        let line = line.with_context(|| format!("cannot read {source} line {number}"))?;
        if line.trim().is_empty() {
            continue;
        }
        let cells: Vec<&str> = line.split(',').collect();
        if cells.len() != columns.len() {
            bail!(
                "{source} line {number} has {} values, the header has {} columns",
                cells.len(),
                columns.len()
            );
        }
        for (cell, name) in cells.iter().zip(&columns) {
            let text = cell.trim();
            let value: f32 = text.parse().map_err(|_| {
                anyhow::anyhow!("{source} line {number}, column {name}: {text:?} is not a number")
            })?;
            // Rust parses an out-of-range literal as infinity; the SQL path
            // rejects such values, so this path does too.
            if value.is_infinite() && !text.to_ascii_lowercase().contains("inf") {
                bail!("{source} line {number}, column {name}: {text} is outside the FP32 range");
            }
            values.push(value);
        }
        rows += 1;
    }
    Ok(CsvTable {
        columns,
        rows,
        values,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_reads_header_and_rows() {
        let table = read_csv("a,b\n1,2.5\n\n-3,0.1\n".as_bytes(), "t").unwrap();
        assert_eq!(table.columns, vec!["a", "b"]);
        assert_eq!(table.rows, 2);
        assert_eq!(table.values, vec![1.0, 2.5, -3.0, 0.1]);
    }

    #[test]
    fn csv_skips_byte_order_mark() {
        let table = read_csv("\u{feff}a,b\n1,2\n".as_bytes(), "t").unwrap();
        assert_eq!(table.columns, ["a", "b"]);
    }

    #[test]
    fn csv_rejects_ragged_row() {
        let err = read_csv("a,b\n1\n".as_bytes(), "t").unwrap_err().to_string();
        assert_eq!(err, "t line 2 has 1 values, the header has 2 columns");
    }

    #[test]
    fn csv_rejects_non_number() {
        let err = read_csv("a\nx1\n".as_bytes(), "t").unwrap_err().to_string();
        assert_eq!(err, "t line 2, column a: \"x1\" is not a number");
        let err = read_csv("a\n1e39\n".as_bytes(), "t").unwrap_err().to_string();
        assert_eq!(err, "t line 2, column a: 1e39 is outside the FP32 range");
    }

    #[test]
    fn csv_rejects_duplicate_header() {
        let err = read_csv("a,a\n".as_bytes(), "t").unwrap_err().to_string();
        assert!(err.contains("twice"), "{err}");
    }

    #[test]
    fn csv_empty_input_rejected() {
        assert!(read_csv("".as_bytes(), "t").is_err());
    }

    #[test]
    fn f32_printed_shortest() {
        assert_eq!(format_f32(0.1), "0.1");
        assert_eq!(format_f32(0.5), "0.5");
        assert_eq!(format_f32(1.0 / 3.0), "0.33333334");
    }
}
