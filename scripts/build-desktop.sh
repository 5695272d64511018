#!/usr/bin/env bash
# Builds the desktop app (src-tauri/) for the tests: its dependencies (scripts/deps-desktop.sh),
# formatting, lints and unit tests, then the app with the Tauri CLI into
# <target>/desktop/debug/berth-desktop. Needs frontend/dist (scripts/deps-desktop-web.sh builds
# it): the app embeds it.
#
# src-tauri is a workspace of its own with its own target dir, so this long build never holds
# the lock of the shared target/. Not --locked: berth-host is a path dependency whose own
# dependencies change with the root workspace; cargo adds what is new to src-tauri/Cargo.lock
# and keeps every pinned version (Tauri's included) as it is.
set -euo pipefail
cd "$(dirname "$0")/.."

# The same place src-tauri/.cargo/config.toml names, also when CARGO_TARGET_DIR moves target/
# (tests/desktop/harness.py looks there).
CARGO_TARGET_DIR="$(realpath -m "${CARGO_TARGET_DIR:-target}")/desktop"
export CARGO_TARGET_DIR
say() { echo "build-desktop: $*"; }

bash scripts/deps-desktop.sh
[ -f frontend/dist/index.html ] || {
  say "frontend/dist is missing: run scripts/deps-desktop-web.sh first" >&2
  exit 1
}
cd src-tauri
if cargo fmt --version >/dev/null 2>&1; then
  say "cargo fmt --check (src-tauri)"
  cargo fmt -- --check
fi
if cargo clippy --version >/dev/null 2>&1; then
  say "cargo clippy (src-tauri)"
  cargo clippy --quiet --all-targets -- -D warnings
fi
say "cargo test (src-tauri)"
cargo test --quiet
say "tauri build --debug --no-bundle"
npx --no-install tauri build --debug --no-bundle --ci
