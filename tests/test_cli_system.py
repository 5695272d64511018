"""The real docker CLI and docker-py against berthd: version and info."""
import json
import platform
import subprocess

from lib.berthd import berthd_binary


def berthd_version() -> str:
    out = subprocess.run([str(berthd_binary()), "--version"], capture_output=True, text=True, check=True)
    return out.stdout.split()[-1]


def test_docker_version_shows_berthd(berthd):
    out = berthd.docker("version").stdout
    server = out.split("Server:", 1)[1]
    assert "Berth Engine" in server
    assert "API version:      1.50 (minimum version 1.24)" in server
    assert berthd_version() in server
    fmt = berthd.docker("version", "--format", "{{.Server.APIVersion}} {{.Server.Version}} {{.Server.Os}}").stdout.split()
    assert fmt == ["1.50", berthd_version(), "linux"]


def test_docker_version_uses_its_own_api_version(berthd):
    # The CLI negotiates down to min(client, server): 1.50 for CLI 28.
    out = berthd.docker("version", "--format", "{{.Client.APIVersion}}").stdout.strip()
    assert out == "1.50"


def test_docker_info_shows_berthd_values(berthd, registry):
    info = json.loads(berthd.docker("info", "--format", "{{json .}}").stdout)
    assert info["ServerVersion"] == berthd_version()
    assert info["DockerRootDir"] == str(berthd.data_root)
    assert info["KernelVersion"] == platform.release()
    assert info["Driver"] == "overlay2"
    text = berthd.docker("info").stdout
    for line in ["Server Version: " + berthd_version(), "Storage Driver: overlay2",
                 "Cgroup Driver: cgroupfs", f"Docker Root Dir: {berthd.data_root}",
                 "Registry Mirrors:", registry.url.rstrip("/") + "/", "Live Restore Enabled: false",
                 "Kernel Version: " + platform.release()]:
        assert line in text, f"{line!r} not in docker info output:\n{text}"


def test_docker_info_warns_nothing_it_cannot_back(berthd):
    cp = berthd.docker("info")
    assert "ERROR" not in cp.stdout + cp.stderr


def test_docker_py_ping_version_info(berthd):
    c = berthd.client(version="auto")
    try:
        assert c.ping() is True
        assert c.version()["ApiVersion"] == "1.50"
        assert c.api.api_version == "1.50"
        assert c.info()["DockerRootDir"] == str(berthd.data_root)
    finally:
        c.close()


def test_docker_py_with_an_old_pinned_version(berthd):
    c = berthd.client(version="1.24")
    try:
        assert c.version()["MinAPIVersion"] == "1.24"
    finally:
        c.close()
