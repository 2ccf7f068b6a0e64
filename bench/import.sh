#!/usr/bin/env bash
# Import benchmark (not a test): a generated 100k-row CSV imported twice on SQLite and
# Postgres (rows/s; targets >= 50k/s first import on SQLite, >= 100k/s re-import adding 0),
# and the categorization p99 per transaction (target <= 1 ms). ROWS=n changes the size.
#   bench/import.sh [postgres://postgres@127.0.0.1:5432/postgres]
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/cache/ai-service-release}"
pg="${1:-${TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/postgres}}"
if pg_isready -q -d "$pg" 2>/dev/null; then
    cargo run --release --quiet --example bench_import -- --postgres "$pg"
else
    echo "Postgres not reachable at $pg; SQLite only" >&2
    cargo run --release --quiet --example bench_import
fi
