#!/usr/bin/env bash
# What the desktop app (src-tauri/) and its WebDriver test need on Debian 12: WebKitGTK and
# GTK headers, the tray library, Xvfb, WebKit's WebDriver, gdbus (the tray test reads the
# menu over D-Bus), the Tauri CLI (npm, prebuilt) and tauri-driver (cargo). Idempotent: checks
# first, so a second run only checks. Needs root (apt).
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PKGS=(libwebkit2gtk-4.1-dev libgtk-3-dev libayatana-appindicator3-dev librsvg2-dev libssl-dev
  pkg-config xvfb xauth webkit2gtk-driver dbus dbus-x11 at-spi2-core libglib2.0-bin)
TAURI_DRIVER_VERSION=2.1.0
say() { echo "deps-desktop: $*"; }

# The machine image may bring Node.js from elsewhere (nodesource's nodejs ships npm too); only
# a machine without npm gets Debian's.
command -v npm >/dev/null || APT_PKGS+=(npm)

installed() { [ "$(dpkg-query -W -f='${Status}' "$1" 2>/dev/null)" = "install ok installed" ]; }

missing=()
for p in "${APT_PKGS[@]}"; do installed "$p" || missing+=("$p"); done
if [ ${#missing[@]} -eq 0 ]; then
  say "apt: all present"
else
  say "apt-get install ${missing[*]}"
  apt-get update -qq -o DPkg::Lock::Timeout=600
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq -o DPkg::Lock::Timeout=600 --no-install-recommends "${missing[@]}" >/dev/null
fi

# The Tauri CLI: npm's prebuilt binary, pinned by src-tauri/package-lock.json; installed again
# only when that lock changed (its hash is kept in node_modules). The lock lists every
# platform's binary package (npm ci refuses a lock without them; each machine installs only
# its own): the registry this was built with served only linux-x64/arm64-gnu, so the others'
# entries carry their version and platform but no integrity hash.
lock_sha=$(sha256sum src-tauri/package-lock.json | cut -d' ' -f1)
if [ -x src-tauri/node_modules/.bin/tauri ] &&
   [ "$(cat src-tauri/node_modules/.berth-lock-sha256 2>/dev/null)" = "$lock_sha" ]; then
  say "npm: @tauri-apps/cli present"
else
  say "npm ci (src-tauri: @tauri-apps/cli)"
  (cd src-tauri && npm ci --no-audit --no-fund --loglevel=error)
  echo "$lock_sha" > src-tauri/node_modules/.berth-lock-sha256
fi

# tauri-driver bridges WebDriver clients to WebKitWebDriver; only cargo ships it.
if command -v tauri-driver >/dev/null && tauri-driver --help 2>&1 | grep -q -i webdriver; then
  say "tauri-driver present"
else
  say "cargo install tauri-driver $TAURI_DRIVER_VERSION"
  cargo install tauri-driver --version "$TAURI_DRIVER_VERSION" --locked --quiet
  command -v tauri-driver >/dev/null || {
    say "ERROR: tauri-driver was installed into ${CARGO_HOME:-$HOME/.cargo}/bin, which is not on PATH: add it"
    exit 1
  }
fi
say "done"
