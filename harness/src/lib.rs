//! Conformance kit for in-database model serving.
//!
//! # Layout
//!
//! - [`backend`]: the `ModelBackend` interface for ONNX and MLflow.
//! - [`target`]: the `Target`/`Connection` interface the runner executes
//!   statements against.
//! - [`runner`]: executes mysql-tester and sqllogictest case files against a
//!   target.
//! - [`cli`]: the subcommands of the `harness` binary.

pub mod backend;
pub mod cli;
pub mod runner;
pub mod target;
