"""Containers before the runtime: create, ps, inspect, rename, rm, and images in use."""
import json
from pathlib import Path


def ps(d, *args):
    out = d.docker("ps", *args, "--format", "{{.Names}}|{{.Image}}|{{.Status}}|{{.Command}}").stdout
    return [line.split("|") for line in out.splitlines()]


def inspect(d, name):
    return json.loads(d.docker("inspect", name).stdout)[0]


def test_create_records_what_docker_run_would_start(make_berthd):
    d = make_berthd()
    d.docker("pull", "busybox")
    cid = d.docker("create", "--name", "web", "-e", "A=1", "-l", "role=x", "-w", "/tmp",
                   "busybox", "echo", "hi").stdout.strip()
    assert len(cid) == 64
    i = inspect(d, "web")
    assert i["Id"] == cid and i["Name"] == "/web"
    assert i["Path"] == "echo" and i["Args"] == ["hi"]
    assert i["State"]["Status"] == "created" and i["State"]["Running"] is False
    assert i["Image"] == inspect(d, "busybox")["Id"]
    assert "A=1" in i["Config"]["Env"] and any(e.startswith("PATH=") for e in i["Config"]["Env"])
    assert i["Config"]["Labels"] == {"role": "x"}
    assert i["Config"]["WorkingDir"] == "/tmp" and i["Config"]["Hostname"] == cid[:12]
    upper = Path(i["GraphDriver"]["Data"]["UpperDir"])
    assert upper.is_dir() and list(upper.iterdir()) == []
    lowers = i["GraphDriver"]["Data"]["LowerDir"].split(":")
    assert (Path(lowers[0]) / "bin" / "busybox").exists()
    assert ps(d) == []  # not running
    assert ps(d, "-a") == [["web", "busybox", "Created", '"echo hi"']]  # the CLI quotes it
    assert inspect(d, cid[:10])["Id"] == cid  # by ID prefix
    info = json.loads(d.api("GET", "/info")[2])
    assert (info["Containers"], info["ContainersStopped"]) == (1, 1)


def test_create_pulls_a_missing_image_like_docker(make_berthd):
    d = make_berthd()
    cp = d.docker("create", "--name", "auto", "httpd")
    assert "Unable to find image 'httpd:latest' locally" in cp.stderr
    i = inspect(d, "auto")
    assert i["Path"] == "httpd" and i["Args"] == ["-f", "-v", "-p", "80", "-h", "/www"]
    assert i["Config"]["ExposedPorts"] == {"80/tcp": {}}


def test_names_are_validated_unique_and_generated(make_berthd):
    d = make_berthd()
    d.docker("pull", "busybox")
    first = d.docker("create", "--name", "one", "busybox").stdout.strip()
    dup = d.docker("create", "--name", "one", "busybox", check=False)
    assert dup.returncode != 0
    assert (f'Conflict. The container name "/one" is already in use by container "{first}". '
            "You have to remove (or rename) that container to be able to reuse that name.") in dup.stderr
    for bad_name in ("-bad", "x"):  # dockerd wants two characters at least
        bad = d.docker("create", "--name", bad_name, "busybox", check=False)
        assert f"Invalid container name ({bad_name}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed" in bad.stderr
    d.docker("create", "busybox")
    names = [row[0] for row in ps(d, "-a")]
    assert len(names) == 2 and "one" in names
    generated = [n for n in names if n != "one"][0]
    assert "_" in generated


def test_rename_and_remove_clean_up(make_berthd):
    d = make_berthd()
    d.docker("pull", "busybox")
    d.docker("create", "--name", "old", "busybox")
    upper = Path(inspect(d, "old")["GraphDriver"]["Data"]["UpperDir"])
    d.docker("rename", "old", "new")
    assert [r[0] for r in ps(d, "-a")] == ["new"]
    cp = d.docker("rm", "old", check=False)
    assert "No such container: old" in cp.stderr
    d.docker("rm", "new")
    assert ps(d, "-a") == [] and not upper.parent.exists()


def test_containers_survive_a_daemon_restart(make_berthd):
    d = make_berthd()
    d.docker("pull", "busybox")
    d.docker("create", "--name", "keep", "busybox")
    upper = Path(inspect(d, "keep")["GraphDriver"]["Data"]["UpperDir"])
    d.restart()
    assert [r[0] for r in ps(d, "-a")] == ["keep"]
    assert upper.is_dir(), "the store's recovery must keep a container's layer"


def test_ps_filters(make_berthd):
    d = make_berthd()
    d.docker("pull", "busybox")
    d.docker("pull", "httpd")
    d.docker("create", "--name", "aa", "-l", "tier=web", "httpd")
    d.docker("create", "--name", "bb", "busybox")
    names = lambda *f: sorted(r[0] for r in ps(d, "-a", *f))  # noqa: E731
    assert names("--filter", "name=aa") == ["aa"]
    assert names("--filter", "label=tier=web") == ["aa"]
    assert names("--filter", "ancestor=busybox") == ["bb"]
    assert names("--filter", "status=created") == ["aa", "bb"]
    assert sorted(r[0] for r in ps(d, "--filter", "status=created")) == ["aa", "bb"]
    assert names("--filter", "status=running") == []
    bad = d.docker("ps", "--filter", "status=bogus", check=False)
    assert bad.returncode != 0 and "invalid filter 'status=bogus'" in bad.stderr


def test_rmi_refuses_an_image_a_container_uses(make_berthd):
    d = make_berthd()
    d.docker("pull", "busybox")
    image = inspect(d, "busybox")["Id"]
    cid = d.docker("create", "busybox").stdout.strip()
    cp = d.docker("rmi", "busybox", check=False)
    assert cp.returncode == 1
    assert (f'conflict: unable to remove repository reference "busybox" (must force) - container {cid[:12]} '
            f"is using its referenced image {image[7:19]}") in cp.stderr
    cp = d.docker("rmi", image[7:19], check=False)
    assert f"(must be forced) - image is being used by stopped container {cid[:12]}" in cp.stderr
    out = d.docker("rmi", "-f", "busybox").stdout
    assert "Untagged: busybox:latest" in out and "Deleted" not in out
    assert d.docker("images", "-q").stdout.split() == [image[7:19]]  # kept, now dangling
    assert "Total reclaimed space: 0B" in d.docker("image", "prune", "-af").stdout
    d.docker("rm", cid)
    assert image[7:19] not in d.docker("image", "prune", "-af").stdout or d.docker("images", "-q").stdout == ""
    assert d.docker("images", "-q").stdout.strip() == ""


def test_docker_py_create_and_list(make_berthd):
    d = make_berthd()
    c = d.client()
    try:
        c.images.pull("busybox", tag="latest")
        created = c.containers.create("busybox", ["echo", "x"], name="pyc", labels={"k": "v"})
        listed = c.containers.list(all=True)
        assert [x.id for x in listed] == [created.id]
        assert listed[0].name == "pyc" and listed[0].status == "created"
        created.remove()
        assert c.containers.list(all=True) == []
    finally:
        c.close()


def test_container_prune_removes_stopped_containers(make_berthd):
    d = make_berthd()
    d.docker("pull", "busybox")
    d.docker("create", "--name", "keepme", "-l", "keep=1", "busybox")
    d.docker("create", "--name", "dropme", "busybox")
    out = d.docker("container", "prune", "-f", "--filter", "label!=keep=1").stdout
    assert "Total reclaimed space" in out
    assert [r[0] for r in ps(d, "-a")] == ["keepme"]
    d.docker("container", "prune", "-f")
    assert ps(d, "-a") == []
    bad = d.docker("container", "prune", "-f", "--filter", "nope=1", check=False)
    assert "invalid filter 'nope'" in bad.stderr


def test_diff_and_commit_carry_a_containers_changes(make_berthd, tmp_path):
    import os
    import tarfile
    d = make_berthd()
    d.docker("pull", "busybox")
    cid = d.docker("create", "--name", "work", "busybox").stdout.strip()
    upper = Path(inspect(d, "work")["GraphDriver"]["Data"]["UpperDir"])
    # What a process in the container would have done (the runtime is not wired yet):
    (upper / "hello").write_text("hi\n")
    (upper / "etc").mkdir()
    (upper / "etc" / "motd").write_text("welcome\n")
    (upper / "bin").mkdir()
    os.mknod(upper / "bin" / "vi", 0o600 | 0o020000, os.makedev(0, 0))  # overlay whiteout: deleted
    out = d.docker("diff", "work").stdout.splitlines()
    assert out == ["C /bin", "D /bin/vi", "C /etc", "A /etc/motd", "A /hello"], out

    new_id = d.docker("commit", "-a", "berth tests", "-m", "snapshot", "-c", 'CMD ["cat", "/hello"]',
                      "work", "committed/img:1").stdout.strip()
    i = inspect(d, "committed/img:1")
    assert i["Id"] == new_id
    assert i["Config"]["Cmd"] == ["cat", "/hello"] and i["Author"] == "berth tests"
    base = inspect(d, "busybox")
    assert i["RootFS"]["Layers"][:-1] == base["RootFS"]["Layers"]
    history = json.loads(d.api("GET", "/images/committed/img:1/history")[2])
    assert history[0]["Comment"] == "snapshot" and history[0]["CreatedBy"] == "sh"

    archive = tmp_path / "c.tar"
    d.docker("save", "-o", str(archive), "committed/img:1")
    with tarfile.open(archive) as t:
        manifest = json.load(t.extractfile("manifest.json"))
        top = tarfile.open(fileobj=t.extractfile(manifest[0]["Layers"][-1]))
        names = top.getnames()
        assert "hello" in names and "etc/motd" in names and "bin/.wh.vi" in names
        assert top.extractfile("hello").read() == b"hi\n"
    # A container of the new image sees the change and not the deleted file.
    d.docker("create", "--name", "child", "committed/img:1")
    child = inspect(d, "child")
    lowers = [Path(p) for p in child["GraphDriver"]["Data"]["LowerDir"].split(":")]
    assert (lowers[0] / "hello").read_text() == "hi\n"
    assert os.stat(lowers[0] / "bin" / "vi").st_rdev == 0  # the whiteout, as overlayfs wants it
    assert d.docker("diff", "child").stdout == ""
    assert cid


def test_concurrent_unnamed_creates_get_distinct_names(make_berthd):
    from concurrent.futures import ThreadPoolExecutor
    d = make_berthd()
    d.docker("pull", "busybox")
    with ThreadPoolExecutor(16) as pool:
        codes = list(pool.map(lambda _: d.api("POST", "/containers/create", {"Image": "busybox"})[0], range(120)))
    assert codes == [201] * 120
    names = d.docker("ps", "-a", "--format", "{{.Names}}").stdout.split()
    assert len(names) == 120 and len(set(names)) == 120
