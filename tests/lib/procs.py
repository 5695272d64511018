"""Every process the bed starts is recorded here, so that an exit path that skipped the fixture
teardown (Ctrl-C at a bad moment, an exception in a finalizer) still ends it at interpreter exit."""
import atexit
import os
import signal
import subprocess
import time

_live: set = set()


def spawn(argv, **kw) -> subprocess.Popen:
    # Own session: a Ctrl-C in the terminal reaches pytest only, which then stops things in order.
    proc = subprocess.Popen(argv, start_new_session=True, stdin=subprocess.DEVNULL, **kw)
    _live.add(proc)
    return proc


def terminate(proc: subprocess.Popen, sig=signal.SIGTERM, timeout: float = 15) -> int:
    """Sends sig, waits up to timeout, then SIGKILL. Returns the exit code (negative: by signal)."""
    try:
        if proc.poll() is None:
            proc.send_signal(sig)
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)
        return proc.returncode
    finally:
        _live.discard(proc)


def forget(proc: subprocess.Popen) -> None:
    _live.discard(proc)


def pid_alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return False


def wait_gone(pid: int, timeout: float = 10) -> bool:
    deadline = time.monotonic() + timeout
    while pid_alive(pid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


@atexit.register
def _kill_leftovers():
    for proc in list(_live):
        terminate(proc, signal.SIGKILL, timeout=5)


def processes_mentioning(text: str) -> list[int]:
    """PIDs (not ours) whose command line or root directory mentions text; used to find a killed
    daemon's shims and containers, which outlive it by design."""
    found = []
    for name in os.listdir("/proc"):
        if not name.isdigit() or int(name) == os.getpid():
            continue
        try:
            with open(f"/proc/{name}/cmdline", "rb") as f:
                cmd = f.read().replace(b"\0", b" ").decode(errors="replace")
            root = os.readlink(f"/proc/{name}/root")
        except OSError:
            continue
        if text in cmd or root == text or root.startswith(text + "/"):
            found.append(int(name))
    return found
