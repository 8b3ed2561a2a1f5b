//! Building the reference engine for the subcommands that run SQL
//! (`run`, `serve`): one artifact loader, one ONNX backend and one MLflow
//! sidecar pool shared by every connection of the process.

use crate::artifact::checksum::DirVariant;
use crate::artifact::{LoaderOptions, S3Config};
use crate::backend::onnx::OnnxConfig;
use crate::config::MlflowConfig;
use crate::engine::engine_config::EngineConfig;
use crate::engine::ReferenceTarget;
use crate::sidecar::command::{locate_fake_sidecar, locate_python_sidecar};
use crate::sidecar::{PoolConfig, SidecarCommand};

use super::sidecar_args::{SidecarArgs, SidecarKind};

/// Builds the reference engine with a sidecar pool running `kind` (already
/// resolved from `auto`) with the `[model-mlflow]` settings `mlflow`.
pub fn build_reference_engine(
    sidecar: &SidecarArgs,
    mlflow: &MlflowConfig,
    kind: SidecarKind,
    variant: DirVariant,
    s3: &S3Config,
) -> anyhow::Result<ReferenceTarget> {
    let command = match kind {
        SidecarKind::Python => {
            let script = locate_python_sidecar().map_err(anyhow::Error::msg)?;
            SidecarCommand::python(&mlflow.python, &script)
        }
        SidecarKind::Fake | SidecarKind::Auto => {
            SidecarCommand::fake(locate_fake_sidecar().map_err(anyhow::Error::msg)?)
        }
    };
    let mut pool = PoolConfig::new(command, mlflow);
    pool.trace = sidecar.trace.clone();

    let config = EngineConfig {
        loader: LoaderOptions {
            dir_variant: variant,
            s3: s3.clone(),
            ..LoaderOptions::default()
        },
        mlflow: Some(pool),
        onnx: OnnxConfig::default(),
    };
    Ok(ReferenceTarget::with_config(config)?)
}
