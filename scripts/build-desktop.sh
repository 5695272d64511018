#!/usr/bin/env bash
# Builds the desktop app (src-tauri/) for the tests: its dependencies (scripts/deps-desktop.sh),
# its unit tests, then the app with the Tauri CLI into target/desktop/debug/berth-desktop.
# Needs frontend/dist (scripts/deps-desktop-web.sh builds it): the app embeds it.
#
# src-tauri is a workspace of its own with its own target dir (src-tauri/.cargo/config.toml),
# so this long build never holds the lock of the shared target/. Not --locked: berth-host is a
# path dependency whose own dependencies change with the root workspace; cargo adds what is
# new to src-tauri/Cargo.lock and keeps every pinned version (Tauri's included) as it is.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/deps-desktop.sh
[ -f frontend/dist/index.html ] || {
  echo "build-desktop: frontend/dist is missing: run scripts/deps-desktop-web.sh first" >&2
  exit 1
}
echo "build-desktop: cargo test (src-tauri)"
(cd src-tauri && cargo test --quiet)
echo "build-desktop: tauri build --debug --no-bundle"
(cd src-tauri && npx --no-install tauri build --debug --no-bundle --ci)
