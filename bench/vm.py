#!/usr/bin/env python3
"""The Berth VM: cold boot and the Docker socket's throughput over vsock.

    python3 bench/vm.py [--size MIB] [--reps R] [--boots B]

Needs `cargo build` (target/debug/berth) and `bash vm-images/build.sh` (vm-images/out), and
`bash scripts/deps-vm.sh`. Each run uses a fresh BERTH_HOME in a temp dir; the image is pulled
from a local registry on 127.0.0.1 (tests/images/build.py's busybox), which the guest reaches as
10.0.2.2: nothing leaves the machine.

1. Cold boot: `berth start` of a stopped VM (a fresh data disk on the first boot, an existing
   one after) until the first `docker version` through the forwarded socket answers. B boots
   (default 2): the first formats the data disk, the others do not.
2. Throughput: `docker cp` of a SIZE MiB file (default 256) from the host into a container,
   through the forwarded socket (docker CLI → ~/.berth/run/docker.sock → yamux stream over
   vsock → berthd), against the raw transport: the same bytes written into a stream through the
   same session to a process in the guest (`{"open":"exec"}` running `cat > /dev/null`, via the
   supervisor's agent socket), ending when the guest process has read everything (EOF back).
   Median of R (default 3) each, interleaved. Goal: docker cp >= 0.8 x raw. Shown too: the raw
   stream into a file on the data disk (where docker cp writes), and the host supervisor's CPU.
MB/s are 10^6 bytes/s. The machine may be shared: the load average is printed.
"""
from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from images.build import build_all  # noqa: E402
from lib.registry import Registry  # noqa: E402
from lib.vm import REPO, BerthVM  # noqa: E402


DEV_NULL = "cat > /dev/null"
# docker cp lands on the data disk: the same bytes written there show what the disk costs.
TO_DISK = "cat > /var/lib/berth/bench.raw; sync /var/lib/berth/bench.raw; rm /var/lib/berth/bench.raw"


def raw_stream(vm: BerthVM, payload: bytes, script: str = DEV_NULL) -> float:
    """Seconds to push payload through an exec stream to `sh -c script` and see its end."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(str(vm.home / "vm" / "agent.sock"))
    header = {"open": "exec", "argv": ["/bin/sh", "-c", script], "tty": False}
    s.sendall(json.dumps(header).encode() + b"\n")
    reply = b""
    while not reply.endswith(b"\n"):
        b = s.recv(1)
        if not b:
            raise RuntimeError(f"agent closed the stream: {reply!r}")
        reply += b
    if not json.loads(reply).get("ok"):
        raise RuntimeError(f"agent refused: {reply!r}")
    start = time.monotonic()
    view = memoryview(payload)
    for i in range(0, len(view), 1 << 20):
        s.sendall(view[i:i + (1 << 20)])
    s.shutdown(socket.SHUT_WR)
    while s.recv(1 << 16):
        pass
    took = time.monotonic() - start
    s.close()
    return took


def _cpu_seconds(pid: int | None) -> float:
    if not pid:
        return 0.0
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def docker_cp(vm: BerthVM, src: Path) -> float:
    start = time.monotonic()
    vm.docker("cp", str(src), "sink:/blob", timeout=600)
    took = time.monotonic() - start
    vm.docker("exec", "sink", "rm", "-f", "/blob")
    return took


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size", type=int, default=256, help="MiB copied (default 256)")
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--boots", type=int, default=2)
    a = ap.parse_args()

    print(f"load average: {os.getloadavg()}")
    images = build_all(REPO / "target" / "test-images")
    reg = Registry().start()
    vm = None
    try:
        reg.push_oci(images["busybox"].path, "library/busybox", "latest")
        mirror = f"10.0.2.2:{reg.port}"
        vm = BerthVM(daemon_json={"registry-mirrors": [f"http://{mirror}"], "insecure-registries": [mirror]})
        boots = []
        for i in range(a.boots):
            if i:
                vm.stop()
            start = time.monotonic()
            vm.start()
            vm.docker("version")
            boots.append(time.monotonic() - start)
            print(f"boot {i + 1}{' (fresh data disk)' if i == 0 else ''}: {boots[-1]:.2f} s to the first docker version")

        vm.docker("run", "-d", "--name", "sink", "busybox", "sleep", "3600")
        size = a.size << 20
        payload = os.urandom(size)
        src = vm.home / "blob"
        src.write_bytes(payload)
        cp_times, raw_times, disk_times = [], [], []
        sup = vm.supervisor_pid()
        cpu0 = _cpu_seconds(sup)
        for _ in range(a.reps):
            raw_times.append(raw_stream(vm, payload))
            cp_times.append(docker_cp(vm, src))
            disk_times.append(raw_stream(vm, payload, TO_DISK))
        cpu = _cpu_seconds(sup) - cpu0
        mbps = lambda t: size / t / 1e6  # noqa: E731
        raw, cp = statistics.median(raw_times), statistics.median(cp_times)
        print(f"raw stream (exec, cat > /dev/null): {mbps(raw):.1f} MB/s  (runs: {', '.join(f'{mbps(t):.1f}' for t in raw_times)})")
        print(f"docker cp through the socket:       {mbps(cp):.1f} MB/s  (runs: {', '.join(f'{mbps(t):.1f}' for t in cp_times)})")
        disk = statistics.median(disk_times)
        print(f"raw stream to the data disk:        {mbps(disk):.1f} MB/s  (runs: {', '.join(f'{mbps(t):.1f}' for t in disk_times)})")
        print(f"ratio docker cp / raw: {raw / cp:.2f} (goal >= 0.8); docker cp / raw to disk: {disk / cp:.2f}")
        moved = 3 * a.reps * size / 2**30
        print(f"host supervisor CPU: {cpu:.2f} s for {moved:.2f} GiB relayed ({cpu / moved:.2f} s/GiB)")
        print(f"load average: {os.getloadavg()}")
    finally:
        if vm:
            vm.cleanup()
        reg.stop()


if __name__ == "__main__":
    main()
