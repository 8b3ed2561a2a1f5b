#!/usr/bin/env bash
# The test command: installs what the tests need, then runs the Rust tests
# (which start the fake sidecar, the Python sidecar and an S3 server on
# 127.0.0.1 themselves) and the Go client's tests.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/setup.sh
export HARNESS_PYTHON="$PWD/.venv/bin/python"

cargo build --workspace --bins
cargo test --workspace

.venv/bin/python -m unittest discover -s sidecar/tests

(cd fake-sidecar/go && FAKE_SIDECAR_BIN="$PWD/../../target/debug/fake-sidecar" go test ./...)
