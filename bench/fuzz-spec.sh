#!/usr/bin/env bash
# Runs schemathesis against a local server over every operation of the served spec (not
# part of CI: it is slow and random). A debug build, SQLite in a temp dir, loopback, rate
# limits off, an admin created with the CLI; the bearer token goes in a header.
#
#   bench/fuzz-spec.sh [extra schemathesis args]     e.g. --max-examples 20
#
# Needs Python 3 and curl; schemathesis is installed into target/fuzz-venv on first use.
# Calls go with an API key (as a bearer token) rather than the login's access token: the
# fuzzer also calls POST /v1/auth/logout, which would end a token session half-way.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
VENV=${VENV:-$ROOT/target/fuzz-venv}
PORT=${PORT:-3917}

if [ ! -x "$VENV/bin/schemathesis" ]; then
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q schemathesis
fi
cargo build -q
BIN=${CARGO_TARGET_DIR:-$ROOT/target}/debug/ai-service

WORK=$(mktemp -d)
cleanup() { [ -n "${PID:-}" ] && kill "$PID" 2>/dev/null || true; rm -rf "$WORK"; }
trap cleanup EXIT
export DATABASE_URL="sqlite://$WORK/data/fuzz.db" HOST=127.0.0.1 PORT
export APP__RATE_LIMIT__PER_IP_PER_MINUTE=1000000 APP__RATE_LIMIT__PER_CREDENTIAL_PER_MINUTE=1000000 \
       APP__RATE_LIMIT__LOGIN_PER_MINUTE=1000000
cd "$WORK"
"$BIN" migrate >/dev/null
PASSWORD=fuzz-password-0123456789
echo "$PASSWORD" | "$BIN" user create --username fuzz --role admin >/dev/null
"$BIN" serve >"$WORK/server.log" 2>&1 &
PID=$!
for _ in $(seq 100); do
  curl -sf "http://127.0.0.1:$PORT/health/ready" >/dev/null && break
  sleep 0.1
done
TOKEN=$(curl -sf "http://127.0.0.1:$PORT/v1/auth/login" -H 'content-type: application/json' \
  -d "{\"username\":\"fuzz\",\"password\":\"$PASSWORD\"}" | python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])')
KEY=$(curl -sf "http://127.0.0.1:$PORT/v1/api-keys" -H "authorization: Bearer $TOKEN" \
  -H 'content-type: application/json' -d '{"name":"fuzz","role":"admin"}' \
  | python3 -c 'import json,sys; print(json.load(sys.stdin)["secret"])')

# Our credential is supplied; schemathesis must not try to sign up through the spec.
# 422 is this API's answer to a schema-valid request that is semantically wrong: a reference
# to an account/category/profile that does not exist, a file that is not the named format, an
# unknown connector. The spec documents it on those operations; schemathesis's
# positive-data check is told so (its default list has 404/409 but not 422).
cat >"$WORK/schemathesis.toml" <<'TOML'
[auth]
auto-signup = false

[checks.positive_data_acceptance]
expected-statuses = ["2xx", "3xx", "401", "403", "404", "409", "422", "429"]
TOML
set +e
"$VENV/bin/schemathesis" --config-file "$WORK/schemathesis.toml" run "http://127.0.0.1:$PORT/openapi.json" \
  --checks all --phases "${PHASES:-examples,coverage,fuzzing,stateful}" \
  --generation-with-security-parameters false \
  -H "Authorization: Bearer $KEY" "$@"
STATUS=$?
echo "server log: 5xx lines"; grep -c '"status":5' "$WORK/server.log" || true
exit $STATUS
