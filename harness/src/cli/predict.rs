//! `harness predict`: run an MLflow model over a CSV through a sidecar.

use std::path::PathBuf;

/// Arguments of `harness predict`.
#[derive(Debug, clap::Args)]
pub struct PredictArgs {
    /// MLflow model directory (holding MLmodel).
    #[arg(long)]
    pub model: PathBuf,
    /// Input CSV with a header row of input names, or `-` for stdin.
    #[arg(long)]
    pub input: String,
}

/// Runs the subcommand.
pub fn run(_args: PredictArgs) -> anyhow::Result<u8> {
    anyhow::bail!("harness predict is not built yet")
}
