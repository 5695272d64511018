#!/usr/bin/env bash
# Builds berth-shim, the per-container shim, linked statically and optimised
# for size, and copies it next to berthd in the given directories, where
# berthd looks for it.
#   scripts/build-shim.sh target/debug            # next to target/debug/berthd
#   scripts/build-shim.sh target/release /usr/local/bin
# Prints the built binary's path.
# One shim runs per container, so its resident memory counts a hundred times
# over: a static binary maps no shared libraries (the dynamic one keeps about
# 1 MiB of glibc resident), and a small one leaves little for the kernel to
# map around the pages it touches. Static glibc is fine here: the shim never
# resolves users or hosts, so glibc's NSS is not involved.
set -euo pipefail
cd "$(dirname "$0")/.."

triple=$(rustc -vV | sed -n 's/^host: //p')
# A target directory of its own: these flags would otherwise invalidate the
# dependencies other static builds share (scripts/build-init.sh). Whole-program
# LTO in one unit takes a tenth off the binary.
target_dir="${CARGO_TARGET_DIR:-target}/static-shim"
RUSTFLAGS="-C target-feature=+crt-static -C strip=symbols -C opt-level=s" \
CARGO_PROFILE_RELEASE_LTO=fat CARGO_PROFILE_RELEASE_CODEGEN_UNITS=1 \
  cargo build --release --locked --quiet -p berth-shim --target "$triple" --target-dir "$target_dir"
built="$target_dir/$triple/release/berth-shim"
for dir in "$@"; do
  mkdir -p "$dir"
  install -m 0755 "$built" "$dir/berth-shim"
done
echo "$built"
