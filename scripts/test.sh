#!/usr/bin/env bash
# Runs every test: domain unit tests, the native SQLite pipeline tests, the host's tests, and
# the black-box conformance suite against `vinr dev`. Works on a fresh machine: it installs the
# wasm target itself and builds everything it needs.
set -euo pipefail
cd "$(dirname "$0")/.."

rustup target add wasm32-wasip2
# The local host, then the components it serves (the build commands of spin.toml).
cargo build --release -p vinr
./target/release/vinr build
# Default members: shared, host, tests (conformance), bench. The conformance suite starts
# target/release/vinr itself on free loopback ports with temporary data dirs.
cargo test --release -- --test-threads=4
