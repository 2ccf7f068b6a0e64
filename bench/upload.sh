#!/usr/bin/env bash
# Upload memory benchmark (not a test): the release binary on a fresh SQLite file, with the
# `finance` queue not dispatched (so only the upload is measured), then
#  - a 200 MB upload (refused at the 50 MiB limit with 413) and
#  - a ~45 MB CSV statement (accepted: spooled to a temporary file, stored in 1 MiB chunks),
# printing the process's RSS before, its peak (VmHWM) during each upload, and RSS 10 s after.
# Then a second start with every queue runs that import (~500k rows) and prints the job's
# peak and what stays 10 s after: the parse and ingest hold the whole statement in memory.
# Reference (before streaming, 2026-12): the 200 MB upload peaked at ~150 MB and kept ~120 MB.
# Target: the upload itself holds no more than ~2 chunks (the peak above idle stays small).
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/cache/ai-service-release}"
cargo build --release --quiet
bin="$CARGO_TARGET_DIR/release/ai-service"
work="$(mktemp -d)"
trap 'rm -rf "$work"; [[ -n "${pid:-}" ]] && kill "$pid" 2>/dev/null || true' EXIT

port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
url="sqlite://$work/data/ai.db"
printf 'bench-owner-password-1\n' | DATABASE_URL="$url" "$bin" user create --username owner --role admin >/dev/null
DATABASE_URL="$url" PORT="$port" RUST_LOG=warn APP__RATE_LIMIT__PER_IP_PER_MINUTE=100000 \
    APP__JOBS__QUEUES=trading "$bin" >/dev/null 2>"$work/server.log" &
pid=$!
base="http://127.0.0.1:$port"
until curl -fs -o /dev/null "$base/health/ready"; do sleep 0.05; done

rss() { awk '/VmRSS/ {printf "%.1f", $2/1024}' "/proc/$pid/status"; }
hwm() { awk '/VmHWM/ {printf "%.1f", $2/1024}' "/proc/$pid/status"; }
# VmHWM only grows: reset it before each upload (writing 5 to clear_refs resets the peak).
reset_peak() { echo 5 > "/proc/$pid/clear_refs" 2>/dev/null || true; }

token="$(curl -fs "$base/v1/auth/login" -H 'content-type: application/json' \
    -d '{"username":"owner","password":"bench-owner-password-1"}' | python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])')"
auth=(-H "authorization: Bearer $token")
acc="$(curl -fs "${auth[@]}" "$base/v1/financial/accounts" -H 'content-type: application/json' \
    -d '{"name":"Bench","account_type":"checking","currency":"EUR"}' | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')"
profile="$(curl -fs "${auth[@]}" "$base/v1/financial/csv-profiles" -H 'content-type: application/json' \
    -d '{"name":"plain","profile":{"columns":{"date":"date","description":"description","amount":"amount"}}}' \
    | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')"

head -c $((200 * 1024 * 1024)) /dev/zero | tr '\0' 'x' > "$work/huge.bin"
python3 - "$work/big.csv" <<'EOF'
import sys
with open(sys.argv[1], "w") as f:
    f.write("date,description,amount\n")
    n = 0
    while f.tell() < 45 * 1024 * 1024:
        f.write(f"2025-{1 + n % 12:02d}-{1 + n % 28:02d},{'shop %d' % n:<80},-{n % 900}.{n % 100:02d}\n")
        n += 1
EOF

idle="$(rss)"
printf 'idle RSS before uploads: %s MB\n' "$idle"
for case in "huge.bin:200 MB (over the limit)" "big.csv:45 MB CSV"; do
    file="${case%%:*}"; label="${case#*:}"
    reset_peak
    code="$(curl -s -o "$work/out.json" -w '%{http_code}' "${auth[@]}" "$base/v1/financial/imports" \
        -F "account_id=$acc" -F "profile_id=$profile" -F "file=@$work/$file" || true)"
    printf '%-28s HTTP %s, peak RSS during upload %s MB (reference before streaming: ~150 MB for 200 MB)\n' \
        "$label" "$code" "$(hwm)"
done
sleep 10
printf 'RSS 10 s after the uploads: %s MB (reference: ~120 MB kept after a 200 MB upload)\n' "$(rss)"
kill -TERM "$pid"; wait "$pid" || true; pid=""

# The queued import, run by a fresh process.
DATABASE_URL="$url" PORT="$port" RUST_LOG=warn APP__RATE_LIMIT__PER_IP_PER_MINUTE=100000 "$bin" >/dev/null 2>>"$work/server.log" &
pid=$!
until curl -fs -o /dev/null "$base/health/ready"; do sleep 0.05; done
token="$(curl -fs "$base/v1/auth/login" -H 'content-type: application/json' \
    -d '{"username":"owner","password":"bench-owner-password-1"}' | python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])')"
auth=(-H "authorization: Bearer $token")
started=$(date +%s)
# A list that is not JSON (a 5xx while the import holds the write lock) just means "not yet".
until curl -s "${auth[@]}" "$base/v1/financial/imports" > "$work/list.json" && python3 - "$work/list.json" <<'PY'
import json, sys
try:
    rows = json.load(open(sys.argv[1]))
except ValueError:
    print("list not readable yet:", open(sys.argv[1]).read()[:200], file=sys.stderr)
    sys.exit(1)
sys.exit(0 if all(i["status"] in ("completed", "failed") for i in rows) else 1)
PY
do
    sleep 0.5
done
summary="$(python3 -c 'import json,sys; i=json.load(open(sys.argv[1]))[0]; print(i["status"], i["inserted"], "rows")' "$work/list.json")"
printf 'import job: %s in %ss, peak RSS %s MB\n' "$summary" "$(( $(date +%s) - started ))" "$(hwm)"
sleep 10
printf 'RSS 10 s after the import: %s MB\n' "$(rss)"
kill -TERM "$pid"; wait "$pid" || true; pid=""
