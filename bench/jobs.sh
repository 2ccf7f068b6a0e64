#!/usr/bin/env bash
# Jobs benchmark (not a test): in-process actor message rate (target >= 200k/s) and durable
# no-op jobs enqueue and claim->complete on SQLite and Postgres, next to Node.js BullMQ 5 on
# Redis run in the same script (target: ours >= BullMQ on both backends).
#   bench/jobs.sh [postgres://postgres@127.0.0.1:5432/postgres]
# JOBS=n (default 10000), CONCURRENCY=n (default 100, both sides), ROUNDS=n (default 1; each
# round runs ours, then BullMQ), REDIS_URL (default redis://127.0.0.1:6379). BullMQ is
# installed with npm into a temp dir (npm registry); without node/npm or Redis it is skipped.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/cache/ai-service-target}"
export JOBS="${JOBS:-10000}" CONCURRENCY="${CONCURRENCY:-100}"
export REDIS_URL="${REDIS_URL:-redis://127.0.0.1:6379}"
rounds="${ROUNDS:-1}"
pg="${1:-${TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/postgres}}"

cargo build --release --quiet --example bench_jobs
bin="$CARGO_TARGET_DIR/release/examples/bench_jobs"
args=()
if pg_isready -q -d "$pg" 2>/dev/null; then
    args=(--postgres "$pg")
else
    echo "Postgres not reachable at $pg; SQLite only" >&2
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
bullmq=""
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
    echo "node/npm not found: BullMQ comparison skipped (install Node.js 18+ to run it)" >&2
elif ! (cd "$tmp" && npm install --silent --no-audit --no-fund --no-save bullmq@5 >/dev/null 2>&1); then
    echo "npm install bullmq@5 failed (no registry access?): BullMQ comparison skipped" >&2
else
    cp bench/bullmq.mjs "$tmp/"
    bullmq=$(cd "$tmp" && node -e 'console.log(require("bullmq/package.json").version)')
fi

out="$tmp/results"
for r in $(seq 1 "$rounds"); do
    echo "== round $r: $JOBS jobs, concurrency $CONCURRENCY"
    "$bin" "${args[@]}" | tee -a "$out"
    if [ -n "$bullmq" ]; then
        (cd "$tmp" && node bullmq.mjs) | tee -a "$out" || echo "BullMQ run failed (Redis at $REDIS_URL?)" >&2
    fi
done

# Side by side: claim->complete per backend and round, as a ratio to BullMQ in the same round.
echo
echo "durable no-op jobs claim->complete ($JOBS jobs, concurrency $CONCURRENCY${bullmq:+, BullMQ $bullmq}):"
awk '
    /no-op jobs:/ {
        for (i = 1; i <= NF; i++) if ($i == "claim->complete") { v = $(i + 1); sub("/s.*", "", v) }
        if ($1 == "sqlite") r++
        rate[r, $1] = v
    }
    END {
        for (k = 1; k <= r; k++) {
            b = rate[k, "bullmq"]
            line = sprintf("  round %d:", k)
            split("sqlite postgres bullmq", names, " ")
            for (j = 1; j <= 3; j++) {
                n = names[j]
                if ((k, n) in rate) {
                    line = line sprintf("  %s %s/s", n, rate[k, n])
                    if (b > 0 && n != "bullmq") line = line sprintf(" (%.2fx)", rate[k, n] / b)
                }
            }
            print line
        }
    }
' "$out"
