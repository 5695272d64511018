"""`--mount` and `-v` beyond plain volumes: tmpfs, read-only binds, bind propagation,
`volume-nocopy`, and local-driver volumes with `type`/`device`/`o`."""
import json
import subprocess

import pytest


@pytest.fixture(scope="module")
def d(berthd):
    berthd.docker("pull", "busybox")
    return berthd


def mount_line(d, args, target) -> str:
    """The container's /proc/self/mounts line for `target`."""
    out = d.docker("run", "--rm", *args, "busybox", "grep", f" {target} ", "/proc/self/mounts").stdout
    assert out.count("\n") == 1, out
    return out


def test_tmpfs_mount_with_size_and_mode(d):
    line = mount_line(d, ["--mount", "type=tmpfs,target=/scratch,tmpfs-size=1m,tmpfs-mode=1770"], "/scratch")
    assert line.split()[2] == "tmpfs" and "size=1024k" in line and "mode=1770" in line, line
    out = d.docker("run", "--rm", "--mount", "type=tmpfs,destination=/scratch", "busybox", "sh", "-c",
                   "echo data > /scratch/f && cat /scratch/f").stdout
    assert out == "data\n"
    cid = d.docker("create", "--mount", "type=tmpfs,target=/t,tmpfs-size=2m", "busybox").stdout.strip()
    try:
        m = json.loads(d.docker("inspect", cid).stdout)[0]["HostConfig"]["Mounts"]
        assert m == [{"Type": "tmpfs", "Target": "/t", "TmpfsOptions": {"SizeBytes": 2097152}}], m
    finally:
        d.docker("rm", cid)


def test_read_only_binds_refuse_writes(d, tmp_path):
    (tmp_path / "f").write_text("host\n")
    for args in (["-v", f"{tmp_path}:/h:ro"], ["--mount", f"type=bind,source={tmp_path},target=/h,readonly"]):
        r = d.docker("run", "--rm", *args, "busybox", "sh", "-c", "cat /h/f; echo x > /h/new", check=False)
        assert r.stdout == "host\n" and r.returncode != 0 and "Read-only file system" in r.stderr, r
    assert not (tmp_path / "new").exists()
    r = d.docker("run", "--rm", "--mount", "type=bind,source=/does/not/exist,target=/x", "busybox", "true",
                 check=False)
    assert r.returncode == 125 and "bind source path does not exist: /does/not/exist" in r.stderr, r.stderr


@pytest.fixture
def shared_dir(tmp_path):
    """A tmpfs mounted shared, so mounts under it propagate (this machine's / is private)."""
    src = tmp_path / "shared"
    src.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "tmpfs", str(src)], check=True)
    subprocess.run(["mount", "--make-shared", str(src)], check=True)
    try:
        yield src
    finally:
        subprocess.run(["umount", "-R", "-l", str(src)], check=False)


def test_bind_propagation_rslave_sees_host_mounts_made_later(d, shared_dir):
    name = "prop-slave"
    d.docker("run", "-d", "--name", name, "--mount",
             f"type=bind,source={shared_dir},target=/src,bind-propagation=rslave", "busybox", "sleep", "300")
    try:
        mounts = json.loads(d.docker("inspect", name).stdout)[0]["Mounts"]
        assert [(m["Destination"], m["Propagation"]) for m in mounts] == [("/src", "rslave")], mounts
        sub = shared_dir / "late"
        sub.mkdir()
        subprocess.run(["mount", "-t", "tmpfs", "tmpfs", str(sub)], check=True)
        (sub / "hello").write_text("propagated\n")
        assert d.docker("exec", name, "cat", "/src/late/hello").stdout == "propagated\n"
    finally:
        d.docker("rm", "-f", name)


def test_binds_are_private_by_default_and_do_not_see_later_host_mounts(d, shared_dir, exec_root):
    for name, spec in (("prop-default", f"{shared_dir}:/src"), ("prop-private", f"{shared_dir}:/src:rprivate")):
        d.docker("run", "-d", "--name", name, "-v", spec, "busybox", "sleep", "300")
    try:
        sub = shared_dir / "late"
        sub.mkdir()
        subprocess.run(["mount", "-t", "tmpfs", "tmpfs", str(sub)], check=True)
        (sub / "hello").write_text("host only\n")
        assert (sub / "hello").exists()
        for name in ("prop-default", "prop-private"):
            r = d.docker("exec", name, "cat", "/src/late/hello", check=False)
            assert r.returncode != 0 and "No such file" in r.stderr, (name, r)
        # The private copies made for the start are gone: nothing stays mounted for them.
        assert not list((exec_root / "binds").glob("*/*"))
        assert (shared_dir / "late" / "hello").read_text() == "host only\n", "the host's files are intact"
    finally:
        d.docker("rm", "-f", "prop-default", "prop-private")


@pytest.fixture
def exec_root(d):
    return d.exec_root


def test_volume_nocopy_leaves_a_new_volume_empty(d):
    try:
        # Only the files the daemon mounts itself (hostname, hosts, resolv.conf), none of the image's.
        for mount in ("type=volume,source=nocopy1,target=/etc,volume-nocopy", "nocopy1:/etc:nocopy"):
            flag = "--mount" if mount.startswith("type=") else "-v"
            out = d.docker("run", "--rm", flag, mount, "busybox", "ls", "-A", "/etc").stdout.split()
            assert "passwd" not in out and "group" not in out, out
        out = d.docker("run", "--rm", "--mount", "type=volume,source=copied1,target=/etc", "busybox",
                       "ls", "/etc").stdout
        assert "passwd" in out.split()
    finally:
        d.docker("volume", "rm", "nocopy1", "copied1")


def test_local_volume_of_type_tmpfs_is_a_tmpfs_with_its_options(d):
    d.docker("volume", "create", "-o", "type=tmpfs", "-o", "device=tmpfs", "-o", "o=size=3m,uid=1000",
             "tmpvol")
    try:
        line = mount_line(d, ["-v", "tmpvol:/data"], "/data")
        assert line.split()[2] == "tmpfs" and "size=3072k" in line and "uid=1000" in line, line
        # A tmpfs volume's content lives as long as a container uses it, like dockerd's.
        out = d.docker("run", "--rm", "-v", "tmpvol:/data", "busybox", "sh", "-c",
                       "echo x > /data/f; cat /data/f").stdout
        assert out == "x\n"
    finally:
        d.docker("volume", "rm", "tmpvol")


def test_local_volume_binding_a_host_directory(d, tmp_path):
    host = tmp_path / "vdata"
    host.mkdir()
    d.docker("volume", "create", "-o", "type=none", "-o", "o=bind", "-o", f"device={host}", "bindvol")
    try:
        d.docker("run", "--rm", "-v", "bindvol:/data", "busybox", "sh", "-c", "echo from-container > /data/out")
        assert (host / "out").read_text() == "from-container\n"
        v = json.loads(d.docker("volume", "inspect", "bindvol").stdout)[0]
        assert v["Options"] == {"type": "none", "o": "bind", "device": str(host)}
    finally:
        d.docker("volume", "rm", "bindvol")
    assert (host / "out").exists(), "removing the volume keeps the host's files"


def test_ps_rows_list_the_mounts(d, tmp_path):
    d.docker("run", "-d", "--name", "psmounts", "-v", "psvol:/data", "-v", f"{tmp_path}:/h", "busybox",
             "sleep", "300")
    try:
        rows = d.client().api.containers(filters={"name": "psmounts"})
        mounts = {(m["Type"], m.get("Name", ""), m["Destination"]) for m in rows[0]["Mounts"]}
        assert mounts == {("volume", "psvol", "/data"), ("bind", "", "/h")}, rows[0]["Mounts"]
        shown = d.docker("ps", "--filter", "name=psmounts", "--format", "{{.Mounts}}").stdout
        assert "psvol" in shown
    finally:
        d.docker("rm", "-f", "psmounts")
        d.docker("volume", "rm", "psvol")
