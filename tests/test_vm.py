"""The Berth VM end to end: `berth start` boots the guest (QEMU; TCG where there is no hardware
virtualisation), and the real docker CLI on the host drives berthd in it through the forwarded
socket: pulls from the test registry on the host, runs, stdin with half-close, a published port
reached on the host's 127.0.0.1, a bind mount of a shared host folder, and a restart that keeps
the pulled image. One VM for the module: boots are slow under emulation (two in all)."""
from __future__ import annotations

import hashlib
import io
import json
import socket
import subprocess
import tarfile
import threading
import time
import urllib.request

import pytest

from lib.ports import free_port
from lib import procs
from lib.vm import BERTH, BerthVM, require_vm


@pytest.fixture(scope="module")
def vm(registry):
    require_vm()
    # The guest reaches the host's 127.0.0.1 as 10.0.2.2 (QEMU user networking).
    mirror = f"10.0.2.2:{registry.port}"
    v = BerthVM(daemon_json={"registry-mirrors": [f"http://{mirror}"], "insecure-registries": [mirror]})
    try:
        v.start()
        yield v
    except BaseException:
        print("--- supervisor log ---\n" + v.host_log()[-4000:])
        print("--- guest console ---\n" + v.console()[-6000:])
        raise
    finally:
        v.cleanup()


def test_docker_version_shows_berthd_through_the_forwarded_socket(vm):
    out = vm.docker("version").stdout
    assert "Berth Engine" in out.split("Server:", 1)[1], out
    status = vm.berth("status").stdout
    assert "VM: running" in status and "Engine: Berth" in status, status
    # Docker connections take the direct path to berthd's vsock port, not the agent's relay.
    log = vm.host_log()
    assert "docker connections go to berthd's vsock port" in log, log[-2000:]
    assert "relaying through the agent" not in log, log[-2000:]


def test_shell_runs_in_the_guest_and_logs_show_its_console(vm):
    # `berth shell CMD` runs in the VM itself (its kernel, not a container's view of the host).
    assert "cloud-amd64" in vm.berth("shell", "uname", "-r").stdout
    # The guest keeps a clock that needs no emulated device access: the TSC under emulation
    # (berth passes tsc=reliable), kvm-clock under KVM; never the HPET.
    clock = vm.berth("shell", "cat", "/sys/devices/system/clocksource/clocksource0/current_clocksource")
    assert clock.stdout.strip() in ("tsc", "kvm-clock"), clock.stdout
    # An emulated CPU hides the fast-string flag: with it, every copy in the guest runs a byte
    # per emulated step.
    cpuinfo = vm.berth("shell", "cat", "/proc/cpuinfo").stdout
    if "QEMU TCG CPU" in cpuinfo:
        flags = next(line for line in cpuinfo.splitlines() if line.startswith("flags")).split()
        assert "erms" not in flags and "avx2" in flags, flags
    # berthd runs one async worker per two vCPUs (the fixture's VM has two).
    env = vm.berth("shell", "sh", "-c", "tr '\\0' '\\n' < /proc/$(pidof berthd)/environ").stdout.split()
    assert "TOKIO_WORKER_THREADS=1" in env, env
    logs = vm.berth("logs").stdout
    assert "berth_vm_init" in logs and "berthd" in logs


def test_shell_passes_input_exit_code_and_terminal_size(vm, tmp_path):
    assert vm.berth("shell", "sh", "-c", "exit 3", check=False).returncode == 3
    cp = subprocess.run([str(BERTH), "shell", "cat"], input="to the guest\n", capture_output=True, text=True,
                        env=vm.env(), timeout=120)
    assert (cp.stdout, cp.returncode) == ("to the guest\n", 0), cp.stderr
    # In a terminal: the guest's pty starts at the host terminal's size and follows its resizes
    # (a resize sends SIGWINCH to the foreground `berth shell`, which passes the new size on).
    guest = ('stty size; i=0; until [ "$(stty size)" = "40 90" ] || [ $i -ge 300 ]; '
             'do sleep 0.1; i=$((i+1)); done; stty size')
    run = tmp_path / "run.sh"
    run.write_text(f"""stty rows 33 cols 101
(trap '' TTOU; sleep 2; stty rows 40 cols 90 </dev/tty) &
{BERTH} shell sh -c '{guest}'
""")
    # script's stdin stays open until the run ends: at its EOF script types a byte into the
    # terminal, whose echo would land in the middle of the output.
    p = subprocess.Popen(["script", "-qec", f"sh {run}", "/dev/null"], stdin=subprocess.PIPE,
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=vm.env())
    guard = threading.Timer(120, p.kill)
    guard.start()
    try:
        out = p.stdout.read()
        p.wait()
    finally:
        guard.cancel()
        p.stdin.close()
    lines = out.replace("\r", "").split()
    assert "33 101" in " ".join(lines[:2]) and " ".join(lines[-2:]) == "40 90", out


def test_pull_from_the_host_registry_and_run(vm):
    vm.docker("pull", "busybox")
    assert vm.docker("images", "--format", "{{.Repository}}:{{.Tag}}").stdout.split() == ["busybox:latest"]
    assert vm.docker("run", "--rm", "busybox", "echo", "hi").stdout == "hi\n"


def test_stdin_reaches_the_container_and_its_end_ends_it(vm):
    # `cat` exits only if the end of stdin (a half-close) crosses host socket, vsock and guest.
    cp = vm.docker("run", "-i", "--rm", "busybox", "cat", input="hi\n", timeout=120)
    assert cp.stdout == "hi\n"


def test_a_published_udp_port_answers_on_the_host(vm):
    # Datagrams cross the host's UDP socket, the yamux stream (framed) and the guest's proxy.
    from lib.ports import udp_exchange
    vm.docker("run", "-d", "--name", "udp", "-p", "127.0.0.1::5353/udp", "udpecho")
    port = int(vm.docker("port", "udp", "5353/udp").stdout.strip().rsplit(":", 1)[1])
    assert udp_exchange(port, b"ping", tries=120) == b"echo: ping"
    vm.docker("rm", "-f", "udp")


def test_bulk_output_from_the_guest_arrives_whole(vm):
    # docker cp of 64 MiB out of a container: guest-to-host flow control over vsock must not
    # stall or drop (vhost-device-vsock 0.3 with a 1 MiB buffer stalled after a megabyte).
    size = 64 << 20
    out = vm.docker("run", "--name", "bulk", "busybox", "sh", "-c",
                    f"dd if=/dev/urandom of=/blob bs=1048576 count={size >> 20} 2>/dev/null && sha256sum /blob").stdout
    try:
        cp = subprocess.run(["docker", "-H", f"unix://{vm.socket}", "cp", "bulk:/blob", "-"],
                            capture_output=True, env=vm.env(), timeout=180)
        assert cp.returncode == 0, cp.stderr
        with tarfile.open(fileobj=io.BytesIO(cp.stdout)) as tar:
            blob = tar.extractfile("blob").read()
        assert len(blob) == size
        assert hashlib.sha256(blob).hexdigest() == out.split()[0]
    finally:
        vm.docker("rm", "bulk")


def test_a_containers_last_output_arrives_whole_when_it_exits(vm):
    # The relays end each direction on its own: the end (or an error) of one must not drop
    # what the other still carries. One run in five used to lose the tail here.
    for _ in range(4):
        cp = subprocess.run(["docker", "-H", f"unix://{vm.socket}", "run", "--rm", "busybox", "sh", "-c",
                             "dd if=/dev/zero bs=1M count=16 2>/dev/null"],
                            capture_output=True, env=vm.env(), timeout=180)
        assert cp.returncode == 0, cp.stderr
        assert len(cp.stdout) == 16 << 20


def _get(url: str) -> str | None:
    try:
        with urllib.request.urlopen(url, timeout=5) as r:
            return r.read().decode()
    except OSError:
        return None


def test_a_published_port_answers_on_the_hosts_loopback_and_closes_with_the_container(vm):
    port = free_port()
    vm.docker("run", "-d", "--name", "web", "-p", f"{port}:80", "busybox", "sh", "-c",
              "mkdir -p /www && echo hello from the guest > /www/index.html && exec httpd -f -p 80 -h /www")
    url = f"http://127.0.0.1:{port}/"
    deadline = time.monotonic() + 60
    body = _get(url)
    while body is None and time.monotonic() < deadline:
        time.sleep(0.5)
        body = _get(url)
    assert body == "hello from the guest\n", vm.host_log()[-2000:]
    # Each connection took a vsock connection of its own to the agent, not the shared session.
    log = vm.host_log()
    assert "published ports go to the agent's stream port" in log, log[-2000:]
    assert "guest vsock port 1026" not in log, log[-2000:]

    vm.docker("rm", "-f", "web")
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=2).close()
        except OSError:
            break
        time.sleep(0.5)
    else:
        pytest.fail(f"127.0.0.1:{port} still listens after the container went\n{vm.host_log()[-2000:]}")


def test_a_bind_mount_of_a_shared_host_folder_reads_and_writes(vm):
    data = vm.share / "project"
    data.mkdir()
    (data / "in.txt").write_text("from the host\n")
    out = vm.docker("run", "--rm", "-v", f"{data}:/src", "busybox", "sh", "-c",
                    "cat /src/in.txt && echo from the container > /src/out.txt").stdout
    assert out == "from the host\n"
    assert (data / "out.txt").read_text() == "from the container\n"


def test_a_changed_daemon_json_reaches_the_running_guest(vm):
    # The desktop app edits ~/.berth/daemon.json: the supervisor sends it in, berthd reloads.
    path = vm.home / "daemon.json"
    config = json.loads(path.read_text())
    config["labels"] = ["berth-test=reloaded"]
    path.write_text(json.dumps(config))
    deadline = time.monotonic() + 60
    labels = ""
    while time.monotonic() < deadline:
        labels = vm.docker("info", "--format", "{{json .Labels}}").stdout
        if "berth-test=reloaded" in labels:
            break
        time.sleep(1)
    else:
        pytest.fail(f"labels after the change: {labels}\n{vm.host_log()[-2000:]}")


def test_stop_then_start_keeps_the_pulled_image(vm):
    vm.stop()
    assert vm.supervisor_pid() is None
    assert not vm.socket.exists()
    # A clean shutdown: the guest powered off by itself, QEMU was not killed.
    assert "did not power off in time" not in vm.host_log()
    vm.start()
    images = vm.docker("images", "--format", "{{.Repository}}:{{.Tag}}").stdout.split()
    assert "busybox:latest" in images
    assert vm.docker("run", "--rm", "busybox", "echo", "again").stdout == "again\n"


# Failures explained. These boot nothing (or for a second): they run after the module's VM.

@pytest.fixture
def unstarted_vm():
    require_vm()
    v = BerthVM()
    try:
        yield v
    finally:
        v.cleanup()


def _nothing_left(v: BerthVM) -> None:
    assert v.supervisor_pid() is None
    assert procs.processes_mentioning(str(v.home)) == []


def test_a_busy_socket_path_is_explained(unstarted_vm):
    v = unstarted_vm
    v.socket.parent.mkdir(parents=True)
    other = socket.socket(socket.AF_UNIX)
    other.bind(str(v.socket))
    other.listen()
    try:
        cp = v.berth("start", check=False)
        assert cp.returncode != 0
        assert "busy" in cp.stderr and str(v.socket) in cp.stderr, cp.stderr
        _nothing_left(v)
        assert v.socket.exists()  # the other server's socket is left alone
    finally:
        other.close()


def test_missing_qemu_is_explained_with_how_to_install_it(unstarted_vm):
    v = unstarted_vm
    env = v.env()
    env["PATH"] = str(v.home)  # nothing there: no qemu-system-x86_64 on PATH
    cp = subprocess.run([str(BERTH), "start"], capture_output=True, text=True, env=env, timeout=60)
    assert cp.returncode != 0
    assert "qemu-system-x86_64 not found" in cp.stderr and "apt-get install" in cp.stderr, cp.stderr
    _nothing_left(v)


def test_a_guest_that_does_not_come_up_in_time_shows_its_console(unstarted_vm):
    v = unstarted_vm
    cp = v.berth("start", "--timeout", "1", check=False, timeout=120)
    assert cp.returncode != 0
    assert "did not come up within 1 s" in cp.stderr, cp.stderr
    assert "console" in cp.stderr
    _nothing_left(v)
    assert not v.socket.exists()


def test_a_full_host_disk_is_explained(unstarted_vm):
    # The data disk grows into the host filesystem as the guest writes: a (nearly) full one is
    # refused up front, with what to do. A tiny tmpfs stands for the full disk.
    v = unstarted_vm
    vm_dir = v.home / "vm"
    vm_dir.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "berth-test-full", str(vm_dir)], check=True)
    try:
        cp = v.berth("start", check=False)
        assert cp.returncode != 0
        assert "is full" in cp.stderr and "Free some space" in cp.stderr, cp.stderr
        _nothing_left(v)
    finally:
        subprocess.run(["umount", str(vm_dir)], check=True)
