#!/usr/bin/env bash
# Builds the Debian package: target/debian/recall_<version>_<arch>.deb (cargo-deb), with the
# binary, the desktop entry, the icon and the man pages (`recall man`, from the command line's
# own definition). Install it with `sudo apt-get install ./target/debian/recall_*.deb`.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/deps.sh

ensure_packages pkg-config libasound2-dev libopus-dev gcc dpkg-dev
ensure_rust
if ! cargo deb --version >/dev/null 2>&1; then
    cargo install cargo-deb --locked
fi
cargo build --release --locked --bin recall
rm -rf target/man
target/release/recall man --out target/man
cargo deb --no-build --strip
ls target/debian/recall_*.deb
