#!/usr/bin/env python3
"""Networking benchmark: published ports, side by side with Debian's dockerd 20.10.

    sudo python3 bench/network.py [--quick] [--size MIB] [--reps R] [--runs N] [--no-direct]
                                  [--syscalls] [--proxy-variants] [--no-dockerd] [--berthd PATH]

Both daemons run in a private network namespace that this script makes: it re-executes itself
under `unshare --net` (then `ip link set lo up`), so their bridges, veths, iptables rules and
ip_forward live and die with that namespace and nothing reaches the host's firewall or links
(checked before and after). The registry that serves busybox (tests/images/build.py) as their
docker.io mirror, the docker CLI and the clients of the published ports run in there too: all
traffic stays on that namespace's loopback and bridges. dockerd keeps its defaults there (its
docker0 bridge, iptables on, userland proxy on; with `--iptables=false` it publishes through
docker-proxy as well): for 127.0.0.1 the data path is docker-proxy in both cases, as it is
berthd's in-process proxy (guest/src/networks/ports/proxy.rs).

1. Throughput through a published port (`-p 127.0.0.1::80`): SIZE MiB (default 1024) from the
   host side into a container (`nc -ll -p 80 -e dd of=/dev/null bs=1M iflag=fullblock`), and from
   a container (`nc -ll -p 80 -e dd if=/dev/zero bs=1M count=SIZE`) to the host side; the client
   is this script (1 MiB send/recv calls); a transfer ends when the far end has everything (EOF
   back from the sink after it read SIZE, checked in its log; SIZE bytes received from the
   source). Median of R (default 5) transfers per direction, daemons interleaved. MB/s are 10^6
   bytes/s. Goal: berthd >= dockerd, each direction. Shown too: the proxy's CPU seconds per GiB
   (berthd's process; the port's docker-proxy), which depends little on what else runs, and the
   same transfers straight to the container's address (no proxy): this machine's ceiling.
   busybox's own `nc` pumping stdio (8 KiB calls) would be the bottleneck, hence `-e dd`.
2. `docker run --rm -p 127.0.0.1::80 busybox true` against `docker run --rm busybox true`, N
   (default 20) runs each, interleaved, one daemon at a time: medians. Goal: berthd's `-p` run
   <= 1.2x its plain run. dockerd's numbers for the same two, and both as raw API calls (create,
   start, wait, delete) to show where a difference lies.

`--quick`: 256 MiB x 2 transfers, 5 runs. `--syscalls`: one more transfer per direction and
daemon with `strace -f -c` on the proxy (berthd, or the port's docker-proxy): its syscall mix.
`--proxy-variants`: dockerd's docker-proxy binary and bench/proxy_variants, a stand-alone replica
of proxy.rs's relay (`copy:64` is berthd's code as shipped) with a bigger buffer or splice(2),
relay to berthd's two containers, interleaved with berthd's own proxy: the same backends for all,
and what a change of data path would give here.
The machine has 2 cores and others may be using them: the load average and how busy the machine
was before and during each phase are printed. Everything started is stopped by PID; containers
are removed; processes, mounts, cgroups and the temp dir are checked at the end, in the
namespace and from outside it.
"""
from __future__ import annotations

import argparse
import json
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
sys.path.insert(0, str(REPO / "tests"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from images.build import build_all  # noqa: E402
from lib import procs  # noqa: E402
from lib.berthd import _unmount_under  # noqa: E402
from lib.ports import free_port  # noqa: E402
from lib.registry import Registry  # noqa: E402
from foundation import children, ensure_dockerd, private_berthd, stop, wait_ping  # noqa: E402
from image_pull import start_berthd  # noqa: E402
from containers import Engine, cli_env, cmdline, dispose, loadavg, log, machine_cpu  # noqa: E402

MIB = 1 << 20
MB = 1e6
PUBLISH = "127.0.0.1::80"
# Private to the bench's namespace; two daemons side by side must not share a subnet.
# dockerd's defaults here (iptables and ip-forward on): the namespace is this bench's own.
BERTH_NET = {"bridge": "bnbench0", "bip": "10.201.0.1/24",
             "default-address-pools": [{"base": "10.202.0.0/16", "size": 24}],
             "iptables": True, "ip-forward": True}
DOCKERD_NET = ["--bip", "10.203.0.1/24", "--default-address-pool", "base=10.204.0.0/16,size=24"]
SINK = ["nc", "-ll", "-p", "80", "-e", "dd", "of=/dev/null", "bs=1M", "iflag=fullblock"]


def source_cmd(size_mib: int) -> list[str]:
    return ["nc", "-ll", "-p", "80", "-e", "dd", "if=/dev/zero", "bs=1M", f"count={size_mib}"]


# --- outside the namespace -----------------------------------------------------------------------

def host_state() -> dict:
    """What the bench must not change in the host's own network namespace."""
    def run(*argv):
        cp = subprocess.run(argv, capture_output=True, text=True)
        return cp.stdout if cp.returncode == 0 else f"({argv[0]} failed: {cp.stderr.strip()})"

    def rules(text):  # without comments and packet counters, which move with any traffic
        return sorted(line.split(" [")[0] for line in text.splitlines() if line and not line.startswith("#"))

    links = sorted(line.split(":")[1].strip().split("@")[0] for line in run("ip", "-o", "link", "show").splitlines())
    return {"iptables": rules(run("iptables-save")), "ip6tables": rules(run("ip6tables-save")),
            "links": links, "ip_forward": Path("/proc/sys/net/ipv4/ip_forward").read_text().strip()}


def in_netns(inode: int) -> list[int]:
    """PIDs whose network namespace is `inode`."""
    out = []
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                if os.stat(f"/proc/{name}/ns/net").st_ino == inode:
                    out.append(int(name))
            except OSError:
                pass
    return out


def kill_pids(pids: list[int]) -> None:
    for p in pids:
        try:
            os.kill(p, signal.SIGKILL)
        except ProcessLookupError:
            pass
    for p in pids:
        procs.wait_gone(p)


def outer(a: argparse.Namespace) -> int:
    if os.geteuid() != 0:
        raise SystemExit("run as root: the daemons mount overlays, make cgroups and network namespaces")
    for tool in ("unshare", "ip", "iptables"):
        if not shutil.which(tool):
            raise SystemExit(f"{tool} is needed")
    if not a.no_dockerd:
        if not ensure_dockerd():
            raise SystemExit("no dockerd (Debian's docker.io) on this machine; --no-dockerd to skip it")
        if not (shutil.which("docker-proxy") or Path("/usr/libexec/docker/docker-proxy").exists()):
            raise SystemExit("dockerd's docker-proxy is missing: dockerd could not publish ports")
    root = Path(tempfile.mkdtemp(prefix="bn-"))  # short: shim sockets live under it
    binary = private_berthd(root, a.berthd)
    if a.proxy_variants:
        crate = Path(__file__).resolve().parent / "proxy_variants"
        target = REPO / "target" / "bench-proxy-variants"
        subprocess.run(["cargo", "build", "--release", "-q", "--manifest-path", str(crate / "Cargo.toml"),
                        "--target-dir", str(target)], check=True)
        shutil.copy2(target / "release" / "proxy-variants", root / "proxy-variants")
    run_before = set(os.listdir("/run/containerd/s")) if Path("/run/containerd/s").is_dir() else set()
    before = host_state()
    argv = ["unshare", "--net", "--", sys.executable, str(Path(__file__).resolve()), "--inner", str(root),
            *sys.argv[1:]]
    proc = subprocess.Popen(argv)
    old = signal.signal(signal.SIGINT, signal.SIG_IGN)  # a Ctrl-C stops the inner run, which cleans up
    try:
        rc = proc.wait()
    finally:
        signal.signal(signal.SIGINT, old)

    problems = []
    try:
        inode = int((root / "netns").read_text())
    except (OSError, ValueError):
        inode = None
    left = in_netns(inode) if inode else []
    if left:
        problems.append("processes left in the bench's namespace, killed: "
                        + ", ".join(f"{p} {' '.join(cmdline(p))[:60]}" for p in left))
        kill_pids(left)
    left = [p for p in procs.processes_mentioning(str(root)) if procs.pid_alive(p)]
    if left:
        problems.append(f"processes mentioning {root} left, killed: {left}")
        kill_pids(left)
    mounts = _unmount_under(root)
    if mounts:
        problems.append(f"mounts left, dir kept: {mounts[:5]}")
    else:
        shutil.rmtree(root, ignore_errors=True)
    after = host_state()
    for key in ("iptables", "ip6tables"):
        if before[key] != after[key]:
            added = sorted(set(after[key]) - set(before[key]))
            gone = sorted(set(before[key]) - set(after[key]))
            problems.append(f"host {key} changed during the run (others on this machine may have done it): "
                            f"+{added[:10]} -{gone[:10]}")
    ours = {BERTH_NET["bridge"], "docker0"}
    if ours & (set(after["links"]) - set(before["links"])):
        problems.append(f"bench bridges in the host's namespace: {sorted(ours & set(after['links']))}")
    if before["ip_forward"] != after["ip_forward"]:
        problems.append(f"host ip_forward changed: {before['ip_forward']} -> {after['ip_forward']}")
    run_after = set(os.listdir("/run/containerd/s")) if Path("/run/containerd/s").is_dir() else set()
    if run_after - run_before:
        problems.append(f"new shim sockets left in /run/containerd/s: {sorted(run_after - run_before)}")
    if problems:
        print("CLEAN-UP / ISOLATION PROBLEMS:\n  " + "\n  ".join(problems))
    else:
        print("outside the namespace: no process, mount or temp dir of this run is left; the host's "
              "iptables/ip6tables rules, links and ip_forward are as before")
    return rc


# --- inside the namespace: the daemons -----------------------------------------------------------

def start_daemon(kind: str, tmp: Path, reg: Registry, binary: Path) -> Engine:
    """berthd or dockerd in tmp (exec root on a tmpfs, as /run is), with its own bridge and
    subnets, the registry as its docker.io mirror, busybox pulled."""
    tmp.mkdir(parents=True)
    exec_root = tmp / ("bexec" if kind == "berthd" else "dexec")
    exec_root.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "mode=0711,size=1g", "tmpfs", str(exec_root)], check=True)
    log_file = open(tmp / f"{kind}.log", "wb")
    try:
        if kind == "berthd":
            proc, sock = start_berthd(tmp, reg.host, config={"registry-mirrors": [reg.url], **BERTH_NET},
                                      binary=binary, stderr=log_file)
        else:
            sock = tmp / "dockerd.sock"
            proc = subprocess.Popen([ensure_dockerd(), "--data-root", str(tmp / "ddata"), "--exec-root",
                                     str(exec_root), "--pidfile", str(tmp / "d.pid"), "-H", f"unix://{sock}",
                                     *DOCKERD_NET, "--registry-mirror", reg.url, "--insecure-registry", reg.host],
                                    stdout=log_file, stderr=subprocess.STDOUT)
            wait_ping(sock)
    finally:
        log_file.close()
    eng = Engine(kind, tmp, proc, sock)
    cli(eng, "pull", "-q", "busybox")
    return eng


def cli(eng: Engine, *args: str) -> str:
    cp = subprocess.run(["docker", "-H", f"unix://{eng.sock}", *args], capture_output=True, text=True,
                        env=cli_env())
    if cp.returncode:
        raise RuntimeError(f"{eng.kind}: docker {' '.join(args)}: {cp.stderr.strip()}")
    return cp.stdout


def timed_cli(eng: Engine, *args: str) -> float:
    t0 = time.perf_counter()
    cli(eng, *args)
    return time.perf_counter() - t0


def proc_cpu(pid: int) -> float:
    """utime + stime of a process (all its threads), in seconds."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Server:
    """A container serving one direction of the throughput test on its port 80, published on
    127.0.0.1."""

    def __init__(self, eng: Engine, cmd: list[str]):
        self.eng = eng
        cid = cli(eng, "run", "-d", "-p", PUBLISH, "busybox", *cmd).strip()
        eng.note(cid)
        self.cid = cid
        info = json.loads(cli(eng, "inspect", cid))[0]
        ns = info["NetworkSettings"]
        ip = ns.get("IPAddress") or next(iter(ns["Networks"].values()))["IPAddress"]
        self.direct = (ip, 80)
        self.port = int(ns["Ports"]["80/tcp"][0]["HostPort"])
        self.published = ("127.0.0.1", self.port)
        self.pid = info["State"]["Pid"]
        self.wait_listening()
        self.proxy_pid = eng.proc.pid if eng.kind == "berthd" else self.docker_proxy()

    def wait_listening(self, timeout: float = 20) -> None:
        """Until something listens on port 80 in the container's namespace (/proc/PID/net/tcp
        is that namespace's table): connecting to find out would start a transfer."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for table in ("tcp", "tcp6"):  # busybox nc listens on [::]
                try:
                    for line in Path(f"/proc/{self.pid}/net/{table}").read_text().splitlines()[1:]:
                        f = line.split()
                        if f[1].endswith(":0050") and f[3] == "0A":
                            return
                except OSError:
                    pass
            time.sleep(0.05)
        raise RuntimeError(f"{self.eng.kind}: nothing listens on port 80 in container {self.cid[:12]}")

    def docker_proxy(self) -> int:
        for pid in children(self.eng.proc.pid):
            argv = cmdline(pid)
            if argv and Path(argv[0]).name == "docker-proxy" and "-host-port" in argv and \
                    argv[argv.index("-host-port") + 1] == str(self.port):
                return pid
        raise RuntimeError(f"dockerd: no docker-proxy for port {self.port}")

    def records_in(self, size_mib: int) -> int:
        """How many complete SIZE MiB reads the sink's dd reported (its log)."""
        logs = subprocess.run(["docker", "-H", f"unix://{self.eng.sock}", "logs", self.cid], capture_output=True,
                              text=True, env=cli_env())
        return (logs.stdout + logs.stderr).count(f"{size_mib}+0 records in")


def send(addr: tuple[str, int], size: int) -> float:
    """Sends size bytes, half-closes, waits for the sink to close (it has read everything):
    seconds from the connection."""
    buf = memoryview(bytes(MIB))
    with socket.create_connection(addr, timeout=120) as s:
        t0 = time.perf_counter()
        left = size
        while left:
            n = min(left, MIB)
            s.sendall(buf[:n])
            left -= n
        s.shutdown(socket.SHUT_WR)
        while s.recv(65536):
            pass
        return time.perf_counter() - t0


def receive(addr: tuple[str, int], size: int) -> float:
    """Reads until EOF; seconds from the connection. Fails unless exactly size bytes came."""
    buf = bytearray(MIB)
    got = 0
    with socket.create_connection(addr, timeout=120) as s:
        t0 = time.perf_counter()
        while True:
            n = s.recv_into(buf)
            if not n:
                break
            got += n
        dt = time.perf_counter() - t0
    if got != size:
        raise RuntimeError(f"received {got} bytes from {addr}, expected {size}")
    return dt


# --- inside the namespace: the measurements ------------------------------------------------------

def throughput(engines: list[Engine], size_mib: int, reps: int, direct: bool) -> dict:
    """R transfers each way through each daemon's published port (and straight to the
    container), interleaved: MB/s, the proxy's CPU s/GiB, the machine's CPU meanwhile."""
    size = size_mib * MIB
    servers = {e.kind: {"up": Server(e, SINK), "down": Server(e, source_cmd(size_mib))} for e in engines}
    res = {e.kind: {k: [] for k in ("up", "down", "up_cpu", "down_cpu", "up_direct", "down_direct")}
           for e in engines}
    ups = {e.kind: 0 for e in engines}
    busy0, total0 = machine_cpu()
    t_start = time.monotonic()
    for rep in range(reps):
        order = engines if rep % 2 == 0 else engines[::-1]  # neither daemon always goes first
        for e in order:
            for d in ("up", "down"):
                srv = servers[e.kind][d]
                c0 = proc_cpu(srv.proxy_pid)
                dt = send(srv.published, size) if d == "up" else receive(srv.published, size)
                res[e.kind][f"{d}_cpu"].append((proc_cpu(srv.proxy_pid) - c0) / (size / (1 << 30)))
                res[e.kind][d].append(size / dt / MB)
                ups[e.kind] += d == "up"
                log(f"1. {e.kind} {d:4} via 127.0.0.1:{srv.port}: {size / dt / MB:.0f} MB/s")
        if direct:
            for e in order:
                for d in ("up", "down"):
                    srv = servers[e.kind][d]
                    dt = send(srv.direct, size) if d == "up" else receive(srv.direct, size)
                    res[e.kind][f"{d}_direct"].append(size / dt / MB)
                    ups[e.kind] += d == "up"
    busy1, total1 = machine_cpu()
    res["machine_busy"] = (busy1 - busy0) / (total1 - total0)
    res["wall"] = time.monotonic() - t_start
    time.sleep(0.5)  # the sinks' last log lines
    for e in engines:
        got = servers[e.kind]["up"].records_in(size_mib)
        if got != ups[e.kind]:
            raise RuntimeError(f"{e.kind}: the sink read {size_mib} MiB {got} times, expected {ups[e.kind]}")
    res["servers"] = servers
    res["ups"] = ups
    return res


def strace_transfers(engines: list[Engine], tp: dict, size_mib: int) -> dict:
    """One transfer per direction and daemon with `strace -f -c` on the proxy: the syscall
    summary (and the transfer's MB/s under strace, which slows it)."""
    out = {}
    if not shutil.which("strace"):
        return {"-": "strace is not installed"}
    size = size_mib * MIB
    servers = tp["servers"]
    for e in engines:
        for d in ("up", "down"):
            srv = servers[e.kind][d]
            tp["ups"][e.kind] += d == "up"
            f = e.tmp / f"strace-{d}.txt"
            st = subprocess.Popen(["strace", "-f", "-c", "-o", str(f), "-p", str(srv.proxy_pid)],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            time.sleep(1)  # attached to every thread
            dt = send(srv.published, size) if d == "up" else receive(srv.published, size)
            st.send_signal(signal.SIGINT)
            st.wait(30)
            text = f.read_text() if f.exists() else "(no output)"
            lines = text.splitlines()
            out[f"{e.kind} {d} ({size / dt / MB:.0f} MB/s under strace)"] = "\n".join(lines[:12])
    return out


VARIANTS = ["copy:64", "copy:1024", "splice:0", "splice:1024"]


def proxy_variants(engines: list[Engine], tp: dict, size_mib: int, reps: int, binary: Path) -> dict:
    """In front of berthd's two servers, interleaved with berthd's own proxy: dockerd's
    docker-proxy binary and bench/proxy_variants (a replica of proxy.rs's relay with other data
    paths), so that every relay has the same containers behind it. MB/s and CPU s/GiB of each,
    per direction."""
    servers, ups = tp["servers"], tp["ups"]
    size = size_mib * MIB
    started: list[subprocess.Popen] = []
    targets = {"up": [], "down": []}
    try:
        docker_proxy = shutil.which("docker-proxy") or "/usr/libexec/docker/docker-proxy"
        for d in ("up", "down"):
            srv = servers["berthd"][d]
            targets[d].append(("berthd's proxy (copy:64)", "berthd", srv.published, srv.proxy_pid))
            backend = srv.direct
            if Path(docker_proxy).exists():
                port = free_port()
                # docker-proxy reports "0" (or "1" and the error) on fd 3, then closes it.
                p = subprocess.Popen(["sh", "-c", 'exec "$0" "$@" 3>&1', docker_proxy, "-proto", "tcp",
                                      "-host-ip", "127.0.0.1", "-host-port", str(port), "-container-ip",
                                      backend[0], "-container-port", str(backend[1])],
                                     stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
                started.append(p)
                if p.stdout.readline().strip() != "0":
                    raise RuntimeError("docker-proxy did not start")
                targets[d].append(("docker-proxy (splice)", "berthd", ("127.0.0.1", port), p.pid))
            for v in VARIANTS:
                port = free_port()
                p = subprocess.Popen([str(binary), v, f"127.0.0.1:{port}", f"{backend[0]}:{backend[1]}"],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
                started.append(p)
                if p.stderr.readline().strip() != "ready":
                    raise RuntimeError(f"proxy-variants {v} did not start")
                targets[d].append((f"replica {v}", "berthd", ("127.0.0.1", port), p.pid))
        out = {d: {name: {"mbs": [], "cpu": []} for name, _, _, _ in targets[d]} for d in targets}
        for rep in range(reps):
            for d in ("up", "down"):
                order = targets[d] if rep % 2 == 0 else targets[d][::-1]
                for name, kind, addr, pid in order:
                    c0 = proc_cpu(pid)
                    dt = send(addr, size) if d == "up" else receive(addr, size)
                    out[d][name]["cpu"].append((proc_cpu(pid) - c0) / (size / (1 << 30)))
                    out[d][name]["mbs"].append(size / dt / MB)
                    ups[kind] += d == "up"
                    log(f"1c. {name:26} {d:4}: {size / dt / MB:.0f} MB/s")
    finally:
        for p in started:
            stop(p)
    time.sleep(0.5)
    for e in engines:
        got = servers[e.kind]["up"].records_in(size_mib)
        if got != ups[e.kind]:
            raise RuntimeError(f"{e.kind}: the sink read {size_mib} MiB {got} times, expected {ups[e.kind]}")
    return out


def run_latency(eng: Engine, n: int) -> dict:
    """`docker run --rm [-p 127.0.0.1::80] busybox true`, n each, interleaved: seconds."""
    variants = {"plain": [], "-p": ["-p", PUBLISH]}
    times = {k: [] for k in variants}
    for extra in variants.values():  # warm-up (page cache, first shim exec, first proxy)
        cli(eng, "run", "--rm", *extra, "busybox", "true")
    for i in range(n):
        order = list(variants.items()) if i % 2 == 0 else list(variants.items())[::-1]
        for label, extra in order:
            times[label].append(timed_cli(eng, "run", "--rm", *extra, "busybox", "true"))
    return times


def run_phases(eng: Engine, n: int) -> dict:
    """The API calls behind both runs (create, start, wait, delete), interleaved: median ms."""
    bodies = {"plain": {"Image": "busybox", "Cmd": ["true"], "HostConfig": {}},
              "-p": {"Image": "busybox", "Cmd": ["true"], "ExposedPorts": {"80/tcp": {}},
                     "HostConfig": {"PortBindings": {"80/tcp": [{"HostIp": "127.0.0.1", "HostPort": ""}]}}}}
    phases = {k: {p: [] for p in ("create", "start", "wait", "delete", "total")} for k in bodies}
    for _ in range(n):
        for label, body in bodies.items():
            t0 = time.perf_counter()
            cid = json.loads(eng.must("POST", "/containers/create", body))["Id"]
            eng.note(cid)
            t1 = time.perf_counter()
            eng.must("POST", f"/containers/{cid}/start")
            t2 = time.perf_counter()
            eng.must("POST", f"/containers/{cid}/wait")
            t3 = time.perf_counter()
            eng.must("DELETE", f"/containers/{cid}")
            t4 = time.perf_counter()
            for k, x, y in (("create", t0, t1), ("start", t1, t2), ("wait", t2, t3), ("delete", t3, t4),
                            ("total", t0, t4)):
                phases[label][k].append((y - x) * 1000)
    return {label: {k: statistics.median(v) for k, v in ph.items()} for label, ph in phases.items()}


def busy_now(seconds: float = 1.0) -> float:
    """Share of the machine's CPU in use over the next few seconds (before this bench starts
    working: that is others' load)."""
    b0, t0 = machine_cpu()
    time.sleep(seconds)
    b1, t1 = machine_cpu()
    return (b1 - b0) / (t1 - t0) if t1 > t0 else 0.0


def inner(a: argparse.Namespace, root: Path) -> None:
    (root / "netns").write_text(str(os.stat("/proc/self/ns/net").st_ino))
    subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
    q = a.quick
    size_mib = a.size or (256 if q else 1024)
    reps = a.reps or (2 if q else 5)
    runs = a.runs or (5 if q else 20)
    kinds = ["berthd"] if a.no_dockerd else ["berthd", "dockerd"]
    res: dict = {"load": [loadavg()], "busy_before": busy_now(2)}
    print(f"machine: {os.cpu_count()} cores; load average at start {res['load'][0]}; "
          f"CPU busy before the bench {100 * res['busy_before']:.0f}% (others' work)", flush=True)

    reg = Registry()
    engines: list[Engine] = []
    problems: list[str] = []
    try:
        images = build_all(root / "images")
        reg.start()
        reg.push_oci(images["busybox"].path, "library/busybox", "latest")
        for kind in kinds:
            engines.append(start_daemon(kind, root / kind[0], reg, root / "berthd"))

        log(f"1. throughput: {size_mib} MiB x {reps} each way, through 127.0.0.1:PORT"
            + (" and straight to the container" if not a.no_direct else ""))
        tp = throughput(engines, size_mib, reps, not a.no_direct)
        res["tp"] = tp
        res["load"].append(loadavg())
        if a.syscalls:
            log("1b. one more transfer each way under strace -f -c")
            res["strace"] = strace_transfers(engines, tp, size_mib)
        if a.proxy_variants:
            log(f"1c. proxy variants (bench/proxy_variants) in front of berthd's servers, x{reps}")
            res["variants"] = proxy_variants(engines, tp, size_mib, reps, root / "proxy-variants")
        for e in engines:  # the servers go: nothing but the daemons runs in phase 2
            e.remove_all()

        res["run"], res["phases"], res["busy_run"] = {}, {}, {}
        for e in engines:
            log(f"2. {e.kind}: docker run --rm [-p {PUBLISH}] busybox true, {runs} each")
            b0, t0 = machine_cpu()
            res["run"][e.kind] = run_latency(e, runs)
            b1, t1 = machine_cpu()
            res["busy_run"][e.kind] = (b1 - b0) / (t1 - t0)
            log(f"2b. {e.kind}: the same through the API, by phase")
            res["phases"][e.kind] = run_phases(e, max(5, runs // 2))
        res["load"].append(loadavg())
    finally:
        for e in engines:
            problems.extend(dispose(e))
        reg.stop()
        me = os.getpid()
        left = [p for p in in_netns(os.stat("/proc/self/ns/net").st_ino) if p != me and procs.pid_alive(p)]
        if left:
            problems.append("processes left in the namespace, killed: "
                            + ", ".join(f"{p} {' '.join(cmdline(p))[:60]}" for p in left))
            kill_pids(left)
        if problems:
            print("CLEAN-UP PROBLEMS:\n  " + "\n  ".join(problems))
        else:
            print("clean-up: every container removed, both daemons stopped by PID, no process, mount or "
                  "cgroup of theirs left")
    report(res, kinds, size_mib, reps, runs, a)


# --- report --------------------------------------------------------------------------------------

def num(v) -> str:
    if v is None:
        return "-"
    return f"{v:.2f}" if abs(v) < 10 else f"{v:.0f}"


class Table:
    def __init__(self):
        self.rows = []

    def add(self, name, b, d, goal="", ok=None, ratio=True):
        self.rows.append((name, b, d, f"{b / d:.2f}" if ratio and b is not None and d else "-", goal, ok))

    def print(self):
        print(f"{'metric':54} {'berthd':>9} {'dockerd':>9} {'ratio':>6}  {'goal':22} result")
        for name, b, d, ratio, goal, ok in self.rows:
            res = "" if ok is None else ("PASS" if ok else "MISS")
            print(f"{name:54} {num(b):>9} {num(d):>9} {ratio:>6}  {goal:22} {res}")


def med(v):
    return statistics.median(v) if v else None


def report(res: dict, kinds: list[str], size_mib: int, reps: int, runs: int, a) -> None:
    tp = res["tp"]
    t = Table()
    have_d = "dockerd" in kinds

    def tpv(kind, key):
        return med(tp[kind][key]) if kind in tp else None

    for d, name in (("up", "host -> container"), ("down", "container -> host")):
        b, dk = tpv("berthd", d), tpv("dockerd", d)
        t.add(f"{name} via 127.0.0.1:PORT, MB/s (median of {reps})", b, dk, ">= 1x dockerd",
              None if dk is None else b >= dk)
    for d, name in (("up", "host -> container"), ("down", "container -> host")):
        t.add(f"  proxy CPU per GiB, {name} (s)", tpv("berthd", f"{d}_cpu"), tpv("dockerd", f"{d}_cpu"))
    if not a.no_direct:
        for d, name in (("up", "host -> container"), ("down", "container -> host")):
            t.add(f"  {name} to the container's IP, no proxy (MB/s)", tpv("berthd", f"{d}_direct"),
                  tpv("dockerd", f"{d}_direct"))
    r = {k: {lab: med(v) * 1000 for lab, v in x.items()} for k, x in res["run"].items()}
    rd = r.get("dockerd", {})
    t.add(f"run --rm busybox true, median of {runs} (ms)", r["berthd"]["plain"], rd.get("plain"))
    t.add(f"run --rm -p {PUBLISH} busybox true (ms)", r["berthd"]["-p"], rd.get("-p"))
    pb = r["berthd"]["-p"] / r["berthd"]["plain"]
    pd = rd["-p"] / rd["plain"] if rd else None
    t.add("  -p run / plain run (x)", pb, pd, "berthd <= 1.2x", pb <= 1.2, ratio=False)
    print()
    t.print()
    print(f"\nload average (1, 5, 15 min): start {res['load'][0]}; after throughput {res['load'][1]}"
          + (f"; end {res['load'][2]}" if len(res["load"]) > 2 else ""))
    print(f"machine CPU busy: before the bench {100 * res['busy_before']:.0f}% (others' work); during the "
          f"throughput phase {100 * tp['machine_busy']:.0f}% ({tp['wall']:.0f} s); during the run phases "
          + ", ".join(f"{k} {100 * v:.0f}%" for k, v in res["busy_run"].items()))
    print("\nthroughput, each transfer (MB/s, in order):")
    for k in kinds:
        for d in ("up", "down", "up_direct", "down_direct"):
            if tp[k][d]:
                print(f"  {k:8} {d:12} " + " ".join(f"{x:.0f}" for x in tp[k][d]))
    print("proxy CPU s/GiB, each transfer:")
    for k in kinds:
        for d in ("up_cpu", "down_cpu"):
            print(f"  {k:8} {d:12} " + " ".join(f"{x:.2f}" for x in tp[k][d]))
    print("\nrun --rm, each run (ms, sorted):")
    for k, x in res["run"].items():
        for lab, v in x.items():
            print(f"  {k:8} {lab:6} " + " ".join(f"{s * 1000:.0f}" for s in sorted(v)))
    print("\nrun through the API, median per phase (ms):")
    names = ["create", "start", "wait", "delete", "total"]
    print(f"  {'':16}" + "".join(f"{n:>9}" for n in names))
    for k, ph in res["phases"].items():
        for lab, v in ph.items():
            print(f"  {k + ' ' + lab:16}" + "".join(f"{v[n]:9.1f}" for n in names))
    if res.get("variants"):
        print(f"\nthe relay's data path, {size_mib} MiB x {reps} each way, interleaved, all relaying to berthd's "
              "two containers (replica copy:64 = proxy.rs as shipped):")
        print(f"  {'':28}{'host -> container':>24}{'container -> host':>24}")
        print(f"  {'':28}{'MB/s':>10}{'CPU s/GiB':>14}{'MB/s':>10}{'CPU s/GiB':>14}")
        v = res["variants"]
        for name in v["up"]:
            up, down = v["up"][name], v["down"][name]
            print(f"  {name:28}{med(up['mbs']):10.0f}{med(up['cpu']):14.2f}{med(down['mbs']):10.0f}"
                  f"{med(down['cpu']):14.2f}")
    for name, text in res.get("strace", {}).items():
        print(f"\nstrace -f -c of the proxy, {name}:\n{text}")
    if not have_d:
        print("\n(dockerd not measured: --no-dockerd)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="a small fast variant")
    ap.add_argument("--size", type=int, help="MiB per transfer (1024; quick 256)")
    ap.add_argument("--reps", type=int, help="transfers per direction and daemon (5; quick 2)")
    ap.add_argument("--runs", type=int, help="`run --rm` repetitions per variant (20; quick 5)")
    ap.add_argument("--no-direct", action="store_true", help="skip the transfers straight to the container")
    ap.add_argument("--syscalls", action="store_true", help="one more transfer each way under strace -f -c")
    ap.add_argument("--proxy-variants", action="store_true",
                    help="also relay through bench/proxy_variants (proxy.rs's relay with bigger buffers, splice)")
    ap.add_argument("--no-dockerd", action="store_true", help="measure berthd alone")
    ap.add_argument("--berthd", type=Path, help="a berthd binary to use instead of building target/release")
    ap.add_argument("--inner", type=Path, help=argparse.SUPPRESS)  # set by the re-execution in the namespace
    a = ap.parse_args()
    if a.inner:
        inner(a, a.inner)
    else:
        sys.exit(outer(a))


if __name__ == "__main__":
    main()
