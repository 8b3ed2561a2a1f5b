#!/usr/bin/env bash
# Installs what the kit and its tests need on a Debian machine:
# Go (for the Go protocol client), the mariadb command-line client (for
# the `harness serve` tests), and a Python venv in .venv with the
# sidecar runtime and the test tools. Safe to run again; it skips what is
# already there.
set -euo pipefail
cd "$(dirname "$0")/.."

apt_packages=()
command -v go >/dev/null 2>&1 || apt_packages+=(golang-go)
command -v mariadb >/dev/null 2>&1 || apt_packages+=(mariadb-client)
if ((${#apt_packages[@]})); then
  if [[ $(id -u) -ne 0 ]]; then
    echo "setup: missing Debian packages: ${apt_packages[*]}; install them with apt-get as root" >&2
    exit 1
  fi
  echo "setup: installing ${apt_packages[*]} with apt-get"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${apt_packages[@]}" >/dev/null
fi

python=${PYTHON:-python3}
stamp=.venv/.requirements.sha256
want=$(cat sidecar/requirements.txt requirements-dev.txt | sha256sum | cut -d' ' -f1)
if [[ ! -x .venv/bin/python || ! -f $stamp || $(cat "$stamp") != "$want" ]]; then
  echo "setup: creating .venv and installing sidecar/requirements.txt and requirements-dev.txt"
  "$python" -m venv .venv
  .venv/bin/pip install -q -r requirements-dev.txt
  echo "$want" > "$stamp"
fi
.venv/bin/python -c 'import mlflow.pyfunc, numpy, pandas' \
  || { echo "setup: the venv cannot import mlflow; delete .venv and run again" >&2; exit 1; }
echo "setup: ready (python: .venv/bin/python)"
