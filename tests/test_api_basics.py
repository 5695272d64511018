"""Raw HTTP against berthd: ping, version negotiation, routing errors."""
import json
import os
import platform

import pytest

MAX_API = "1.50"


def body_json(body: bytes):
    return json.loads(body.decode())


def test_ping_answers_ok_with_the_headers_the_cli_reads(berthd):
    status, h, body = berthd.api("GET", "/_ping")
    assert status == 200 and body == b"OK"
    assert h["API-Version"] == MAX_API
    assert h["OSType"] == "linux"
    assert h["Docker-Experimental"] == "false"
    assert h["Builder-Version"] == "1"
    assert h["Cache-Control"] == "no-cache, no-store, must-revalidate"
    assert h["Pragma"] == "no-cache"


def test_head_ping_has_headers_and_no_body(berthd):
    status, h, body = berthd.api("HEAD", "/_ping")
    assert status == 200 and body == b""
    assert h["Content-Length"] == "0"
    assert h["API-Version"] == MAX_API


@pytest.mark.parametrize("version", ["1.24", "1.41", "1.50"])
def test_versioned_paths_in_range_are_served(berthd, version):
    status, _, body = berthd.api("GET", f"/v{version}/version")
    assert status == 200
    assert body_json(body)["ApiVersion"] == MAX_API


def test_too_old_version_gets_dockerds_message(berthd):
    status, h, body = berthd.api("GET", "/v1.12/version")
    assert status == 400
    assert h["Content-Type"] == "application/json"
    assert body_json(body) == {"message": "client version 1.12 is too old. Minimum supported API "
                                          "version is 1.24, please upgrade your client to a newer version"}


def test_too_new_version_gets_dockerds_message(berthd):
    status, _, body = berthd.api("GET", "/v1.99/_ping")
    assert status == 400
    assert body_json(body) == {"message": "client version 1.99 is too new. Maximum supported API version is 1.50"}


@pytest.mark.parametrize("method,path", [
    ("GET", "/nope"), ("GET", "/v1.50/nope"), ("GET", "/vfoo/_ping"), ("DELETE", "/version"),
    ("POST", "/v1.50/info"), ("GET", "/v1.50/containers/x/y/z/w"),
])
def test_unknown_routes_and_methods_are_page_not_found(berthd, method, path):
    status, h, body = berthd.api(method, path)
    assert status == 404
    assert h["Content-Type"] == "application/json"
    assert body_json(body) == {"message": "page not found"}


def test_every_response_carries_the_api_headers(berthd):
    for path in ["/_ping", "/version", "/nope", "/v1.12/info"]:
        _, h, _ = berthd.api("GET", path)
        assert h["Api-Version"] == MAX_API, path
        assert h["Ostype"] == "linux", path
        assert h["Server"].startswith("Berth/"), path


def test_version_reports_this_machine(berthd):
    status, _, body = berthd.api("GET", "/version")
    v = body_json(status == 200 and body)
    assert v["ApiVersion"] == MAX_API and v["MinAPIVersion"] == "1.24"
    assert v["Os"] == "linux"
    assert v["Arch"] == {"x86_64": "amd64", "aarch64": "arm64"}.get(platform.machine(), platform.machine())
    assert v["KernelVersion"] == platform.release()
    assert v["Platform"]["Name"].startswith("Berth Engine")
    engine = v["Components"][0]
    assert engine["Name"] == "Engine" and engine["Version"] == v["Version"]
    assert engine["Details"]["ApiVersion"] == MAX_API


def _meminfo_total() -> int:
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) * 1024
    raise AssertionError("no MemTotal")


def _os_pretty_name() -> str:
    with open("/etc/os-release") as f:
        for line in f:
            if line.startswith("PRETTY_NAME="):
                return line.split("=", 1)[1].strip().strip('"')
    raise AssertionError("no PRETTY_NAME")


def _cgroup_version() -> str:
    return "2" if os.statvfs("/sys/fs/cgroup") and _fs_type("/sys/fs/cgroup") == "cgroup2fs" else "1"


def _fs_type(path: str) -> str:
    import subprocess
    return subprocess.run(["stat", "-f", "-c", "%T", path], capture_output=True, text=True).stdout.strip()


def test_info_reports_real_values(berthd, registry):
    status, _, body = berthd.api("GET", "/v1.50/info")
    assert status == 200
    i = body_json(body)
    assert i["NCPU"] == len(os.sched_getaffinity(0))
    assert i["MemTotal"] == _meminfo_total()
    assert i["KernelVersion"] == platform.release()
    assert i["OperatingSystem"] == _os_pretty_name()
    assert i["OSType"] == "linux" and i["Architecture"] == platform.machine()
    assert i["Name"] == platform.node()
    assert i["DockerRootDir"] == str(berthd.data_root)
    assert i["Driver"] == "overlay2"
    assert i["CgroupDriver"] == "cgroupfs"
    assert i["CgroupVersion"] == _cgroup_version()
    assert i["Containers"] == 0 and i["Images"] == 0
    assert i["LiveRestoreEnabled"] is False and i["Debug"] is False
    assert i["Swarm"]["LocalNodeState"] == "inactive"
    assert i["DefaultRuntime"] in i["Runtimes"]
    assert any(o.startswith("name=seccomp") for o in i["SecurityOptions"])
    assert i["RegistryConfig"]["Mirrors"] == [registry.url.rstrip("/") + "/"]
    assert i["RegistryConfig"]["IndexConfigs"][registry.host]["Secure"] is False
    assert len(i["ID"]) == 36
    assert i["NFd"] > 0 and i["NGoroutines"] > 0
