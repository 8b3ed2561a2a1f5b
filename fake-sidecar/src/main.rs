//! `fake-sidecar`: a model sidecar that speaks protocol version 1
//! (docs/protocol.md) and simulates fixture models from their JSON model
//! spec (docs/model-spec.md) instead of running Python.
//!
//! # Layout
//!
//! - [`cli`]: command line and exit statuses.
//! - [`bind`]: socket binding rules and the readiness line.
//! - [`server`]: accept loop, signals and shutdown.
//! - [`shutdown`]: the stop flag and the register of open connections.
//! - [`connection`]: one connection, requests in order.
//! - [`mlmodel`]: reading `MLmodel` and its signature.
//! - [`cache`]: the LRU cache of loaded models and its counters.
//! - [`predict`]: input checks, faults and evaluation.
//! - [`error`]: errors sent back as error responses.
//! - [`faults`]: process-level fault scripts (`--faults`).
//! - [`replay`]: answering from a transcript (`--replay`).

mod bind;
mod cache;
mod cli;
mod connection;
mod error;
mod faults;
mod mlmodel;
mod predict;
mod replay;
mod server;
mod shutdown;

use std::process::ExitCode;

use tracing_subscriber::EnvFilter;

fn main() -> ExitCode {
    let args = match cli::Args::parse_or_exit_code() {
        Ok(args) => args,
        Err(code) => return ExitCode::from(code),
    };

    // Both files are read before anything binds, so a bad file fails at
    // once as an invalid command line.
    let faults = match &args.faults {
        Some(path) => match faults::load(path) {
            Ok(script) => script,
            Err(err) => {
                eprintln!("error: {err}");
                return ExitCode::from(cli::EXIT_USAGE);
            }
        },
        None => faults::FaultScript::default(),
    };
    let replay = match &args.replay {
        Some(path) => match replay::Replay::load(path, args.replay_worker) {
            Ok(replay) => Some(replay),
            Err(err) => {
                eprintln!("error: {err}");
                return ExitCode::from(cli::EXIT_USAGE);
            }
        },
        None => None,
    };

    // Logs go to stderr: stdout carries only the readiness line.
    tracing_subscriber::fmt()
        .with_writer(|| LossyStderr)
        .with_ansi(false)
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .init();

    // One runtime thread runs the listener and the signal handlers; each
    // connection gets its own thread with blocking I/O (server.rs).
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            tracing::error!(cause = %err, "failed to start the async runtime");
            return ExitCode::from(cli::EXIT_FATAL);
        }
    };

    ExitCode::from(runtime.block_on(server::run(args, faults, replay)))
}

/// Stderr for logs, ignoring write errors: a client that closed its end of
/// the pipe must not make logging panic and leave the socket file behind.
struct LossyStderr;

impl std::io::Write for LossyStderr {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let _ = std::io::stderr().write_all(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        let _ = std::io::stderr().flush();
        Ok(())
    }
}
