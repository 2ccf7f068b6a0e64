#!/usr/bin/env bash
# Trading benchmark (not a test), two runs of 100 live strategies ticking at 1 s inside the
# real service:
#  1. paper venues: the process's CPU share of one core (target <= 5 %) and its RSS;
#  2. the `binance` connector in sandbox mode against the tests' fake Binance (a child
#     process on 127.0.0.1): CPU share per strategy, RSS, and the order round trip from the
#     strategy's decision until the venue's answer is applied and committed, minus the HTTP
#     calls inside it (wire + fake): p50/p99/max (target p99 <= 1 ms), with the HTTP time and
#     the fake's own handler time beside it.
# STRATEGIES=n and SECS=n change the count (default 100) and the measured window (default 30);
# VENUES="paper binance" (default) picks the runs.
#   bench/trading.sh                      # SQLite
#   bench/trading.sh postgres://postgres@127.0.0.1:5432/postgres
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/cache/ai-service-release}"
cargo build --release --quiet --example bench_trading
db=()
if [ $# -gt 0 ]; then
    db=(--postgres "$1")
fi
for venue in ${VENUES:-paper binance}; do
    echo "== $venue"
    "$CARGO_TARGET_DIR/release/examples/bench_trading" --venue "$venue" "${db[@]}"
done
