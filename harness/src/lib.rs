//! Conformance kit for in-database model serving.
//!
//! # Layout
//!
//! - [`artifact`]: artifact locations, checksums and the local cache.
//! - [`mlmodel`]: validation of MLflow `MLmodel` files.
//! - [`backend`]: the `ModelBackend` interface for ONNX and MLflow.
//! - [`sidecar`]: the batching client of the sidecar pool.
//! - [`config`]: the TOML configuration file (`[model-mlflow]`).
//! - [`duration`]: Go duration syntax.
//! - [`target`]: the `Target`/`Connection` interface the runner executes
//!   statements against.
//! - [`catalog`]: model catalog with MVCC versions, privileges and system
//!   variables.
//! - [`engine`]: the reference SQL engine (TiDB dialect subset, MVCC).
//! - [`runner`]: executes mysql-tester and sqllogictest case files against a
//!   target.
//! - [`faults`]: fault cases run against the fake sidecar.
//! - [`serve`]: the MySQL-protocol server in front of a target.
//! - [`bench`]: timing, echo and REST baselines of `harness bench`.
//! - [`cli`]: the subcommands of the `harness` binary.

pub mod artifact;
pub mod backend;
pub mod bench;
pub mod catalog;
pub mod cli;
pub mod config;
pub mod duration;
pub mod engine;
pub mod faults;
pub mod mlmodel;
pub mod runner;
pub mod serve;
pub mod sidecar;
pub mod target;
