#!/usr/bin/env bash
# Installs what the test bed needs on a fresh Debian 12 machine. Idempotent: checks first, so a
# second run only checks. Needs root (apt). Never installs docker.io: tests use berthd instead.
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PKGS=(busybox-static docker-registry skopeo openssl curl ca-certificates iproute2 procps zstd docker-compose runc)
PY=${PYTHON:-python3}
say() { echo "deps: $*"; }

installed() { [ "$(dpkg-query -W -f='${Status}' "$1" 2>/dev/null)" = "install ok installed" ]; }

missing=()
for p in "${APT_PKGS[@]}"; do installed "$p" || missing+=("$p"); done
if [ ${#missing[@]} -eq 0 ]; then
  say "apt: all present (${APT_PKGS[*]})"
else
  say "apt-get update"
  apt-get update -qq
  # docker-registry's postinst starts a service listening on :5000; tests start their own.
  # A policy-rc.d that answers 101 stops invoke-rc.d from starting anything during the install.
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d
    trap 'rm -f /usr/sbin/policy-rc.d' EXIT
  fi
  say "apt-get install ${missing[*]}"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# Whatever the package may have started (systemd hosts ignore policy-rc.d): stop and disable it.
if command -v systemctl >/dev/null && [ -d /run/systemd/system ]; then
  if systemctl is-enabled --quiet docker-registry 2>/dev/null || systemctl is-active --quiet docker-registry 2>/dev/null; then
    say "systemctl disable --now docker-registry"
    systemctl disable --now docker-registry >/dev/null 2>&1 || true
  fi
fi
for cmdline in /proc/[0-9]*/cmdline; do
  # Only the packaged service reads /etc/docker/registry; the tests' registries use temp configs.
  if tr '\0' ' ' < "$cmdline" 2>/dev/null | grep -q '^/usr/bin/docker-registry .*/etc/docker/registry'; then
    pid=${cmdline#/proc/}; pid=${pid%/cmdline}
    say "stopping packaged docker-registry (pid $pid)"
    kill "$pid" 2>/dev/null || true
  fi
done

for bin in /usr/bin/docker-registry /usr/bin/skopeo /bin/busybox; do
  [ -x "$bin" ] || { say "ERROR: $bin missing after install"; exit 1; }
done
command -v docker >/dev/null || say "WARNING: no docker CLI on PATH (the machine image provides it; tests that drive the CLI will fail)"

# pip: compare installed versions with the pins before touching the network.
if "$PY" - tests/requirements.txt <<'PYEOF'
import sys, importlib.metadata as md
ok = True
for line in open(sys.argv[1]):
    line = line.split("#")[0].strip()
    if not line:
        continue
    name, _, want = line.partition("==")
    try:
        ok &= md.version(name) == want
    except md.PackageNotFoundError:
        ok = False
sys.exit(0 if ok else 1)
PYEOF
then
  say "pip: requirements satisfied ($PY)"
else
  say "pip install -r tests/requirements.txt ($PY)"
  extra=()
  # Debian's own python3 refuses pip installs without this flag (PEP 668).
  if "$PY" -c 'import sys,sysconfig,os; sys.exit(0 if os.path.exists(os.path.join(sysconfig.get_path("stdlib"),"EXTERNALLY-MANAGED")) else 1)'; then
    extra=(--break-system-packages)
  fi
  "$PY" -m pip install -q --disable-pip-version-check --root-user-action=ignore "${extra[@]}" -r tests/requirements.txt
fi
say "done"
