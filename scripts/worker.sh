#!/usr/bin/env bash
# The Cloudflare Worker (functions/worker), with the tools of scripts/cloudflare-tools.sh:
#   bash scripts/worker.sh build    build functions/worker/build/ (a no-op when up to date);
#                                   wrangler.toml's [build] command, so `wrangler dev` and
#                                   `wrangler deploy` run it themselves
#   bash scripts/worker.sh dev      local D1 migrations, a sandbox account on first start, then
#                                   `wrangler dev --local` on 127.0.0.1:${PORT:-8787} (state in
#                                   .wrangler/state; extra arguments go to wrangler dev)
#   bash scripts/worker.sh size     the bundle's size, raw and gzipped
set -euo pipefail
source "$(dirname "$0")/cloudflare-env.sh"
cd "$VINR_ROOT"
out=functions/worker/build
case "${1:-}" in
build)
    if [ -f "$out/worker/shim.mjs" ] && [ -z "$(find shared functions/worker/src functions/worker/Cargo.toml Cargo.toml Cargo.lock \
        -newer "$out/worker/shim.mjs" -name '*.rs' -o -newer "$out/worker/shim.mjs" -name 'Cargo.*' | head -1)" ]; then
        echo "worker: up to date ($out)"
        exit 0
    fi
    # --profile worker: opt-level "s" + LTO (Cargo.toml); worker-build then runs wasm-bindgen and
    # wasm-opt (WASM_BINDGEN_BIN / WASM_OPT_BIN from cloudflare-env.sh).
    (cd functions/worker && worker-build --profile worker)
    ;;
dev)
    export CI=1 CLOUDFLARE_CF_FETCH_ENABLED=false WRANGLER_HIDE_BANNER=true
    # The deployment's hash key (docs/security.md): wrangler dev reads secrets from .dev.vars;
    # made once, kept (a new key would make every stored idempotency key a mismatch).
    if ! grep -qs '^VINR_HASH_KEY=' .dev.vars; then
        echo "VINR_HASH_KEY=$(od -An -N32 -tx1 /dev/urandom | tr -d ' \n')" >> .dev.vars
        chmod 600 .dev.vars
    fi
    npx wrangler d1 migrations apply vinr --local
    # Like `vinr dev`: a sandbox account on first start (VINR_DEV_SECRET_KEY picks its secret key).
    accounts=$(npx wrangler d1 execute vinr --local --json --command "SELECT count(*) AS n FROM accounts" | grep -o '"n": *[0-9]*' | grep -o '[0-9]*$')
    if [ "${accounts:-0}" = 0 ]; then
        cargo build --release -p vinr
        ./target/release/vinr account create --sql .wrangler/account.sql ${VINR_DEV_SECRET_KEY:+--secret-key "$VINR_DEV_SECRET_KEY"}
        npx wrangler d1 execute vinr --local --file .wrangler/account.sql >/dev/null
        rm -f .wrangler/account.sql
    fi
    # --test-scheduled: GET /__scheduled runs the cron sweep (wrangler dev never fires crons).
    exec npx wrangler dev --local --ip 127.0.0.1 --port "${PORT:-8787}" --show-interactive-dev-session=false --test-scheduled "${@:2}"
    ;;
size)
    for f in "$out"/*.wasm "$out"/*.js; do
        [ -f "$f" ] && printf '%-50s %9d bytes  %9d gzipped\n' "$f" "$(wc -c < "$f")" "$(gzip -9 -c "$f" | wc -c)"
    done
    ;;
*)
    echo "usage: $0 build|dev|size" >&2
    exit 2
    ;;
esac
