#!/usr/bin/env python3
"""Images benchmark, side by side with Debian's dockerd on the same machine and registry.

    python3 bench/image_pull.py [--runs 3] [--no-dockerd]

1. Pull of a ~100 MiB multi-layer image (real files from this machine's /usr) from a local
   docker-registry into an empty store. Goal: berthd's time <= dockerd's.
2. `docker images` with 200 images. Goal: median under 20 ms (the CLI's own start-up is
   included, so the raw GET /images/json time is printed too).
Everything started is stopped by PID; temp dirs are removed.
"""
from __future__ import annotations

import argparse
import io
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))

from images.build import make_layer, write_layout  # noqa: E402
from lib.registry import Registry  # noqa: E402
from foundation import ensure_dockerd, stop, wait_ping  # noqa: E402

SOURCES = ["/usr/share/locale", "/usr/lib/python3", "/usr/share/doc", "/usr/lib/x86_64-linux-gnu/perl-base",
           "/usr/share/perl", "/usr/share/i18n", "/usr/lib/gcc", "/usr/share/zoneinfo"]


def layer_from(paths: list[str], budget: int) -> tuple[bytes, bytes, int]:
    raw = io.BytesIO()
    used = 0
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as t:
        for root in paths:
            for dirpath, dirs, files in os.walk(root):
                dirs.sort()
                for f in sorted(files):
                    p = os.path.join(dirpath, f)
                    if not os.path.isfile(p) or os.path.islink(p):
                        continue
                    size = os.path.getsize(p)
                    if used + size > budget:
                        continue
                    t.add(p, arcname=p.lstrip("/"), recursive=False)
                    used += size
    tar = raw.getvalue()
    import gzip
    gz = io.BytesIO()
    with gzip.GzipFile(fileobj=gz, mode="wb", mtime=0, compresslevel=6) as g:
        g.write(tar)
    return tar, gz.getvalue(), used


def build_big(out: Path) -> int:
    layers, total = [], 0
    per = 25 << 20
    for i in range(4):
        tar, gz, used = layer_from(SOURCES[i * 2:i * 2 + 2], per)
        layers.append((tar, gz, f"bench layer {i}"))
        total += len(tar)
    write_layout(out, layers, {"config": {"Cmd": ["sh"]}})
    return total


BENCH_BRIDGE = "berthbench0"


def remove_bench_bridge() -> None:
    subprocess.run(["ip", "link", "del", BENCH_BRIDGE], capture_output=True)


def start_berthd(tmp: Path, mirror: str, config: dict | None = None, args=(), binary: Path | None = None,
                 stderr=subprocess.DEVNULL) -> tuple[subprocess.Popen, Path]:
    """berthd in tmp, trusting the insecure registry `mirror` (host:port). `config` adds
    daemon.json keys, `args` flags; bench/containers.py uses them for a docker.io mirror."""
    sock = tmp / "berthd.sock"
    cfg = tmp / "daemon.json"
    # Like dockerd here (--iptables=false --ip-forward=false), the machine's firewall and
    # forwarding are left alone; the bridge has a name of the bench's own (removed by dispose).
    cfg.write_text(json.dumps({"insecure-registries": [mirror], "iptables": False, "ip-forward": False,
                               "bridge": BENCH_BRIDGE, **(config or {})}))
    p = subprocess.Popen([str(binary or REPO / "target/release/berthd"), "--data-root", str(tmp / "bdata"),
                          "--exec-root", str(tmp / "bexec"), "--pidfile", str(tmp / "b.pid"),
                          "-H", f"unix://{sock}", "--config-file", str(cfg), *args],
                         stdout=subprocess.DEVNULL, stderr=stderr)
    wait_ping(sock)
    return p, sock


DOCKERD_BIP = "10.205.0.1/24"


def remove_dockerd_bridge() -> None:
    subprocess.run(["ip", "link", "del", "docker0"], capture_output=True)


def start_dockerd(tmp: Path, registry: str, args=(), bridge: bool = False) -> tuple[subprocess.Popen, Path] | None:
    """dockerd in tmp, without firewall changes, trusting the insecure `registry`; `args` adds
    flags. With `bridge`, its default bridge (docker0 on DOCKERD_BIP, removed by
    remove_dockerd_bridge) like berthd's, else none."""
    dockerd = ensure_dockerd()
    if not dockerd:
        return None
    sock = tmp / "dockerd.sock"
    p = subprocess.Popen([dockerd, "--data-root", str(tmp / "ddata"), "--exec-root", str(tmp / "dexec"),
                          "--pidfile", str(tmp / "d.pid"), "-H", f"unix://{sock}", "--iptables=false",
                          "--ip-forward=false", *(["--bip", DOCKERD_BIP] if bridge else ["--bridge", "none"]),
                          "--insecure-registry", registry, *args],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_ping(sock)
    return p, sock


def docker(sock: Path, *args, input=None) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DOCKER_")}
    return subprocess.run(["docker", "-H", f"unix://{sock}", *args], capture_output=True, env=env,
                          input=input, check=True)


def timed_pulls(start, tmp: Path, ref: str, runs: int) -> list[float]:
    times = []
    for i in range(runs):
        run_dir = tmp / f"run{i}"
        run_dir.mkdir()
        proc, sock = start(run_dir)
        try:
            t0 = time.perf_counter()
            docker(sock, "pull", ref)
            times.append(time.perf_counter() - t0)
        finally:
            stop(proc)
            subprocess.run(["umount", "-R", str(run_dir / "dexec")], capture_output=True)
            shutil.rmtree(run_dir, ignore_errors=True)
    return times


def api_get_ms(sock: Path, path: str) -> float:
    with socket.socket(socket.AF_UNIX) as s:
        s.connect(str(sock))
        t0 = time.perf_counter()
        s.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
        while s.recv(65536):
            pass
        return (time.perf_counter() - t0) * 1000


def images_listing(start, tmp: Path, n_images: int, reps: int) -> tuple[float, float]:
    run_dir = tmp / "list"
    run_dir.mkdir()
    proc, sock = start(run_dir)
    try:
        for i in range(n_images):
            buf = io.BytesIO()
            with tarfile.open(fileobj=buf, mode="w") as t:
                ti = tarfile.TarInfo(f"file{i}")
                data = f"image {i}\n".encode()
                ti.size = len(data)
                t.addfile(ti, io.BytesIO(data))
            docker(sock, "import", "-", f"bench/img{i}:1", input=buf.getvalue())
        cli = []
        for _ in range(reps):
            t0 = time.perf_counter()
            docker(sock, "images")
            cli.append((time.perf_counter() - t0) * 1000)
        api = [api_get_ms(sock, "/v1.41/images/json") for _ in range(reps)]
        return statistics.median(cli), statistics.median(api)
    finally:
        stop(proc)
        subprocess.run(["umount", "-R", str(run_dir / "dexec")], capture_output=True)
        shutil.rmtree(run_dir, ignore_errors=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--images", type=int, default=200)
    ap.add_argument("--no-dockerd", action="store_true")
    a = ap.parse_args()
    subprocess.run(["cargo", "build", "--release", "-q", "-p", "berthd"], cwd=REPO, check=True)
    tmp = Path(tempfile.mkdtemp(prefix="berth-bench-img-"))
    reg = Registry()
    try:
        size = build_big(tmp / "layout")
        reg.start()
        reg.push_oci(tmp / "layout", "bench/big", "1")
        ref = reg.ref("bench/big", "1")
        print(f"image: 4 layers, {size / (1 << 20):.0f} MiB uncompressed", flush=True)
        b_start = lambda d: start_berthd(d, reg.host)  # noqa: E731
        d_start = None if a.no_dockerd else (lambda d: start_dockerd(d, reg.host))
        b_pull = timed_pulls(b_start, tmp, ref, a.runs)
        d_pull = timed_pulls(d_start, tmp, ref, a.runs) if d_start else None
        b_list = images_listing(b_start, tmp, a.images, 20)
        d_list = images_listing(d_start, tmp, a.images, 20) if d_start else None
    finally:
        reg.stop()
        shutil.rmtree(tmp, ignore_errors=True)

    def fmt(v):
        return "-" if v is None else f"{v:10.1f}"

    print(f"{'metric':40} {'berthd':>10} {'dockerd':>10} {'ratio':>7}  goal")
    rows = [("pull ~100 MiB, empty store (s, median)", statistics.median(b_pull),
             statistics.median(d_pull) if d_pull else None, "ratio <= 1"),
            (f"docker images, {a.images} images (ms)", b_list[0], d_list[0] if d_list else None, "< 20 ms"),
            (f"GET /images/json, {a.images} images (ms)", b_list[1], d_list[1] if d_list else None, "")]
    for name, b, d, goal in rows:
        ratio = f"{b / d:.2f}" if d else "-"
        print(f"{name:40} {fmt(b)} {fmt(d)} {ratio:>7}  {goal}")


if __name__ == "__main__":
    main()
