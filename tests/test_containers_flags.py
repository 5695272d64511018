"""`docker run` flags, one scenario each, checked from inside the container the way a docker
user would check them (/proc/self/status, /proc/self/limits, cgroup files, id, hostname, mount),
with the real docker CLI against berthd."""
import json
import time
from pathlib import Path

import pytest

# moby's caps.DefaultCapabilities as a CapEff mask.
DEFAULT_CAPS = 0x00000000A80425FB
CAP_CHOWN = 1 << 0
CAP_NET_ADMIN = 1 << 12


def inspect(d, name):
    return json.loads(d.docker("inspect", name).stdout)[0]


def status_field(text: str, key: str) -> str:
    """The value of `key:` in a /proc/<pid>/status text."""
    for line in text.splitlines():
        if line.startswith(key + ":"):
            return line.split(":", 1)[1].strip()
    raise AssertionError(f"no {key} in {text!r}")


@pytest.fixture(scope="module")
def d(berthd):
    berthd.docker("pull", "busybox")
    return berthd


@pytest.fixture
def names(d, request):
    """names("x") -> a container name unique to this test, removed (rm -f) at teardown."""
    made = []

    def make(suffix=""):
        n = f"flags-{request.node.name[5:40]}{suffix}".replace("[", "-").replace("]", "")
        made.append(n)
        return n

    yield make
    if made:
        d.docker("rm", "-f", *made, check=False)


def run(d, *args, check=True, input=None):
    return d.docker("run", "--rm", *args, check=check, input=input)


def status(d, *flags) -> str:
    return run(d, *flags, "busybox", "cat", "/proc/self/status").stdout


def cgroup_file(d, cid: str, controller: str, name: str) -> str:
    """A v1 cgroup file of a running container, read inside it (the container's cgroup is what
    it sees at /sys/fs/cgroup/<controller>) and on the host, which must agree."""
    inside = d.docker("exec", cid, "cat", f"/sys/fs/cgroup/{controller}/{name}").stdout.strip()
    host = Path(f"/sys/fs/cgroup/{controller}/berth/{cid}/{name}")
    assert host.read_text().strip() == inside, (host, inside)
    return inside


# --- environment, working directory, user, entrypoint --------------------------------------

def test_env_and_env_file(d, tmp_path):
    env_file = tmp_path / "env"
    env_file.write_text("# a comment\n\nFROM_FILE=file value\nBOTH=from file\nPASSED\n")
    out = run(d, "-e", "FOO=bar", "-e", "EMPTY=", "--env-file", str(env_file), "-e", "BOTH=from flag",
              "busybox", "env").stdout
    env = dict(line.split("=", 1) for line in out.splitlines())
    assert env["FOO"] == "bar"
    assert env["EMPTY"] == ""
    assert env["FROM_FILE"] == "file value"
    assert env["BOTH"] == "from flag"  # -e wins over --env-file, as with dockerd
    assert "PASSED" not in env  # a bare name is taken from the client's environment, unset here
    assert env["PATH"] == "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
    assert env["HOME"] == "/root"
    assert len(env["HOSTNAME"]) == 12


def test_env_from_the_client_environment(d):
    cp = d.docker("run", "--rm", "-e", "PASSED", "busybox", "sh", "-c", "echo $PASSED",
                  env={"PASSED": "through"})
    assert cp.stdout == "through\n"


def test_workdir(d):
    assert run(d, "-w", "/etc", "busybox", "pwd").stdout == "/etc\n"
    # A missing working directory is created, as dockerd does.
    out = run(d, "-w", "/no/such/dir", "busybox", "sh", "-c", "pwd; ls -ld /no/such/dir").stdout
    lines = out.splitlines()
    assert lines[0] == "/no/such/dir"
    assert lines[1].startswith("d")
    bad = run(d, "-w", "relative", "busybox", "pwd", check=False)
    assert bad.returncode == 125
    assert "the working directory 'relative' is invalid, it needs to be an absolute path" in bad.stderr


def test_user_numeric(d):
    assert run(d, "-u", "1000:1000", "busybox", "id").stdout == "uid=1000 gid=1000 groups=1000\n"
    st = status(d, "-u", "1234:5678")
    assert status_field(st, "Uid").split() == ["1234"] * 4
    assert status_field(st, "Gid").split() == ["5678"] * 4
    # A non-root user has no capabilities left.
    assert int(status_field(st, "CapEff"), 16) == 0


def test_user_by_name_from_the_image_passwd(d):
    out = run(d, "-u", "nobody", "busybox", "sh", "-c", "id; echo $HOME").stdout
    assert out == "uid=65534(nobody) gid=65534(nobody) groups=65534(nobody)\n/nonexistent\n"
    assert run(d, "-u", "root:nobody", "busybox", "id", "-g").stdout == "65534\n"
    bad = run(d, "-u", "nosuchuser", "busybox", "id", check=False)
    assert bad.returncode == 125, bad
    assert "unable to find user nosuchuser: no matching entries in passwd file" in bad.stderr


def test_entrypoint(d):
    assert run(d, "--entrypoint", "/bin/echo", "busybox", "hello", "world").stdout == "hello world\n"
    # The image's Cmd is dropped with a new entrypoint.
    assert run(d, "--entrypoint", "pwd", "-w", "/tmp", "busybox").stdout == "/tmp\n"
    cid = d.docker("create", "--entrypoint", "/bin/echo", "busybox", "x").stdout.strip()
    try:
        cfg = inspect(d, cid)
        assert cfg["Config"]["Entrypoint"] == ["/bin/echo"]
        assert cfg["Config"]["Cmd"] == ["x"]
        assert cfg["Path"] == "/bin/echo" and cfg["Args"] == ["x"]
    finally:
        d.docker("rm", cid)


def test_hostname(d):
    out = run(d, "--hostname", "box.example", "busybox", "sh", "-c",
              "hostname; uname -n; cat /etc/hostname; echo $HOSTNAME").stdout
    assert out.splitlines() == ["box.example"] * 4


def test_label(d, names):
    n = names()
    d.docker("create", "--name", n, "--label", "com.example.a=1", "--label", "b", "-l", "c=x=y", "busybox")
    labels = inspect(d, n)["Config"]["Labels"]
    assert labels == {"com.example.a": "1", "b": "", "c": "x=y"}
    assert d.docker("ps", "-a", "--filter", "label=com.example.a=1", "--format", "{{.Names}}").stdout == n + "\n"


def test_name(d, names):
    n = names()
    cid = d.docker("run", "-d", "--name", n, "busybox", "sleep", "1000").stdout.strip()
    assert inspect(d, n)["Id"] == cid
    assert inspect(d, n)["Name"] == "/" + n
    assert d.docker("ps", "--filter", f"name={n}", "--format", "{{.Names}}").stdout == n + "\n"
    dup = d.docker("run", "-d", "--name", n, "busybox", "true", check=False)
    assert dup.returncode == 125
    assert (f'Conflict. The container name "/{n}" is already in use by container "{cid}". '
            "You have to remove (or rename) that container to be able to reuse that name.") in dup.stderr
    bad = d.docker("run", "--name", "bad/name", "busybox", "true", check=False)
    assert bad.returncode == 125
    assert 'Invalid container name (bad/name), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed' in bad.stderr


def test_name_filter_matches_the_name_without_its_slash(d, names):
    # dockerd matches the name filter's regexp against the name with and without the leading
    # "/", so that the usual exact-match idiom `name=^NAME$` works.
    n = names()
    d.docker("create", "--name", n, "busybox")
    assert d.docker("ps", "-a", "--filter", f"name=^{n}$", "--format", "{{.Names}}").stdout == n + "\n"
    assert d.docker("ps", "-a", "--filter", f"name=^/{n}$", "--format", "{{.Names}}").stdout == n + "\n"


def test_rm_removes_the_container_after_it_exits(d, names):
    n = names()
    cp = d.docker("run", "--rm", "--name", n, "busybox", "sh", "-c", "echo hi; exit 3", check=False)
    assert cp.returncode == 3 and cp.stdout == "hi\n"
    assert n not in d.docker("ps", "-a", "--format", "{{.Names}}").stdout.split()
    gone = d.docker("inspect", n, check=False)
    assert gone.returncode == 1 and f"No such object: {n}" in gone.stderr
    n2 = names("-c")
    d.docker("create", "--rm", "--name", n2, "busybox", "true")
    assert inspect(d, n2)["HostConfig"]["AutoRemove"] is True


# --- filesystem ----------------------------------------------------------------------------

def test_read_only_rootfs(d):
    cp = run(d, "--read-only", "busybox", "touch", "/x", check=False)
    assert cp.returncode == 1
    assert "Read-only file system" in cp.stderr
    out = run(d, "--read-only", "busybox", "sh", "-c",
              "grep ' / ' /proc/mounts; touch /dev/shm/ok && echo shm-ok").stdout
    root, shm = out.splitlines()
    assert " ro," in root or " ro " in root
    assert shm == "shm-ok"
    # --tmpfs gives writable places in a read-only container.
    assert run(d, "--read-only", "--tmpfs", "/tmp", "busybox", "sh", "-c",
               "echo data > /tmp/f && cat /tmp/f").stdout == "data\n"


def test_tmpfs_with_size(d):
    out = run(d, "--tmpfs", "/x:size=1m", "busybox", "sh", "-c",
              "grep ' /x ' /proc/mounts; df -k /x | tail -1; echo hi > /x/f && cat /x/f").stdout
    mnt, df, data = out.splitlines()
    fields = mnt.split()
    assert fields[1:3] == ["/x", "tmpfs"], mnt
    opts = fields[3].split(",")
    assert "size=1024k" in opts and "nosuid" in opts and "nodev" in opts and "noexec" in opts
    assert df.split()[1] == "1024", df
    assert data == "hi"
    # Writing past the size fails with ENOSPC.
    full = run(d, "--tmpfs", "/x:size=1m", "busybox", "dd", "if=/dev/zero", "of=/x/big", "bs=1k",
               "count=2048", check=False)
    assert full.returncode == 1 and "No space left on device" in full.stderr


# --- privileges ----------------------------------------------------------------------------

def host_cap_bnd() -> int:
    return int(status_field(Path("/proc/self/status").read_text(), "CapBnd"), 16)


def test_default_capabilities(d):
    st = status(d)
    assert int(status_field(st, "CapEff"), 16) == DEFAULT_CAPS
    assert int(status_field(st, "CapBnd"), 16) == DEFAULT_CAPS
    assert status_field(st, "NoNewPrivs") == "0"
    assert status_field(st, "Seccomp") == "2"


def test_privileged(d):
    st = status(d, "--privileged")
    bnd = host_cap_bnd()
    assert int(status_field(st, "CapEff"), 16) == bnd
    assert int(status_field(st, "CapBnd"), 16) == bnd
    assert status_field(st, "Seccomp") == "0"
    # The host's devices are there, as with dockerd (e.g. its loop devices and /dev/kmsg).
    devs = set(run(d, "--privileged", "busybox", "ls", "/dev").stdout.split())
    host_devs = {p.name for p in Path("/dev").iterdir() if p.is_char_device() or p.is_block_device()}
    for dev in ("kmsg", "mem", "loop0"):
        if dev in host_devs:
            assert dev in devs, dev
    assert len(devs) > 20
    # /sys is writable and mount(2) is allowed.
    out = run(d, "--privileged", "busybox", "sh", "-c",
              "grep ' /sys ' /proc/mounts; mkdir /tmp/m && mount -t tmpfs t /tmp/m && echo mounted").stdout
    sys_line, mounted = out.splitlines()
    assert sys_line.split()[3].split(",")[0] == "rw", sys_line
    assert mounted == "mounted"
    cp = run(d, "busybox", "sh", "-c", "mkdir /tmp/m && mount -t tmpfs t /tmp/m", check=False)
    assert cp.returncode != 0 and "mount: permission denied" in cp.stderr  # EPERM, as busybox says it


def test_unprivileged_sees_only_the_default_devices(d):
    devs = set(run(d, "busybox", "ls", "/dev").stdout.split())
    assert {"null", "zero", "full", "random", "urandom", "tty", "ptmx", "pts", "shm", "mqueue"} <= devs
    assert "kmsg" not in devs and "mem" not in devs


def test_cap_add_and_cap_drop(d):
    st = status(d, "--cap-add", "NET_ADMIN", "--cap-drop", "CHOWN")
    eff = int(status_field(st, "CapEff"), 16)
    assert eff == (DEFAULT_CAPS | CAP_NET_ADMIN) & ~CAP_CHOWN
    # NET_ADMIN: the container may reconfigure its network; without it, it may not.
    ok = run(d, "--cap-add", "NET_ADMIN", "busybox", "ip", "link", "set", "lo", "mtu", "1400", check=False)
    assert ok.returncode == 0, ok.stderr
    denied = run(d, "busybox", "ip", "link", "set", "lo", "mtu", "1400", check=False)
    assert denied.returncode != 0 and "Operation not permitted" in denied.stderr
    # Without CHOWN, chown fails even for root.
    cp = run(d, "--cap-drop", "CHOWN", "busybox", "chown", "65534", "/tmp", check=False)
    assert cp.returncode == 1 and "Operation not permitted" in cp.stderr
    assert run(d, "busybox", "chown", "65534", "/tmp").returncode == 0
    # Case and the CAP_ prefix do not matter; unknown names are refused.
    st = status(d, "--cap-add", "cap_net_admin")
    assert int(status_field(st, "CapEff"), 16) == DEFAULT_CAPS | CAP_NET_ADMIN
    bad = run(d, "--cap-add", "NOPE", "busybox", "true", check=False)
    assert bad.returncode == 125 and 'invalid CapAdd: unknown capability: "CAP_NOPE"' in bad.stderr


@pytest.mark.parametrize("flags,message", [
    (["--cap-drop", "NOPE"], 'invalid CapDrop: unknown capability: "CAP_NOPE"'),
    (["--security-opt", "bogus=1"], 'invalid --security-opt 2: "bogus=1"'),
    (["-m", "1m"], "Minimum memory limit allowed is 6MB"),
    (["--cpus", "0.5", "--cpu-quota", "50000"],
     "Conflicting options: Nano CPUs and CPU Quota cannot both be set"),
    (["--stop-signal", "NOSUCH"], "Invalid signal: NOSUCH"),
], ids=["cap", "security-opt", "memory", "cpus", "stop-signal"])
def test_bad_flags_are_refused_at_create(d, names, flags, message):
    # dockerd refuses these in `docker create` (verifyContainerSettings), so no container is left.
    n = names()
    bad = d.docker("create", "--name", n, *flags, "busybox", check=False)
    assert bad.returncode == 1 and f"Error response from daemon: {message}" in bad.stderr, bad
    assert d.docker("ps", "-aq", "--filter", f"name={n}").stdout == ""
    # docker run says the same (with its own exit code).
    bad = run(d, *flags, "busybox", "true", check=False)
    assert bad.returncode == 125 and message in bad.stderr, bad


def test_cap_drop_all_and_cap_add_all(d):
    st = status(d, "--cap-drop", "ALL", "--cap-add", "KILL")
    assert int(status_field(st, "CapEff"), 16) == 1 << 5
    # ALL is what this host can give: its bounding set (CAP_SYS_RESOURCE is missing here).
    st = status(d, "--cap-add", "ALL", "--cap-drop", "CHOWN")
    assert int(status_field(st, "CapEff"), 16) == host_cap_bnd() & ~CAP_CHOWN
    assert status_field(st, "Seccomp") == "2"  # unlike --privileged, still filtered


def test_no_new_privileges(d):
    assert status_field(status(d, "--security-opt", "no-new-privileges"), "NoNewPrivs") == "1"
    assert status_field(status(d, "--security-opt", "no-new-privileges=true"), "NoNewPrivs") == "1"
    assert status_field(status(d), "NoNewPrivs") == "0"


def test_seccomp_unconfined_and_default(d):
    assert status_field(status(d, "--security-opt", "seccomp=unconfined"), "Seccomp") == "0"
    assert status_field(status(d), "Seccomp") == "2"
    # The default profile refuses what it should (e.g. a new user namespace needs SYS_ADMIN).
    cp = run(d, "busybox", "unshare", "-U", "true", check=False)
    assert cp.returncode != 0 and "Operation not permitted" in cp.stderr
    assert run(d, "--security-opt", "seccomp=unconfined", "busybox", "unshare", "-U", "true").returncode == 0


def test_seccomp_profile_file(d, tmp_path):
    profile = tmp_path / "no-mkdir.json"
    profile.write_text(json.dumps({
        "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO"}],
    }))
    cp = run(d, "--security-opt", f"seccomp={profile}", "busybox", "sh", "-c",
             "grep Seccomp: /proc/self/status; mkdir /tmp/d", check=False)
    assert cp.returncode == 1
    assert "Seccomp:\t2" in cp.stdout
    assert "Operation not permitted" in cp.stderr
    assert run(d, "--security-opt", f"seccomp={profile}", "busybox", "touch", "/tmp/f").returncode == 0
    bad = tmp_path / "bad.json"
    bad.write_text('{"defaultAction": "SCMP_ACT_NOPE"}')
    cp = run(d, "--security-opt", f"seccomp={bad}", "busybox", "true", check=False)
    assert cp.returncode == 125 and "SCMP_ACT_NOPE" in cp.stderr


# --- resources -----------------------------------------------------------------------------

def test_memory_limit(d, names):
    n = names()
    cid = d.docker("run", "-d", "--name", n, "--memory", "64m", "busybox", "sleep", "1000").stdout.strip()
    assert cgroup_file(d, cid, "memory", "memory.limit_in_bytes") == str(64 << 20)
    assert inspect(d, n)["HostConfig"]["Memory"] == 64 << 20
    # Swap defaults to as much again: memory+swap is twice the limit.
    assert cgroup_file(d, cid, "memory", "memory.memsw.limit_in_bytes") == str(128 << 20)
    usage = d.docker("stats", "--no-stream", "--format", "{{.MemUsage}}", n).stdout
    assert usage.strip().endswith("/ 64MiB"), usage


def test_memory_limit_kills_on_oom(d, names):
    n = names()
    # dd allocates and fills a 64 MiB buffer: past 16m of memory + 16m of swap.
    cp = d.docker("run", "--name", n, "-m", "16m", "busybox", "dd", "if=/dev/zero", "of=/dev/null",
                  "bs=64M", "count=1", check=False)
    assert cp.returncode == 137
    st = inspect(d, n)["State"]
    assert st["OOMKilled"] is True and st["ExitCode"] == 137


def test_cpus(d, names):
    n = names()
    cid = d.docker("run", "-d", "--name", n, "--cpus", "0.5", "busybox", "sleep", "1000").stdout.strip()
    assert cgroup_file(d, cid, "cpu", "cpu.cfs_quota_us") == "50000"
    assert cgroup_file(d, cid, "cpu", "cpu.cfs_period_us") == "100000"
    assert inspect(d, n)["HostConfig"]["NanoCpus"] == 500_000_000


def test_pids_limit(d, names):
    n = names()
    cid = d.docker("run", "-d", "--name", n, "--pids-limit", "10", "busybox", "sleep", "1000").stdout.strip()
    assert cgroup_file(d, cid, "pids", "pids.max") == "10"
    assert inspect(d, n)["HostConfig"]["PidsLimit"] == 10
    # 20 background sleeps: fork fails once the cgroup holds 10 processes (the shell gives up).
    cp = d.docker("exec", n, "sh", "-c", "for i in $(seq 20); do sleep 1000 & done; wait", check=False)
    assert cp.returncode != 0
    assert "can't fork: Resource temporarily unavailable" in cp.stderr, cp
    # What is left: the container's sleep and the background sleeps that did start.
    host = Path(f"/sys/fs/cgroup/pids/berth/{cid}")
    procs = host.joinpath("cgroup.procs").read_text().split()
    assert 2 <= len(procs) <= 9, procs
    assert int(host.joinpath("pids.current").read_text()) == len(procs)


def test_ulimit(d):
    out = run(d, "--ulimit", "nofile=100:200", "busybox", "sh", "-c",
              "ulimit -n; ulimit -Hn; grep 'Max open files' /proc/self/limits").stdout.splitlines()
    assert out[0] == "100" and out[1] == "200"
    assert out[2].split()[3:6] == ["100", "200", "files"]
    # One value sets both; raising past the hard limit inside fails.
    out = run(d, "--ulimit", "nproc=50", "busybox", "grep", "Max processes", "/proc/self/limits").stdout
    assert out.split()[2:4] == ["50", "50"]
    cp = run(d, "--ulimit", "nofile=100:200", "busybox", "sh", "-c", "ulimit -n 300", check=False)
    assert cp.returncode != 0
    bad = run(d, "--ulimit", "nofile=300:200", "busybox", "true", check=False)
    assert bad.returncode == 125 and "soft limit must be less than or equal to hard limit" in bad.stderr


# --- stopping ------------------------------------------------------------------------------

def test_stop_signal(d, names):
    n = names()
    d.docker("run", "-d", "--name", n, "--stop-signal", "USR1", "busybox", "sh", "-c",
             "trap 'exit 42' USR1; trap 'exit 15' TERM; echo ready; while :; do sleep 0.1; done")
    wait_for_log(d, n, "ready")
    assert inspect(d, n)["Config"]["StopSignal"] == "USR1"
    d.docker("stop", n)
    st = inspect(d, n)["State"]
    assert st["Running"] is False and st["ExitCode"] == 42
    # The signal can be given by number too.
    n2 = names("-num")
    d.docker("run", "-d", "--name", n2, "--stop-signal", "10", "busybox", "sh", "-c",
             "trap 'exit 43' USR1; echo ready; while :; do sleep 0.1; done")
    wait_for_log(d, n2, "ready")
    d.docker("stop", n2)
    assert inspect(d, n2)["State"]["ExitCode"] == 43


def test_stop_timeout(d, names):
    n = names()
    d.docker("run", "-d", "--name", n, "--stop-timeout", "1", "busybox", "sh", "-c",
             "trap '' TERM; echo ready; while :; do sleep 0.1; done")
    wait_for_log(d, n, "ready")
    assert inspect(d, n)["Config"]["StopTimeout"] == 1
    t0 = time.monotonic()
    d.docker("stop", n)
    # The container ignores SIGTERM: SIGKILL comes after its own 1 s, not the default 10 s.
    assert time.monotonic() - t0 < 8
    assert inspect(d, n)["State"]["ExitCode"] == 137


def wait_for_log(d, name, text, timeout=10):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if text in d.docker("logs", name).stdout:
            return
        time.sleep(0.05)
    raise AssertionError(f"{name} never logged {text!r}")


# --- logging -------------------------------------------------------------------------------

def test_log_driver_json_file_rotation(d, names):
    n = names()
    # 200 lines of 50 bytes: 10 KB of output, ~25 KB of json-file entries.
    script = "i=0; while [ $i -lt 200 ]; do printf 'line %04d %040d\\n' $i 0; i=$((i+1)); done"
    d.docker("run", "--name", n, "--log-driver", "json-file", "--log-opt", "max-size=1k",
             "--log-opt", "max-file=2", "busybox", "sh", "-c", script)
    info = inspect(d, n)
    assert info["HostConfig"]["LogConfig"] == {"Type": "json-file",
                                               "Config": {"max-size": "1k", "max-file": "2"}}
    log_path = Path(info["LogPath"])
    files = sorted(p.name for p in log_path.parent.iterdir() if p.name.startswith(log_path.name))
    assert 1 <= len(files) <= 2, files
    assert all(p.stat().st_size < 4096 for p in log_path.parent.iterdir() if p.name in files)
    logs = d.docker("logs", n).stdout.splitlines()
    assert logs, "docker logs read nothing"
    assert logs[-1] == "line 0199 " + "0" * 40
    # What is left is the end of the output, in order, without gaps.
    first = int(logs[0].split()[1])
    assert [int(l.split()[1]) for l in logs] == list(range(first, 200))
    assert first > 0


def test_log_driver_local(d, names):
    n = names()
    d.docker("run", "--name", n, "--log-driver", "local", "busybox", "sh", "-c", "echo out; echo err >&2")
    info = inspect(d, n)
    assert info["HostConfig"]["LogConfig"] == {"Type": "local", "Config": {}}
    cp = d.docker("logs", n)
    assert cp.stdout == "out\n" and cp.stderr == "err\n"
    bad = d.docker("run", "--rm", "--log-driver", "local", "--log-opt", "labels-regex=x",
                   "--log-opt", "bogus=1", "busybox", "true", check=False)
    assert bad.returncode == 125 and "unknown log opt 'bogus' for log driver local" in bad.stderr


def test_log_driver_none(d, names):
    n = names()
    cp = d.docker("run", "--name", n, "--log-driver", "none", "busybox", "echo", "hello")
    assert cp.stdout == "hello\n"  # attached output does not go through the log driver
    logs = d.docker("logs", n, check=False)
    assert logs.returncode == 1
    assert "Error response from daemon: configured logging driver does not support reading" in logs.stderr


def test_log_path_is_shown_for_json_file_only(d, names):
    # dockerd: LogPath is the json-file's path, set when the container first starts; the local
    # driver's files are not part of the API and the none driver has none.
    n = names("created")
    d.docker("create", "--name", n, "busybox", "true")
    assert inspect(d, n)["LogPath"] == ""
    for driver in ("local", "none"):
        n = names(driver)
        d.docker("run", "--name", n, "--log-driver", driver, "busybox", "true")
        assert inspect(d, n)["LogPath"] == "", driver
    n = names("json")
    d.docker("run", "--name", n, "--log-driver", "json-file", "busybox", "true")
    cid = inspect(d, n)["Id"]
    assert inspect(d, n)["LogPath"].endswith(f"/containers/{cid}/{cid}-json.log")


def bad_log_opts(d, *driver):
    # Refused when the container starts at the latest (dockerd: "failed to initialize logging
    # driver: invalid size: 'bogus'").
    cp = run(d, *driver, "--log-opt", "max-size=bogus", "busybox", "true", check=False)
    assert cp.returncode == 125 and "invalid size: 'bogus'" in cp.stderr, cp
    cp = run(d, *driver, "--log-opt", "max-file=0", "--log-opt", "max-size=1k", "busybox", "true",
             check=False)
    assert cp.returncode == 125 and "max-file cannot be less than 1" in cp.stderr, cp


def test_unknown_log_driver_and_bad_opts(d):
    cp = run(d, "--log-driver", "nosuch", "busybox", "true", check=False)
    assert cp.returncode == 125
    assert "no log driver named 'nosuch' is registered" in cp.stderr
    bad_log_opts(d, "--log-driver", "json-file")


def test_log_opts_apply_to_the_default_driver(d, names):
    # No --log-driver: the CLI sends LogConfig {"Type": "", "Config": {...}}; dockerd fills in
    # its default driver and keeps the options (mergeAndVerifyLogConfig).
    bad_log_opts(d)
    n = names()
    d.docker("create", "--name", n, "--log-opt", "max-size=1k", "busybox")
    assert inspect(d, n)["HostConfig"]["LogConfig"] == {"Type": "json-file", "Config": {"max-size": "1k"}}
