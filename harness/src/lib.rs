//! Conformance kit for in-database model serving.
//!
//! # Layout
//!
//! - [`artifact`]: artifact locations, checksums and the local cache.
//! - [`mlmodel`]: validation of MLflow `MLmodel` files.
//! - [`backend`]: the `ModelBackend` interface for ONNX and MLflow.
//! - [`target`]: the `Target`/`Connection` interface the runner executes
//!   statements against.
//! - [`cli`]: the subcommands of the `harness` binary.

pub mod artifact;
pub mod backend;
pub mod cli;
pub mod mlmodel;
pub mod target;
