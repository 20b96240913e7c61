#!/usr/bin/env bash
# Builds what the benchmark needs (the components, the `vinr` host, the bench) and runs it.
# Extra arguments go to vinr-bench, e.g. `bench/run.sh --connections 16 --duration 20 --baseline`.
set -euo pipefail
cd "$(dirname "$0")/.."
rustup target add wasm32-wasip2 >/dev/null 2>&1 || true
for pkg in vinr-fn-payments vinr-fn-customers vinr-fn-payment-methods vinr-fn-webhooks vinr-fn-refunds vinr-fn-balance; do
  cargo build --target wasm32-wasip2 --profile wasm -p "$pkg"
done
cargo build --release -p vinr -p vinr-bench
exec target/release/vinr-bench "$@"
