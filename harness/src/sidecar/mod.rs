//! The batching sidecar client.
//!
//! - [`command`]: which program a worker runs.
//! - [`worker`]: one sidecar process and its connection.
//! - [`pool`]: lazily started workers, batch splitting and reassembly,
//!   timeouts and replacement.
//! - [`standby`]: the spare worker that replaces a failed one.
//! - [`blocking`]: a synchronous front for callers outside tokio.
//! - [`trace`]: transcripts of every frame, as JSON lines.

pub mod blocking;
pub mod command;
mod deadline;
pub mod error;
pub mod pool;
pub mod trace;
pub mod standby;
pub mod worker;

pub use blocking::BlockingPool;
pub use command::SidecarCommand;
pub use error::ClientError;
pub use pool::{PoolConfig, PoolStats, PredictOutput, PredictRequest, SidecarPool};
