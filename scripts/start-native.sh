#!/usr/bin/env bash
# Sets up and starts berthd natively on this Linux machine (as root): installs the build
# dependencies, builds berthd, writes a default /etc/berth/daemon.json if there is none,
# and starts the daemon in the background on /var/run/berth/docker.sock. Not root? It
# re-runs itself with sudo.
#   scripts/start-native.sh            # start (or report that it already runs)
#   scripts/start-native.sh --stop     # stop it again
set -euo pipefail
cd "$(dirname "$0")/.."

SOCK=/var/run/berth/docker.sock
PIDFILE=/var/run/berthd.pid
LOG=/var/log/berthd.log
CONFIG=/etc/berth/daemon.json
say() { echo "berth: $*"; }

if [ "$(id -u)" != 0 ]; then
  command -v sudo >/dev/null || { say "run me as root"; exit 1; }
  exec sudo -- "$0" "$@"
fi

running_pid() {
  local pid
  pid=$(cat "$PIDFILE" 2>/dev/null) || return 1
  [ -n "$pid" ] && [ "$(cat /proc/"$pid"/comm 2>/dev/null)" = berthd ] && echo "$pid"
}

if [ "${1:-}" = "--stop" ]; then
  if pid=$(running_pid); then
    kill -TERM "$pid"
    for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    say "stopped berthd (pid $pid)"
  else
    say "berthd is not running"
  fi
  exit 0
fi

if pid=$(running_pid); then
  say "berthd already runs (pid $pid) on unix://$SOCK"
  exit 0
fi

bash scripts/build-deps.sh
command -v cargo >/dev/null || { say "cargo not found: install Rust (https://rustup.rs) and retry"; exit 1; }
say "building berthd (release)"
cargo build --release --locked -p berthd -p berth-host
install -m 0755 target/release/berthd /usr/local/bin/berthd
install -m 0755 target/release/berth /usr/local/bin/berth
say "building berth-shim (next to berthd) and berth-container-init (for --init)"
bash scripts/build-shim.sh /usr/local/bin >/dev/null
bash scripts/build-init.sh target/release /usr/local/libexec/berth >/dev/null

if [ ! -e "$CONFIG" ]; then
  mkdir -p "$(dirname "$CONFIG")"
  echo '{}' > "$CONFIG"
  say "wrote a default $CONFIG"
fi
/usr/local/bin/berthd --validate --config-file "$CONFIG" >/dev/null

say "starting berthd (log: $LOG)"
nohup /usr/local/bin/berthd --config-file "$CONFIG" --pidfile "$PIDFILE" >>"$LOG" 2>&1 </dev/null &
for _ in $(seq 150); do
  if /usr/local/bin/berth status --socket "$SOCK" >/dev/null 2>&1; then
    /usr/local/bin/berth status --socket "$SOCK"
    say "try it: docker -H unix://$SOCK version"
    say "or:     export DOCKER_HOST=unix://$SOCK"
    exit 0
  fi
  kill -0 $! 2>/dev/null || break
  sleep 0.1
done
say "berthd did not come up; the end of $LOG:"
tail -n 20 "$LOG"
exit 1
