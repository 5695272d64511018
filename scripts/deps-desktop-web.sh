#!/usr/bin/env bash
# What the browser dashboard's tests need on a fresh Debian 12 machine: Debian's chromium (driven
# headless by playwright-core), keyutils (the credential helper's tests run under a session
# keyring), and the frontend's npm packages, then builds the frontend into frontend/dist (which
# `berth dashboard` serves and the desktop app loads). Idempotent: a second run only checks.
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PKGS=(chromium keyutils nodejs npm)
say() { echo "deps-desktop-web: $*"; }
installed() { [ "$(dpkg-query -W -f='${Status}' "$1" 2>/dev/null)" = "install ok installed" ]; }

missing=()
for p in "${APT_PKGS[@]}"; do
  # A node/npm that came from elsewhere (the machine image) is as good as Debian's.
  case $p in nodejs) command -v node >/dev/null && continue ;; npm) command -v npm >/dev/null && continue ;; esac
  installed "$p" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  say "apt: all present"
else
  say "apt-get install ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# npm ci only when the lock changed since the last install (a stamp of its hash in node_modules).
npm_ci() {
  local dir=$1 want
  want=$(sha256sum "$dir/package-lock.json" | cut -d' ' -f1)
  if [ "$(cat "$dir/node_modules/.berth-lock-sha256" 2>/dev/null)" = "$want" ]; then
    say "npm: $dir up to date"
  else
    say "npm ci in $dir"
    (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error)
    echo "$want" > "$dir/node_modules/.berth-lock-sha256"
  fi
}
npm_ci frontend
npm_ci tests/dashboard

say "building frontend/dist"
(cd frontend && npm run --silent build >/dev/null)
[ -f frontend/dist/index.html ] || { say "ERROR: frontend/dist/index.html missing after the build"; exit 1; }
say "done"
