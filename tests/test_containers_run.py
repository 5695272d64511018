"""docker run and the container lifecycle, with the real docker CLI against berthd."""
import json
import os
import subprocess
import time
from pathlib import Path

import pytest


def inspect(d, name):
    return json.loads(d.docker("inspect", name).stdout)[0]


@pytest.fixture(scope="module")
def d(berthd):
    berthd.docker("pull", "busybox")
    return berthd


def test_run_prints_output_and_returns_the_exit_code(d):
    cp = d.docker("run", "--rm", "busybox", "sh", "-c", "echo out; echo err >&2; exit 3", check=False)
    assert cp.returncode == 3, cp.stderr
    assert cp.stdout == "out\n"
    assert cp.stderr == "err\n"


def test_exit_codes_for_commands_that_cannot_run(d):
    nf = d.docker("run", "--rm", "busybox", "nosuchcmd", check=False)
    assert nf.returncode == 127, nf.stderr
    assert 'exec: "nosuchcmd": executable file not found in $PATH' in nf.stderr
    ne = d.docker("run", "--rm", "busybox", "/etc/passwd", check=False)
    assert ne.returncode == 126, ne.stderr
    assert "permission denied" in ne.stderr
    bad = d.docker("run", "--rm", "--restart", "bogus", "busybox", "true", check=False)
    assert bad.returncode == 125


def test_stdin_is_piped_with_dash_i(d):
    cp = d.docker("run", "--rm", "-i", "busybox", "sh", "-c", "tr a-z A-Z; echo done", input="hello\n")
    assert cp.stdout == "HELLO\ndone\n"


def test_detached_container_logs_stop_and_state(d):
    cid = d.docker("run", "-d", "--name", "ticker", "busybox", "sh", "-c",
                   "echo start; echo warn >&2; trap 'echo bye; exit 0' TERM; while true; do sleep 0.1; done"
                   ).stdout.strip()
    assert len(cid) == 64
    for _ in range(50):
        if "start" in d.docker("logs", "ticker").stdout:
            break
        time.sleep(0.1)
    i = inspect(d, "ticker")
    assert i["State"]["Running"] is True and i["State"]["Status"] == "running" and i["State"]["Pid"] > 0
    logs = d.docker("logs", "ticker")
    assert logs.stdout == "start\n" and logs.stderr == "warn\n"
    ps = d.docker("ps", "--format", "{{.Names}} {{.Status}}").stdout
    assert ps.startswith("ticker Up")
    d.docker("stop", "ticker")
    i = inspect(d, "ticker")
    assert i["State"]["Running"] is False and i["State"]["Status"] == "exited"
    assert i["State"]["ExitCode"] == 0
    assert d.docker("logs", "ticker").stdout == "start\nbye\n"
    stamped = d.docker("logs", "-t", "--tail", "1", "ticker").stdout
    assert stamped.endswith(" bye\n") and stamped[:4].isdigit()
    # Stopping a stopped container is fine (304), starting it again runs it again.
    d.docker("stop", "ticker")
    d.docker("start", "ticker")
    assert inspect(d, "ticker")["State"]["Running"] is True
    d.docker("rm", "-f", "ticker")
    assert d.docker("ps", "-aq", "--filter", "name=ticker").stdout == ""


def test_stop_uses_sigkill_after_the_timeout(d):
    d.docker("run", "-d", "--name", "stubborn", "busybox", "sh", "-c", "trap '' TERM; while true; do sleep 0.1; done")
    d.docker("stop", "-t", "1", "stubborn")
    assert inspect(d, "stubborn")["State"]["ExitCode"] == 137
    d.docker("rm", "stubborn")


def test_wait_kill_and_restart(d):
    # PID 1 only acts on signals it handles, as under dockerd.
    d.docker("run", "-d", "--name", "sleeper", "busybox", "sh", "-c",
             "trap 'exit 42' USR1; echo ready; while :; do sleep 0.1; done")
    for _ in range(100):  # the trap is set once it says so
        if d.docker("logs", "sleeper").stdout == "ready\n":
            break
        time.sleep(0.05)
    d.docker("kill", "-s", "USR1", "sleeper")
    assert d.docker("wait", "sleeper").stdout.strip() == "42"
    nr = d.docker("kill", "sleeper", check=False)
    assert nr.returncode == 1 and "is not running" in nr.stderr
    d.docker("restart", "sleeper")
    assert inspect(d, "sleeper")["State"]["Running"] is True
    d.docker("kill", "sleeper")
    assert inspect(d, "sleeper")["State"]["ExitCode"] == 137
    d.docker("rm", "sleeper")


def test_exec_runs_in_the_container(d):
    d.docker("run", "-d", "--name", "host1", "-e", "FROM_RUN=1", "busybox", "sleep", "1000")
    out = d.docker("exec", "-e", "X=2", "-w", "/tmp", "host1", "sh", "-c", "echo $FROM_RUN$X; pwd; id -u").stdout
    assert out == "12\n/tmp\n0\n"
    assert d.docker("exec", "-u", "65534:65534", "host1", "id", "-u").stdout == "65534\n"
    cp = d.docker("exec", "host1", "sh", "-c", "exit 7", check=False)
    assert cp.returncode == 7
    nf = d.docker("exec", "host1", "nosuch", check=False)
    assert nf.returncode == 127  # dockerd puts the error on the stream, as stdout
    assert 'exec: "nosuch": executable file not found in $PATH' in nf.stdout
    assert d.docker("exec", "-i", "host1", "cat", input="piped\n").stdout == "piped\n"
    d.docker("exec", "-d", "host1", "sh", "-c", "echo bg > /tmp/bg")
    for _ in range(50):
        if d.docker("exec", "host1", "cat", "/tmp/bg", check=False).stdout == "bg\n":
            break
        time.sleep(0.1)
    assert d.docker("exec", "host1", "cat", "/tmp/bg").stdout == "bg\n"
    d.docker("rm", "-f", "host1")
    gone = d.docker("exec", "host1", "true", check=False)
    assert gone.returncode != 0 and "No such container: host1" in gone.stderr


def test_rm_removes_and_rm_of_running_needs_force(d):
    d.docker("run", "-d", "--name", "busy", "busybox", "sleep", "1000")
    cp = d.docker("rm", "busy", check=False)
    assert cp.returncode == 1
    assert 'cannot remove container "/busy": container is running: stop the container before removing or force remove' in cp.stderr
    d.docker("rm", "-f", "busy")
    assert d.docker("ps", "-aq", "--filter", "name=busy").stdout == ""


def test_auto_remove_removes_after_exit(d):
    cid = d.docker("run", "-d", "--rm", "busybox", "sh", "-c", "sleep 0.2").stdout.strip()
    d.docker("wait", cid, check=False)
    for _ in range(50):
        if not d.docker("ps", "-aq", "--no-trunc").stdout.count(cid):
            break
        time.sleep(0.1)
    assert cid not in d.docker("ps", "-aq", "--no-trunc").stdout


def test_pause_unpause_top_and_stats(d):
    d.docker("run", "-d", "--name", "pz", "busybox", "sleep", "1000")
    top = d.docker("top", "pz").stdout
    assert "PID" in top.splitlines()[0] and "sleep 1000" in top
    d.docker("pause", "pz")
    assert inspect(d, "pz")["State"]["Status"] == "paused"
    assert "(Paused)" in d.docker("ps", "--format", "{{.Status}}", "--filter", "name=pz").stdout
    d.docker("unpause", "pz")
    assert inspect(d, "pz")["State"]["Status"] == "running"
    stats = d.docker("stats", "--no-stream", "--format", "{{.Name}} {{.MemUsage}} {{.PIDs}}", "pz").stdout.split()
    assert stats[0] == "pz" and stats[-1] == "1"
    d.docker("rm", "-f", "pz")


def test_logs_follow_since_until_and_streams(d):
    d.docker("run", "-d", "--name", "lf", "busybox", "sh", "-c",
             "for i in 1 2 3; do echo out$i; echo err$i >&2; sleep 0.3; done")
    follow = d.docker("logs", "-f", "lf", timeout=30)  # returns when the container ends
    assert follow.stdout == "out1\nout2\nout3\n" and follow.stderr == "err1\nerr2\nerr3\n"
    lines = d.docker("logs", "-t", "lf").stdout.splitlines()
    second = lines[1].split(" ", 1)[0]
    since = d.docker("logs", "--since", second, "lf").stdout
    assert since == "out2\nout3\n"
    until = d.docker("logs", "--until", second, "lf").stdout
    assert until == "out1\nout2\n"
    assert d.docker("logs", "--tail", "2", "lf").stdout == "out3\n"  # tail counts both streams
    d.docker("rm", "lf")


def test_attach_streams_and_detaches_with_the_detach_keys(d):
    d.docker("run", "-d", "-i", "--name", "att", "busybox", "cat")
    s = d.raw_socket()
    s.sendall(b"POST /containers/att/attach?stream=1&stdin=1&stdout=1&detachKeys=ctrl-a,x HTTP/1.1\r\n"
              b"Host: x\r\nUpgrade: tcp\r\nConnection: Upgrade\r\nContent-Length: 0\r\n\r\n")
    head = b""
    while b"\r\n\r\n" not in head:
        head += s.recv(1)
    assert head.startswith(b"HTTP/1.1 101") and b"multiplexed-stream" in head.lower()
    s.sendall(b"hello\n")
    frame = b""
    while len(frame) < 14:
        frame += s.recv(64)
    assert frame[:8] == bytes([1, 0, 0, 0, 0, 0, 0, 6]) and frame[8:14] == b"hello\n"
    s.sendall(b"\x01x")  # detach: the stream ends, the container runs on
    s.settimeout(10)
    assert s.recv(64) == b""
    s.close()
    assert inspect(d, "att")["State"]["Running"] is True
    d.docker("rm", "-f", "att")


def test_a_slow_reader_gets_a_containers_output_whole(d):
    # The container ends long before a slow client has read its output: what the shim still
    # holds for the attach stream must reach the client, not die with the shim.
    expected = "".join(f"{i}\n" for i in range(1, 600001)).encode()
    env = {**os.environ, "DOCKER_CONFIG": str(d.docker_config)}
    p = subprocess.Popen(["docker", "-H", d.url, "run", "--rm", "busybox", "seq", "1", "600000"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    got = bytearray()
    while chunk := p.stdout.read(64 << 10):
        got += chunk
        time.sleep(0.04)
    assert p.wait(timeout=60) == 0, p.stderr.read()
    assert len(got) == len(expected)
    assert got == expected


def test_a_client_that_stops_reading_holds_neither_the_exit_nor_the_output_back(d):
    # dockerd's way: the container is exited while its attached client has not read the end
    # of the output yet, and the client still gets all of it once it reads again.
    expected = "".join(f"{i}\n" for i in range(1, 200001)).encode()
    env = {**os.environ, "DOCKER_CONFIG": str(d.docker_config)}
    p = subprocess.Popen(["docker", "-H", d.url, "run", "--name", "unread", "busybox", "seq", "1", "200000"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    try:
        deadline = time.monotonic() + 60
        while d.docker("inspect", "-f", "{{.State.Status}}", "unread", check=False).stdout.strip() != "exited":
            assert time.monotonic() < deadline, "the container did not exit while its client did not read"
            time.sleep(0.2)
        time.sleep(1)
        got = p.stdout.read()
        assert p.wait(timeout=60) == 0, p.stderr.read()
        assert len(got) == len(expected)
        assert got == expected
    finally:
        p.kill()
        d.docker("rm", "-f", "unread", check=False)


def test_docker_py_runs_containers(d):
    c = d.client()
    assert c.containers.run("busybox", ["sh", "-c", "echo hi"], remove=True) == b"hi\n"
    ct = c.containers.run("busybox", ["sleep", "1000"], detach=True, name="pyrun")
    ct.reload()
    assert ct.status == "running"
    code, out = ct.exec_run(["sh", "-c", "echo from-exec; exit 3"])
    assert (code, out) == (3, b"from-exec\n")
    ct.kill()
    assert ct.wait()["StatusCode"] == 137
    ct.remove()
    assert "pyrun" not in [x.name for x in c.containers.list(all=True)]


def test_ps_status_filters_and_format(d):
    d.docker("run", "--name", "ok0", "busybox", "true")
    d.docker("run", "--name", "bad3", "busybox", "sh", "-c", "exit 3", check=False)
    d.docker("run", "-d", "--name", "up1", "-l", "tier=web", "busybox", "sleep", "1000")
    names = lambda *f: sorted(d.docker("ps", "-a", "--format", "{{.Names}}", *f).stdout.split())
    assert names("--filter", "status=exited", "--filter", "name=ok0") == ["ok0"]
    assert names("--filter", "exited=3") == ["bad3"]
    assert names("--filter", "status=running", "--filter", "label=tier=web") == ["up1"]
    assert names("--filter", "ancestor=busybox", "--filter", "name=up1") == ["up1"]
    status = d.docker("ps", "-a", "--filter", "name=bad3", "--format", "{{.Status}}").stdout
    assert status.startswith("Exited (3) ") and status.strip().endswith("ago")
    assert d.docker("ps", "-q", "--filter", "name=up1").stdout.strip() == inspect(d, "up1")["Id"][:12]
    d.docker("rm", "-f", "ok0", "bad3", "up1")


def test_named_and_anonymous_volumes_mount_and_keep_data(d):
    d.docker("run", "--rm", "-v", "keep:/data", "busybox", "sh", "-c", "echo saved > /data/f")
    assert d.docker("run", "--rm", "-v", "keep:/data:ro", "busybox", "cat", "/data/f").stdout == "saved\n"
    ro = d.docker("run", "--rm", "-v", "keep:/data:ro", "busybox", "touch", "/data/g", check=False)
    assert ro.returncode != 0 and "Read-only file system" in ro.stderr
    # A new volume is filled from the image's files at its mount point.
    assert "passwd" in d.docker("run", "--rm", "-v", "etcvol:/etc", "busybox", "ls", "/etc").stdout
    cid = d.docker("create", "-v", "/anon", "busybox", "sh", "-c", "echo x > /anon/y").stdout.strip()
    d.docker("start", "-a", cid)
    anon = inspect(d, cid)["Mounts"]
    assert len(anon) == 1 and anon[0]["Destination"] == "/anon"
    d.docker("rm", "-v", cid)
    d.docker("volume", "rm", "keep", "etcvol")


def test_health_checks_report_healthy_then_unhealthy(d):
    d.docker("run", "-d", "--name", "hc", "--health-cmd", "cat /tmp/ok", "--health-interval", "300ms",
             "--health-retries", "2", "busybox", "sh", "-c", "echo yes > /tmp/ok; sleep 1000")
    health = lambda: inspect(d, "hc")["State"]["Health"]
    deadline = time.monotonic() + 20
    while health()["Status"] != "healthy" and time.monotonic() < deadline:
        time.sleep(0.1)
    h = health()
    assert h["Status"] == "healthy" and h["Log"][-1]["ExitCode"] == 0 and h["Log"][-1]["Output"] == "yes\n"
    assert "(healthy)" in d.docker("ps", "--filter", "name=hc", "--format", "{{.Status}}").stdout
    assert d.docker("ps", "-q", "--filter", "health=healthy").stdout.strip() != ""
    d.docker("exec", "hc", "rm", "/tmp/ok")
    while health()["Status"] != "unhealthy" and time.monotonic() < deadline:
        time.sleep(0.1)
    h = health()
    assert h["Status"] == "unhealthy" and h["FailingStreak"] >= 2 and h["Log"][-1]["ExitCode"] == 1
    d.docker("rm", "-f", "hc")


def test_update_export_stats_stream_and_sizes(d):
    cid = d.docker("run", "-d", "--name", "upd", "busybox", "sh", "-c", "echo data > /made; sleep 1000").stdout.strip()
    d.docker("update", "--memory", "64m", "--memory-swap", "128m", "--pids-limit", "50", "--restart", "always", "upd")
    i = inspect(d, "upd")
    assert i["HostConfig"]["Memory"] == 64 * 1024 * 1024 and i["HostConfig"]["PidsLimit"] == 50
    assert i["HostConfig"]["RestartPolicy"]["Name"] == "always"
    limits = [Path(p) for p in (f"/sys/fs/cgroup/memory/berth/{cid}/memory.limit_in_bytes",
                                f"/sys/fs/cgroup/berth/{cid}/memory.max")]
    limit = next(p for p in limits if p.exists())
    assert int(limit.read_text()) == 64 * 1024 * 1024
    # A live stats stream: two samples, the second with a CPU base.
    p = subprocess.Popen(["docker", "-H", d.url, "stats", "--format", "{{.Name}} {{.PIDs}}", "upd"],
                         stdout=subprocess.PIPE, text=True,
                         env={**os.environ, "DOCKER_CONFIG": str(d.docker_config)})
    time.sleep(2.5)
    p.kill()
    out = p.communicate(timeout=10)[0]
    assert out.count("upd 1") >= 2, out  # sh execs its last command: one process
    for _ in range(50):
        if d.docker("exec", "upd", "cat", "/made", check=False).stdout == "data\n":
            break
        time.sleep(0.1)
    tar = subprocess.run(["docker", "-H", d.url, "export", "upd"], capture_output=True, timeout=60,
                         env={**os.environ, "DOCKER_CONFIG": str(d.docker_config)}).stdout
    names = subprocess.run(["tar", "-t"], input=tar, capture_output=True).stdout.decode().split()
    assert "made" in names and "bin/busybox" in names
    size = d.docker("ps", "-s", "--filter", "name=upd", "--format", "{{.Size}}").stdout
    assert "virtual" in size
    d.docker("rm", "-f", "upd")


def test_inspect_lists_bind_mounts(d, tmp_path):
    (tmp_path / "f").write_text("host\n")
    cid = d.docker("create", "-v", f"{tmp_path}:/h:ro", "busybox", "cat", "/h/f").stdout.strip()
    mounts = inspect(d, cid)["Mounts"]
    assert {"Type": "bind", "Source": str(tmp_path), "Destination": "/h", "RW": False}.items() <= mounts[0].items()
    assert d.docker("start", "-a", cid).stdout == "host\n"
    d.docker("rm", cid)
