#!/usr/bin/env bash
# Login memory benchmark (not a test): builds release, starts it on loopback with rate limits
# off, fires N failed logins (unknown user, so each costs one argon2id verification of 19 MiB)
# at concurrency C, and samples the server's memory from /proc:
#  - idle RSS before the load;
#  - peak RSS during the load (VmHWM, the kernel's high-water mark; target <= 96 MB);
#  - RSS 10 s after the load (target <= 40 MB).
# Knobs (environment):
#   PERMITS=2               auth.max_concurrent_hashes (1000 ~ the old unbounded behaviour)
#   WAIT_MS=1000            auth.hash_wait_timeout_ms
#   N=1000 C=32             requests and concurrency
#   MALLOC_ENV="..."        extra environment for the server, e.g. "MALLOC_ARENA_MAX=2"
#   BIN=path                use this binary instead of building one (compare saved builds)
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/cache/ai-service-target}"
permits="${PERMITS:-2}"
wait_ms="${WAIT_MS:-1000}"
n="${N:-1000}"
c="${C:-32}"
work="$(mktemp -d)"
if [[ -n "${BIN:-}" ]]; then
    cp "$BIN" "$work/ai-service"
else
    cargo build --release --quiet
    cp "$CARGO_TARGET_DIR/release/ai-service" "$work/ai-service"
fi
trap 'rm -rf "$work"; [[ -n "${pid:-}" ]] && kill "$pid" 2>/dev/null || true' EXIT

port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
# shellcheck disable=SC2086
env ${MALLOC_ENV:-} \
    DATABASE_URL="sqlite://$work/ai.db" PORT="$port" RUST_LOG=warn \
    APP__AUTH__JWT_SECRET="bench-signing-key-0123456789-abcdefghijklmnop" \
    APP__SECURITY__MASTER_KEY="AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=" \
    APP__RATE_LIMIT__PER_IP_PER_MINUTE=0 APP__RATE_LIMIT__PER_CREDENTIAL_PER_MINUTE=0 \
    APP__RATE_LIMIT__LOGIN_PER_MINUTE=0 \
    APP__AUTH__MAX_CONCURRENT_HASHES="$permits" APP__AUTH__HASH_WAIT_TIMEOUT_MS="$wait_ms" \
    "$work/ai-service" >/dev/null 2>&1 &
pid=$!
until curl -fs -o /dev/null "http://127.0.0.1:$port/health/ready"; do
    kill -0 "$pid" 2>/dev/null || { echo "server exited" >&2; exit 1; }
    sleep 0.05
done
kb() { awk -v k="$1:" '$1 == k {print $2}' "/proc/$pid/status"; }
sleep 2
idle_kb="$(kb VmRSS)"

start_ms="$(date +%s%3N)"
statuses="$(python3 - "$port" "$n" "$c" <<'PY'
import collections, http.client, json, sys, threading
port, n, c = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
body = json.dumps({"username": "nobody", "password": "wrong-password-123"})
lock, counts, left = threading.Lock(), collections.Counter(), [n]
def worker():
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    while True:
        with lock:
            if left[0] == 0:
                return
            left[0] -= 1
        try:
            conn.request("POST", "/v1/auth/login", body, {"content-type": "application/json"})
            r = conn.getresponse(); r.read(); status = r.status
        except Exception:
            conn.close(); conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
            status = "error"
        with lock:
            counts[status] += 1
ts = [threading.Thread(target=worker) for _ in range(c)]
for t in ts: t.start()
for t in ts: t.join()
print(" ".join(f"{k}x{v}" for k, v in sorted(counts.items(), key=str)))
PY
)"
load_ms=$(( $(date +%s%3N) - start_ms ))
peak_kb="$(kb VmHWM)"
end_kb="$(kb VmRSS)"
sleep 10
after_kb="$(kb VmRSS)"
kill -TERM "$pid"; wait "$pid" || true; pid=""

mb() { awk -v kb="$1" 'BEGIN { printf "%.1f", kb / 1024 }'; }
echo "${BIN:+binary $BIN }permits=$permits wait_ms=$wait_ms ${MALLOC_ENV:-} requests=$n concurrency=$c"
echo "statuses: $statuses in ${load_ms} ms"
printf '%-28s %10s %10s\n' "" "measured" "target"
printf '%-28s %7s MB %10s\n' "idle RSS before" "$(mb "$idle_kb")" "-"
printf '%-28s %7s MB %7s MB\n' "peak RSS (VmHWM)" "$(mb "$peak_kb")" "96"
printf '%-28s %7s MB %10s\n' "RSS at end of load" "$(mb "$end_kb")" "-"
printf '%-28s %7s MB %7s MB\n' "RSS 10 s after" "$(mb "$after_kb")" "40"
