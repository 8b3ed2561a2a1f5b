//! `harness replay`: re-send the client side of a transcript to a live
//! sidecar and compare its responses with the recorded ones.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{bail, Context};
use serde_json::Value;
use sidecar_protocol::trace::{parse_transcript, Direction, TraceRecord};
use sidecar_protocol::Frame;

use crate::config::Config;
use crate::sidecar::pool::DEFAULT_START_TIMEOUT;
use crate::sidecar::worker::{Worker, WorkerOptions};

use super::sidecar_args::SidecarArgs;

/// Largest transcript read, in bytes.
const MAX_TRANSCRIPT_BYTES: u64 = 1 << 30;

/// Response header keys that differ between sidecar implementations and
/// processes, so they are left out of the comparison.
const IGNORED_KEYS: [&str; 2] = ["pid", "implementation"];

/// Arguments of `harness replay`.
#[derive(Debug, clap::Args)]
pub struct ReplayArgs {
    /// Transcript written by `--trace`.
    #[arg(value_name = "FILE")]
    pub transcript: PathBuf,

    #[command(flatten)]
    pub sidecar: SidecarArgs,
}

/// One recorded request and its recorded responses.
struct Exchange {
    record: usize,
    request: Frame,
    op: String,
    responses: Vec<TraceRecord>,
}

/// Runs the subcommand: 0 when every response matches, 1 otherwise.
pub fn run(args: ReplayArgs) -> anyhow::Result<u8> {
    // Step 1: the transcript, grouped by worker.
    let size = std::fs::metadata(&args.transcript)
        .with_context(|| format!("transcript {} not found", args.transcript.display()))?
        .len();
    if size > MAX_TRANSCRIPT_BYTES {
        bail!("transcript {} is {size} bytes, over the limit of {MAX_TRANSCRIPT_BYTES}", args.transcript.display());
    }
    let text = std::fs::read_to_string(&args.transcript)
        .with_context(|| format!("cannot read {}", args.transcript.display()))?;
    let records = parse_transcript(&text)
        .map_err(|err| anyhow::anyhow!("transcript {}: {err}", args.transcript.display()))?;
    let conversations = group_by_worker(records)?;
    if conversations.is_empty() {
        bail!("transcript {} has no records", args.transcript.display());
    }

    // Step 2: a sidecar per recorded worker, fed the recorded requests.
    let config = match &args.sidecar.config {
        Some(path) => Config::load(path)?,
        None => Config::default(),
    };
    let settings = args.sidecar.mlflow_settings(&config.model_mlflow);
    let options = WorkerOptions {
        command: args.sidecar.command(&config.model_mlflow)?,
        cache_entries: settings.model_cache_entries,
        start_timeout: DEFAULT_START_TIMEOUT,
        socket_parent: std::env::temp_dir(),
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start a runtime")?;
    let mut differences = Vec::new();
    let mut compared = 0usize;
    for (worker, exchanges) in &conversations {
        let (count, found) = runtime.block_on(replay_worker(*worker, exchanges, &options, settings.request_timeout))?;
        compared += count;
        differences.extend(found);
    }

    // Step 3: the summary.
    println!(
        "replayed {} {} of {} {} against {}",
        compared,
        if compared == 1 { "request" } else { "requests" },
        conversations.len(),
        if conversations.len() == 1 { "worker" } else { "workers" },
        options.command.display()
    );
    if differences.is_empty() {
        println!("no differences (ignoring {})", IGNORED_KEYS.join(", "));
        return Ok(0);
    }
    println!("{} differences:", differences.len());
    for difference in &differences {
        println!("  {difference}");
    }
    Ok(1)
}

fn group_by_worker(records: Vec<TraceRecord>) -> anyhow::Result<BTreeMap<u64, Vec<Exchange>>> {
    let mut conversations: BTreeMap<u64, Vec<Exchange>> = BTreeMap::new();
    for (index, record) in records.into_iter().enumerate() {
        let number = index + 1;
        let exchanges = conversations.entry(record.worker).or_default();
        match record.direction {
            Direction::ToSidecar => {
                let request = record
                    .to_frame()
                    .map_err(|err| anyhow::anyhow!("transcript record {number}: {err}"))?;
                let op = record.header.get("op").and_then(Value::as_str).unwrap_or("?").to_owned();
                exchanges.push(Exchange {
                    record: number,
                    request,
                    op,
                    responses: Vec::new(),
                });
            }
            Direction::FromSidecar => match exchanges.last_mut() {
                Some(exchange) => exchange.responses.push(record),
                None => bail!("transcript record {number}: a response before any request of worker {}", record.worker),
            },
        }
    }
    Ok(conversations)
}

/// Replays one worker's requests; returns the number compared and the
/// differences found.
async fn replay_worker(
    worker_number: u64,
    exchanges: &[Exchange],
    options: &WorkerOptions,
    timeout: Duration,
) -> anyhow::Result<(usize, Vec<String>)> {
    let mut worker = Worker::launch(options)
        .await
        .with_context(|| format!("cannot start a sidecar for worker {worker_number}"))?;
    let mut differences = Vec::new();
    let mut compared = 0;
    for exchange in exchanges {
        let at = format!("worker {worker_number}, {} request (record {})", exchange.op, exchange.record);
        let Some(recorded) = exchange.responses.first() else {
            differences.push(format!("{at}: the recording has no response, so replay stops here"));
            break;
        };
        compared += 1;
        let live = match worker.exchange(exchange.request.clone(), &exchange.op, timeout, "-").await {
            Ok(frame) => frame,
            Err(err) => {
                differences.push(format!("{at}: the live sidecar failed: {err}"));
                break;
            }
        };
        if let Some(difference) = compare(recorded, &live) {
            differences.push(format!("{at}: {difference}"));
        }
    }
    worker.kill();
    Ok((compared, differences))
}

/// Compares a live response with the recorded one, ignoring
/// [`IGNORED_KEYS`] anywhere in the header.
fn compare(recorded: &TraceRecord, live: &Frame) -> Option<String> {
    let recorded_frame = match recorded.to_frame() {
        Ok(frame) => frame,
        Err(err) => return Some(format!("the recorded response cannot be decoded: {err}")),
    };
    let live_header: Value = serde_json::from_slice(&live.header).unwrap_or(Value::Null);
    let want = strip_ignored(recorded.header.clone());
    let got = strip_ignored(live_header);
    if want != got {
        return Some(format!("header is {got}, recorded {want}"));
    }
    if recorded_frame.payload != live.payload {
        let got = sidecar_protocol::payload::decode_f32s(&live.payload).unwrap_or_default();
        let want = sidecar_protocol::payload::decode_f32s(&recorded_frame.payload).unwrap_or_default();
        let index = got
            .iter()
            .zip(&want)
            .position(|(a, b)| a.to_bits() != b.to_bits());
        return Some(match index {
            Some(index) => format!("payload value {index} is {}, recorded {}", got[index], want[index]),
            None => format!(
                "payload is {} bytes, recorded {} bytes",
                live.payload.len(),
                recorded_frame.payload.len()
            ),
        });
    }
    None
}

fn strip_ignored(mut value: Value) -> Value {
    if let Value::Object(map) = &mut value {
        for key in IGNORED_KEYS {
            map.remove(key);
        }
        for child in map.values_mut() {
            *child = strip_ignored(std::mem::take(child));
        }
    }
    value
}
