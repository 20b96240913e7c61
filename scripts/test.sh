#!/usr/bin/env bash
# Runs every test: formatting and lints (cargo fmt --check, clippy -D warnings on every crate and
# target), domain unit tests, the native SQLite pipeline tests, the host's tests, and the
# black-box conformance suite against `vinr dev`, schema-driven fuzzing of `vinr dev` with
# schemathesis (scripts/fuzz.sh), then the same conformance suite against the
# Cloudflare Worker under `wrangler dev --local`. Works on a fresh machine: it installs the wasm
# targets and the Workers toolchain itself (scripts/cloudflare-tools.sh, cached in
# $VINR_TOOLS_DIR, default ~/.cache/vinr-tools) and builds everything it needs.
# VINR_SKIP_WRANGLER=1 skips the second run (a quick local loop on `vinr dev` only).
set -euo pipefail
cd "$(dirname "$0")/.."

rustup target add wasm32-wasip2 wasm32-unknown-unknown
rustup component add rustfmt clippy
# The habits first (fast to fail): one format, no lint warnings, on every crate and its target.
cargo fmt --all -- --check
cargo clippy -p vinr-shared -p vinr -p vinr-conformance -p vinr-bench -p vinr-terminal-sim --all-targets -- -D warnings
cargo clippy --target wasm32-wasip2 -p vinr-spin-adapter -p vinr-fn-payments -p vinr-fn-customers \
    -p vinr-fn-payment-methods -p vinr-fn-webhooks -p vinr-fn-refunds -p vinr-fn-balance -p vinr-fn-terminal -p vinr-fn-api-keys -p vinr-fn-billing -p vinr-fn-loyalty -p vinr-fn-intents -- -D warnings
cargo clippy --target wasm32-unknown-unknown -p vinr-worker -- -D warnings
# The local host, then the components it serves (the build commands of spin.toml).
cargo build --release -p vinr
./target/release/vinr build
# Default members: shared, host, tests (conformance), bench. The conformance suite starts
# target/release/vinr itself on free loopback ports with temporary data dirs.
cargo test --release -- --test-threads=4
# Schemathesis over the served OpenAPI document against `vinr dev` (fixed seed, bounded).
bash scripts/fuzz.sh

if [ "${VINR_SKIP_WRANGLER:-}" = 1 ]; then
    echo "VINR_SKIP_WRANGLER=1: not running the suite on wrangler dev"
    exit 0
fi
bash scripts/cloudflare-tools.sh
bash scripts/worker.sh build
bash scripts/worker.sh size
# The same suite, every test, against the Worker on workerd (local D1, KV, Queues, DO).
VINR_TEST_RUNTIME=wrangler cargo test --release -p vinr-conformance -- --test-threads=4
