#!/usr/bin/env bash
# Builds recall and runs it. With no arguments: `recall headless` — the agent on
# udp:127.0.0.1:5060 with its control API on http://127.0.0.1:8080. Any arguments are
# passed to recall instead, e.g. `bash scripts/run.sh call sip:bob@127.0.0.1:5070 --duration 5`.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/deps.sh

ensure_packages pkg-config libasound2-dev libopus-dev gcc
ensure_rust

cargo build --release --locked --bin recall
if [ "$#" -eq 0 ] && [ -z "${DISPLAY:-}${WAYLAND_DISPLAY:-}" ]; then
    set -- headless
fi
exec target/release/recall "$@"
