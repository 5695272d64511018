"""--volumes-from, and `docker system prune -a --volumes`, with the real docker CLI against berthd."""
import json
import re
import urllib.parse
from pathlib import Path

import pytest


def inspect(d, name):
    return json.loads(d.docker("inspect", name).stdout)[0]


def volume_names(d):
    return sorted(d.docker("volume", "ls", "-q").stdout.split())


@pytest.fixture(scope="module")
def d(berthd):
    berthd.docker("pull", "busybox")
    return berthd


def test_volumes_from_shares_volumes_and_binds(d, tmp_path):
    host = tmp_path / "host"
    host.mkdir()
    (host / "h").write_text("from the host\n")
    d.docker("create", "--name", "vf-src", "-v", "vf-named:/named", "-v", "/anon", "-v", f"{host}:/hostdir",
             "busybox", "sh", "-c", "echo named > /named/a; echo anon > /anon/a")
    d.docker("start", "-a", "vf-src")
    anon = next(m["Name"] for m in inspect(d, "vf-src")["Mounts"] if m["Destination"] == "/anon")
    try:
        # Both volumes and the host directory, readable and writable, at the same places.
        out = d.docker("run", "--rm", "--volumes-from", "vf-src", "busybox", "sh", "-c",
                       "cat /named/a /anon/a /hostdir/h; echo more > /anon/b; echo more > /named/b; "
                       "echo more > /hostdir/b").stdout
        assert out == "named\nanon\nfrom the host\n"
        assert (host / "b").read_text() == "more\n"
        for vol in (anon, "vf-named"):
            mountpoint = json.loads(d.docker("volume", "inspect", vol).stdout)[0]["Mountpoint"]
            assert Path(mountpoint, "b").read_text() == "more\n"

        # :ro makes every one of them read-only; the data is still there to read.
        cid = d.docker("create", "--volumes-from", "vf-src:ro", "busybox", "sh", "-c",
                       "cat /named/b; for p in /named /anon /hostdir; do touch $p/c || echo refused $p; done"
                       ).stdout.strip()
        out = d.docker("start", "-a", cid)
        assert out.stdout == "more\nrefused /named\nrefused /anon\nrefused /hostdir\n"
        assert out.stderr.count("Read-only file system") == 3
        mounts = {m["Destination"]: m for m in inspect(d, cid)["Mounts"]}
        assert mounts["/named"]["Name"] == "vf-named" and mounts["/anon"]["Name"] == anon
        assert not mounts["/named"]["RW"] and not mounts["/anon"]["RW"]
        # docker cp sees them where the container does.
        d.docker("cp", f"{cid}:/hostdir/h", str(tmp_path / "h"))
        d.docker("cp", f"{cid}:/anon/a", str(tmp_path / "a"))
        assert (tmp_path / "h").read_text() == "from the host\n" and (tmp_path / "a").read_text() == "anon\n"
        d.docker("rm", cid)

        # The container's own mounts win at the same destination; an anonymous VOLUME path
        # that volumes-from covers gets no volume of its own.
        before = volume_names(d)
        out = d.docker("run", "--rm", "--volumes-from", "vf-src", "-v", "vf-other:/named", "-v", "/anon",
                       "busybox", "sh", "-c", "ls /named; cat /anon/a").stdout
        assert out == "anon\n"
        assert volume_names(d) == sorted(before + ["vf-other"])

        # rm -v of the borrower leaves the anonymous volume to its owner ...
        d.docker("create", "--name", "vf-user", "--volumes-from", "vf-src", "busybox", "true")
        d.docker("rm", "-v", "vf-user")
        assert anon in volume_names(d)
        cp = d.docker("volume", "rm", anon, check=False)
        assert cp.returncode == 1 and "volume is in use" in cp.stderr
        # ... and the owner's rm -v takes it; the named one is the user's and stays.
        d.docker("rm", "-v", "vf-src")
        assert anon not in volume_names(d) and "vf-named" in volume_names(d)
    finally:
        d.docker("rm", "-f", "vf-src", "vf-user", check=False)
        d.docker("volume", "rm", "-f", "vf-named", "vf-other", anon, check=False)


def test_the_last_borrower_removes_an_anonymous_volume(d):
    d.docker("create", "--name", "vf-owner", "-v", "/data", "busybox", "true")
    anon = inspect(d, "vf-owner")["Mounts"][0]["Name"]
    d.docker("create", "--name", "vf-second", "--volumes-from", "vf-owner", "busybox", "true")
    # Volumes-from follows what the other container itself took.
    d.docker("create", "--name", "vf-third", "--volumes-from", "vf-second", "busybox", "true")
    assert [m["Name"] for m in inspect(d, "vf-third")["Mounts"]] == [anon]
    d.docker("rm", "-v", "vf-owner", "vf-second")
    assert anon in volume_names(d)
    d.docker("rm", "-v", "vf-third")
    assert anon not in volume_names(d)


def test_volumes_from_errors(d):
    status, _, body = d.api("POST", "/v1.50/containers/create",
                            {"Image": "busybox", "HostConfig": {"VolumesFrom": ["vf-nosuch"]}})
    assert (status, json.loads(body)["message"]) == (404, "No such container: vf-nosuch")
    # A 404, as from dockerd 28: the CLI takes it for a missing image, pulls, tries again.
    cp = d.docker("create", "--volumes-from", "vf-nosuch", "busybox", check=False)
    assert cp.returncode != 0 and "No such container: vf-nosuch" in cp.stderr
    d.docker("create", "--name", "vf-mode", "busybox", "true")
    try:
        cp = d.docker("create", "--volumes-from", "vf-mode:rshared", "busybox", check=False)
        assert cp.returncode != 0 and "invalid mode: rshared" in cp.stderr
    finally:
        d.docker("rm", "vf-mode")


def lines_after(out, heading):
    """The IDs or names the prune output lists under a heading."""
    section = out.split(heading, 1)[1] if heading in out else ""
    return [line for line in section.split("\n\n", 1)[0].splitlines() if line.strip()]


def human_bytes(text):
    """The CLI's units.HumanSize back to bytes (decimal units: kB, MB, GB)."""
    number, unit = re.fullmatch(r"([\d.]+)([kMGT]?B)", text).groups()
    return float(number) * {"B": 1, "kB": 1e3, "MB": 1e6, "GB": 1e9, "TB": 1e12}[unit]


def test_system_prune_all_with_volumes(make_berthd):
    d = make_berthd()
    d.docker("pull", "busybox")
    d.docker("pull", "httpd")  # tagged, no container: goes with -a

    # What survives: a running container with its image, volumes and network.
    d.docker("network", "create", "keepnet")
    d.docker("run", "-d", "--name", "keep", "--network", "keepnet", "-v", "keepvol:/data", "-v", "/keepanon",
             "busybox", "sleep", "1000")
    keep_anon = next(m["Name"] for m in inspect(d, "keep")["Mounts"] if m["Destination"] == "/keepanon")

    # What goes: stopped and created containers, their anonymous volumes, a dangling image,
    # an unused network, an anonymous volume nothing uses.
    d.docker("run", "--name", "gone1", "-v", "/anon1", "busybox", "sh", "-c",
             "dd if=/dev/zero of=/big bs=1k count=512 2>/dev/null; echo x > /anon1/f")
    d.docker("commit", "gone1", "prune-test:1")
    d.docker("run", "--name", "gone2", "busybox", "sh", "-c", "echo y > /y")
    d.docker("commit", "gone2", "prune-test:1")  # the first commit is now dangling
    d.docker("create", "--name", "gone3", "busybox", "true")
    d.docker("network", "create", "unusednet")
    loose = d.docker("volume", "create").stdout.strip()
    mountpoint = json.loads(d.docker("volume", "inspect", loose).stdout)[0]["Mountpoint"]
    Path(mountpoint, "data").write_bytes(b"z" * 100_000)
    d.docker("volume", "create", "named-unused")  # named: system prune leaves it (API >= 1.42)
    gone_anon = next(m["Name"] for m in inspect(d, "gone1")["Mounts"])
    assert len(set(d.docker("images", "-aq", "--no-trunc").stdout.split())) == 4

    out = d.docker("system", "prune", "-a", "--volumes", "-f").stdout
    assert len(lines_after(out, "Deleted Containers:\n")) == 3
    assert lines_after(out, "Deleted Networks:\n") == ["unusednet"]
    assert sorted(lines_after(out, "Deleted Volumes:\n")) == sorted([loose, gone_anon])
    assert any(line.startswith("deleted: sha256:") for line in lines_after(out, "Deleted Images:\n"))
    # gone1's layer alone held dd's 512 KiB; its commit (dangling), the volumes and httpd add more.
    assert human_bytes(re.search(r"Total reclaimed space: (\S+)", out).group(1)) > 2 * 512 * 1024

    assert d.docker("ps", "-aq", "--no-trunc").stdout.split() == [inspect(d, "keep")["Id"]]
    assert d.docker("images", "--format", "{{.Repository}}").stdout.split() == ["busybox"]
    networks = sorted(d.docker("network", "ls", "--format", "{{.Name}}").stdout.split())
    assert networks == ["bridge", "host", "keepnet", "none"]
    assert volume_names(d) == sorted([keep_anon, "keepvol", "named-unused"])
    assert d.docker("exec", "keep", "true").returncode == 0

    # Nothing left to prune: the same call reclaims nothing and fails nowhere.
    out = d.docker("system", "prune", "-a", "--volumes", "-f").stdout
    assert "Total reclaimed space: 0B" in out
    status, _, body = d.api("POST", "/v1.50/build/prune?all=1&keep-storage=0")
    assert (status, json.loads(body)) == (200, {"CachesDeleted": [], "SpaceReclaimed": 0})
    status, _, body = d.api("POST", "/v1.50/build/prune?keep-storage=lots")
    assert status == 400 and "keep-storage" in json.loads(body)["message"]

    # Clients older than API 1.42 had volume prune take named volumes too.
    status, _, body = d.api("POST", "/v1.41/volumes/prune")
    assert status == 200 and json.loads(body)["VolumesDeleted"] == ["named-unused"]
    d.docker("rm", "-f", "keep")


def test_prune_filters(make_berthd):
    d = make_berthd()
    d.docker("network", "create", "--label", "tier=tmp", "net-tmp")
    d.docker("network", "create", "--label", "tier=keep", "net-keep")
    out = d.docker("network", "prune", "-f", "--filter", "label=tier=tmp").stdout
    assert "net-tmp" in out and "net-keep" not in out
    out = d.docker("network", "prune", "-f", "--filter", "label!=tier=keep").stdout
    assert "net-keep" not in out
    assert "net-keep" in d.docker("network", "ls", "--format", "{{.Name}}").stdout.split()

    d.docker("volume", "create", "--label", "tier=keep", "v-keep")
    d.docker("volume", "create", "v-other")
    out = d.docker("volume", "prune", "-a", "-f", "--filter", "label!=tier=keep").stdout
    assert "v-other" in out and "v-keep" not in out
    cp = d.docker("volume", "prune", "-f", "--filter", "colour=red", check=False)
    assert cp.returncode != 0 and "invalid filter 'colour'" in cp.stderr
    filters = urllib.parse.quote(json.dumps({"all": ["maybe"]}))
    status, _, body = d.api("POST", f"/v1.50/volumes/prune?filters={filters}")
    assert status == 400 and json.loads(body)["message"] == "invalid filter 'all=[maybe]'"
