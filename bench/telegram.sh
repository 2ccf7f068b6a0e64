#!/usr/bin/env bash
# Telegram benchmark (not a test): 1000 /status commands through the TelegramActor against a
# local fake Bot API (p99 command->reply, target <= 20 ms), then idle RSS with Telegram enabled
# and without it (target: enabled <= without + 2 MB). Release build.
#   bench/telegram.sh
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/cache/ai-service-release}"
cargo build --release --quiet --example bench_telegram
bin="$CARGO_TARGET_DIR/release/examples/bench_telegram"
"$bin"
on=$("$bin" --idle-rss on | tee /dev/stderr | awk '{print $(NF-1)}')
off=$("$bin" --idle-rss off | tee /dev/stderr | awk '{print $(NF-1)}')
awk -v on="$on" -v off="$off" 'BEGIN { printf "idle RSS cost of Telegram: %+.1f MiB (target <= 2)\n", on - off }'
