//! `harness bench`: the sidecar path side by side with in-process MLflow,
//! `mlflow models serve` and a bare Unix-socket echo, in one run.
//!
//! Paths, each timed per batch size with the same model
//! (fixtures/mlflow/wide8) and the same inputs:
//!
//! - `inprocess`: `model.predict(frame)` inside one Python process
//!   (bench/inprocess.py, which reports its own timings);
//! - `python`: the batching client through the Python sidecar;
//! - `fake`: the batching client through the fake sidecar;
//! - `rest`: `mlflow models serve` on 127.0.0.1, `dataframe_split` JSON;
//! - `echo`: a frame of the predict request's size echoed over a Unix
//!   socket by a child process (`harness bench-echo`).
//!
//! Plus cold start, worker replacement after a timeout and the wall time of
//! the conformance suite. Rounds interleave the paths, so that a change in
//! machine load hits every path alike; each figure is the median over all
//! calls, with the 10th to 90th percentile as its spread.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use serde::Serialize;
use serde_json::json;

use crate::bench::echo::Echo;
use crate::bench::inputs::{input_values, INPUT_NAMES};
use crate::bench::rest::{dataframe_split_body, parse_predictions, HttpConnection, RestServer};
use crate::bench::stats::{measure, Budget, Summary};
use crate::config::MlflowConfig;
use crate::sidecar::command::{locate_fake_sidecar, locate_python_sidecar};
use crate::sidecar::{BlockingPool, ClientError, PoolConfig, PredictRequest, SidecarCommand};

use crate::bench::report::{print_report, ratios, BenchReport, Machine, PathFigures};

/// Batch sizes of a full run, in rows.
const SIZES: [usize; 5] = [1, 64, 1024, 8192, 65536];

/// Arguments of `harness bench`.
#[derive(Debug, clap::Args)]
pub struct BenchArgs {
    /// Fewer calls and rounds; every figure is still measured.
    #[arg(long)]
    pub quick: bool,

    /// Also write every figure and ratio as JSON to this file.
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,

    /// Python interpreter with mlflow [default: .venv/bin/python when it
    /// exists, else python3].
    #[arg(long, value_name = "PATH")]
    pub python: Option<PathBuf>,

    /// Batch sizes in rows, comma-separated [default: 1,64,1024,8192,65536].
    #[arg(long, value_name = "N,...", value_delimiter = ',')]
    pub sizes: Option<Vec<usize>>,

    /// Rounds over all paths [default: 3, with --quick 1].
    #[arg(long, value_name = "N")]
    pub rounds: Option<usize>,
}

/// Arguments of the hidden `harness bench-echo`, the echo server process
/// that `harness bench` starts.
#[derive(Debug, clap::Args)]
pub struct EchoArgs {
    /// Unix socket to bind; the server echoes one client's frames.
    #[arg(long, value_name = "PATH")]
    pub socket: PathBuf,
}

/// Runs the echo server until its client closes the connection.
pub fn run_echo(args: EchoArgs) -> anyhow::Result<u8> {
    crate::bench::echo::serve_socket(&args.socket)
        .with_context(|| format!("echo server on {}", args.socket.display()))?;
    Ok(0)
}

/// Call budgets of one run.
struct Plan {
    sizes: Vec<usize>,
    rounds: usize,
    block: Budget,
    rest_block: Budget,
    repeats: usize,
    request_timeout: Duration,
}

impl Plan {
    fn new(args: &BenchArgs) -> anyhow::Result<Plan> {
        let sizes = args.sizes.clone().unwrap_or_else(|| SIZES.to_vec());
        if sizes.is_empty() || sizes.iter().any(|&rows| rows == 0 || rows > 1 << 20) {
            bail!("--sizes {sizes:?}: every size must be 1 to 1048576 rows");
        }
        let rounds = args.rounds.unwrap_or(if args.quick { 1 } else { 3 });
        if !(1..=20).contains(&rounds) {
            bail!("--rounds {rounds} is outside 1 to 20");
        }
        let (max_samples, soft, rest_max, rest_soft, repeats) = if args.quick {
            (40, 0.4, 6, 0.5, 1)
        } else {
            (300, 1.5, 40, 2.0, 3)
        };
        Ok(Plan {
            sizes,
            rounds,
            block: Budget {
                max_samples,
                min_samples: 3,
                soft_limit: Duration::from_secs_f64(soft),
                hard_limit: Duration::from_secs(30),
            },
            rest_block: Budget {
                max_samples: rest_max,
                min_samples: 2,
                soft_limit: Duration::from_secs_f64(rest_soft),
                hard_limit: Duration::from_secs(60),
            },
            repeats,
            request_timeout: Duration::from_millis(500),
        })
    }
}

/// Runs the subcommand.
pub fn run(args: BenchArgs) -> anyhow::Result<u8> {
    let plan = Plan::new(&args)?;
    // The JSON report goes to a temporary file beside its path. The file is
    // made now, so an unwritable path fails before the run, and it replaces
    // the path only when the run completes.
    let json_out = match &args.json {
        Some(path) => {
            let parent = match path.parent() {
                Some(dir) if !dir.as_os_str().is_empty() => dir,
                _ => Path::new("."),
            };
            let file = tempfile::Builder::new()
                .prefix(".bench-")
                .suffix(".json")
                .tempfile_in(parent)
                .with_context(|| {
                    format!("cannot write the JSON report to {}: choose a writable --json path", path.display())
                })?;
            Some((path.clone(), file))
        }
        None => None,
    };
    let script = locate_python_sidecar().map_err(anyhow::Error::msg)?;
    let repo = script
        .parent()
        .and_then(Path::parent)
        .context("sidecar/mlflow_sidecar.py has no repository directory")?
        .to_path_buf();
    let python = resolve_python(args.python.as_deref());
    let fake = locate_fake_sidecar().map_err(anyhow::Error::msg)?;
    let model = repo.join("fixtures/mlflow/wide8");
    let hang = repo.join("fixtures/mlflow/faults/hang");
    for dir in [&model, &hang] {
        if !dir.join("MLmodel").is_file() {
            bail!(
                "benchmark model {} not found; run from a complete checkout",
                dir.display()
            );
        }
    }
    let python_command = SidecarCommand::python(&python, &script);
    let fake_command = SidecarCommand::fake(&fake);
    let machine = Machine::read();
    eprintln!(
        "harness bench: {} cores, {}, load {}; sizes {:?}, {} rounds",
        machine.cores, machine.cpu_model, machine.load_average_start, plan.sizes, plan.rounds
    );

    // Process start costs first, while no pool is running.
    eprintln!("harness bench: import mlflow.pyfunc and cold starts");
    let import_seconds = time_import(&python, plan.repeats)?;
    let cold_python = cold_starts(&python_command, &model, plan.repeats)?;
    let cold_fake = cold_starts(&fake_command, &model, plan.repeats)?;

    // Throughput and latency, all paths interleaved by round.
    let mut samples: BTreeMap<&'static str, BTreeMap<usize, Vec<f64>>> = BTreeMap::new();
    let mut inprocess_meta = serde_json::Map::new();
    let sockets = tempfile::Builder::new().prefix("hb-").tempdir_in("/tmp")?;
    let python_pool =
        BlockingPool::new(pool_config(python_command.clone(), sockets.path(), 2, true))?;
    let fake_pool = BlockingPool::new(pool_config(fake_command.clone(), sockets.path(), 2, true))?;
    let exe = std::env::current_exe().context("cannot find the harness binary for the echo server")?;
    let mut echo = Echo::start(&exe, &["bench-echo"], sockets.path())?;
    let inputs: BTreeMap<usize, Vec<f32>> = plan
        .sizes
        .iter()
        .map(|&rows| (rows, input_values(rows, INPUT_NAMES.len())))
        .collect();
    let names: Vec<String> = INPUT_NAMES.iter().map(|name| name.to_string()).collect();

    eprintln!("harness bench: warming up both pools and checking their outputs agree");
    let mut reference_outputs = BTreeMap::new();
    for (&rows, values) in &inputs {
        let python_out = predict(&python_pool, &model, &names, rows, values)?;
        let fake_out = predict(&fake_pool, &model, &names, rows, values)?;
        if python_out
            .iter()
            .map(|v| v.to_bits())
            .ne(fake_out.iter().map(|v| v.to_bits()))
        {
            bail!(
                "the Python and fake sidecars disagree on {rows} rows of {}",
                model.display()
            );
        }
        reference_outputs.insert(rows, python_out);
    }
    wait_for_standby(&python_pool)?;
    wait_for_standby(&fake_pool)?;

    let frames: BTreeMap<usize, Vec<u8>> = inputs
        .iter()
        .map(|(&rows, values)| Ok((rows, request_frame(&model, &names, rows, values)?)))
        .collect::<anyhow::Result<_>>()?;

    eprintln!("harness bench: starting mlflow models serve");
    let mut rest = RestServer::start(&python, &model, Duration::from_secs(180))?;
    let mut warm_http = HttpConnection::connect(rest.address())?;
    let bodies: BTreeMap<usize, Vec<u8>> = inputs
        .iter()
        .map(|(&rows, values)| (rows, dataframe_split_body(&INPUT_NAMES, values)))
        .collect();
    for (&rows, body) in &bodies {
        let predictions =
            rest_call(&mut warm_http, body).and_then(|body| parse_predictions(&body, "y"))?;
        let expected = &reference_outputs[&rows];
        let close = predictions.len() == expected.len()
            && predictions
                .iter()
                .zip(expected)
                .all(|(a, b)| (a - b).abs() <= 1e-5 * b.abs().max(1.0));
        if !close {
            bail!(
                "mlflow models serve returned other predictions than the sidecars for {rows} rows"
            );
        }
    }

    for round in 0..plan.rounds {
        eprintln!("harness bench: round {} of {}", round + 1, plan.rounds);
        let inprocess = run_inprocess(&python, &repo, &model, &plan)?;
        for (rows, seconds, meta) in inprocess {
            samples
                .entry("inprocess")
                .or_default()
                .entry(rows)
                .or_default()
                .extend(seconds);
            inprocess_meta.insert(format!("round{round}_{rows}"), meta);
        }
        for &rows in &plan.sizes {
            let values = &inputs[&rows];
            let block = measure(plan.block, || {
                predict(&python_pool, &model, &names, rows, values).map(drop)
            })?;
            samples
                .entry("python")
                .or_default()
                .entry(rows)
                .or_default()
                .extend(block);
            let block = measure(plan.block, || {
                predict(&fake_pool, &model, &names, rows, values).map(drop)
            })?;
            samples
                .entry("fake")
                .or_default()
                .entry(rows)
                .or_default()
                .extend(block);
            let frame = &frames[&rows];
            let block = measure(plan.block, || echo.round_trip(frame))?;
            samples
                .entry("echo")
                .or_default()
                .entry(rows)
                .or_default()
                .extend(block);
            // A new connection per block, because uvicorn closes one that
            // stayed idle for 5 s while the other paths ran.
            let mut http = HttpConnection::connect(rest.address())?;
            let body = &bodies[&rows];
            let block = measure(plan.rest_block, || rest_call(&mut http, body).map(drop))?;
            samples
                .entry("rest")
                .or_default()
                .entry(rows)
                .or_default()
                .extend(block);
        }
    }
    drop(warm_http);
    rest.stop();
    echo.stop()?;
    let pool_stats = json!({"python": format!("{:?}", python_pool.stats()), "fake": format!("{:?}", fake_pool.stats())});
    python_pool.shutdown();
    fake_pool.shutdown();
    drop((python_pool, fake_pool));

    eprintln!("harness bench: worker replacement after a timeout");
    let replace_python = replacements(&python_command, sockets.path(), &model, &hang, &plan)?;
    let replace_fake = replacements(&fake_command, sockets.path(), &model, &hang, &plan)?;

    eprintln!("harness bench: conformance suite wall time");
    let suite_fake = run_suite(&repo, &["--sidecar", "fake"]);
    let python_arg = python.display().to_string();
    let suite_python = run_suite(&repo, &["--sidecar", "python", "--python", &python_arg]);

    // Figures, ratios, table and JSON.
    let mut paths = BTreeMap::new();
    for (path, by_size) in &samples {
        let mut figures = BTreeMap::new();
        for (&rows, seconds) in by_size {
            if let Some(summary) = Summary::of(seconds) {
                let bytes = bytes_per_call(path, rows, frames.get(&rows).map_or(0, Vec::len));
                figures.insert(rows, PathFigures::new(summary, rows, bytes));
            }
        }
        paths.insert(path.to_string(), figures);
    }
    let mut report = BenchReport {
        machine: machine.finish(),
        quick: args.quick,
        sizes: plan.sizes.clone(),
        rounds: plan.rounds,
        paths,
        import_mlflow_pyfunc: Summary::of(&import_seconds),
        cold_start_python: Summary::of(&cold_python),
        cold_start_fake: Summary::of(&cold_fake),
        replacement_python: Summary::of(&replace_python),
        replacement_fake: Summary::of(&replace_fake),
        request_timeout_s: plan.request_timeout.as_secs_f64(),
        suite_fake,
        suite_python,
        ratios: Vec::new(),
        extra: json!({"inprocess": inprocess_meta, "pool_stats": pool_stats}),
    };
    report.ratios = ratios(&report);
    print_report(&report);
    if let Some((path, mut file)) = json_out {
        let text = serde_json::to_string_pretty(&report)?;
        std::io::Write::write_all(&mut file, (text + "\n").as_bytes())
            .with_context(|| format!("cannot write {}", path.display()))?;
        // A temporary file is private; the report is an ordinary file.
        let mode = <std::fs::Permissions as std::os::unix::fs::PermissionsExt>::from_mode(0o644);
        file.as_file()
            .set_permissions(mode)
            .with_context(|| format!("cannot write {}", path.display()))?;
        file.persist(&path)
            .with_context(|| format!("cannot write {}", path.display()))?;
        eprintln!("harness bench: wrote {}", path.display());
    }
    Ok(0)
}

/// Returns the interpreter: `--python`, else `.venv/bin/python` when it exists (not
/// canonicalized, so it stays inside the venv), else `python3`.
fn resolve_python(flag: Option<&Path>) -> PathBuf {
    if let Some(path) = flag {
        return std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    }
    let venv = Path::new(".venv/bin/python");
    if venv.is_file() {
        return std::path::absolute(venv).unwrap_or_else(|_| venv.to_path_buf());
    }
    PathBuf::from(MlflowConfig::default().python)
}

fn pool_config(
    command: SidecarCommand,
    sockets: &Path,
    workers: usize,
    standby: bool,
) -> PoolConfig {
    let mut config = PoolConfig::new(command, &MlflowConfig::default());
    config.workers = workers;
    config.standby = standby;
    config.request_timeout = Duration::from_secs(60);
    config.socket_parent = sockets.to_path_buf();
    config
}

fn predict(
    pool: &BlockingPool,
    model: &Path,
    names: &[String],
    rows: usize,
    values: &[f32],
) -> Result<Vec<f32>, ClientError> {
    pool.predict(PredictRequest {
        model_path: model,
        input_names: names,
        output_names: None,
        rows,
        values,
        timeout: None,
    })
    .map(|output| output.values)
}

/// Waits until the pool's standby worker is ready, so that its start does
/// not take CPU from the measurements. Bounded by 120 s.
fn wait_for_standby(pool: &BlockingPool) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(120);
    while pool.standby_pid().is_none() {
        if Instant::now() >= deadline {
            bail!("the standby worker did not start within 120 s");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Ok(())
}

/// Wall time of `python -c "import mlflow.pyfunc"`, `repeats` times.
fn time_import(python: &Path, repeats: usize) -> anyhow::Result<Vec<f64>> {
    let mut seconds = Vec::new();
    for _ in 0..repeats {
        let started = Instant::now();
        let status = Command::new(python)
            .args(["-c", "import mlflow.pyfunc"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .status()
            .with_context(|| format!("cannot run {}", python.display()))?;
        if !status.success() {
            bail!(
                "{} cannot import mlflow.pyfunc ({status}); run scripts/setup.sh",
                python.display()
            );
        }
        seconds.push(started.elapsed().as_secs_f64());
    }
    Ok(seconds)
}

/// Time from making a new pool to its first one-row prediction, including
/// the sidecar start and the model load, `repeats` times.
fn cold_starts(command: &SidecarCommand, model: &Path, repeats: usize) -> anyhow::Result<Vec<f64>> {
    let names: Vec<String> = INPUT_NAMES.iter().map(|name| name.to_string()).collect();
    let values = input_values(1, names.len());
    let mut seconds = Vec::new();
    for _ in 0..repeats {
        let sockets = tempfile::Builder::new().prefix("hb-").tempdir_in("/tmp")?;
        let started = Instant::now();
        let pool = BlockingPool::new(pool_config(command.clone(), sockets.path(), 2, true))?;
        predict(&pool, model, &names, 1, &values)?;
        seconds.push(started.elapsed().as_secs_f64());
        pool.shutdown();
    }
    Ok(seconds)
}

/// Time from a request timing out to the next successful prediction on the
/// same one-worker pool: killing and reaping the worker, taking the
/// standby, loading the model in it and predicting. Measured as the whole
/// span minus the timeout.
fn replacements(
    command: &SidecarCommand,
    sockets: &Path,
    model: &Path,
    hang: &Path,
    plan: &Plan,
) -> anyhow::Result<Vec<f64>> {
    let names: Vec<String> = INPUT_NAMES.iter().map(|name| name.to_string()).collect();
    let values = input_values(1, names.len());
    let hang_names = vec!["tenure".to_string(), "spend".to_string()];
    let mut config = pool_config(command.clone(), sockets, 1, true);
    config.request_timeout = plan.request_timeout;
    let pool = BlockingPool::new(config)?;
    predict(&pool, model, &names, 1, &values)?;

    let mut seconds = Vec::new();
    for _ in 0..plan.repeats {
        wait_for_standby(&pool)?;
        let started = Instant::now();
        match predict(&pool, hang, &hang_names, 1, &[1.0, 2.0]) {
            Err(err) if err.is_timeout() => {}
            Err(err) => bail!("expected a timeout from {}, got: {err}", hang.display()),
            Ok(_) => bail!("{} returned a prediction, but it must hang", hang.display()),
        }
        predict(&pool, model, &names, 1, &values)?;
        seconds.push((started.elapsed().saturating_sub(plan.request_timeout)).as_secs_f64());
    }
    pool.shutdown();
    Ok(seconds)
}

/// Sends one `dataframe_split` POST and fails on any status but 200.
fn rest_call(http: &mut HttpConnection, body: &[u8]) -> anyhow::Result<Vec<u8>> {
    let (status, response) = http.request("POST", "/invocations", Some(body))?;
    if status != 200 {
        bail!(
            "POST /invocations returned {status}: {}",
            String::from_utf8_lossy(&response[..response.len().min(300)])
        );
    }
    Ok(response)
}

/// Builds the predict request frame the client sends for `rows` rows, for the
/// echo path.
fn request_frame(
    model: &Path,
    names: &[String],
    rows: usize,
    values: &[f32],
) -> anyhow::Result<Vec<u8>> {
    let request = sidecar_protocol::Request::Predict {
        id: 1,
        model_path: model.display().to_string(),
        input_names: names.to_vec(),
        output_names: None,
        batch_size: u32::try_from(rows)?,
    };
    let payload = sidecar_protocol::payload::encode_f32s(values);
    let mut frame = bytes::BytesMut::new();
    sidecar_protocol::frame::encode_into(
        &request.to_header(),
        &payload,
        &Default::default(),
        &mut frame,
    )?;
    Ok(frame.to_vec())
}

/// Bytes one call moves through the socket, both directions: the echo
/// sends its frame and reads it back; a sidecar call sends the request
/// frame and reads a response of one FP32 output per row. `None` for paths
/// that do not use the protocol.
fn bytes_per_call(path: &str, rows: usize, request_frame_bytes: usize) -> Option<u64> {
    let response_bytes = 16 + 60 + rows * 4;
    match path {
        "echo" => Some(2 * request_frame_bytes as u64),
        "fake" | "python" => Some((request_frame_bytes + response_bytes) as u64),
        _ => None,
    }
}

/// Runs bench/inprocess.py once over every size.
fn run_inprocess(
    python: &Path,
    repo: &Path,
    model: &Path,
    plan: &Plan,
) -> anyhow::Result<Vec<(usize, Vec<f64>, serde_json::Value)>> {
    let script = repo.join("bench/inprocess.py");
    let sizes: Vec<String> = plan.sizes.iter().map(usize::to_string).collect();
    let output = run_bounded(
        Command::new(python)
            .arg(&script)
            .arg("--model")
            .arg(model)
            .arg("--sizes")
            .arg(sizes.join(","))
            .arg("--max-samples")
            .arg(plan.block.max_samples.to_string())
            .arg("--seconds")
            .arg(plan.block.soft_limit.as_secs_f64().to_string()),
        Duration::from_secs(600),
    )?;
    if !output.status.success() {
        bail!(
            "{} failed ({}): {}",
            script.display(),
            output.status,
            tail(&output.stderr)
        );
    }
    let mut results = Vec::new();
    let mut header = serde_json::Value::Null;
    for line in String::from_utf8_lossy(&output.stdout).lines() {
        let value: serde_json::Value = serde_json::from_str(line).with_context(|| {
            format!(
                "{} printed a line that is not JSON: {line:?}",
                script.display()
            )
        })?;
        let Some(rows) = value.get("rows").and_then(serde_json::Value::as_u64) else {
            header = value;
            continue;
        };
        let seconds: Vec<f64> = value
            .get("seconds")
            .and_then(serde_json::Value::as_array)
            .map(|list| list.iter().filter_map(serde_json::Value::as_f64).collect())
            .unwrap_or_default();
        let meta = json!({"output_sum": value.get("output_sum"), "startup": header.clone()});
        results.push((rows as usize, seconds, meta));
    }
    Ok(results)
}

/// Result of one conformance-suite run.
#[derive(Debug, Clone, Serialize)]
pub struct SuiteRun {
    /// The command line, for reproduction.
    pub command: String,
    /// Wall time in seconds, when the suite ran.
    pub seconds: Option<f64>,
    /// Exit status of `harness run`.
    pub exit_code: Option<i32>,
    /// Last line of its standard output (the summary), or why it did not run.
    pub summary: String,
}

/// Times `harness run --target reference <flags> integrationtest cases` with
/// the directories that exist.
fn run_suite(repo: &Path, flags: &[&str]) -> SuiteRun {
    let dirs: Vec<PathBuf> = ["integrationtest", "cases"]
        .iter()
        .map(|dir| repo.join(dir))
        .filter(|dir| dir.is_dir())
        .collect();
    let exe = std::env::current_exe().unwrap_or_else(|_| PathBuf::from("harness"));
    let mut command = Command::new(&exe);
    command
        .arg("run")
        .arg("--target")
        .arg("reference")
        .args(flags)
        .args(&dirs)
        .current_dir(repo);
    let display = format!(
        "{} run --target reference {} {}",
        exe.display(),
        flags.join(" "),
        dirs.iter()
            .map(|d| d.display().to_string())
            .collect::<Vec<_>>()
            .join(" ")
    );
    if dirs.is_empty() {
        return SuiteRun {
            command: display,
            seconds: None,
            exit_code: None,
            summary: "no integrationtest or cases directory".into(),
        };
    }
    let started = Instant::now();
    match run_bounded(&mut command, Duration::from_secs(900)) {
        Ok(output) => {
            let stdout = String::from_utf8_lossy(&output.stdout);
            let stderr = String::from_utf8_lossy(&output.stderr);
            let summary = stdout
                .lines()
                .chain(stderr.lines())
                .filter(|line| !line.trim().is_empty())
                .last()
                .unwrap_or("")
                .to_string();
            SuiteRun {
                command: display,
                seconds: Some(started.elapsed().as_secs_f64()),
                exit_code: output.status.code(),
                summary,
            }
        }
        Err(err) => SuiteRun {
            command: display,
            seconds: None,
            exit_code: None,
            summary: format!("{err:#}"),
        },
    }
}

/// Runs a command to completion with captured output, killing and reaping
/// it when it takes longer than `limit`.
fn run_bounded(command: &mut Command, limit: Duration) -> anyhow::Result<std::process::Output> {
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| format!("cannot run {command:?}"))?;
    let stdout = child.stdout.take();
    let stderr = child.stderr.take();
    let read = |pipe: Option<std::process::ChildStdout>| {
        std::thread::spawn(move || {
            let mut buffer = Vec::new();
            if let Some(mut pipe) = pipe {
                let _ = std::io::Read::read_to_end(&mut pipe, &mut buffer);
            }
            buffer
        })
    };
    let out_thread = read(stdout);
    let err_thread = std::thread::spawn(move || {
        let mut buffer = Vec::new();
        if let Some(mut pipe) = stderr {
            let _ = std::io::Read::read_to_end(&mut pipe, &mut buffer);
        }
        buffer
    });
    let deadline = Instant::now() + limit;
    let status = loop {
        if let Some(status) = child.try_wait()? {
            break status;
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            bail!("{command:?} did not finish within {limit:?} and was killed");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    Ok(std::process::Output {
        status,
        stdout: out_thread.join().unwrap_or_default(),
        stderr: err_thread.join().unwrap_or_default(),
    })
}

fn tail(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes);
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(5)..].join(" | ")
}
