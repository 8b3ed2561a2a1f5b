//! Integration tests of the harness, linked into one binary: each
//! binary links the whole crate with tract and the S3 client, so one
//! binary instead of one per file saves minutes of linking and gigabytes
//! of disk.

mod artifact_cache;
mod artifact_s3;
mod backends;
mod checksum_coreutils;
mod cli_artifact;
mod cli_bench;
mod cli_predict;
mod cli_run;
mod cli_run_live;
mod conformance;
mod engine_models;
mod fault_cases;
mod mlmodel_validation;
mod mysql_target;
mod onnx_backend;
mod runner;
mod serve;
mod sidecar_client;
mod sidecar_parity;
mod sidecar_standby;
mod socket_hygiene;
mod transcripts;
mod runner_support;
mod support;
