# Sourced by tests/use_case/run.sh and tests/schemathesis/run.sh (bash): starts the default
# server binary (JHE_SERVER_BIN, default target/debug/examples/server; build it first with
# `cargo build --example server`) on a free loopback port with a fresh PostgreSQL database at
# 127.0.0.1:5432 (created with psql, seeded by the server on start, dropped on exit), and sets
# JHE to its URL. The server log is printed when the caller fails.

fresh_server_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
fresh_server_bin="${JHE_SERVER_BIN:-$fresh_server_root/target/debug/examples/server}"
PG_HOST="${JHE_PG_HOST:-127.0.0.1}"
PG_PORT="${JHE_PG_PORT:-5432}"
PG_USER="${JHE_PG_USER:-postgres}"

fresh_server_stop() {
  status=$?
  if [ -n "${fresh_server_pid:-}" ] && kill -0 "$fresh_server_pid" 2>/dev/null; then
    kill -TERM "$fresh_server_pid" 2>/dev/null || true
    wait "$fresh_server_pid" 2>/dev/null || true
  fi
  if [ "$status" -ne 0 ] && [ -f "${fresh_server_dir:-}/server.log" ]; then
    echo "--- server log (last 60 lines) ---" >&2
    tail -n 60 "$fresh_server_dir/server.log" >&2
  fi
  if [ -n "${fresh_server_db:-}" ]; then
    psql -h "$PG_HOST" -p "$PG_PORT" -U "$PG_USER" -d postgres -qAtc "DROP DATABASE IF EXISTS \"$fresh_server_db\" WITH (FORCE)" >/dev/null 2>&1 || true
  fi
  [ -n "${fresh_server_dir:-}" ] && rm -rf "$fresh_server_dir"
  exit "$status"
}

# fresh_server_start NAME: a fresh seeded server; sets JHE.
fresh_server_start() {
  if [ ! -x "$fresh_server_bin" ]; then
    echo "error: $fresh_server_bin not found: run cargo build --example server" >&2
    return 1
  fi
  fresh_server_dir="$(mktemp -d)"
  fresh_server_db="jhe_$1_$$"
  trap fresh_server_stop EXIT
  trap 'exit 130' INT TERM
  psql -h "$PG_HOST" -p "$PG_PORT" -U "$PG_USER" -d postgres -v ON_ERROR_STOP=1 -qAtc "CREATE DATABASE \"$fresh_server_db\""
  local port
  port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
  JHE="http://127.0.0.1:$port"
  # Nothing of the caller's JHE configuration leaks in; the cwd is empty (no .env is read).
  (cd "$fresh_server_dir" && exec env -i PATH="$PATH" HOME="$fresh_server_dir" NO_COLOR=1 \
      RUST_LOG="${RUST_LOG:-info,sqlx=warn,sea_orm=warn,sea_orm_migration=warn}" \
      DATABASE_URL="postgres://$PG_USER@$PG_HOST:$PG_PORT/$fresh_server_db" SITE_URL="$JHE" \
      JHE_MAIL_DIR="$fresh_server_dir/mail" JHE_SEED_ON_EMPTY=true \
      "$fresh_server_bin" serve --bind "127.0.0.1:$port" >"$fresh_server_dir/server.log" 2>&1) &
  fresh_server_pid=$!
  for _ in $(seq 1 900); do
    if curl -sf -o /dev/null "$JHE/ready"; then
      export JHE
      return 0
    fi
    if ! kill -0 "$fresh_server_pid" 2>/dev/null; then
      echo "error: the server exited" >&2
      return 1
    fi
    sleep 0.2
  done
  echo "error: the server was not ready within 180 s" >&2
  return 1
}
