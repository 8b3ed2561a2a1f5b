//! `harness serve`: expose the reference engine over the MySQL protocol.
//!
//! Prints `harness serve: listening on ADDR` on stdout once the socket is
//! bound, then serves until SIGINT or SIGTERM, closes the connections and
//! exits 0.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use tokio::signal::unix::{signal, SignalKind};
use tokio_util::sync::CancellationToken;

use crate::artifact::checksum::DirVariant;
use crate::config::Config;
use crate::engine::ReferenceTarget;
use crate::serve::packet::MAX_PACKET_PAYLOAD;
use crate::serve::{Server, ServerConfig};

use super::engine::build_reference_engine;
use super::sidecar_args::{SidecarArgs, SidecarKind};

/// Arguments of `harness serve`.
#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    /// Address to listen on; port 0 picks a free port, printed on stdout.
    /// There is no TLS: keep it on a loopback address.
    #[arg(long, value_name = "IP:PORT", default_value = "127.0.0.1:4000")]
    pub listen: SocketAddr,

    /// Open client connections at most; more get error 1040.
    #[arg(long, value_name = "N", default_value_t = 256, value_parser = clap::value_parser!(u32).range(1..))]
    pub max_connections: u32,

    /// Largest client message (statement) in bytes; at least 16 MiB - 1.
    #[arg(long, value_name = "BYTES", default_value_t = crate::serve::packet::DEFAULT_MAX_PAYLOAD)]
    pub max_allowed_packet: usize,

    #[command(flatten)]
    pub sidecar: SidecarArgs,
}

/// The engine `harness serve` exposes, with what it must release at exit.
pub struct ServedEngine {
    /// The reference engine.
    pub target: Arc<ReferenceTarget>,
    /// The sidecar that runs MLflow models (`auto` resolved).
    pub sidecar: SidecarKind,
    /// Number of sidecar workers.
    pub workers: usize,
}

/// Builds the engine from the flags. This is the one place the engine's
/// construction lives.
pub fn build_engine(args: &SidecarArgs) -> anyhow::Result<ServedEngine> {
    let config = match &args.config {
        Some(path) => Config::load(path)?,
        None => Config::default(),
    };
    let mlflow = args.mlflow_settings(&config.model_mlflow);
    let sidecar = args.resolved_kind(&mlflow);
    let target = Arc::new(build_reference_engine(args, &mlflow, sidecar, DirVariant::Manifest, &config.s3)?);
    Ok(ServedEngine {
        target,
        sidecar,
        workers: mlflow.sidecar_workers,
    })
}

/// Runs the subcommand.
pub fn run(args: ServeArgs) -> anyhow::Result<u8> {
    anyhow::ensure!(
        args.max_allowed_packet >= MAX_PACKET_PAYLOAD,
        "--max-allowed-packet {} is too small; use at least {MAX_PACKET_PAYLOAD} (16 MiB - 1)",
        args.max_allowed_packet
    );
    let engine = build_engine(&args.sidecar)?;
    tracing::info!(sidecar = ?engine.sidecar, workers = engine.workers, "engine ready");

    let config = ServerConfig {
        max_connections: args.max_connections as usize,
        max_payload: args.max_allowed_packet,
        ..ServerConfig::default()
    };

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("serve")
        .thread_stack_size(crate::engine::bind::STATEMENT_STACK_BYTES)
        .enable_all()
        .build()
        .context("cannot start the tokio runtime")?;
    let served = runtime.block_on(serve(args.listen, engine.target.clone(), config));
    runtime.shutdown_timeout(Duration::from_secs(5));

    // The engine drops here, outside the runtime, because sidecar pools
    // block on their own runtime while they shut down.
    drop(engine);
    served?;
    tracing::info!("harness serve stopped");
    Ok(0)
}

async fn serve(listen: SocketAddr, target: Arc<ReferenceTarget>, config: ServerConfig) -> anyhow::Result<()> {
    let mut terminate = signal(SignalKind::terminate()).context("cannot install the SIGTERM handler")?;
    let mut interrupt = signal(SignalKind::interrupt()).context("cannot install the SIGINT handler")?;

    let server = Server::bind(listen, target, config).await?;
    let addr = server.local_addr().context("cannot read the bound address")?;
    {
        use std::io::Write;
        let mut stdout = std::io::stdout().lock();
        writeln!(stdout, "harness serve: listening on {addr}").context("writing to stdout")?;
        stdout.flush().context("writing to stdout")?;
    }
    tracing::info!(%addr, "listening");

    let shutdown = CancellationToken::new();
    let server_task = tokio::spawn(server.run(shutdown.clone()));
    tokio::select! {
        _ = terminate.recv() => tracing::info!("SIGTERM received; shutting down"),
        _ = interrupt.recv() => tracing::info!("SIGINT received; shutting down"),
    }
    shutdown.cancel();
    server_task.await.context("the server task failed")?;
    Ok(())
}
