#!/usr/bin/env bash
# What building berthd needs beyond the Rust toolchain. Idempotent and quiet when done.
set -euo pipefail
# libc6-dev: the static glibc (libc.a) that berth-shim, berth-container-init and the udpecho
# test image link.
APT_PKGS=(gcc libc6-dev pkg-config git libseccomp-dev)
missing=()
for p in "${APT_PKGS[@]}"; do
  [ "$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null)" = "install ok installed" ] || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "build-deps: apt-get install ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
if command -v rustup >/dev/null; then
  for c in rustfmt clippy; do
    rustup component list --installed 2>/dev/null | grep -q "^$c" || rustup component add "$c" >/dev/null 2>&1 || true
  done
fi
echo "build-deps: ok"
