//! Subcommands of the `harness` binary. Each module exposes a clap `Args`
//! struct and a `run` function returning the process exit status.

pub mod checksum;
pub mod engine;
pub mod inspect;
pub mod predict;
pub mod probe;
pub mod replay;
pub mod bench;
pub mod sidecar_args;
pub mod run;
pub mod serve;

/// Sends tracing output to stderr, filtered by `RUST_LOG` or else by
/// `default_filter`, with colours only when stderr is a terminal.
pub fn init_logging(default_filter: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default_filter));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr)
        .try_init();
}
