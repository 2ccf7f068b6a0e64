#!/usr/bin/env bash
# Jobs benchmark (not a test): in-process actor message rate (target >= 200k/s) and durable
# no-op job throughput on SQLite and Postgres. JOBS=n changes the job count (default 2000).
#   bench/jobs.sh [postgres://postgres@127.0.0.1:5432/postgres]
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/cache/ai-service-target}"
pg="${1:-${TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/postgres}}"
if pg_isready -q -d "$pg" 2>/dev/null; then
    cargo run --release --quiet --example bench_jobs -- --postgres "$pg"
else
    echo "Postgres not reachable at $pg; SQLite only" >&2
    cargo run --release --quiet --example bench_jobs
fi
