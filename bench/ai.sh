#!/usr/bin/env bash
# AI core figures against an in-process fake provider with zero latency (release build):
#  - our overhead per categorization batch of 25 (redaction, prompt, strict schema, answer
#    validation, verdicts, budget, breaker, cache key, call record): p50/p99, fails above 2 ms p99;
#  - the year replay: LLM calls per month as the local model learns the user's confirmations.
# The HTTP adapters are exercised against local fake OpenAI/Anthropic servers by
# `cargo test --test api ai::`.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo test --release --locked -p actors --test it llm_replay -- --include-ignored --nocapture --test-threads 1 2>&1 \
  | grep -E "LLM calls per month|LLM total|categorization batch|test result|panicked"
