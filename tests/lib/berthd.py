"""One berthd daemon in its own temp dir, and the clients that talk to it (docker CLI, raw HTTP
over its Unix socket, docker-py).

The daemon's contract: `berthd [--config-file F] [--data-root D] [--exec-root E] [-H URL]...
[--pidfile P] [--debug] [--log-level L] [--tls] [--tlsverify] [--tlscacert F] [--tlscert F]
[--tlskey F] [--group G] [--validate]`; SIGTERM → exit 0 with the socket and pidfile removed.
"""
from __future__ import annotations

import hashlib
import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

from . import procs

REPO = Path(__file__).resolve().parents[2]


def berthd_binary() -> Path:
    """$BERTHD, else <cargo target dir>/debug/berthd of this repo."""
    if os.environ.get("BERTHD"):
        return Path(os.environ["BERTHD"]).resolve()
    target = Path(os.environ.get("CARGO_TARGET_DIR", "target"))
    return (REPO / target / "debug" / "berthd").resolve()


def require_binary(binary=None) -> Path:
    """The binary's path; when it does not exist, skips the calling test, or fails it when
    BERTH_REQUIRE_BERTHD=1 (CI once the daemon builds, so a missing build cannot pass as skips)."""
    import pytest
    path = Path(binary) if binary else berthd_binary()
    if not path.exists():
        msg = f"no berthd binary at {path} (cargo build, or set BERTHD)"
        if os.environ.get("BERTH_REQUIRE_BERTHD") == "1":
            pytest.fail(msg)
        pytest.skip(msg)
    return path


def run_berthd(*args: str, timeout: float = 60, binary=None) -> subprocess.CompletedProcess:
    """Runs berthd to completion (for --validate, --help, bad flags); skips as require_binary."""
    return subprocess.run([str(require_binary(binary)), *args], capture_output=True, text=True,
                          timeout=timeout, stdin=subprocess.DEVNULL)


class BerthdError(RuntimeError):
    pass


class DockerCLIError(subprocess.CalledProcessError):
    def __str__(self):
        return f"{super().__str__()}\nstdout: {self.stdout}\nstderr: {self.stderr}"


class _UnixConnection(http.client.HTTPConnection):
    def __init__(self, path: str, timeout: float):
        super().__init__("localhost", timeout=timeout)  # Host: localhost, as the docker CLI sends
        self.unix_path = path

    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(self.timeout)
        self.sock.connect(self.unix_path)


class Berthd:
    """Berthd(config={...} or "raw text", args=[...], hosts=["tcp://..."], env={...}).start()

    Paths, all in .tmp: .data_root, .exec_root, .sock, .pidfile, .config_file, .docker_config.
    """

    def __init__(self, config: dict | str | None = None, args=(), hosts=(), env: dict | None = None,
                 binary=None, netns: str | None = None):
        # netns: run inside this `ip netns` namespace (its bridges, rules and ports stay there).
        self.netns = netns
        self.binary = Path(binary) if binary else berthd_binary()
        self.tmp = Path(tempfile.mkdtemp(prefix="berthd-"))  # short: socket paths max 107 bytes
        self.data_root = self.tmp / "data"
        self.exec_root = self.tmp / "exec"
        self.sock = self.tmp / "docker.sock"
        self.pidfile = self.tmp / "berthd.pid"
        self.config_file = self.tmp / "daemon.json"
        self.docker_config = self.tmp / "docker-config"
        self.docker_config.mkdir()
        self.config = {} if config is None else config
        if isinstance(self.config, dict):
            self.config = {**self._network_defaults(), **self.config}
        self.extra_args = list(args)
        self.hosts = list(hosts)
        self.env = dict(env or {})
        self.proc: subprocess.Popen | None = None
        self.returncode: int | None = None
        self._starts = 0

    def _network_defaults(self) -> dict:
        """A bridge, a subnet and address pools of this daemon's own, so that daemons running
        side by side (and the machine's own networks) never share a bridge or a subnet."""
        h = int(hashlib.sha256(self.tmp.name.encode()).hexdigest(), 16)
        a, b, pool = 200 + h % 50, (h >> 8) % 256, 100 + (h >> 16) % 100
        # The machine's own firewall and forwarding are never touched: the firewall suite runs
        # its daemons in network namespaces of their own.
        return {"bridge": f"bt{h % 10**10:010d}"[:15], "bip": f"10.{a}.{b}.1/24",
                "default-address-pools": [{"base": f"10.{pool}.0.0/16", "size": 24}],
                "iptables": False, "ip-forward": False}

    # --- lifecycle ----------------------------------------------------------------------------

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc else None

    @property
    def url(self) -> str:
        return f"unix://{self.sock}"

    def argv(self) -> list[str]:
        hosts = [a for h in [self.url, *self.hosts] for a in ("-H", h)]
        # nsenter switches the network namespace only (`ip netns exec` would also remount /sys,
        # hiding the cgroup mounts), then execs berthd: the PID stays the daemon's.
        prefix = ["nsenter", f"--net=/run/netns/{self.netns}"] if self.netns else []
        return [*prefix, str(self.binary), "--data-root", str(self.data_root), "--exec-root", str(self.exec_root),
                *hosts, "--pidfile", str(self.pidfile), "--config-file", str(self.config_file),
                *self.extra_args]

    def start(self, timeout: float = 30) -> "Berthd":
        """Starts and waits until GET /_ping answers OK; raises BerthdError with the log tail if
        the daemon exits first or is not ready in time. Can be called again after stop()."""
        if not self.binary.exists():
            raise BerthdError(f"no berthd binary at {self.binary} (build it, or set BERTHD)")
        text = self.config if isinstance(self.config, str) else json.dumps(self.config, indent=2)
        self.config_file.write_text(text)
        self._starts += 1
        env = {**os.environ, "RUST_BACKTRACE": "1", **self.env}
        with open(self.tmp / "stdout.log", "ab") as out, open(self.tmp / "stderr.log", "ab") as err:
            for f in (out, err):  # restarts append; the marker tells the runs apart
                f.write(f"--- start {self._starts} ---\n".encode())
                f.flush()
            self.proc = procs.spawn(self.argv(), stdout=out, stderr=err, env=env)
        self.returncode = None
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                self.returncode = self.proc.returncode
                procs.forget(self.proc)
                raise BerthdError(f"berthd exited with {self.returncode} before answering /_ping\n"
                                  f"{self.log_tail()}")
            try:
                status, _, body = self.api("GET", "/_ping", timeout=2)
                if status == 200 and body == b"OK":
                    return self
            except OSError:
                pass
            if time.monotonic() > deadline:
                self.stop(timeout=5)
                raise BerthdError(f"berthd not ready in {timeout}s\n{self.log_tail()}")
            time.sleep(0.05)

    def _signal_and_wait(self, sig, timeout: float) -> int | None:
        if self.proc is None:
            return self.returncode
        pid = self.proc.pid
        self.returncode = procs.terminate(self.proc, sig, timeout)
        procs.wait_gone(pid)
        return self.returncode

    def stop(self, timeout: float = 20) -> int | None:
        """SIGTERM, then SIGKILL after timeout. Returns the exit code (negative: killed by signal)."""
        return self._signal_and_wait(signal.SIGTERM, timeout)

    def kill9(self) -> int | None:
        return self._signal_and_wait(signal.SIGKILL, 10)

    def sighup(self) -> None:
        os.kill(self.pid, signal.SIGHUP)

    def restart(self, timeout: float = 30) -> "Berthd":
        """stop() then start() on the same data-root and config."""
        self.stop()
        return self.start(timeout)

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def cleanup(self) -> None:
        """Stops the daemon, ends what it left running (shims, containers: they outlive a killed
        daemon by design), unmounts what it left mounted, then removes the temp dir, unless
        BERTH_KEEP_TMP=1 or something stays mounted (never delete through a mount)."""
        self.stop()
        for pid in procs.processes_mentioning(str(self.tmp)):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        parent = self.config.get("cgroup-parent", "berth") if isinstance(self.config, dict) else "berth"
        _kill_container_cgroups(self.data_root, parent.strip("/"))
        self._remove_bridges()
        left = _unmount_under(self.tmp)
        if left:
            print(f"berthd test dir kept, still mounted: {left}")
        elif os.environ.get("BERTH_KEEP_TMP") != "1":
            shutil.rmtree(self.tmp, ignore_errors=True)

    def _remove_bridges(self) -> None:
        """The bridges this daemon made (they outlive it, as docker0 does dockerd)."""
        names = set()
        if isinstance(self.config, dict) and self.config.get("bridge"):
            names.add(self.config["bridge"])
        for f in (self.data_root / "network").glob("*.json"):
            try:
                rec = json.loads(f.read_text())
            except (OSError, ValueError):
                continue
            if rec.get("bridge") and rec.get("driver") == "bridge" and rec.get("name") != "bridge" or \
                    rec.get("name") == "bridge" and rec.get("bridge") in names:
                names.add(rec["bridge"])
        netns = ["-n", self.netns] if self.netns else []
        for name in names:
            subprocess.run(["ip", *netns, "link", "del", name], capture_output=True)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.cleanup()

    # --- logs ---------------------------------------------------------------------------------

    def log_text(self, stream: str = "both") -> str:
        """The daemon's captured stderr and stdout (stream "stderr", "stdout" or "both")."""
        names = ["stderr", "stdout"] if stream == "both" else [stream]
        parts = []
        for n in names:
            try:
                parts.append((self.tmp / f"{n}.log").read_text(errors="replace"))
            except FileNotFoundError:
                pass
        return "".join(parts)

    def log_tail(self, chars: int = 4000) -> str:
        return "--- berthd stderr (tail) ---\n" + self.log_text("stderr")[-chars:]

    # --- clients ------------------------------------------------------------------------------

    def docker(self, *args: str, check: bool = True, input=None, env: dict | None = None,
               timeout: float = 120, text: bool = True) -> subprocess.CompletedProcess:
        """The real docker CLI against this daemon, with a private DOCKER_CONFIG."""
        e = {k: v for k, v in os.environ.items() if not k.startswith("DOCKER_")}
        e.update(DOCKER_CONFIG=str(self.docker_config), DOCKER_CLI_HINTS="false")
        e.update(env or {})
        argv = ["docker", "-H", self.url, *args]
        cp = subprocess.run(argv, input=input, capture_output=True, text=text, env=e, timeout=timeout)
        if check and cp.returncode:
            raise DockerCLIError(cp.returncode, argv, cp.stdout, cp.stderr)
        return cp

    def api(self, method: str, path: str, body=None, headers: dict | None = None,
            timeout: float = 60) -> tuple[int, http.client.HTTPMessage, bytes]:
        """One raw HTTP/1.1 request over the Unix socket: (status, headers, body). A dict or
        list body is sent as JSON."""
        headers = dict(headers or {})
        if isinstance(body, (dict, list)):
            body = json.dumps(body).encode()
            headers.setdefault("Content-Type", "application/json")
        conn = _UnixConnection(str(self.sock), timeout)
        try:
            conn.request(method, path, body=body, headers=headers)
            resp = conn.getresponse()
            return resp.status, resp.headers, resp.read()
        finally:
            conn.close()

    def raw_socket(self, timeout: float = 30) -> socket.socket:
        """A connected Unix socket, for hijacked (attach/exec) or hand-written requests."""
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(timeout)
        s.connect(str(self.sock))
        return s

    def client(self, **kw):
        """A docker-py DockerClient for this daemon (API version negotiated unless given)."""
        import docker
        kw.setdefault("timeout", 120)
        return docker.DockerClient(base_url=self.url, **kw)


def kill_and_remove_cgroups(dirs) -> None:
    """SIGKILLs every process in the cgroup directories `dirs`, then removes them (a directory
    goes once its last process is gone; missing ones are fine)."""
    for d in dirs:
        try:
            for pid in (d / "cgroup.procs").read_text().split():
                try:
                    os.kill(int(pid), signal.SIGKILL)
                except ProcessLookupError:
                    pass
        except OSError:
            pass
    for d in dirs:
        for _ in range(50):
            if not d.exists():
                break
            try:
                d.rmdir()
            except OSError:
                time.sleep(0.05)


def _kill_container_cgroups(data_root: Path, parent: str = "berth") -> None:
    """Containers outlive their shims by design: end those of this daemon's containers that
    are still running (by their cgroups, under the daemon's cgroup parent) and remove their
    cgroup directories, and the parent when it is the daemon's own and empty."""
    ids = [p.name for p in (data_root / "containers").glob("*") if p.is_dir()]
    dirs = [c / parent / i for c in Path("/sys/fs/cgroup").glob("*") for i in ids]
    dirs += [Path("/sys/fs/cgroup") / parent / i for i in ids]
    kill_and_remove_cgroups(dirs)
    if parent != "berth":
        for c in list(Path("/sys/fs/cgroup").glob(f"*/{parent}")) + [Path("/sys/fs/cgroup") / parent]:
            try:
                c.rmdir()
            except OSError:
                pass


def _unmount_under(root: Path) -> list[str]:
    """Lazily unmounts every mount point under root, deepest first; returns those that remain."""
    def mounts():
        prefix = str(root) + "/"
        with open("/proc/self/mountinfo") as f:
            points = [line.split()[4].encode().decode("unicode_escape") for line in f]
        return sorted({p for p in points if p.startswith(prefix)}, key=len, reverse=True)

    for point in mounts():
        subprocess.run(["umount", "-l", point], capture_output=True)
    return mounts()
