"""A Berth VM for the end-to-end tests: `berth start` with BERTH_HOME in a temp dir, the guest
image from vm-images/out (made by `bash vm-images/build.sh`), the docker CLI through the
forwarded socket. One boot is slow under TCG: a test module shares one VM."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from . import procs
from .berthd import DockerCLIError

REPO = Path(__file__).resolve().parents[2]
BERTH = Path(os.environ.get("BERTH_CLI", REPO / "target" / "debug" / "berth"))
IMAGES = Path(os.environ.get("BERTH_IMAGES", REPO / "vm-images" / "out"))


def require_vm() -> None:
    """Skips (fails with BERTH_REQUIRE_BERTHD=1, as in CI) when the berth CLI or the guest image
    is missing."""
    import pytest
    missing = [str(p) for p in (BERTH, IMAGES / "vmlinuz", IMAGES / "initramfs.img") if not p.exists()]
    if missing:
        msg = f"missing {', '.join(missing)} (cargo build; bash vm-images/build.sh)"
        if os.environ.get("BERTH_REQUIRE_BERTHD") == "1":
            pytest.fail(msg)
        pytest.skip(msg)


class BerthVM:
    """.home (BERTH_HOME), .share (a folder shared into the guest at the same path),
    .socket (the forwarded Docker socket)."""

    def __init__(self, daemon_json: dict | None = None, cpus: int = 2, memory_mib: int = 1536,
                 disk_gib: int = 4):
        self.home = Path(tempfile.mkdtemp(prefix="berth-vm-"))
        self.share = self.home / "share"
        self.share.mkdir()
        self.socket = self.home / "run" / "docker.sock"
        self.docker_config = self.home / "docker-config"
        self.docker_config.mkdir()
        settings = {"cpus": cpus, "memory_mib": memory_mib, "disk_gib": disk_gib,
                    "shares": [str(self.share)], "images_dir": str(IMAGES),
                    "accel": os.environ.get("BERTH_TEST_ACCEL", "auto")}
        (self.home / "config.json").write_text(json.dumps(settings, indent=1))
        if daemon_json is not None:
            (self.home / "daemon.json").write_text(json.dumps(daemon_json, indent=1))

    def env(self) -> dict:
        e = {k: v for k, v in os.environ.items() if not k.startswith(("DOCKER_", "BERTH_"))}
        e.update(BERTH_HOME=str(self.home), DOCKER_CONFIG=str(self.docker_config),
                 DOCKER_CLI_HINTS="false")
        return e

    def berth(self, *args: str, check: bool = True, timeout: float = 300) -> subprocess.CompletedProcess:
        cp = subprocess.run([str(BERTH), *args], capture_output=True, text=True, env=self.env(),
                            timeout=timeout, stdin=subprocess.DEVNULL)
        if check and cp.returncode:
            raise AssertionError(f"berth {' '.join(args)} exited {cp.returncode}\nstdout: {cp.stdout}\n"
                                 f"stderr: {cp.stderr}\n--- console (tail) ---\n{self.console()[-3000:]}")
        return cp

    def docker(self, *args: str, check: bool = True, input=None, timeout: float = 180) -> subprocess.CompletedProcess:
        argv = ["docker", "-H", f"unix://{self.socket}", *args]
        cp = subprocess.run(argv, input=input, capture_output=True, text=True, env=self.env(),
                            timeout=timeout)
        if check and cp.returncode:
            raise DockerCLIError(cp.returncode, argv, cp.stdout, cp.stderr)
        return cp

    def console(self) -> str:
        try:
            return (self.home / "vm" / "console.log").read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def host_log(self) -> str:
        try:
            return (self.home / "vm" / "host.log").read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def supervisor_pid(self) -> int | None:
        try:
            pid = int((self.home / "vm" / "host.pid").read_text().strip())
        except (FileNotFoundError, ValueError):
            return None
        return pid if procs.pid_alive(pid) else None

    def start(self, timeout: int = 280) -> "BerthVM":
        self.berth("start", "--timeout", str(timeout), timeout=timeout + 30)
        return self

    def stop(self) -> None:
        self.berth("stop", "--timeout", "120", timeout=180)

    def cleanup(self) -> None:
        """Stops the VM and everything it started, then removes the home."""
        try:
            if self.supervisor_pid():
                self.berth("stop", "--timeout", "60", check=False, timeout=120)
        finally:
            # Whatever survived (it should not: children die with the supervisor).
            for pid in procs.processes_mentioning(str(self.home)):
                try:
                    os.kill(pid, 9)
                except ProcessLookupError:
                    pass
            shutil.rmtree(self.home, ignore_errors=True)
