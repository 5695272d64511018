"""docker system df: real sizes, what is in use, and shared layers."""
import json
from pathlib import Path


def test_system_df_reports_real_usage(make_berthd):
    d = make_berthd()
    d.docker("pull", "busybox")
    d.docker("pull", "httpd")
    cid = d.docker("create", "-v", "dfvol:/data", "httpd").stdout.strip()
    mount = json.loads(d.docker("volume", "inspect", "dfvol").stdout)[0]["Mountpoint"]
    Path(mount, "blob").write_bytes(b"x" * 5000)

    status, _, body = d.api("GET", "/v1.50/system/df")
    assert status == 200
    df = json.loads(body)
    images = {i["RepoTags"][0]: i for i in df["Images"]}
    busybox, httpd = images["busybox:latest"], images["httpd:latest"]
    # httpd is busybox's layer plus one small layer: that base layer is shared, counted once.
    assert busybox["SharedSize"] == busybox["Size"] > 500_000
    assert httpd["SharedSize"] == busybox["Size"] < httpd["Size"]
    assert df["LayersSize"] == httpd["Size"]
    assert (httpd["Containers"], busybox["Containers"]) == (1, 0)
    [c] = df["Containers"]
    assert c["Id"] == cid and c["SizeRw"] == 0 and c["SizeRootFs"] == httpd["Size"]
    [v] = df["Volumes"]
    assert v["Name"] == "dfvol" and v["UsageData"] == {"Size": 5000, "RefCount": 1}

    out = d.docker("system", "df").stdout
    lines = {line.split()[0]: line.split() for line in out.splitlines()[1:]}
    assert lines["Images"][1:3] == ["2", "1"]
    assert lines["Containers"][1:3] == ["1", "0"]
    assert lines["Local"][2:4] == ["1", "1"]  # "Local Volumes"
    verbose = d.docker("system", "df", "-v").stdout
    assert "dfvol" in verbose and "5kB" in verbose
