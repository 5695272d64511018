#!/usr/bin/env python3
"""Containers benchmark, side by side with Debian's dockerd 20.10 on the same machine and image.

    sudo python3 bench/containers.py [--quick] [--runs N] [--parallel K] [--many M] [--running R]
                                     [--rss-containers C] [--ps-reps P] [--no-dockerd] [--berthd PATH]
                                     [--exec-on-disk] [--debug]

Both daemons get busybox (tests/images/build.py) from a local docker-registry that is their
docker.io mirror, so `docker run busybox` works offline, as users type it. dockerd runs with
`--iptables=false --ip-forward=false` and its default bridge (docker0, removed afterwards), berthd
with `iptables`/`ip-forward` off too and its default bridge: a network namespace and a veth per
container on both sides. Both are measured with their default network mode and with
`--network none`.

One daemon runs at a time (on 2 cores, one's background work would land in the other's numbers).
1. `docker run --rm busybox true`, median of N (default 20) runs, default network mode and
   `--network none` interleaved; plus the same as raw API calls (create, start, wait, delete) to
   show where the time goes. Goal: berthd <= 0.5x dockerd.
2. K (default 50) `docker run -d busybox sleep 600` at once: wall time until all have returned.
   Goal: <= 0.5x dockerd. Then `docker rm -f` of them (timed, no goal).
3. `docker ps -a` with M (default 500) created containers (made in parallel through the API),
   then with R (default 20) of them running: median time. Goal: <= 0.5x dockerd. The CLI's own
   share is shown by `docker ps -a` against a canned copy of berthd's answer: no daemon can go
   below it, and the time above it (the daemon's answer and its transfer) is compared too.
4. A fresh daemon with C (default 100) running containers: berthd's VmRSS (shims excluded),
   goal <= 50 MiB, and each shim's VmRSS (max, median), goal <= 2 MiB; for dockerd, dockerd +
   containerd and each containerd-shim.

Data roots are in a temp dir on disk; exec roots (bundles, runtime state, shim sockets) on a
tmpfs mounted for the run, as /run is on a real host (`--exec-on-disk` to keep them on disk).
`--quick`: 5 runs, 10 in parallel, 50 created (5 running), 20 for the memory phase.
The machine has 2 cores and others may be using them: the load average is printed (it counts
this bench's own processes too), and how much of the machine's CPU went to the daemon, the docker
CLI and the rest. The CPU time of each daemon and of the shims and runtimes it starts (a cpuacct
cgroup per daemon) is printed too: it hardly depends on what else runs.
Everything started is stopped by PID; containers are removed, cgroups, mounts and temp dirs are
checked at the end, and what is left over (nothing, normally) is reported (BENCH_DIAG=1: with what
a leftover process was doing).
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))

from images.build import build_all  # noqa: E402
from lib import procs  # noqa: E402
from lib.berthd import _UnixConnection, _unmount_under, kill_and_remove_cgroups  # noqa: E402
from lib.registry import Registry  # noqa: E402
from foundation import children, private_berthd, rss_kib, stop  # noqa: E402
from image_pull import (api_get_ms, docker, remove_bench_bridge, remove_dockerd_bridge, start_berthd,  # noqa: E402
                        start_dockerd)

API = "/v1.41"  # dockerd 20.10's version; berthd serves it too
MIB = 1024  # KiB per MiB
CGROUP_ROOT = Path("/sys/fs/cgroup")


# --- one daemon ---------------------------------------------------------------------------------

class Engine:
    """A started berthd or dockerd in its own temp dir, with busybox pulled."""

    def __init__(self, kind: str, tmp: Path, proc: subprocess.Popen, sock: Path):
        self.kind = kind
        self.tmp = tmp
        self.proc = proc
        self.sock = sock
        self.ids: set[str] = set()  # every container made, for the cgroup check at the end
        self.conflicts = 0  # creates refused for a generated name another create took
        self.cpu_group: Path | None = None  # a cpuacct cgroup holding the daemon and its helpers
        self.lock = threading.Lock()

    def account_cpu(self) -> None:
        """Moves the daemon (and containerd) into a cpuacct cgroup of their own: their CPU time,
        and that of the shims and runtime processes they start, is then counted apart from the
        docker CLI and from whatever else runs on the machine. Containers get cgroups of their
        own from the runtime, outside this one."""
        base = CGROUP_ROOT / "cpuacct"
        if not (base / "cgroup.procs").exists():
            return
        group = base / f"berth-bench-{os.getpid()}-{self.tmp.name}"
        group.mkdir()
        self.cpu_group = group
        for pid in self.daemon_pids():
            (group / "cgroup.procs").write_text(str(pid))

    def cpu_ms(self) -> float:
        """CPU time used in the daemon's cpuacct cgroup so far (ms), 0 without one."""
        if not self.cpu_group:
            return 0.0
        return int((self.cpu_group / "cpuacct.usage").read_text()) / 1e6

    @property
    def cgroup_parent(self) -> str:
        return "berth" if self.kind == "berthd" else "docker"

    def docker(self, *args: str) -> subprocess.CompletedProcess:
        return docker(self.sock, *args)

    def timed_docker(self, *args: str) -> tuple[float, subprocess.CompletedProcess]:
        t0 = time.perf_counter()
        cp = docker(self.sock, *args)
        return time.perf_counter() - t0, cp

    def api(self, method: str, path: str, body=None, timeout: float = 120) -> tuple[int, bytes]:
        headers = {}
        if body is not None:
            body = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        conn = _UnixConnection(str(self.sock), timeout)
        try:
            conn.request(method, API + path, body=body, headers=headers)
            resp = conn.getresponse()
            return resp.status, resp.read()
        finally:
            conn.close()

    def must(self, method: str, path: str, body=None, ok=(200, 201, 204)) -> bytes:
        status, data = self.api(method, path, body)
        if status not in ok:
            raise RuntimeError(f"{self.kind}: {method} {path} -> {status}: {data[:300]!r}")
        return data

    def create(self, cmd: list[str], host_config: dict | None = None) -> str:
        """POST /containers/create without a name. A 409 for a generated name that another
        create took meanwhile is retried, and counted in .conflicts (dockerd never answers it)."""
        body = {"Image": "busybox", "Cmd": cmd, "HostConfig": host_config or {}}
        for _ in range(10):
            status, data = self.api("POST", "/containers/create", body)
            if status == 409 and b"already in use" in data:
                self.count_conflict()
                continue
            if status != 201:
                raise RuntimeError(f"{self.kind}: POST /containers/create -> {status}: {data[:300]!r}")
            cid = json.loads(data)["Id"]
            self.note(cid)
            return cid
        raise RuntimeError(f"{self.kind}: 10 name conflicts in a row")

    def count_conflict(self) -> None:
        with self.lock:
            self.conflicts += 1

    def note(self, cid: str) -> None:
        with self.lock:
            self.ids.add(cid)

    def all_ids(self) -> list[str]:
        return [c["Id"] for c in json.loads(self.must("GET", "/containers/json?all=1"))]

    def remove_all(self, workers: int = 8) -> float:
        """Force-removes every container through the API, in parallel; returns the seconds."""
        ids = self.all_ids()
        t0 = time.perf_counter()
        with ThreadPoolExecutor(workers) as ex:
            list(ex.map(lambda i: self.must("DELETE", f"/containers/{i}?force=1&v=1", ok=(204, 404)), ids))
        return time.perf_counter() - t0

    def shim_pids(self) -> list[int]:
        """berthd: its `berth-shim` processes; dockerd: the containerd-shims of its containerd."""
        out = []
        for pid in procs.processes_mentioning(str(self.tmp)):
            argv = cmdline(pid)
            if not argv:
                continue
            if self.kind == "berthd" and Path(argv[0]).name == "berth-shim":
                out.append(pid)
            elif self.kind == "dockerd" and "containerd-shim" in Path(argv[0]).name:
                out.append(pid)
        return out

    def daemon_pids(self) -> list[int]:
        """berthd alone; dockerd and the containerd it started (shims excluded)."""
        shims = set(self.shim_pids())
        if self.kind == "berthd":
            return [self.proc.pid]
        return [self.proc.pid, *[p for p in children(self.proc.pid) if p not in shims]]


def cli_env() -> dict:
    return {k: v for k, v in os.environ.items() if not k.startswith("DOCKER_")}  # as image_pull.docker


def cmdline(pid: int) -> list[str]:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace").split("\0")[:-1]
    except OSError:
        return []


def mem_kib(pid: int) -> dict:
    """VmRSS, RssAnon, RssFile (status), Pss and USS (private pages, smaps_rollup) in KiB; zeros
    if it is gone."""
    out = {"rss": 0, "anon": 0, "file": 0, "pss": 0, "uss": 0}
    keys = {"VmRSS:": "rss", "RssAnon:": "anon", "RssFile:": "file"}
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            k = keys.get(line.split(":")[0] + ":")
            if k:
                out[k] = int(line.split()[1])
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                out["pss"] = int(line.split()[1])
            elif line.startswith(("Private_Clean:", "Private_Dirty:")):
                out["uss"] += int(line.split()[1])
    except (OSError, ValueError):
        pass
    return out


def start_engine(kind: str, tmp: Path, reg: Registry, binary: Path, debug: bool,
                 exec_tmpfs: bool = True) -> Engine:
    tmp.mkdir(parents=True)
    if exec_tmpfs:  # the exec-root on a tmpfs, as /run is on a real host; unmounted by dispose()
        exec_root = tmp / ("bexec" if kind == "berthd" else "dexec")
        exec_root.mkdir()
        subprocess.run(["mount", "-t", "tmpfs", "-o", "mode=0711,size=1g", "tmpfs", str(exec_root)], check=True)
    if kind == "berthd":
        log = open(tmp / "berthd.log", "wb")
        try:
            proc, sock = start_berthd(tmp, reg.host, config={"registry-mirrors": [reg.url]}, binary=binary,
                                      args=["--debug"] if debug else [], stderr=log)
        finally:
            log.close()
    else:
        started = start_dockerd(tmp, reg.host, args=["--registry-mirror", reg.url], bridge=True)
        if started is None:
            raise SystemExit("no dockerd (Debian's docker.io) on this machine")
        proc, sock = started
    eng = Engine(kind, tmp, proc, sock)
    eng.account_cpu()
    eng.docker("pull", "-q", "busybox")
    return eng


def dispose(eng: Engine) -> list[str]:
    """Removes the containers, stops the daemon by PID, then ends, unmounts and removes whatever
    it left. Returns what could not be cleaned (empty normally)."""
    problems = []
    try:
        if eng.proc.poll() is None:
            eng.remove_all()
    except Exception as e:  # noqa: BLE001 - the clean-up below still runs
        problems.append(f"{eng.kind}: removing containers: {e}")
    stop(eng.proc)
    if eng.kind == "berthd":
        remove_bench_bridge()  # it outlives the daemon, as docker0 does dockerd
    else:
        remove_dockerd_bridge()
    left = [p for p in procs.processes_mentioning(str(eng.tmp)) if procs.pid_alive(p)]
    deadline = time.monotonic() + 5  # shims of just-removed containers may still be exiting
    while left and time.monotonic() < deadline:
        time.sleep(0.1)
        left = [p for p in left if procs.pid_alive(p)]
    if left and os.environ.get("BENCH_DIAG"):
        diagnose(left[0])
    if left:
        problems.append(f"{eng.kind}: {len(left)} processes outlived the daemon: "
                        + ", ".join(f"{p} {' '.join(cmdline(p))[:80]}" for p in left))
        for p in left:
            try:
                os.kill(p, signal.SIGKILL)
            except ProcessLookupError:
                pass
        for p in left:
            procs.wait_gone(p)
    cg = cgroups_of(eng)
    if cg:
        problems.append(f"{eng.kind}: cgroups left: {[str(d) for d in cg[:5]]} ({len(cg)})")
        kill_and_remove_cgroups(cg)
    if eng.cpu_group:
        kill_and_remove_cgroups([eng.cpu_group])
        if eng.cpu_group.exists():
            problems.append(f"{eng.kind}: cgroup {eng.cpu_group} left")
    mounted = _unmount_under(eng.tmp)
    if mounted:
        problems.append(f"{eng.kind}: still mounted, dir kept: {mounted[:5]}")
    else:
        shutil.rmtree(eng.tmp, ignore_errors=True)
    return problems


def diagnose(pid: int) -> None:
    """What a process that outlived its daemon is doing (BENCH_DIAG=1)."""
    print(f"--- leftover {pid}: {' '.join(cmdline(pid))}", file=sys.stderr)
    for cmd in (["cat", f"/proc/{pid}/stack"], ["ls", "-l", f"/proc/{pid}/fd"],
                ["ps", "-o", "pid,ppid,stat,wchan:20,cmd", "--ppid", str(pid)],
                ["timeout", "2", "strace", "-f", "-p", str(pid)]):
        subprocess.run(cmd, stdout=sys.stderr, stderr=sys.stderr)
    argv = cmdline(pid)
    if len(argv) > 2:
        for f in ("shim.json", "exit.json"):
            try:
                print(f"{f}: {(Path(argv[2]) / f).read_text()[:600]}", file=sys.stderr)
            except OSError as e:
                print(f"{f}: {e}", file=sys.stderr)


def cgroups_of(eng: Engine) -> list[Path]:
    dirs = [c / eng.cgroup_parent / i for c in CGROUP_ROOT.glob("*") for i in eng.ids]
    return [d for d in dirs if d.exists()]


# --- measurements --------------------------------------------------------------------------------

def machine_cpu() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine since boot, from /proc/stat."""
    v = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    hz = os.sysconf("SC_CLK_TCK")
    total = sum(v[:8])
    return (total - v[3] - v[4]) / hz, total / hz


def cli_cpu() -> float:
    """CPU seconds of this process's reaped children (the docker CLI calls)."""
    import resource
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def loadavg() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')} load {loadavg()}] {msg}", file=sys.stderr, flush=True)


def run_rm(variants: list[tuple[str, Engine, list[str]]], n: int) -> tuple[dict, dict]:
    """`docker run --rm busybox true`, n times per variant, interleaved: wall seconds of each run,
    and the daemon side's CPU ms per run (what ran in the daemon's cgroup meanwhile)."""
    times = {label: [] for label, _, _ in variants}
    cpu = {label: 0.0 for label, _, _ in variants}
    for label, eng, extra in variants:  # one warm-up each (page cache, first shim exec)
        eng.docker("run", "--rm", *extra, "busybox", "true")
    for _ in range(n):
        for label, eng, extra in variants:
            c0 = eng.cpu_ms()
            t, _ = eng.timed_docker("run", "--rm", *extra, "busybox", "true")
            times[label].append(t)
            cpu[label] += eng.cpu_ms() - c0
    return times, {k: v / n for k, v in cpu.items()}


def run_phases(eng: Engine, host_config: dict, n: int) -> dict[str, float]:
    """The API calls behind `run`, timed separately: medians in ms."""
    phases = {"create": [], "start": [], "wait": [], "delete": [], "total": []}
    for _ in range(n):
        t0 = time.perf_counter()
        cid = eng.create(["true"], host_config)
        t1 = time.perf_counter()
        eng.must("POST", f"/containers/{cid}/start")
        t2 = time.perf_counter()
        eng.must("POST", f"/containers/{cid}/wait")
        t3 = time.perf_counter()
        eng.must("DELETE", f"/containers/{cid}")
        t4 = time.perf_counter()
        for k, a, b in (("create", t0, t1), ("start", t1, t2), ("wait", t2, t3), ("delete", t3, t4),
                        ("total", t0, t4)):
            phases[k].append((b - a) * 1000)
    return {k: statistics.median(v) for k, v in phases.items()}


def parallel_runs(eng: Engine, extra: list[str], k: int) -> dict:
    """k `docker run -d busybox sleep 600` at once; then `docker rm -f` of them all."""
    def one(_):
        t0 = time.perf_counter()
        for _ in range(10):  # a generated name taken by a concurrent create: run again
            cp = subprocess.run(["docker", "-H", f"unix://{eng.sock}", "run", "-d", *extra, "busybox",
                                 "sleep", "600"], capture_output=True, env=cli_env())
            if cp.returncode == 0:
                break
            if b"already in use" not in cp.stderr:
                raise RuntimeError(f"{eng.kind}: docker run -d: {cp.stderr.decode()}")
            eng.count_conflict()
        cid = cp.stdout.decode().strip()
        eng.note(cid)
        return time.perf_counter() - t0, cid

    c0, n0 = eng.cpu_ms(), eng.conflicts
    t0 = time.perf_counter()
    with ThreadPoolExecutor(k) as ex:
        results = list(ex.map(one, range(k)))
    wall = time.perf_counter() - t0
    cpu = (eng.cpu_ms() - c0) / k
    ids = [cid for _, cid in results]
    running = sum(1 for c in json.loads(eng.must("GET", "/containers/json")) if c["Id"] in ids)
    t_rm, _ = eng.timed_docker("rm", "-f", *ids)
    return {"wall": wall, "cpu": cpu, "conflicts": eng.conflicts - n0, "each_median": statistics.median(t for t, _ in results),
            "each_max": max(t for t, _ in results), "running": running, "rm": t_rm}


def create_many(eng: Engine, n: int, workers: int = 8) -> float:
    t0 = time.perf_counter()
    with ThreadPoolExecutor(workers) as ex:
        list(ex.map(lambda _: eng.create(["sleep", "600"]), range(n)))
    return time.perf_counter() - t0


def start_some(eng: Engine, ids: list[str], workers: int = 8) -> float:
    t0 = time.perf_counter()
    with ThreadPoolExecutor(workers) as ex:
        list(ex.map(lambda i: eng.must("POST", f"/containers/{i}/start"), ids))
    return time.perf_counter() - t0


def ps_times(engines: list[Engine], reps: int) -> dict[str, dict]:
    """`docker ps -a` (CLI) and GET /containers/json?all=1 (API) medians in ms, interleaved."""
    cli = {e.kind: [] for e in engines}
    raw = {e.kind: [] for e in engines}
    for e in engines:
        e.docker("ps", "-a")  # warm-up
    for _ in range(reps):
        for e in engines:
            t, cp = e.timed_docker("ps", "-a")
            cli[e.kind].append(t * 1000)
            raw[e.kind].append(api_get_ms(e.sock, f"{API}/containers/json?all=1"))
    return {k: {"cli": statistics.median(cli[k]), "api": statistics.median(raw[k]),
                "rows": len(e.docker("ps", "-aq").stdout.split())}
            for k, e in ((e.kind, e) for e in engines)}


class CannedDaemon:
    """A Unix-socket HTTP server that answers /_ping and GET /containers/json with a recorded
    body at once: `docker ps -a` against it is the CLI's own time for that many rows."""

    def __init__(self, path: Path, body: bytes):
        import http.server
        import socketserver

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def answer(self, data: bytes, ctype: str):
                self.send_response(200)
                self.send_header("Api-Version", API.strip("/v"))
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(data)

            def do_GET(self):
                if self.path.endswith("/_ping"):
                    self.answer(b"OK", "text/plain")
                else:
                    self.answer(body, "application/json")

            do_HEAD = do_GET

            def address_string(self):
                return "unix"

            def log_message(self, *args):
                pass

        class Server(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
            daemon_threads = True

        self.path = path
        self.server = Server(str(path), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()
        self.path.unlink(missing_ok=True)


def canned_ps(eng: Engine, reps: int) -> float:
    """Median ms of `docker ps -a` against eng's current /containers/json answer, served canned."""
    body = eng.must("GET", "/containers/json?all=1")
    sock = eng.tmp / "canned.sock"
    with CannedDaemon(sock, body):
        docker(sock, "ps", "-a")
        times = [timed_ms(lambda: docker(sock, "ps", "-a")) for _ in range(reps)]
    return statistics.median(times)


def timed_ms(f) -> float:
    t0 = time.perf_counter()
    f()
    return (time.perf_counter() - t0) * 1000


def cli_floor(reps: int) -> float:
    """`docker --version`: the CLI's own start, which every CLI time above includes (ms)."""
    times = []
    for _ in range(reps + 1):
        t0 = time.perf_counter()
        subprocess.run(["docker", "--version"], capture_output=True, env=cli_env(), check=True)
        times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times[1:])


def memory(eng: Engine, n: int) -> dict:
    """RSS of the daemon (and containerd) and of each shim with n containers running."""
    idle = sum(rss_kib(p) for p in eng.daemon_pids())
    t0 = time.perf_counter()
    with ThreadPoolExecutor(8) as ex:
        ids = list(ex.map(lambda _: eng.create(["sleep", "600"]), range(n)))
        list(ex.map(lambda i: eng.must("POST", f"/containers/{i}/start"), ids))
    t_start = time.perf_counter() - t0
    time.sleep(3)  # let the shims settle after their start
    daemons = [mem_kib(p) for p in eng.daemon_pids()]
    shims = [mem_kib(p) for p in eng.shim_pids()]
    running = len(json.loads(eng.must("GET", "/containers/json")))
    return {"idle": idle, "daemon": sum(d["rss"] for d in daemons), "daemon_anon": sum(d["anon"] for d in daemons),
            "shims": shims, "running": running, "n": n, "t_start": t_start,
            "daemon_pids": len(daemons)}


# --- report --------------------------------------------------------------------------------------

def num(v: float | None) -> str:
    if v is None:
        return "-"
    return f"{v:.2f}" if abs(v) < 10 else f"{v:.1f}"


class Table:
    def __init__(self):
        self.rows = []

    def add(self, name: str, b: float | None, d: float | None, goal: str = "", ok: bool | None = None):
        self.rows.append((name, b, d, goal, ok))

    def print(self):
        print(f"{'metric':52} {'berthd':>10} {'dockerd':>10} {'ratio':>7}  {'goal':18} result")
        for name, b, d, goal, ok in self.rows:
            fb, fd = num(b), num(d)
            ratio = f"{b / d:.2f}" if b is not None and d else "-"
            res = "" if ok is None else ("PASS" if ok else "MISS")
            print(f"{name:52} {fb:>10} {fd:>10} {ratio:>7}  {goal:18} {res}")


def ratio_row(t: Table, name: str, b: float, d: float | None, limit: float = 0.5):
    t.add(name, b, d, f"<= {limit}x dockerd", None if d is None else b <= limit * d)


# --- main ----------------------------------------------------------------------------------------

def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="a small fast variant")
    ap.add_argument("--runs", type=int, help="`run --rm` repetitions (20; quick 5)")
    ap.add_argument("--parallel", type=int, help="containers started at once (50; quick 10)")
    ap.add_argument("--many", type=int, help="created containers for `ps -a` (500; quick 50)")
    ap.add_argument("--running", type=int, help="of which running (20; quick 5)")
    ap.add_argument("--rss-containers", type=int, help="running containers for memory (100; quick 20)")
    ap.add_argument("--ps-reps", type=int, help="`ps -a` repetitions (20; quick 10)")
    ap.add_argument("--no-dockerd", action="store_true", help="measure berthd alone")
    ap.add_argument("--berthd", type=Path, help="a berthd binary to use instead of building target/release")
    ap.add_argument("--exec-on-disk", action="store_true",
                    help="exec-roots on the temp dir's disk instead of a tmpfs (as /run is)")
    ap.add_argument("--debug", action="store_true", help="berthd --debug; its log is printed at the end")
    a = ap.parse_args()
    q = a.quick
    runs = a.runs or (5 if q else 20)
    par = a.parallel or (10 if q else 50)
    many = a.many or (50 if q else 500)
    nrun = a.running if a.running is not None else (5 if q else 20)
    nrss = a.rss_containers or (20 if q else 100)
    reps = a.ps_reps or (10 if q else 20)

    if os.geteuid() != 0:
        raise SystemExit("run as root: the daemons mount overlays and make cgroups")
    root = Path(tempfile.mkdtemp(prefix="bb-"))  # short: shim sockets live under it
    binary = private_berthd(root, a.berthd)
    run_before = set(os.listdir("/run/containerd/s")) if Path("/run/containerd/s").is_dir() else set()
    print(f"machine: {os.cpu_count()} cores; load average at start {loadavg()}; "
          f"berthd {binary.stat().st_size >> 20} MiB binary", flush=True)

    reg = Registry()
    engines: list[Engine] = []
    problems: list[str] = []
    res: dict = {}

    def up(kind: str, name: str) -> Engine:
        e = start_engine(kind, root / name, reg, binary, a.debug, not a.exec_on_disk)
        engines.append(e)
        return e

    def down(e: Engine) -> None:
        if e in engines:
            engines.remove(e)
            if a.debug and e.kind == "berthd":
                res.setdefault("logs", []).append((e.tmp / "berthd.log").read_text(errors="replace"))
            problems.extend(dispose(e))

    try:
        images = build_all(root / "images")
        reg.start()
        reg.push_oci(images["busybox"].path, "library/busybox", "latest")

        res["cli_floor"] = cli_floor(reps)
        kinds = ["berthd"] if a.no_dockerd else ["berthd", "dockerd"]
        none = ["--network", "none"]
        for k in ("run", "phases", "par", "create", "ps", "ps_empty", "start_some", "ps_running", "rm_many",
                  "conflicts", "load", "mem"):
            res[k] = {}
        # One daemon at a time: a second one's background work (containerd's, after each run)
        # would land in the other's numbers on 2 cores.
        for kind in kinds:
            e = up(kind, kind[0] + "1")
            res["load"][kind] = [loadavg()]
            busy0, total0 = machine_cpu()
            cli0, daemon0, wall0 = cli_cpu(), e.cpu_ms(), time.monotonic()
            # 1. run --rm, the daemon's default network mode and --network none, interleaved
            log(f"1. {kind}: docker run --rm busybox true x{runs}")
            variants = [(kind, e, []), (f"{kind} none", e, none)]
            samples, cpu = run_rm(variants, runs)
            res.setdefault("run_cpu", {}).update(cpu)
            res["run"].update({k: statistics.median(v) * 1000 for k, v in samples.items()})
            res.setdefault("run_samples", {}).update(samples)
            log(f"1b. {kind}: the same through the API, by phase")
            res["phases"][kind] = run_phases(e, {}, max(5, runs // 2))
            res["phases"][f"{kind} none"] = run_phases(e, {"NetworkMode": "none"}, max(5, runs // 2))
            # 2. k at once
            for label, _, extra in variants:
                log(f"2. {label}: {par} x docker run -d in parallel")
                res["par"][label] = parallel_runs(e, extra, par)
            # 3. ps -a with many created, then some of them running
            res["ps_empty"][kind] = ps_times([e], reps)[kind]
            log(f"3. {kind}: creating {many} containers")
            res["create"][kind] = create_many(e, many)
            log(f"3. {kind}: docker ps -a x{reps}, {many} created")
            res["ps"][kind] = ps_times([e], reps)[kind]
            res["start_some"][kind] = start_some(e, e.all_ids()[:nrun])
            log(f"3. {kind}: docker ps -a x{reps}, {many} created, {nrun} running")
            res["ps_running"][kind] = ps_times([e], reps)[kind]
            if kind == "berthd":
                res["ps_canned"] = canned_ps(e, reps)
            log(f"3. {kind}: removing {many} containers")
            res["rm_many"][kind] = e.remove_all()
            res["conflicts"][kind] = e.conflicts
            res["load"][kind].append(loadavg())
            busy1, total1 = machine_cpu()
            res.setdefault("cpu_share", {})[kind] = {
                "wall": time.monotonic() - wall0, "busy": busy1 - busy0, "total": total1 - total0,
                "daemon": (e.cpu_ms() - daemon0) / 1000, "cli": cli_cpu() - cli0}
            down(e)

        # 4. memory, fresh daemons one at a time
        for kind in kinds:
            log(f"4. {nrss} running containers: {kind} memory")
            e = up(kind, kind[0] + "2")
            res["mem"][kind] = memory(e, nrss)
            res["conflicts"][kind] += e.conflicts
            down(e)
    finally:
        for e in list(engines):
            down(e)
        reg.stop()
        # A daemon that failed half-way through start_engine was never in `engines`.
        left = [p for p in procs.processes_mentioning(str(root)) if procs.pid_alive(p)]
        if left:
            problems.append(f"processes left, killed: {left}")
            for pid in left:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                procs.wait_gone(pid)
        groups = list((CGROUP_ROOT / "cpuacct").glob(f"berth-bench-{os.getpid()}-*"))
        if groups:
            problems.append(f"cgroups left, removed: {groups}")
            kill_and_remove_cgroups(groups)
        mounts = _unmount_under(root)
        if mounts:
            problems.append(f"mounts left: {mounts}")
        else:
            shutil.rmtree(root, ignore_errors=True)
        run_after = set(os.listdir("/run/containerd/s")) if Path("/run/containerd/s").is_dir() else set()
        if run_after - run_before:
            problems.append(f"new shim sockets left in /run/containerd/s: {sorted(run_after - run_before)}")
        if problems:
            print("CLEAN-UP PROBLEMS:\n  " + "\n  ".join(problems))
        else:
            print("clean-up: no process, mount, cgroup or temp dir of this run is left")

    for text in res.get("logs", []):
        print("--- berthd log (tail) ---\n" + text[-20000:])
    report(res, a, runs, par, many, nrun, nrss)
    print(f"load average at end {loadavg()}")


def report(res: dict, a, runs: int, par: int, many: int, nrun: int, nrss: int) -> None:
    t = Table()
    r = res["run"]
    ratio_row(t, f"run --rm busybox true, median of {runs} (ms)", r["berthd"], r.get("dockerd"))
    ratio_row(t, "  ...with --network none on both (ms)", r["berthd none"], r.get("dockerd none"))
    ratio_row(t, "  berthd vs dockerd --network none (ms)", r["berthd"], r.get("dockerd none"))
    rc = res["run_cpu"]
    t.add("  CPU of daemon+shims+runtime per run (ms) [1]", rc["berthd"], rc.get("dockerd"))
    t.add("  ...with --network none (ms)", rc["berthd none"], rc.get("dockerd none"))
    p = res["par"]
    ratio_row(t, f"{par} x run -d at once, wall (s)", p["berthd"]["wall"], p.get("dockerd", {}).get("wall"))
    ratio_row(t, "  berthd vs dockerd --network none (s)", p["berthd"]["wall"],
              p.get("dockerd none", {}).get("wall"))
    t.add("  CPU of daemon+shims+runtime per container [1]", p["berthd"]["cpu"], p.get("dockerd", {}).get("cpu"))
    t.add(f"  rm -f of the {par} (s)", p["berthd"]["rm"], p.get("dockerd", {}).get("rm"))
    ps, psr = res["ps"], res["ps_running"]
    ratio_row(t, f"ps -a, {many} created, median of reps (ms)", ps["berthd"]["cli"], ps.get("dockerd", {}).get("cli"))
    ratio_row(t, f"ps -a, {many} created + {nrun} running (ms)", psr["berthd"]["cli"],
              psr.get("dockerd", {}).get("cli"))
    pe = res["ps_empty"]
    t.add("  ps -a, no containers (ms)", pe["berthd"]["cli"], pe.get("dockerd", {}).get("cli"))
    t.add("  docker --version, the CLI alone (ms)", res["cli_floor"], res["cli_floor"])
    t.add(f"  ps -a, {many}+{nrun}, answer canned (CLI floor, ms)", res["ps_canned"], res["ps_canned"])
    if psr.get("dockerd"):
        # The CLI's own time bounds the ratio from below whatever the daemon does; what is
        # above that floor is the daemon's share (its answer and the transfer).
        floor, dcli = res["ps_canned"], psr["dockerd"]["cli"]
        t.add("  the CLI floor as a ratio of dockerd's ps -a (best possible)", floor / dcli, None)
        ratio_row(t, f"  ps -a, {many}+{nrun}, above the CLI floor (ms)", max(psr["berthd"]["cli"] - floor, 0.0),
                  max(dcli - floor, 0.0))
    t.add(f"  GET /containers/json?all=1, {many} (ms)", ps["berthd"]["api"], ps.get("dockerd", {}).get("api"))
    t.add(f"  GET /containers/json?all=1, +{nrun} running (ms)", psr["berthd"]["api"],
          psr.get("dockerd", {}).get("api"))
    t.add(f"  create {many} via API, 8 at a time (s)", res["create"]["berthd"], res["create"].get("dockerd"))
    t.add(f"  start {nrun} via API, 8 at a time (s)", res["start_some"]["berthd"], res["start_some"].get("dockerd"))
    t.add(f"  remove {many} via API, 8 at a time (s)", res["rm_many"]["berthd"], res["rm_many"].get("dockerd"))
    m = res["mem"]
    mb, md = m["berthd"], m.get("dockerd")
    t.add(f"daemon RSS, {nrss} running (MiB; dockerd+containerd)", mb["daemon"] / MIB,
          md["daemon"] / MIB if md else None, "berthd <= 50 MiB", mb["daemon"] / MIB <= 50)
    t.add("  daemon RSS idle, fresh (MiB)", mb["idle"] / MIB, md["idle"] / MIB if md else None)
    t.add("  daemon anonymous RSS (MiB)", mb["daemon_anon"] / MIB, md["daemon_anon"] / MIB if md else None)

    def shim_stat(mm, key, f):
        vals = [s[key] for s in mm["shims"]] if mm else []
        return f(vals) / MIB if vals else None

    bmax = shim_stat(mb, "rss", max)
    t.add("shim RSS, max (MiB)", bmax, shim_stat(md, "rss", max), "berthd <= 2 MiB", bmax is not None and bmax <= 2)
    bmed = shim_stat(mb, "rss", statistics.median)
    t.add("shim RSS, median (MiB)", bmed, shim_stat(md, "rss", statistics.median), "berthd <= 2 MiB",
          bmed is not None and bmed <= 2)
    t.add("  shim anonymous RSS, median (MiB)", shim_stat(mb, "anon", statistics.median),
          shim_stat(md, "anon", statistics.median))
    t.add("  shim file-backed RSS, median (MiB)", shim_stat(mb, "file", statistics.median),
          shim_stat(md, "file", statistics.median))
    t.add("  shim USS (private pages), median (MiB)", shim_stat(mb, "uss", statistics.median),
          shim_stat(md, "uss", statistics.median))
    t.add("  shim PSS, median (MiB)", shim_stat(mb, "pss", statistics.median), shim_stat(md, "pss", statistics.median))
    t.add(f"  all shims, RSS sum (MiB)", shim_stat(mb, "rss", sum), shim_stat(md, "rss", sum))
    t.add(f"  start {nrss} via API, 8 at a time (s)", mb["t_start"], md["t_start"] if md else None)
    print()
    t.print()
    print("[1] CPU time in the daemon's own cpuacct cgroup: the daemon (and containerd), shims and runtime\n"
          "    helpers, not the docker CLI and not the container's cgroup, where the runtime's init does\n"
          "    the last part of the set-up (mounts, seccomp) before it runs the command.")
    print(f"\n{nrss} running: berthd {mb['running']} containers / {len(mb['shims'])} shims"
          + (f"; dockerd {md['running']} containers / {len(md['shims'])} shims, "
             f"{md['daemon_pids']} daemon processes" if md else ""))
    print("parallel runs, each CLI call (s): " + "; ".join(
        f"{k}: median {v['each_median']:.2f}, max {v['each_max']:.2f}, {v['running']}/{par} running, "
        f"{v['conflicts']} name conflicts"
        for k, v in p.items()))
    print("load average (1, 5, 15 min) at the start and end of each daemon's phases 1-3: "
          + "; ".join(f"{k} {' -> '.join(v)}" for k, v in res["load"].items()))
    for k, c in res["cpu_share"].items():
        rest = c["busy"] - c["daemon"] - c["cli"]
        print(f"CPU during {k}'s phases 1-3 ({c['wall']:.0f} s): machine busy {100 * c['busy'] / c['total']:.0f}%, "
              f"{c['busy']:.1f} CPU-s: daemon tree {c['daemon']:.1f}, docker CLI {c['cli']:.1f}, "
              f"the rest {rest:.1f} (containers' own cgroups, this script, and other users' work)")
    print("name conflicts on create (409 for a generated name, retried): "
          + ", ".join(f"{k} {v}" for k, v in res["conflicts"].items()))
    print("run --rm, each run (ms, sorted):")
    for k, v in res["run_samples"].items():
        print(f"  {k:14} " + " ".join(f"{x * 1000:.0f}" for x in sorted(v)))
    print("\nrun through the API, median per phase (ms):")
    names = ["create", "start", "wait", "delete", "total"]
    print(f"  {'':14}" + "".join(f"{n:>9}" for n in names))
    for k, ph in res["phases"].items():
        print(f"  {k:14}" + "".join(f"{ph[n]:9.1f}" for n in names))


if __name__ == "__main__":
    main()
