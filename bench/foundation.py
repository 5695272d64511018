#!/usr/bin/env python3
"""Foundation benchmark: berthd idle memory and /_ping round trip, side by side with dockerd.

    sudo python3 bench/foundation.py [--no-dockerd] [--requests N]

Goals (issue: foundation): berthd idle RSS <= 15 MiB; /_ping median < 0.2 ms on the Unix socket.
dockerd comes from Debian's docker.io package (installed here if missing) and runs with its
own data/exec roots and no firewall or bridge changes. Everything started is stopped by PID.
"""
from __future__ import annotations

import argparse
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def children(pid: int) -> list[int]:
    out = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout
    return [int(p) for p in out.split()]


def wait_ping(sock: Path, timeout=30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.socket(socket.AF_UNIX) as s:
                s.settimeout(1)
                s.connect(str(sock))
                s.sendall(b"GET /_ping HTTP/1.1\r\nHost: x\r\n\r\n")
                if b"OK" in s.recv(4096):
                    return
        except OSError:
            pass
        time.sleep(0.05)
    raise SystemExit(f"no answer on {sock}")


def ping_latencies(sock: Path, n: int) -> list[float]:
    """Round trips of GET /_ping on one keep-alive connection, in milliseconds."""
    out = []
    with socket.socket(socket.AF_UNIX) as s:
        s.connect(str(sock))
        req = b"GET /_ping HTTP/1.1\r\nHost: x\r\n\r\n"
        for _ in range(n):
            t0 = time.perf_counter()
            s.sendall(req)
            buf = b""
            while not buf.endswith(b"OK"):
                chunk = s.recv(4096)
                if not chunk:
                    raise SystemExit("connection closed")
                buf += chunk
            out.append((time.perf_counter() - t0) * 1000)
    return out


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def private_berthd(root: Path, given: str | None) -> Path:
    """A private copy of berthd (`given`, else a fresh release build) in `root`, with the static
    berth-shim (scripts/build-shim.sh) beside it: the shims run `berthd runtime`, and a rebuild
    during the run (others build in this tree) must not change what is measured."""
    binary = root / "berthd"
    if given:
        shutil.copy2(given, binary)
    else:
        subprocess.run(["cargo", "build", "--release", "-q", "-p", "berthd"], cwd=REPO, check=True)
        shutil.copy2(REPO / "target/release/berthd", binary)
    subprocess.run(["bash", "scripts/build-shim.sh", str(root)], cwd=REPO, check=True,
                   stdout=subprocess.DEVNULL)
    return binary


def run_berthd(tmp: Path, n: int) -> dict:
    subprocess.run(["cargo", "build", "--release", "-q", "-p", "berthd"], cwd=REPO, check=True)
    sock = tmp / "berthd.sock"
    # The machine's firewall and forwarding are left alone, as with dockerd here.
    (tmp / "daemon.json").write_text('{"iptables": false, "ip-forward": false}')
    proc = subprocess.Popen([str(REPO / "target/release/berthd"), "--data-root", str(tmp / "data"),
                             "--exec-root", str(tmp / "exec"), "--pidfile", str(tmp / "berthd.pid"),
                             "-H", f"unix://{sock}", "--config-file", str(tmp / "daemon.json")],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_ping(sock)
        time.sleep(2)
        rss = rss_kib(proc.pid)
        lat = ping_latencies(sock, n)
        rss_after = rss_kib(proc.pid)
        return {"rss_kib": rss, "rss_after_kib": rss_after, "lat": lat}
    finally:
        stop(proc)


def ensure_dockerd() -> str | None:
    path = shutil.which("dockerd")
    if path:
        return path
    print("installing Debian's docker.io for the side-by-side numbers…", file=sys.stderr)
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    policy = Path("/usr/sbin/policy-rc.d")
    made = not policy.exists()
    if made:  # keep the package from starting its own service
        policy.write_text("#!/bin/sh\nexit 101\n")
        policy.chmod(0o755)
    try:
        subprocess.run(["apt-get", "install", "-y", "-qq", "--no-install-recommends", "docker.io"],
                       env=env, check=True, stdout=subprocess.DEVNULL)
    finally:
        if made:
            policy.unlink()
    return shutil.which("dockerd")


def run_dockerd(tmp: Path, n: int) -> dict | None:
    dockerd = ensure_dockerd()
    if not dockerd:
        return None
    sock = tmp / "dockerd.sock"
    proc = subprocess.Popen([dockerd, "--data-root", str(tmp / "ddata"), "--exec-root", str(tmp / "dexec"),
                             "--pidfile", str(tmp / "dockerd.pid"), "-H", f"unix://{sock}",
                             "--iptables=false", "--ip-forward=false", "--bridge", "none"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_ping(sock)
        time.sleep(2)
        family = [proc.pid, *children(proc.pid)]  # dockerd + the containerd it started
        rss = sum(rss_kib(p) for p in family)
        lat = ping_latencies(sock, n)
        return {"rss_kib": rss, "rss_after_kib": sum(rss_kib(p) for p in family), "lat": lat}
    finally:
        stop(proc)
        subprocess.run(["umount", "-R", str(tmp / "dexec")], capture_output=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--requests", type=int, default=5000)
    ap.add_argument("--no-dockerd", action="store_true", help="measure berthd alone")
    a = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="berth-bench-"))
    try:
        b = run_berthd(tmp, a.requests)
        d = None if a.no_dockerd else run_dockerd(tmp, a.requests)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    def med(r):
        return statistics.median(r["lat"])

    def p99(r):
        return statistics.quantiles(r["lat"], n=100)[98]

    print(f"{'metric':32} {'berthd':>12} {'dockerd':>12} {'ratio':>8}  goal")
    rows = [("idle RSS (MiB)", lambda r: r["rss_kib"] / 1024, "berthd <= 15 MiB"),
            ("RSS after pings (MiB)", lambda r: r["rss_after_kib"] / 1024, ""),
            ("/_ping median (ms)", med, "berthd < 0.2 ms"),
            ("/_ping p99 (ms)", p99, "")]
    for name, f, goal in rows:
        bv = f(b)
        dv = f(d) if d else None
        ratio = f"{bv / dv:.2f}" if dv else "-"
        print(f"{name:32} {bv:12.3f} {dv if dv is None else round(dv, 3)!s:>12} {ratio:>8}  {goal}")
    ok = b["rss_kib"] / 1024 <= 15 and med(b) < 0.2
    print("goals met" if ok else "GOALS NOT MET")


if __name__ == "__main__":
    main()
