"""The desktop app under test: Xvfb, a D-Bus session bus, tauri-driver (which starts WebKit's
WebDriver, which starts the app) — each started here and stopped by PID."""
from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import requests

from desktop.webdriver import Session
from lib import procs
from lib.ports import free_port

REPO = Path(__file__).resolve().parents[2]
BUILD_CMD = "bash scripts/build-desktop.sh"


def app_binary() -> Path:
    """$BERTH_DESKTOP, else the Tauri build's output (scripts/build-desktop.sh builds into
    <cargo target dir>/desktop)."""
    if os.environ.get("BERTH_DESKTOP"):
        return Path(os.environ["BERTH_DESKTOP"]).resolve()
    target = Path(os.environ.get("CARGO_TARGET_DIR", "target"))
    return (REPO / target / "desktop" / "debug" / "berth-desktop").resolve()


def missing_tools() -> list[str]:
    need = {"Xvfb": "xvfb", "WebKitWebDriver": "webkit2gtk-driver", "tauri-driver": "cargo install",
            "dbus-daemon": "dbus", "gdbus": "libglib2.0-bin"}
    return [f"{tool} ({source}; scripts/deps-desktop.sh installs it)"
            for tool, source in need.items() if shutil.which(tool) is None]


@contextlib.contextmanager
def running_app(binary: Path, berthd, pidfile: Path | None = None, args=()):
    """The app against this berthd (DOCKER_HOST, its daemon.json and pidfile, or the pidfile
    given), under a fresh Xvfb and D-Bus session: yields (WebDriver session, TauriDriver)."""
    xvfb = Xvfb().start()
    driver = TauriDriver(xvfb.display, {"DOCKER_HOST": berthd.url})
    session = None
    try:
        driver.start()
        session = Session(driver.url, {
            "browserName": "wry",
            "tauri:options": {
                "application": str(binary),
                "args": ["--daemon-config", str(berthd.config_file),
                         "--daemon-pidfile", str(pidfile or berthd.pidfile), *args],
            },
        })
        yield session, driver
    except BaseException as e:
        # Whatever failed, the app's own log tells why.
        e.add_note(f"--- tauri-driver and app log ---\n{driver.log_text()}")
        raise
    finally:
        if session:
            session.quit()
        driver.stop()
        xvfb.stop()


class Xvfb:
    """A virtual X server on a display it picks itself (-displayfd), so parallel runs never clash."""

    def __init__(self):
        self.proc = None
        self.display = None

    def start(self, timeout: float = 20) -> "Xvfb":
        r, w = os.pipe()
        self.proc = procs.spawn(["Xvfb", "-displayfd", str(w), "-screen", "0", "1280x800x24",
                                 "-nolisten", "tcp", "-noreset"],
                                pass_fds=(w,), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        os.close(w)
        try:
            deadline = time.monotonic() + timeout
            buf = b""
            while not buf.endswith(b"\n"):
                if time.monotonic() > deadline or self.proc.poll() is not None:
                    raise RuntimeError(f"Xvfb did not start: {self.proc.stderr.read1(4000)!r}"
                                       if self.proc.poll() is not None else "Xvfb did not start in time")
                chunk = os.read(r, 16)
                if not chunk:
                    raise RuntimeError("Xvfb closed -displayfd without a display number")
                buf += chunk
        finally:
            os.close(r)
        self.display = f":{buf.decode().strip()}"
        return self

    def stop(self) -> None:
        if self.proc:
            procs.terminate(self.proc, timeout=10)
            self.proc = None


class TauriDriver:
    """tauri-driver on a free port, in a D-Bus session of its own (the tray talks D-Bus), with
    the environment the app inherits: the display, the engine, a private HOME."""

    def __init__(self, display: str, env: dict):
        self.display = display
        self.env = env
        self.port = free_port()
        self.native_port = free_port()
        self.tmp = Path(tempfile.mkdtemp(prefix="berth-desktop-"))
        self.log = self.tmp / "tauri-driver.log"
        self.proc = None
        self.dbus = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 30) -> "TauriDriver":
        home = self.tmp / "home"
        home.mkdir()
        os.chmod(self.tmp, 0o700)  # XDG_RUNTIME_DIR must be private
        self.bus = self.tmp / "bus"
        self.bus_address = f"unix:path={self.bus}"
        env = {k: v for k, v in os.environ.items() if not k.startswith(("DOCKER_", "WAYLAND", "DBUS_"))}
        env.update(DISPLAY=self.display, HOME=str(home), BERTH_HOME=str(home / ".berth"),
                   XDG_RUNTIME_DIR=str(self.tmp), NO_AT_BRIDGE="1", RUST_LOG="info",
                   DBUS_SESSION_BUS_ADDRESS=self.bus_address)
        env.update(self.env)
        env = {k: v for k, v in env.items() if v is not None}
        with open(self.log, "ab") as log:
            # A session bus of our own: the tray (libayatana-appindicator) and WebKit talk D-Bus,
            # and the tests read the tray's menu over it.
            self.dbus = procs.spawn(["dbus-daemon", "--session", "--nofork", "--nosyslog",
                                     f"--address={self.bus_address}"],
                                    stdout=log, stderr=subprocess.STDOUT, env=env)
            _wait(lambda: self.bus.exists(), self.dbus, timeout, "dbus-daemon", self.log_text)
            self.proc = procs.spawn(["tauri-driver", "--port", str(self.port),
                                     "--native-port", str(self.native_port)],
                                    stdout=log, stderr=subprocess.STDOUT, env=env)

        def answers() -> bool:
            try:
                requests.get(f"{self.url}/status", timeout=2)
                return True
            except requests.RequestException:
                return False
        _wait(answers, self.proc, timeout, "tauri-driver", self.log_text)
        return self

    def app_pids(self) -> list[int]:
        """The app's processes of this run (they carry its private HOME)."""
        app = str(app_binary())
        return [pid for pid in _processes_with_env(f"HOME={self.tmp}/home")
                if _exe(pid) == app]

    def wait_app_gone(self, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while pids := self.app_pids():
            if time.monotonic() > deadline:
                raise RuntimeError(f"the app (pids {pids}) still runs {timeout}s after Quit")
            time.sleep(0.1)

    def log_text(self) -> str:
        try:
            return self.log.read_text(errors="replace")[-6000:]
        except FileNotFoundError:
            return ""

    def stop(self) -> None:
        # tauri-driver ends WebKitWebDriver and the app with it.
        for proc in (self.proc, self.dbus):
            if proc:
                procs.terminate(proc, timeout=15)
                procs.wait_gone(proc.pid)
        self.proc = self.dbus = None
        # Anything that outlived tauri-driver and carries this run's private HOME is ours.
        for pid in _processes_with_env(f"HOME={self.tmp}/home"):
            try:
                os.kill(pid, 9)
            except ProcessLookupError:
                pass
        shutil.rmtree(self.tmp, ignore_errors=True)


def _exe(pid: int) -> str | None:
    try:
        return os.readlink(f"/proc/{pid}/exe")
    except OSError:
        return None


def _processes_with_env(entry: str) -> list[int]:
    found = []
    needle = entry.encode()
    for name in os.listdir("/proc"):
        if not name.isdigit() or int(name) == os.getpid():
            continue
        try:
            with open(f"/proc/{name}/environ", "rb") as f:
                if needle in f.read().split(b"\0"):
                    found.append(int(name))
        except OSError:
            continue
    return found


def _wait(ready, proc, timeout: float, what: str, log) -> None:
    deadline = time.monotonic() + timeout
    while not ready():
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited with {proc.returncode}:\n{log()}")
        if time.monotonic() > deadline:
            raise RuntimeError(f"{what} not ready after {timeout}s:\n{log()}")
        time.sleep(0.05)
