//! The pool's warm standby worker and its splitting of calls over workers,
//! against the real fake-sidecar binary and the real Python sidecar.
//! Replacement time is measured by `harness bench`, not asserted here.

use crate::support;

use std::path::Path;
use std::time::{Duration, Instant};

use harness::sidecar::{BlockingPool, ClientError, PredictRequest, SidecarCommand};

use support::*;

fn names(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

fn predict(
    pool: &BlockingPool,
    model: &Path,
    inputs: &[String],
    rows: usize,
    values: &[f32],
) -> Result<Vec<f32>, ClientError> {
    pool.predict(PredictRequest {
        model_path: model,
        input_names: inputs,
        output_names: None,
        rows,
        values,
        timeout: None,
    })
    .map(|output| output.values)
}

/// Waits up to 60 s for a standby worker and returns its pid.
fn standby_pid(pool: &BlockingPool) -> u32 {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(pid) = pool.standby_pid() {
            return pid;
        }
        assert!(Instant::now() < deadline, "no standby worker within 60 s");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// After a timeout, the standby takes the slot and a new standby starts.
fn check_standby_after_timeout(command: SidecarCommand) {
    let mut pool = TestPool::new(command, |c| {
        c.workers = 1;
        c.standby = true;
        c.request_timeout = Duration::from_millis(700);
    });
    let inputs = names(&["tenure", "spend"]);
    let good = fixture("mlflow/churn");
    predict(pool.pool(), &good, &inputs, 1, &[1.0, 2.0]).expect("warm-up");
    let first = pool.pool().worker_pids()[0].expect("worker running");
    let spare = standby_pid(pool.pool());
    assert_ne!(first, spare, "the standby is a process of its own");

    let err = predict(
        pool.pool(),
        &fixture("mlflow/faults/hang"),
        &inputs,
        1,
        &[1.0, 2.0],
    )
    .unwrap_err();
    assert!(err.is_timeout(), "expected a timeout, got {err}");
    assert!(
        !process_exists(first),
        "timed-out worker {first} killed and reaped"
    );

    predict(pool.pool(), &good, &inputs, 1, &[1.0, 2.0]).expect("call after the timeout");
    assert_eq!(
        pool.pool().worker_pids(),
        vec![Some(spare)],
        "the standby took the slot"
    );
    let stats = pool.pool().stats();
    assert_eq!(stats.standby_takes, 1);
    assert_eq!(stats.replacements, 1);

    let next_spare = standby_pid(pool.pool());
    assert_ne!(next_spare, spare, "a new standby started");
    assert_eq!(pool.pool().stats().standby_launches, 2);
    pool.close();
}

#[test]
fn standby_after_timeout_fake() {
    check_standby_after_timeout(fake_command());
}

#[test]
fn standby_after_timeout_python() {
    check_standby_after_timeout(python_command());
}

#[test]
fn standby_after_crash_python() {
    let mut pool = TestPool::new(python_command(), |c| {
        c.workers = 1;
        c.standby = true;
    });
    let inputs = names(&["tenure", "spend"]);
    let model = fixture("mlflow/faults/crash2");
    predict(pool.pool(), &model, &inputs, 1, &[1.0, 2.0]).expect("first predict");
    let spare = standby_pid(pool.pool());

    let err = predict(pool.pool(), &model, &inputs, 1, &[1.0, 2.0]).unwrap_err();
    assert!(
        matches!(err, ClientError::Died { .. }),
        "expected Died, got {err}"
    );

    // The standby has not run crash2 yet, so its first predict works.
    predict(pool.pool(), &model, &inputs, 1, &[1.0, 2.0]).expect("standby serves");
    assert_eq!(pool.pool().worker_pids(), vec![Some(spare)]);
    pool.close();
}

#[test]
fn standby_reaped_on_shutdown() {
    let mut pool = TestPool::new(fake_command(), |c| c.standby = true);
    pool.pool().ping(0).expect("ping");
    let spare = standby_pid(pool.pool());
    // close() checks that the standby process is gone too.
    pool.close();
    assert!(!process_exists(spare), "standby {spare} reaped");
}

#[test]
fn shutdown_during_standby_start() {
    // The Python sidecar takes seconds to start, so the standby is still
    // starting when the pool shuts down; close() checks that no socket
    // directory is left, which means the starting process was reaped.
    let mut pool = TestPool::new(python_command(), |c| {
        c.workers = 1;
        c.standby = true;
    });
    pool.pool().ping(0).expect("ping");
    pool.close();
}

#[test]
fn standby_disabled_starts_none() {
    let mut pool = TestPool::new(fake_command(), |c| c.standby = false);
    pool.pool().ping(0).expect("ping");
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(pool.pool().standby_pid(), None);
    assert_eq!(pool.pool().stats().launches, 1);
    pool.close();
}

#[test]
fn large_call_split_over_workers() {
    let mut pool = TestPool::new(fake_command(), |c| {
        c.max_batch_size = 8192;
        c.min_split_rows = 2048;
    });
    let model = fixture("mlflow/churn_linear");
    let inputs = names(&["tenure", "spend"]);

    let rows = 8192;
    let values: Vec<f32> = (0..rows)
        .flat_map(|i| [i as f32, (i % 31) as f32])
        .collect();
    let out = predict(pool.pool(), &model, &inputs, rows, &values).expect("8192 rows");
    assert_same_bits(
        &out,
        &spec_eval("mlflow/churn_linear", &inputs, rows, &values),
        "8192 rows",
    );
    assert_eq!(pool.pool().stats().requests, 2, "one batch per worker");
    let pids = pool.pool().worker_pids();
    assert!(
        pids.iter().all(Option::is_some),
        "both workers used: {pids:?}"
    );

    // 3000 rows make one batch: two would hold fewer than 2048 rows each.
    let rows = 3000;
    let values: Vec<f32> = (0..rows).flat_map(|i| [i as f32, 1.0]).collect();
    let out = predict(pool.pool(), &model, &inputs, rows, &values).expect("3000 rows");
    assert_same_bits(
        &out,
        &spec_eval("mlflow/churn_linear", &inputs, rows, &values),
        "3000 rows",
    );
    assert_eq!(pool.pool().stats().requests, 3);

    // 20,000 rows over max 8192 make three batches of equal size.
    let rows = 20_000;
    let values: Vec<f32> = (0..rows)
        .flat_map(|i| [(i % 500) as f32, i as f32])
        .collect();
    let out = predict(pool.pool(), &model, &inputs, rows, &values).expect("20000 rows");
    assert_same_bits(
        &out,
        &spec_eval("mlflow/churn_linear", &inputs, rows, &values),
        "20000 rows",
    );
    assert_eq!(pool.pool().stats().requests, 6);
    pool.close();
}
