#!/usr/bin/env bash
# Installs what the VM path needs on a fresh Debian 12 machine: QEMU (with the virtiofsd that
# Debian's qemu-system-common ships) and rust-vmm's vhost-device-vsock (vsock for QEMU without a
# vhost-vsock kernel device). Idempotent: checks first, so a second run only checks.
set -euo pipefail
cd "$(dirname "$0")/.."

VHOST_VSOCK_VERSION=0.3.0
APT_PKGS=(qemu-system-x86 qemu-system-common)
say() { echo "deps-vm: $*"; }
installed() { [ "$(dpkg-query -W -f='${Status}' "$1" 2>/dev/null)" = "install ok installed" ]; }

missing=()
for p in "${APT_PKGS[@]}"; do installed "$p" || missing+=("$p"); done
if [ ${#missing[@]} -eq 0 ]; then
  say "apt: all present (${APT_PKGS[*]})"
else
  say "apt-get install ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# Debian puts virtiofsd outside PATH; berth finds it there too, this only checks it came.
if ! command -v virtiofsd >/dev/null && [ ! -x /usr/lib/qemu/virtiofsd ] && [ ! -x /usr/libexec/virtiofsd ]; then
  say "ERROR: virtiofsd missing after installing qemu-system-common"; exit 1
fi

bin_dir="${CARGO_HOME:-$HOME/.cargo}/bin"
if [ -x "$bin_dir/vhost-device-vsock" ] && "$bin_dir/vhost-device-vsock" --version 2>/dev/null | grep -q "$VHOST_VSOCK_VERSION"; then
  say "vhost-device-vsock $VHOST_VSOCK_VERSION present"
else
  say "cargo install vhost-device-vsock --version $VHOST_VSOCK_VERSION (takes a few minutes)"
  start=$(date +%s)
  cargo install -q vhost-device-vsock --version "$VHOST_VSOCK_VERSION" --locked
  say "vhost-device-vsock built in $(( $(date +%s) - start ))s"
fi
say "done"
