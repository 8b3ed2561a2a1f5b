//! `harness inspect`: print a model's inputs and outputs as JSON, or why
//! the model is rejected.

use std::path::PathBuf;

use crate::backend::{check_io_names, onnx, ModelIo};
use crate::mlmodel;

/// Engine of the inspected artifact.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum InspectEngine {
    /// An MLflow model directory.
    Mlflow,
    /// An ONNX file.
    Onnx,
}

/// Arguments of `harness inspect`.
#[derive(Debug, clap::Args)]
pub struct InspectArgs {
    /// Artifact: an MLflow model directory or an ONNX file.
    pub path: PathBuf,
    /// Engine the artifact is for.
    #[arg(long, value_enum)]
    pub engine: InspectEngine,
    /// SQL INPUT names, comma-separated, to match against the model.
    #[arg(long, value_delimiter = ',', requires = "outputs")]
    pub inputs: Option<Vec<String>>,
    /// SQL OUTPUT names, comma-separated, to match against the model.
    #[arg(long, value_delimiter = ',', requires = "inputs")]
    pub outputs: Option<Vec<String>>,
}

/// Prints `{"inputs": [...], "outputs": [...]}`, or the validation error
/// on stderr with exit status 1.
pub fn run(args: InspectArgs) -> anyhow::Result<u8> {
    let result: Result<ModelIo, String> = match args.engine {
        InspectEngine::Mlflow => match (&args.inputs, &args.outputs) {
            (Some(inputs), Some(outputs)) => mlmodel::validate_mlmodel(&args.path, inputs, outputs),
            _ => mlmodel::inspect_mlmodel(&args.path),
        }
        .map_err(|err| err.to_string()),
        InspectEngine::Onnx => onnx::inspect_file(&args.path)
            .and_then(|io| match (&args.inputs, &args.outputs) {
                (Some(inputs), Some(outputs)) => {
                    check_io_names(&args.path.display().to_string(), &io, inputs, outputs)?;
                    Ok(io)
                }
                _ => Ok(io),
            })
            .map_err(|err| err.to_string()),
    };

    match result {
        Ok(io) => {
            println!("{}", serde_json::to_string(&io)?);
            Ok(0)
        }
        Err(message) => {
            eprintln!("harness: {message}");
            Ok(1)
        }
    }
}
