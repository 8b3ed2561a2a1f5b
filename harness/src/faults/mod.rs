//! Fault cases: reproducible sidecar failures run against the real
//! `fake-sidecar` binary through the real batching client, with the
//! client behaviour each failure must produce (docs/faults.md).
//!
//! - [`case`]: the case file format.
//! - [`run`]: running one case and checking its expectations.

pub mod case;
pub mod run;

use std::path::PathBuf;

pub use case::FaultCase;
pub use run::{run_fault_case, CaseOutcome, FaultRunOptions};

/// A case that could not be run at all; a case that ran and missed an
/// expectation is a failed [`CaseOutcome`] instead.
#[derive(Debug, thiserror::Error)]
pub enum FaultCaseError {
    /// The case file is unreadable or invalid.
    #[error("invalid fault case {}: {message}", path.display())]
    Invalid {
        /// The case file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },

    /// The environment is missing something (binary, fixture, temp dir).
    #[error("cannot run fault case {}: {message}", path.display())]
    Setup {
        /// The case file.
        path: PathBuf,
        /// What is missing and how to provide it.
        message: String,
    },
}
