#!/usr/bin/env bash
# Builds what the benchmark needs (the components, the `vinr` host, the bench) and runs it.
# Extra arguments go to vinr-bench, e.g. `bench/run.sh --connections 16 --duration 20 --baseline`.
# `bench/run.sh --terminal [args]` runs the terminal benchmark (bench/src/terminal.rs) instead, e.g.
# `bench/run.sh --terminal --payments 300 --devices 5000 --hold 25`.
set -euo pipefail
cd "$(dirname "$0")/.."
rustup target add wasm32-wasip2 >/dev/null 2>&1 || true
# The components: spin.toml's one build command (all of them in one cargo invocation).
cargo build --target wasm32-wasip2 --profile wasm -p vinr-fn-payments -p vinr-fn-customers -p vinr-fn-payment-methods \
  -p vinr-fn-webhooks -p vinr-fn-refunds -p vinr-fn-balance -p vinr-fn-terminal -p vinr-fn-api-keys -p vinr-fn-billing -p vinr-fn-loyalty -p vinr-fn-intents
cargo build --release -p vinr -p vinr-bench
if [ "${1:-}" = "--terminal" ]; then
  shift
  # One descriptor per device here and in the `vinr dev` it starts (which inherits the limit).
  ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
  exec target/release/vinr-bench-terminal "$@"
fi
exec target/release/vinr-bench "$@"
