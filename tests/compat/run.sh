#!/usr/bin/env bash
# The compatibility suite: jupyterhealth-client (pinned in requirements.txt) against the default
# server binary (JHE_SERVER_BIN, default target/debug/examples/server) on a fresh PostgreSQL
# database at 127.0.0.1:5432. Build the server first: cargo build --example server
# Extra arguments go to pytest (e.g. -k observations, -x).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
venv="$here/.venv"

if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv"
fi
"$venv/bin/python" -m pip install -q --disable-pip-version-check -r "$here/requirements.txt"

export JHE_SERVER_BIN="${JHE_SERVER_BIN:-$root/target/debug/examples/server}"
cd "$root"
status=0
"$venv/bin/python" -m pytest -q -p no:cacheprovider --rootdir "$here" "$here" "$@" || status=$?
if [ "$status" -eq 5 ]; then
  echo "compat: pytest collected no tests" >&2
  exit 1
fi
exit "$status"
