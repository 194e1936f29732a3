#!/usr/bin/env bash
# The README's use case (examples/use_case.sh) against a fresh server on PostgreSQL.
# Build the server first: cargo build --example server
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
source "$here/../fresh_server.sh"
fresh_server_start use_case
sh "$here/../../examples/use_case.sh"
