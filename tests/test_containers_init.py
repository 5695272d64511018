"""docker run --init (and daemon.json "init"): berth-container-init runs as PID 1 at
/sbin/docker-init in front of the command, like dockerd's docker-init (tini)."""
import json
import os
import re
import subprocess
import time

import pytest

from lib.berthd import berthd_binary

INIT = berthd_binary().parent / "berth-container-init"


def inspect(d, name):
    return json.loads(d.docker("inspect", name).stdout)[0]


def processes(d, name):
    """{pid: (stat, comm)} of the container's processes, seen from inside it."""
    out = d.docker("exec", name, "ps", "-o", "pid,stat,comm").stdout.splitlines()[1:]
    return {int(pid): (stat, comm) for pid, stat, comm in (line.split(None, 2) for line in out)}


def wait_for(cond, what, timeout=10):
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


@pytest.fixture(scope="module")
def d(berthd):
    if not INIT.is_file():
        pytest.fail(f"no {INIT}: build it with scripts/build-init.sh {INIT.parent}")
    berthd.docker("pull", "busybox")
    return berthd


def pid1(d, *args):
    out = d.docker("run", "--rm", *args, "busybox", "ps", "-o", "pid,comm").stdout
    return {line.split()[0]: line.split()[1] for line in out.splitlines()[1:]}["1"]


def test_init_is_pid_1_and_the_command_its_child(d):
    assert pid1(d, "--init") == "docker-init"
    assert pid1(d) == "ps"
    # The init is mounted read-only from the host.
    cp = d.docker("run", "--rm", "--init", "busybox", "sh", "-c", "echo x > /sbin/docker-init", check=False)
    assert cp.returncode != 0 and "Read-only file system" in cp.stderr
    # Inspect shows HostConfig.Init as the client sent it; the command is still the container's.
    d.docker("create", "--init", "--name", "with-init", "busybox", "true")
    d.docker("create", "--name", "without-init", "busybox", "true")
    i = inspect(d, "with-init")
    assert i["HostConfig"]["Init"] is True
    assert i["Path"] == "true" and i["Args"] == []
    assert inspect(d, "without-init")["HostConfig"].get("Init") is None
    d.docker("rm", "with-init", "without-init")


def test_output_and_exit_codes_pass_through(d):
    cp = d.docker("run", "--rm", "--init", "busybox", "sh", "-c", "echo out; echo err >&2; exit 3", check=False)
    assert (cp.returncode, cp.stdout, cp.stderr) == (3, "out\n", "err\n")
    # Killed by a signal: 128 + its number, as a shell reports it.
    cp = d.docker("run", "--rm", "--init", "busybox", "sh", "-c", "kill -TERM $$", check=False)
    assert cp.returncode == 143, cp.stderr


def test_a_terminal_goes_to_the_command(d):
    # The command gets its own process group, made the terminal's foreground one.
    env = {**os.environ, "DOCKER_CONFIG": str(d.docker_config), "TERM": "xterm"}
    cmd = (f"docker -H {d.url} run --rm -it --init busybox "
           "sh -c 'tty; echo fg=$(cut -d\\  -f8 /proc/$$/stat) pgid=$(cut -d\\  -f5 /proc/$$/stat)'")
    cp = subprocess.run(["script", "-qec", cmd, "/dev/null"], capture_output=True, text=True, timeout=60,
                        env=env, input="")
    out = cp.stdout.replace("\r", "")
    assert cp.returncode == 0 and "/dev/pts/" in out, out
    fg = re.search(r"fg=(\d+) pgid=(\d+)", out)
    assert fg and fg.group(1) == fg.group(2) != "1", out


def test_a_command_that_cannot_run_is_reported_by_the_init(d):
    # The container starts; the init says why the command did not (as tini does).
    cp = d.docker("run", "--rm", "--init", "busybox", "nosuchcmd", check=False)
    assert cp.returncode == 127, cp.stderr
    assert cp.stderr.startswith("[FATAL tini (")
    assert "] exec nosuchcmd failed: No such file or directory\n" in cp.stderr
    cp = d.docker("run", "--rm", "--init", "busybox", "/etc/passwd", check=False)
    assert cp.returncode == 126, cp.stderr
    assert "] exec /etc/passwd failed: Permission denied\n" in cp.stderr


def test_orphans_are_reaped(d):
    # The subshell exits at once and its background sleep is handed to PID 1.
    script = "(sleep 0.1 &); exec sleep 1000"
    d.docker("run", "-d", "--init", "--name", "reaped", "busybox", "sh", "-c", script)
    d.docker("run", "-d", "--name", "not-reaped", "busybox", "sh", "-c", script)
    try:
        # Without an init, PID 1 is the sleep, which never waits: the orphan stays a zombie.
        wait_for(lambda: any(s.startswith("Z") for s, _ in processes(d, "not-reaped").values()),
                 "a zombie without an init")
        # Under the init, the orphan is reaped once it ends: nothing but the init and the
        # command is left (and the ps that looks).
        def settled():
            procs = processes(d, "reaped")
            return (sorted(c for _, c in procs.values()) == ["docker-init", "ps", "sleep"]
                    and not any(s.startswith("Z") for s, _ in procs.values()))
        wait_for(settled, "the orphan to be reaped")
        procs = processes(d, "reaped")
        assert procs[1][1] == "docker-init"
        assert not any(s.startswith("Z") for s, _ in procs.values()), procs
        assert sorted(c for _, c in procs.values()) == ["docker-init", "ps", "sleep"], procs
    finally:
        d.docker("rm", "-f", "reaped", "not-reaped")


def test_stop_reaches_the_command(d):
    # A plain PID 1 sleep ignores SIGTERM and waits for the SIGKILL; under the init
    # the sleep is an ordinary process, killed by the SIGTERM the init passes on.
    d.docker("run", "-d", "--init", "--name", "stoppable", "busybox", "sleep", "1000")
    start = time.monotonic()
    d.docker("stop", "stoppable")
    assert time.monotonic() - start < 5
    assert inspect(d, "stoppable")["State"]["ExitCode"] == 143
    d.docker("rm", "stoppable")


def test_signals_are_forwarded(d):
    script = ("for s in HUP USR1 USR2 WINCH INT QUIT; do trap \"echo got $s\" $s; done; "
              "trap 'exit 5' TERM; echo ready; while :; do sleep 0.05; done")
    d.docker("run", "-d", "--init", "--name", "trapper", "busybox", "sh", "-c", script)
    try:
        wait_for(lambda: "ready" in d.docker("logs", "trapper").stdout, "the traps")
        for sig in ["HUP", "USR1", "USR2", "WINCH", "INT", "QUIT"]:
            d.docker("kill", "-s", sig, "trapper")
            wait_for(lambda: f"got {sig}\n" in d.docker("logs", "trapper").stdout, sig)
        d.docker("kill", "-s", "TERM", "trapper")
        assert d.docker("wait", "trapper").stdout.strip() == "5"
    finally:
        d.docker("rm", "-f", "trapper")


def test_daemon_json_init_is_the_default(make_berthd):
    d = make_berthd(config={"init": True})
    d.docker("pull", "busybox")
    assert pid1(d) == "docker-init"
    assert pid1(d, "--init=false") == "ps"
    # In the host's PID namespace PID 1 is the host's: no init there.
    parent = d.docker("run", "--rm", "--pid", "host", "busybox", "sh", "-c", "cat /proc/$PPID/comm").stdout
    assert parent.strip() not in ("", "docker-init")


def test_init_path_names_the_binary(make_berthd, tmp_path):
    d = make_berthd(config={"init-path": str(tmp_path / "missing-init")})
    d.docker("pull", "busybox")
    cp = d.docker("run", "--rm", "--init", "busybox", "true", check=False)
    assert cp.returncode != 0
    assert str(tmp_path / "missing-init") in cp.stderr, cp.stderr
    # Without --init the binary is not needed.
    d.docker("run", "--rm", "busybox", "true")
