#!/usr/bin/env bash
# Builds berth-container-init, the init of containers run with --init, linked
# statically (images without glibc must run it), and copies it next to berthd
# in the given directories, where berthd looks for it first.
#   scripts/build-init.sh target/debug            # next to target/debug/berthd
#   scripts/build-init.sh target/release /usr/local/libexec/berth
# Prints the built binary's path. A static glibc binary is fine here: the
# init never resolves users or hosts, so glibc's NSS is not involved.
set -euo pipefail
cd "$(dirname "$0")/.."

triple=$(rustc -vV | sed -n 's/^host: //p')
# --target keeps these artifacts (and their RUSTFLAGS) apart from the
# workspace's own build in the same target directory.
RUSTFLAGS="-C target-feature=+crt-static -C strip=symbols" \
  cargo build --release --locked --quiet -p berth-container-init --features static-binary \
  --target "$triple"
built="${CARGO_TARGET_DIR:-target}/$triple/release/berth-container-init"
for dir in "$@"; do
  mkdir -p "$dir"
  install -m 0755 "$built" "$dir/berth-container-init"
done
echo "$built"
