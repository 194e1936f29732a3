#!/usr/bin/env bash
# schemathesis over the served OpenAPI document (/api/schema/openapi.json) against a fresh
# server on PostgreSQL, once with the demo superuser's token and once with a manager's (mary),
# checking `not_a_server_error` and `response_schema_conformance`. Any finding fails the run.
#
# Bounded: JHE_SCHEMATHESIS_MAX_EXAMPLES examples per operation (default 8) and a fixed seed,
# so a run takes a few minutes on 2 cores. schemathesis is installed (pinned in
# requirements.txt) into a venv under target/. Build the server first:
#   cargo build --example server && bash tests/schemathesis/run.sh
# Extra arguments go to `schemathesis run` (e.g. --include-path-regex '^/api/v1/studies').
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
venv="$root/target/schemathesis-venv"

if [ ! -x "$venv/bin/schemathesis" ]; then
  python3 -m venv "$venv"
fi
"$venv/bin/python" -m pip install -q --disable-pip-version-check -r "$here/requirements.txt"

source "$root/tests/fresh_server.sh"
fresh_server_start schemathesis

jar_dir="$(mktemp -d)"
# token EMAIL: the login form, then /o/authorize/ (PKCE S256) and /o/token/ for the portal's
# client; prints the access token.
token() {
  local jar="$jar_dir/$1" csrf client_id verifier challenge location code
  csrf=$(curl -sS -c "$jar" -b "$jar" "$JHE/accounts/login/" |
    sed -n 's/.*name="csrfmiddlewaretoken" value="\([^"]*\)".*/\1/p' | head -n 1)
  curl -sS -o /dev/null -c "$jar" -b "$jar" -X POST "$JHE/accounts/login/" \
    --data-urlencode "csrfmiddlewaretoken=$csrf" --data-urlencode "username=$1" \
    --data-urlencode 'password=Jhe1234!'
  client_id=$(curl -sS "$JHE/portal/client_settings.js" | sed -n 's/.*client_id: *"\([^"]*\)".*/\1/p')
  verifier=$(openssl rand -hex 32)
  challenge=$(printf '%s' "$verifier" | openssl dgst -sha256 -binary | openssl base64 -A | tr '+/' '-_' | tr -d '=')
  location=$(curl -sS -o /dev/null -w '%{redirect_url}' -b "$jar" -G "$JHE/o/authorize/" \
    --data-urlencode response_type=code --data-urlencode "client_id=$client_id" \
    --data-urlencode "redirect_uri=$JHE/auth/callback" --data-urlencode 'scope=openid email' \
    --data-urlencode "code_challenge=$challenge" --data-urlencode code_challenge_method=S256)
  code=$(printf '%s' "$location" | sed -n 's/.*[?&]code=\([^&]*\).*/\1/p')
  curl -sS -f -X POST "$JHE/o/token/" -d grant_type=authorization_code -d "code=$code" \
    --data-urlencode "redirect_uri=$JHE/auth/callback" -d "client_id=$client_id" \
    -d "code_verifier=$verifier" | "$venv/bin/python" -c 'import json,sys; print(json.load(sys.stdin)["access_token"])'
}

status=0
for who in mary@example.com sam@example.com; do
  echo "== schemathesis as $who"
  bearer="$(token "$who")"
  "$venv/bin/schemathesis" run "$JHE/api/schema/openapi.json" \
    --base-url "$JHE" \
    -H "Authorization: Bearer $bearer" \
    --checks not_a_server_error,response_schema_conformance \
    --hypothesis-max-examples "${JHE_SCHEMATHESIS_MAX_EXAMPLES:-8}" \
    --hypothesis-seed "${JHE_SCHEMATHESIS_SEED:-20261207}" \
    --hypothesis-deadline none \
    --hypothesis-suppress-health-check all \
    --hypothesis-derandomize \
    --request-timeout 30000 \
    --no-color "$@" || status=$?
done
rm -rf "$jar_dir"
exit "$status"
