//! Conformance kit for in-database model serving.
//!
//! # Layout
//!
//! - [`backend`]: the `ModelBackend` interface for ONNX and MLflow.
//! - [`target`]: the `Target`/`Connection` interface the runner executes
//!   statements against.
//! - [`catalog`]: model catalog with MVCC versions, privileges and system
//!   variables.
//! - [`duration`]: Go duration strings.
//! - [`cli`]: the subcommands of the `harness` binary.

pub mod backend;
pub mod catalog;
pub mod cli;
pub mod duration;
pub mod target;
