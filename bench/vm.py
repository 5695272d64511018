#!/usr/bin/env python3
"""The Berth VM: cold boot and the Docker socket's throughput over vsock.

    python3 bench/vm.py [--size MIB] [--reps R] [--boots B] [--debug-build]

Builds what it measures in release, as shipped: `cargo build --release -p berth-host -p berthd` and
`BERTH_VM_PROFILE=release bash vm-images/build.sh vm-images/out-release` (`--debug-build`: the
tests' target/debug/berth and vm-images/out instead). Needs `bash scripts/build-deps.sh` and
`bash scripts/deps-vm.sh`.
Each run uses a fresh BERTH_HOME in a temp dir; the image is pulled
from a local registry on 127.0.0.1 (tests/images/build.py's busybox), which the guest reaches as
10.0.2.2: nothing leaves the machine.

1. Cold boot: `berth start` of a stopped VM (a fresh data disk on the first boot, an existing
   one after) until the first `docker version` through the forwarded socket answers. B boots
   (default 2): the first formats the data disk, the others do not.
2. Throughput: `docker cp` of a SIZE MiB file (default 256) from the host into a container,
   through the forwarded socket (docker CLI -> ~/.berth/run/docker.sock -> the host supervisor ->
   a vsock connection of its own, in frames -> berthd, which unpacks the tar), against the raw
   vsock transport: the same bytes sent from this script straight into the guest's transport
   probe (vmlink::PROBE_VSOCK_PORT: a reader with nothing between it and the vsock connection),
   ending when the guest has read everything (goal: docker cp >= 0.8 x raw). For reference: a
   stream of the agent's yamux session through the host supervisor, discarded in the guest (how
   exec streams and published ports travel), and that stream into a file (an exec stream
   running `cat`): on the guest's tmpfs and on the data disk, next to docker cp into a tmpfs
   volume and into the container's root (overlay on the data disk). Median of R (default 3)
   each, interleaved; nothing is synced (docker cp does not sync either). The host supervisor's
   CPU is shown too.
3. Published ports: SIZE MiB downloaded from a container's busybox httpd through a published
   port on the host's 127.0.0.1, and uploaded into a container's `nc` (each connection is a
   vsock connection of its own to the agent's stream port). Median of R.
MB/s are 10^6 bytes/s. The machine may be shared: the load average is printed.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from images.build import build_all  # noqa: E402
from lib.ports import free_port  # noqa: E402
from lib.registry import Registry  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
# common/src/vmlink.rs
PROBE_VSOCK_PORT = 1025


# The guest's root is a tmpfs.
TO_TMPFS = "cat > /tmp/bench.raw; rm /tmp/bench.raw"
# Where containers' layers are: the data disk.
TO_DISK = "cat > /var/lib/berth/bench.raw; rm /var/lib/berth/bench.raw"


def _read_line(s: socket.socket, failure: str) -> bytes:
    """One line, a byte at a time: what follows it stays in the socket."""
    line = b""
    while not line.endswith(b"\n"):
        b = s.recv(1)
        if not b:
            raise RuntimeError(f"{failure}: {line!r}")
        line += b
    return line


def _send(s: socket.socket, payload: bytes) -> None:
    view = memoryview(payload)
    for i in range(0, len(view), 1 << 20):
        s.sendall(view[i:i + (1 << 20)])


def probe_stream(vm, payload: bytes) -> float:
    """Seconds to push payload through a bare vsock connection into the guest's transport probe
    and hear that all of it arrived."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(str(vm.home / "vm" / "vsock.sock"))
    s.sendall(f"CONNECT {PROBE_VSOCK_PORT}\n".encode())
    line = _read_line(s, "the guest refused the probe's port")
    if not line.startswith(b"OK "):
        raise RuntimeError(f"the guest refused the probe's port: {line!r}")
    start = time.monotonic()
    s.sendall(len(payload).to_bytes(8, "little"))
    _send(s, payload)
    answer = b""
    while len(answer) < 8 and (chunk := s.recv(8 - len(answer))):
        answer += chunk
    took = time.monotonic() - start
    s.close()
    if int.from_bytes(answer, "little") != len(payload) or len(answer) != 8:
        raise RuntimeError(f"the guest did not get every byte: {answer!r}")
    return took


def raw_stream(vm, payload: bytes, script: str | None = None) -> float:
    """Seconds to push payload through a stream of the agent's session and see its end: a
    discard stream (the transport alone), or an exec stream to `sh -c script`."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(str(vm.home / "vm" / "agent.sock"))
    if script is None:
        header = {"open": "discard"}
    else:
        header = {"open": "exec", "argv": ["/bin/sh", "-c", script], "tty": False}
    s.sendall(json.dumps(header).encode() + b"\n")
    reply = _read_line(s, "agent closed the stream")
    if not json.loads(reply).get("ok"):
        raise RuntimeError(f"agent refused: {reply!r}")
    start = time.monotonic()
    _send(s, payload)
    s.shutdown(socket.SHUT_WR)
    answer = b""
    while chunk := s.recv(1 << 16):
        answer += chunk
    took = time.monotonic() - start
    if script is None and json.loads(answer) != {"bytes": len(payload)}:
        raise RuntimeError(f"the guest did not get every byte: {answer!r}")
    s.close()
    return took


def _cpu_seconds(pid: int | None) -> float:
    if not pid:
        return 0.0
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


CLI_CPU: list[float] = []


def docker_cp(vm, src: Path, dest: str = "/blob") -> float:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.monotonic()
    vm.docker("cp", str(src), f"sink:{dest}", timeout=600)
    took = time.monotonic() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    # The docker CLI's own CPU (reading the file, making the tar) competes with the guest's.
    CLI_CPU.append(after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime)
    vm.docker("exec", "sink", "rm", "-f", dest)
    return took


def _wait_for_port(port: int, path: str = "/") -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
                s.sendall(f"GET {path} HTTP/1.0\r\n\r\n".encode())
                status = s.recv(64).split(b"\r\n", 1)[0].split()
                if status[1:2] == [b"200"]:
                    return
        except OSError:
            pass
        time.sleep(0.5)
    raise RuntimeError(f"nothing answers on the published port {port}")


def port_download(port: int, size: int) -> float:
    """Seconds to GET a SIZE-byte file through a published port (HTTP/1.0: it ends with the
    connection)."""
    start = time.monotonic()
    got = 0
    with socket.create_connection(("127.0.0.1", port)) as s:
        s.sendall(b"GET /blob HTTP/1.0\r\n\r\n")
        while chunk := s.recv(1 << 20):
            got += len(chunk)
    took = time.monotonic() - start
    if got < size:
        raise RuntimeError(f"the download ended after {got} of {size} bytes")
    return took


def port_upload(port: int, payload: bytes) -> float:
    """Seconds to send payload into a container's `nc -l` through a published port, until it
    closes the connection after the end of the data."""
    start = time.monotonic()
    with socket.create_connection(("127.0.0.1", port)) as s:
        _send(s, payload)
        s.shutdown(socket.SHUT_WR)
        while s.recv(1 << 16):
            pass
    return time.monotonic() - start


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size", type=int, default=256, help="MiB copied (default 256)")
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--boots", type=int, default=2)
    ap.add_argument("--debug-build", action="store_true",
                    help="measure the tests' debug build (target/debug/berth, vm-images/out)")
    a = ap.parse_args()
    if not a.debug_build:
        print("building berth and the guest image in release", flush=True)
        subprocess.run(["cargo", "build", "--release", "--locked", "-q", "-p", "berth-host", "-p", "berthd"], cwd=REPO, check=True)
        out = REPO / "vm-images" / "out-release"
        subprocess.run(["bash", "vm-images/build.sh", str(out)], cwd=REPO, check=True,
                       env={**os.environ, "BERTH_VM_PROFILE": "release"})
        os.environ["BERTH_CLI"] = str(REPO / "target" / "release" / "berth")
        os.environ["BERTH_IMAGES"] = str(out)
    from lib import vm as vmlib  # reads BERTH_CLI and BERTH_IMAGES: imported once they are set

    print(f"load average: {os.getloadavg()}")
    images = build_all(REPO / "target" / "test-images")
    reg = Registry().start()
    vm = None
    try:
        reg.push_oci(images["busybox"].path, "library/busybox", "latest")
        mirror = f"10.0.2.2:{reg.port}"
        vm = vmlib.BerthVM(daemon_json={"registry-mirrors": [f"http://{mirror}"], "insecure-registries": [mirror]})
        boots = []
        for i in range(a.boots):
            if i:
                vm.stop()
            start = time.monotonic()
            vm.start()
            vm.docker("version")
            boots.append(time.monotonic() - start)
            print(f"boot {i + 1}{' (fresh data disk)' if i == 0 else ''}: {boots[-1]:.2f} s to the first docker version")

        # A tmpfs for docker cp to land in: a local volume of type tmpfs (berthd mounts it while the
        # container uses it, and docker cp writes into volumes; a `--tmpfs` mount exists only in the
        # container's own mount namespace, and docker cp, as dockerd's, writes beneath it).
        vm.docker("volume", "create", "--opt", "type=tmpfs", "--opt", "device=tmpfs",
                  "--opt", f"o=size={2 * a.size}m", "mem")
        vm.docker("run", "-d", "--name", "sink", "-v", "mem:/mem", "busybox", "sleep", "3600")
        size = a.size << 20
        payload = os.urandom(size)
        src = vm.home / "blob"
        src.write_bytes(payload)
        runs = {k: [] for k in ("vsock", "raw", "raw tmpfs", "cp tmpfs", "raw disk", "cp disk")}
        sup = vm.supervisor_pid()
        cpu0 = _cpu_seconds(sup)
        for _ in range(a.reps):
            runs["vsock"].append(probe_stream(vm, payload))
            runs["raw"].append(raw_stream(vm, payload))
            runs["raw tmpfs"].append(raw_stream(vm, payload, TO_TMPFS))
            runs["cp tmpfs"].append(docker_cp(vm, src, "/mem/blob"))
            runs["raw disk"].append(raw_stream(vm, payload, TO_DISK))
            runs["cp disk"].append(docker_cp(vm, src))
        cpu = _cpu_seconds(sup) - cpu0
        relayed = (len(runs) - 1) * a.reps * size / 2**30  # all but the probe's cross the supervisor

        web, sink = free_port(), free_port()
        vm.docker("run", "-d", "--name", "web", "--tmpfs", f"/www:size={2 * a.size}m", "-p", f"127.0.0.1:{web}:80",
                  "busybox", "sh", "-c", f"head -c {size} /dev/zero > /www/blob && exec httpd -f -p 80 -h /www")
        vm.docker("run", "-d", "--name", "nc-sink", "-p", f"127.0.0.1:{sink}:81", "busybox", "sh", "-c",
                  "while true; do nc -l -p 81 > /dev/null; done")
        _wait_for_port(web, "/blob")
        runs["port down"], runs["port up"] = [], []
        for _ in range(a.reps):
            runs["port down"].append(port_download(web, size))
            runs["port up"].append(port_upload(sink, payload))
        mbps = lambda t: size / t / 1e6  # noqa: E731
        med = {k: statistics.median(v) for k, v in runs.items()}
        labels = {
            "vsock": "raw vsock transport (the guest's probe)",
            "raw": "agent stream through the supervisor, discarded",
            "raw tmpfs": "raw stream into a file on tmpfs",
            "cp tmpfs": "docker cp into a tmpfs volume",
            "raw disk": "raw stream into a file on the data disk",
            "cp disk": "docker cp into the container's root (disk)",
            "port down": "published port: download from httpd",
            "port up": "published port: upload into nc",
        }
        for k, label in labels.items():
            print(f"{label:44} {mbps(med[k]):6.1f} MB/s  (runs: {', '.join(f'{mbps(t):.1f}' for t in runs[k])})")
        goal = med["vsock"] / med["cp tmpfs"]
        print(f"ratio docker cp into tmpfs / raw vsock transport: {goal:.2f} (goal >= 0.8: {'PASS' if goal >= 0.8 else 'MISS'}); "
              f"docker cp onto the disk / raw vsock transport: {med['vsock'] / med['cp disk']:.2f}")
        print(f"ratio docker cp into tmpfs / agent stream discarded: {med['raw'] / med['cp tmpfs']:.2f}")
        print(f"ratio docker cp / raw stream into a file, both into tmpfs: {med['raw tmpfs'] / med['cp tmpfs']:.2f}; "
              f"both onto the data disk: {med['raw disk'] / med['cp disk']:.2f}")
        print(f"docker CLI CPU per docker cp: {statistics.median(CLI_CPU):.2f} s (host CPU the raw stream does not use)")
        print(f"host supervisor CPU: {cpu:.2f} s for {relayed:.2f} GiB relayed ({cpu / relayed:.2f} s/GiB)")
        print(f"load average: {os.getloadavg()}")
    finally:
        if vm:
            vm.cleanup()
        reg.stop()


if __name__ == "__main__":
    main()
