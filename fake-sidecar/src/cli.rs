//! Command line of docs/protocol.md section 1.1 and the exit statuses of
//! section 1.4.

use std::path::PathBuf;

use clap::Parser;

/// Clean stop after `shutdown`, SIGTERM or SIGINT.
pub const EXIT_OK: u8 = 0;
/// Any other fatal error.
pub const EXIT_FATAL: u8 = 1;
/// Invalid command line.
pub const EXIT_USAGE: u8 = 2;
/// The socket path cannot be used.
pub const EXIT_SOCKET: u8 = 3;

/// Largest accepted `--cache-entries`.
const MAX_CACHE_ENTRIES: i64 = 65_536;

/// A model sidecar that simulates fixture models from their JSON model spec.
#[derive(Debug, Parser)]
#[command(name = "fake-sidecar", version)]
pub struct Args {
    /// Absolute path of the Unix domain socket to listen on; shorter than
    /// 108 bytes.
    #[arg(long, value_name = "PATH")]
    pub socket: PathBuf,

    /// Maximum number of loaded models kept in the LRU cache (1 to 65536).
    #[arg(
        long,
        value_name = "N",
        default_value_t = 64,
        value_parser = clap::value_parser!(u32).range(1..=MAX_CACHE_ENTRIES)
    )]
    pub cache_entries: u32,

    /// JSON fault script applied to startup and to requests by index or op
    /// (docs/faults.md). An invalid file exits with status 2.
    #[arg(long, value_name = "FILE")]
    pub faults: Option<PathBuf>,

    /// Transcript (JSON lines) whose recorded responses answer the
    /// requests; a request that differs from the recording gets an
    /// INTERNAL error and the process exits with status 1.
    #[arg(long, value_name = "FILE", conflicts_with = "faults")]
    pub replay: Option<PathBuf>,

    /// Worker number whose conversation `--replay` plays [default: the
    /// first worker in the transcript].
    #[arg(long, value_name = "N", requires = "replay")]
    pub replay_worker: Option<u64>,
}

impl Args {
    /// Parses the command line. On `--help` or `--version` prints the text
    /// and returns exit status 0; on an invalid command line prints the
    /// error and returns exit status 2.
    pub fn parse_or_exit_code() -> Result<Args, u8> {
        let args = match Args::try_parse() {
            Ok(args) => args,
            Err(err) => {
                let _ = err.print();
                return Err(if err.use_stderr() {
                    EXIT_USAGE
                } else {
                    EXIT_OK
                });
            }
        };

        if !args.socket.is_absolute() {
            eprintln!(
                "error: --socket {:?} is not an absolute path; pass the full path of the socket",
                args.socket
            );
            return Err(EXIT_USAGE);
        }
        Ok(args)
    }
}
