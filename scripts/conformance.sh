#!/usr/bin/env bash
# The main job: the conformance suite (integrationtest/ and cases/) on the
# embedded reference engine, once with the fake sidecar and once with the
# real Python MLflow sidecar. Extra arguments go to both `harness run`s.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/setup.sh
cargo build --release --workspace --bins
harness=target/release/harness
export FAKE_SIDECAR_BIN="$PWD/target/release/fake-sidecar"

status=0
echo "== conformance suite, fake sidecar"
"$harness" run --sidecar fake "$@" integrationtest cases || status=1
echo "== conformance suite, Python sidecar"
"$harness" run --sidecar python --python .venv/bin/python "$@" integrationtest cases || status=1
exit $status
