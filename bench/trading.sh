#!/usr/bin/env bash
# Trading benchmark (not a test): 100 live paper strategies ticking at 1 s inside the real
# service; prints the process's CPU share of one core (target <= 5 %) and its RSS.
# STRATEGIES=n and SECS=n change the count (default 100) and the measured window (default 30).
#   bench/trading.sh                      # SQLite
#   bench/trading.sh postgres://postgres@127.0.0.1:5432/postgres
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/cache/ai-service-release}"
if [ $# -gt 0 ]; then
    cargo run --release --quiet --example bench_trading -- --postgres "$1"
else
    cargo run --release --quiet --example bench_trading
fi
