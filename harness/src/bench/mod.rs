//! Building blocks of `harness bench`: timing statistics, the bare
//! Unix-socket echo baseline, the `mlflow models serve` baseline and the
//! shared input data.
//!
//! The subcommand itself (`cli::bench`) runs every path in one process tree
//! and writes the table and JSON; docs/benchmarks.md explains the figures.

pub mod echo;
pub mod inputs;
pub mod report;
pub mod rest;
pub mod stats;
