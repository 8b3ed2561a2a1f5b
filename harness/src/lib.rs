//! Conformance kit for in-database model serving.
//!
//! # Layout
//!
//! - [`cli`]: the subcommands of the `harness` binary.

pub mod cli;
