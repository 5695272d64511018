"""docker volume with the local driver, and volumes that containers use."""
import json
from pathlib import Path


def vinspect(d, name):
    return json.loads(d.docker("volume", "inspect", name).stdout)[0]


def names(d, *args):
    return sorted(d.docker("volume", "ls", "-q", *args).stdout.split())


def test_create_inspect_list_remove(make_berthd):
    d = make_berthd()
    assert d.docker("volume", "create", "--label", "team=web", "data").stdout.strip() == "data"
    v = vinspect(d, "data")
    assert v["Driver"] == "local" and v["Scope"] == "local" and v["Labels"] == {"team": "web"}
    assert v["Mountpoint"] == str(d.data_root / "volumes" / "data" / "_data")
    assert Path(v["Mountpoint"]).is_dir()
    assert d.docker("volume", "create", "data").stdout.strip() == "data"  # same name: the same volume
    assert names(d) == ["data"]
    d.docker("volume", "rm", "data")
    assert names(d) == [] and not Path(v["Mountpoint"]).exists()
    cp = d.docker("volume", "rm", "data", check=False)
    assert cp.returncode == 1 and "no such volume" in cp.stderr


def test_options_and_names_are_validated(make_berthd):
    d = make_berthd()
    d.docker("volume", "create", "-o", "type=tmpfs", "-o", "device=tmpfs", "-o", "o=size=64m", "tmp1")
    v = vinspect(d, "tmp1")
    assert v["Options"] == {"type": "tmpfs", "device": "tmpfs", "o": "size=64m"}
    cp = d.docker("volume", "create", "-o", "colour=red", "x1", check=False)
    assert 'invalid option key: "colour"' in cp.stderr
    cp = d.docker("volume", "create", "bad/name", check=False)
    assert "includes invalid characters for a local volume name" in cp.stderr
    cp = d.docker("volume", "create", "-d", "nfs-plugin", "x2", check=False)
    assert 'plugin "nfs-plugin" not found' in cp.stderr


def test_filters_and_prune(make_berthd):
    d = make_berthd()
    d.docker("pull", "busybox")
    d.docker("volume", "create", "--label", "keep=yes", "named")
    anon = d.docker("volume", "create").stdout.strip()
    assert len(anon) == 64
    d.docker("volume", "create", "used")
    d.docker("create", "-v", "used:/data", "busybox")
    assert names(d, "--filter", "label=keep=yes") == ["named"]
    assert names(d, "--filter", "name=nam") == ["named"]
    assert names(d, "--filter", "dangling=false") == ["used"]
    assert sorted(names(d, "--filter", "dangling=true")) == sorted([anon, "named"])
    out = d.docker("volume", "prune", "-f").stdout
    assert anon in out and "named" not in out  # by default only anonymous volumes go
    out = d.docker("volume", "prune", "-a", "-f").stdout
    assert "named" in out and "used" not in out  # in use: kept
    assert names(d) == ["used"]


def test_containers_create_their_volumes_and_hold_them(make_berthd):
    d = make_berthd()
    d.docker("pull", "busybox")
    cid = d.docker("create", "-v", "appdata:/data", "--mount", "type=volume,target=/cache", "busybox").stdout.strip()
    i = json.loads(d.docker("inspect", cid).stdout)[0]
    mounts = {m["Destination"]: m for m in i["Mounts"]}
    assert mounts["/data"]["Name"] == "appdata" and mounts["/data"]["Type"] == "volume"
    anon = mounts["/cache"]["Name"]
    assert len(anon) == 64
    cp = d.docker("volume", "rm", "appdata", check=False)
    assert cp.returncode == 1 and f"remove appdata: volume is in use - [{cid}]" in cp.stderr
    Path(vinspect(d, "appdata")["Mountpoint"], "file").write_text("kept")
    d.docker("rm", "-v", cid)
    # -v takes the anonymous volume; the named one is the user's and stays, with its data.
    assert names(d) == ["appdata"]
    d.restart()
    assert Path(vinspect(d, "appdata")["Mountpoint"], "file").read_text() == "kept"


def test_docker_py_volumes(make_berthd):
    d = make_berthd()
    c = d.client()
    try:
        v = c.volumes.create("pyvol", labels={"a": "b"})
        assert v.attrs["Labels"] == {"a": "b"}
        assert [x.name for x in c.volumes.list()] == ["pyvol"]
        v.remove()
        assert c.volumes.list() == []
    finally:
        c.close()
