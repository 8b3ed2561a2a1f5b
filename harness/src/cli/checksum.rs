//! `harness checksum`: print the checksum of a model artifact.

use std::path::PathBuf;

use anyhow::Context;

use crate::artifact::checksum::{path_checksum, DirVariant};

/// Arguments of `harness checksum`.
#[derive(Debug, clap::Args)]
pub struct ChecksumArgs {
    /// Artifact: an ONNX file or an MLflow model directory.
    pub path: PathBuf,
    /// Hashing variant for a directory (ignored for a file).
    #[arg(long, value_enum, default_value_t = DirVariant::Manifest)]
    pub variant: DirVariant,
}

/// Prints `sha256:<hex>` for the artifact.
pub fn run(args: ChecksumArgs) -> anyhow::Result<u8> {
    let checksum = path_checksum(&args.path, args.variant)
        .with_context(|| format!("cannot compute the checksum of {}", args.path.display()))?;
    println!("{checksum}");
    Ok(0)
}
