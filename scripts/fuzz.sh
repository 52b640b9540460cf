#!/usr/bin/env bash
# Runs every cargo-fuzz target in crates/fuzz for SECONDS each (default 30), over its committed
# corpus (crates/fuzz/corpus/TARGET) and the fixtures that seed it. New inputs libFuzzer finds
# go to a scratch directory, not into the committed corpus (FUZZ_KEEP=1 keeps them there, for
# a long run followed by `cargo fuzz cmin`). Any crash fails the run; its input
# is left in crates/fuzz/artifacts/TARGET. Installs cargo-fuzz when it is missing.
#   scripts/fuzz.sh [SECONDS] [TARGET…]
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/deps.sh
ensure_rust
seconds="${1:-30}"
shift || true
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked --version 0.13.2
# cargo-fuzz passes nightly-only sanitizer flags; the stable toolchain accepts them this way.
export RUSTC_BOOTSTRAP=1
targets=("$@")
if [ "${#targets[@]}" -eq 0 ]; then
    mapfile -t targets < <(cargo fuzz list --fuzz-dir crates/fuzz)
fi
cargo fuzz build -O --fuzz-dir crates/fuzz
seeds() {
    case "$1" in
        sip_message | attached_data) echo fixtures/sip fixtures/sip/torture ;;
        media_input | keying_attributes | ice_candidate) echo fixtures/sdp ;;
        *) ;;
    esac
}
scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT
for target in "${targets[@]}"; do
    mkdir -p "$scratch/$target" "crates/fuzz/corpus/$target"
    dirs=("$scratch/$target" "crates/fuzz/corpus/$target")
    if [ "${FUZZ_KEEP:-0}" = 1 ]; then dirs=("crates/fuzz/corpus/$target"); fi
    echo "fuzz: $target for ${seconds}s"
    status=0
    # shellcheck disable=SC2046
    cargo fuzz run -O --fuzz-dir crates/fuzz "$target" "${dirs[@]}" $(seeds "$target") \
        -- -max_total_time="$seconds" -rss_limit_mb=4096 -print_final_stats=1 >"$scratch/$target.log" 2>&1 || status=$?
    grep -E '^(Done|stat::number_of_executed_units|stat::peak_rss_mb)|panicked|ERROR|SUMMARY' "$scratch/$target.log" || true
    if [ "$status" -ne 0 ]; then
        tail -40 "$scratch/$target.log" >&2
        echo "fuzz: $target crashed; the input is in crates/fuzz/artifacts/$target" >&2
        exit 1
    fi
done
