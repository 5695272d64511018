"""Containers across daemon restarts (restart policies, live-restore, --rm), terminals, and
what a container leaves behind."""
import json
import os
import subprocess
import time
from pathlib import Path

import pytest


def inspect(d, name):
    return json.loads(d.docker("inspect", name).stdout)[0]


def wait_for(pred, timeout=20.0, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        v = pred()
        if v:
            return v
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def test_restart_policies_restart_the_container_and_survive_a_daemon_restart(make_berthd):
    d = make_berthd()
    d.docker("pull", "busybox")
    d.docker("run", "-d", "--name", "flaky", "--restart", "on-failure:2", "busybox", "sh", "-c", "exit 3")
    wait_for(lambda: inspect(d, "flaky")["RestartCount"] == 2 and not inspect(d, "flaky")["State"]["Restarting"]
             and inspect(d, "flaky")["State"]["Status"] == "exited", what="two restarts")
    assert inspect(d, "flaky")["State"]["ExitCode"] == 3
    d.docker("run", "-d", "--name", "always", "--restart", "always", "busybox", "sleep", "1000")
    d.docker("run", "-d", "--name", "unless", "--restart", "unless-stopped", "busybox", "sleep", "1000")
    d.docker("run", "-d", "--name", "never", "busybox", "sleep", "1000")
    d.docker("stop", "-t", "0", "unless")  # stopped by the user: stays down
    d.restart()  # without live-restore, the daemon stops containers at shutdown
    wait_for(lambda: inspect(d, "always")["State"]["Running"], what="always to come back")
    assert inspect(d, "unless")["State"]["Running"] is False
    assert inspect(d, "never")["State"]["Running"] is False
    assert inspect(d, "never")["State"]["ExitCode"] == 137  # sleep ignores SIGTERM as PID 1
    d.docker("rm", "-f", "always", "unless", "never", "flaky")


def test_live_restore_keeps_containers_running_and_logging(make_berthd):
    d = make_berthd(config={"live-restore": True})
    d.docker("pull", "busybox")
    d.docker("run", "-d", "--name", "counter", "busybox", "sh", "-c",
             "i=0; while true; do echo $i; i=$((i+1)); sleep 0.05; done")
    pid = inspect(d, "counter")["State"]["Pid"]
    wait_for(lambda: len(d.docker("logs", "counter").stdout.split()) > 5, what="first lines")
    d.stop()
    time.sleep(1)  # the container keeps counting while berthd is down
    d.start()
    i = inspect(d, "counter")
    assert i["State"]["Running"] is True and i["State"]["Pid"] == pid
    assert "counter" in d.docker("ps", "--format", "{{.Names}}").stdout
    wait_for(lambda: len(d.docker("logs", "counter").stdout.split()) > 40, what="more lines")
    d.docker("stop", "-t", "1", "counter")
    numbers = [int(n) for n in d.docker("logs", "counter").stdout.split()]
    assert numbers == list(range(len(numbers))), "the log has a gap or a repeat"
    assert inspect(d, "counter")["State"]["Running"] is False


def test_a_killed_daemon_finds_its_containers_again(make_berthd):
    d = make_berthd()
    d.docker("pull", "busybox")
    d.docker("run", "-d", "--name", "survivor", "busybox", "sleep", "1000")
    d.docker("run", "-d", "--name", "shortlived", "busybox", "sh", "-c", "sleep 1; exit 5")
    d.docker("run", "-d", "--rm", "--name", "tmp", "busybox", "sh", "-c", "sleep 1")
    d.kill9()
    time.sleep(2)  # shortlived and tmp end while berthd is down
    d.start()
    assert inspect(d, "survivor")["State"]["Running"] is True
    wait_for(lambda: inspect(d, "shortlived")["State"]["Status"] == "exited", what="the exit to be recorded")
    assert inspect(d, "shortlived")["State"]["ExitCode"] == 5
    wait_for(lambda: d.docker("ps", "-aq", "--filter", "name=tmp").stdout == "", what="--rm container removal")
    d.docker("stop", "-t", "0", "survivor")
    assert inspect(d, "survivor")["State"]["Running"] is False
    # kill -9 in the middle of a start: whatever state results is usable.
    d.docker("create", "--name", "racer", "busybox", "sleep", "1000")
    p = subprocess.Popen(["docker", "-H", d.url, "start", "racer"], env={**os.environ, "DOCKER_CONFIG": str(d.docker_config)},
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(0.02)
    d.kill9()
    p.wait(timeout=30)
    d.start()
    d.docker("start", "racer")  # works whether the first start landed or not
    assert inspect(d, "racer")["State"]["Running"] is True
    d.docker("rm", "-f", "racer", "survivor", "shortlived")


def test_tty_run_is_a_real_terminal(berthd):
    d = berthd
    d.docker("pull", "busybox")
    env = {**os.environ, "DOCKER_CONFIG": str(d.docker_config), "TERM": "xterm"}
    cmd = f"docker -H {d.url} run --rm -it busybox sh -c 'tty; stty size; echo done'"
    cp = subprocess.run(["script", "-qec", cmd, "/dev/null"], capture_output=True, text=True, timeout=60,
                        env=env, input="")
    out = cp.stdout.replace("\r", "")
    assert "/dev/pts/" in out, out
    assert "done" in out and cp.returncode == 0


def _leak_counts(d):
    mounts = Path("/proc/self/mountinfo").read_text().count(str(d.tmp))
    parent = d.config["cgroup-parent"]
    cgroups = sum(1 for c in Path("/sys/fs/cgroup").glob(f"*/{parent}/*") if c.is_dir())
    procs = subprocess.run(["pgrep", "-f", str(d.tmp)], capture_output=True, text=True).stdout.split()
    return mounts, cgroups, len(procs)


def test_nothing_leaks_after_many_run_rm_cycles(make_berthd):
    # A cgroup parent of its own: containers of other daemons on the machine do not count.
    d = make_berthd(config={"cgroup-parent": f"berth-leak-{os.getpid()}"})
    d.docker("pull", "busybox")
    before = _leak_counts(d)
    cycles = int(os.environ.get("BERTH_LEAK_CYCLES", "200"))
    for i in range(cycles):
        if i % 2:
            d.docker("run", "--rm", "busybox", "true")
        else:
            d.docker("run", "-d", "--name", f"c{i}", "busybox", "sleep", "100")
            d.docker("rm", "-f", f"c{i}")
    assert d.docker("ps", "-aq").stdout == ""
    # Shims linger a moment after their container's exit to deliver it.
    wait_for(lambda: _leak_counts(d) == before, timeout=10, what=f"counts back to {before}: {_leak_counts(d)}")
    assert list((d.exec_root / "shims").iterdir()) == []
    # The runtime's state root (`runtime/runc`, as for any runc-compatible runtime) stays; no
    # container's state is left in it.
    runtime = d.exec_root / "runtime"
    assert [p for p in runtime.rglob("*") if not (p.is_dir() and p.parent == runtime)] == []


def test_containers_run_on_a_cgroup_v2_only_host(make_berthd, tmp_path):
    """This machine is hybrid (v1 controllers + a small cgroup2 tree): berthd runs in a private
    mount namespace where /sys/fs/cgroup is the cgroup2 hierarchy alone."""
    from lib.berthd import berthd_binary
    unified = Path("/sys/fs/cgroup/unified")
    if not (unified / "cgroup.procs").exists():
        pytest.skip("not a hybrid cgroup host: the suite's other tests already run on its only layout")
    wrapper = tmp_path / "berthd-v2"
    wrapper.write_text("#!/bin/sh\nexec unshare --mount --propagation private sh -c "
                       "'mount -t cgroup2 none /sys/fs/cgroup && exec \"$0\" \"$@\"' "
                       f"{berthd_binary()} \"$@\"\n")
    wrapper.chmod(0o755)
    d = make_berthd(binary=wrapper)
    d.docker("pull", "busybox")
    assert d.docker("run", "--rm", "busybox", "echo", "ran").stdout == "ran\n"
    cid = d.docker("run", "-d", "--name", "v2", "busybox", "sleep", "1000").stdout.strip()
    # Its cgroup is in the v2 hierarchy (the host's unified mount), in no v1 one.
    assert (unified / "berth" / cid / "cgroup.procs").read_text().split() != []
    assert not Path(f"/sys/fs/cgroup/memory/berth/{cid}").exists()
    assert "sleep 1000" in d.docker("top", "v2").stdout
    d.docker("pause", "v2")
    assert inspect(d, "v2")["State"]["Status"] == "paused"
    d.docker("unpause", "v2")
    d.docker("stop", "-t", "0", "v2")
    assert inspect(d, "v2")["State"]["ExitCode"] == 137
    d.docker("rm", "v2")


@pytest.mark.skipif(not Path("/usr/sbin/runc").exists(), reason="Debian's runc is not installed")
def test_a_configured_runc_runtime_runs_containers(make_berthd):
    d = make_berthd(config={"runtimes": {"debian-runc": {"path": "/usr/sbin/runc"}}})
    d.docker("pull", "busybox")
    bad = d.docker("run", "--rm", "--runtime", "nope", "busybox", "true", check=False)
    assert bad.returncode == 125 and "unknown or invalid runtime name: nope" in bad.stderr
    cp = d.docker("run", "--rm", "--runtime", "debian-runc", "-i", "busybox", "sh", "-c", "cat; exit 4",
                  input="via runc\n", check=False)
    assert (cp.returncode, cp.stdout) == (4, "via runc\n"), cp.stderr
    d.docker("run", "-d", "--name", "rc", "--runtime", "debian-runc", "busybox", "sleep", "1000")
    assert inspect(d, "rc")["HostConfig"]["Runtime"] == "debian-runc"
    assert d.docker("exec", "rc", "sh", "-c", "echo in-exec; exit 2", check=False).stdout == "in-exec\n"
    assert d.docker("exec", "rc", "sh", "-c", "exit 2", check=False).returncode == 2
    d.docker("stop", "-t", "0", "rc")
    assert inspect(d, "rc")["State"]["ExitCode"] == 137
    d.docker("rm", "rc")
    assert list((d.exec_root / "runtime" / "runc").iterdir()) == []


def _script(d, cmd, input_bytes=b"", timeout=60):
    """Runs a docker CLI command line under `script`, so that it has a real terminal."""
    env = {**os.environ, "DOCKER_CONFIG": str(d.docker_config), "TERM": "xterm"}
    return subprocess.run(["script", "-qec", f"docker -H {d.url} {cmd}", "/dev/null"], input=input_bytes,
                          capture_output=True, timeout=timeout, env=env)


def test_exec_it_attach_detach_and_sig_proxy(berthd):
    d = berthd
    d.docker("pull", "busybox")
    d.docker("run", "-dit", "--name", "term", "busybox", "sh")
    cp = _script(d, "exec -it term sh -c 'tty; exit 3'")
    assert b"/dev/pts/" in cp.stdout and cp.returncode == 3, cp.stdout
    # ctrl-p ctrl-q detaches the CLI; the container keeps running.
    p = subprocess.Popen(["script", "-qec", f"docker -H {d.url} attach term", "/dev/null"],
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         env={**os.environ, "DOCKER_CONFIG": str(d.docker_config), "TERM": "xterm"})
    time.sleep(1)
    p.stdin.write(b"\x10\x11")
    p.stdin.flush()
    out, _ = p.communicate(timeout=30)
    assert b"read escape sequence" in out, out
    assert inspect(d, "term")["State"]["Running"] is True
    d.docker("rm", "-f", "term")
    # A foreground run forwards the signals its CLI gets (--sig-proxy, on by default).
    env = {**os.environ, "DOCKER_CONFIG": str(d.docker_config)}
    p = subprocess.Popen(["docker", "-H", d.url, "run", "--rm", "--name", "proxied", "busybox", "sh", "-c",
                          "trap 'echo got-term; exit 7' TERM; echo ready; while :; do sleep 0.1; done"],
                         stdout=subprocess.PIPE, text=True, env=env)
    assert p.stdout.readline() == "ready\n"
    p.send_signal(15)
    rest = p.communicate(timeout=30)[0]
    assert "got-term" in rest and p.returncode == 7


def test_a_missing_shim_is_named_at_start_and_at_run(make_berthd):
    d = make_berthd(env={"BERTH_SHIM_BINARY": "/nonexistent/berth-shim"})
    assert "BERTH_SHIM_BINARY=/nonexistent/berth-shim is not a berth-shim binary" in d.log_text()
    d.docker("pull", "busybox")
    cp = d.docker("run", "--rm", "busybox", "true", check=False)
    assert cp.returncode == 125 and "cannot start the container's shim" in cp.stderr, cp.stderr
    assert "/nonexistent/berth-shim" in cp.stderr
