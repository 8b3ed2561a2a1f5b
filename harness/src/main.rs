//! The `harness` command line: one subcommand per job of the kit.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

use harness::cli;

#[derive(Parser)]
#[command(
    name = "harness",
    version,
    about = "Conformance kit for in-database model serving (TiDB CREATE MODEL / MODEL_PREDICT)"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Predict with an MLflow model through a sidecar and print CSV.
    Predict(cli::predict::PredictArgs),
    /// Print the sha256 checksum of an ONNX file or MLflow model directory.
    Checksum(cli::checksum::ChecksumArgs),
    /// Print a model's inputs and outputs as JSON, or why it is rejected.
    Inspect(cli::inspect::InspectArgs),
    /// Run .test/.result and .slt conformance cases against a target.
    Run(cli::run::RunArgs),
    /// Send one frame to a running sidecar and print the decoded response.
    Probe(cli::probe::ProbeArgs),
    /// Re-send a transcript's requests to a live sidecar and diff the responses.
    Replay(cli::replay::ReplayArgs),
    /// Serve the reference engine to MySQL clients over TCP.
    Serve(cli::serve::ServeArgs),
    /// Measure the sidecar path against in-process MLflow, mlflow models
    /// serve and a bare socket echo.
    Bench(cli::bench::BenchArgs),
    /// The echo server process of `harness bench`.
    #[command(hide = true)]
    BenchEcho(cli::bench::EchoArgs),
}

/// The log filter when `RUST_LOG` is unset. `serve` logs each connection
/// and its start and stop; `run` logs only errors, because its fault and
/// timeout cases kill sidecar workers on purpose and the report already
/// shows every unexpected outcome.
fn default_log_filter(command: &Command) -> &'static str {
    match command {
        Command::Serve(_) => "warn,harness=info",
        Command::Run(_) => "error",
        _ => "warn",
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    cli::init_logging(default_log_filter(&cli.command));

    // `run` executes statements on this thread, so it gets the stack that
    // deeply nested expressions need.
    let command = std::thread::Builder::new()
        .name("harness".into())
        .stack_size(harness::engine::bind::STATEMENT_STACK_BYTES)
        .spawn(move || run_command(cli.command));
    let result = match command.map(|handle| handle.join()) {
        Ok(Ok(result)) => result,
        Ok(Err(panic)) => std::panic::resume_unwind(panic),
        Err(err) => Err(anyhow::anyhow!("cannot start the command thread: {err}")),
    };
    match result {
        Ok(code) => ExitCode::from(code),
        Err(err) => {
            eprintln!("harness: {err:#}");
            ExitCode::from(2)
        }
    }
}

fn run_command(command: Command) -> anyhow::Result<u8> {
    match command {
        Command::Predict(args) => cli::predict::run(args),
        Command::Checksum(args) => cli::checksum::run(args),
        Command::Inspect(args) => cli::inspect::run(args),
        Command::Run(args) => cli::run::run(args),
        Command::Probe(args) => cli::probe::run(args),
        Command::Replay(args) => cli::replay::run(args),
        Command::Serve(args) => cli::serve::run(args),
        Command::Bench(args) => cli::bench::run(args),
        Command::BenchEcho(args) => cli::bench::run_echo(args),
    }
}
