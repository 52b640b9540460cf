#!/usr/bin/env bash
# Installs what the tests need (SIPp, baresip, Kamailio, build packages) and runs the whole
# suite: formatting, clippy, unit, scenario and end-to-end tests, and a short run of every
# fuzz target. No display or sound card needed.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/deps.sh

ensure_packages postgresql slapd ldap-utils sip-tester baresip-core kamailio kamailio-tls-modules kamailio-presence-modules openssl python3 dnsmasq-base coturn iproute2 nftables pkg-config libasound2-dev libopus-dev gcc desktop-file-utils groff-base xvfb dbus-daemon xdotool
ensure_rust

# A one-off build: no incremental cache (it would double the target directory on disk).
export CARGO_INCREMENTAL="${CARGO_INCREMENTAL:-0}"
cargo fmt --all -- --check
cargo clippy --workspace --all-targets --locked -- -D warnings
if cargo nextest --version >/dev/null 2>&1; then
    cargo nextest run --workspace --locked --no-fail-fast
else
    cargo test --workspace --locked --no-fail-fast
fi
# Every fuzz target for 15 s over its committed corpus (crates/fuzz, cargo-fuzz).
bash scripts/fuzz.sh 15
