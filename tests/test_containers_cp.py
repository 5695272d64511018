"""docker cp both ways (the archive endpoints), with the real docker CLI against berthd."""
import base64
import io
import json
import os
import tarfile
import time
import uuid

import pytest


@pytest.fixture(scope="module")
def d(berthd):
    berthd.docker("pull", "busybox")
    return berthd


@pytest.fixture
def box(d):
    """A running busybox container, removed after the test."""
    name = f"cp-{uuid.uuid4().hex[:8]}"
    d.docker("run", "-d", "--name", name, "busybox", "sleep", "1000")
    yield name
    d.docker("rm", "-f", name, check=False)


def sh(d, name, script):
    return d.docker("exec", name, "sh", "-c", script).stdout


def path_stat(d, name, path):
    status, headers, body = d.api("HEAD", f"/containers/{name}/archive?path={path}")
    assert status == 200, (status, body)
    return json.loads(base64.b64decode(headers["X-Docker-Container-Path-Stat"]))


def tar_bytes(entries):
    """entries: (name, kind, payload) with kind "file" (payload: bytes), "dir" or "symlink" (payload: target)."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.GNU_FORMAT) as t:
        for name, kind, payload in entries:
            info = tarfile.TarInfo(name)
            info.mtime = 1_600_000_000
            if kind == "dir":
                info.type, info.mode = tarfile.DIRTYPE, 0o755
                t.addfile(info)
            elif kind == "symlink":
                info.type, info.linkname = tarfile.SYMTYPE, payload
                t.addfile(info)
            else:
                info.size, info.mode = len(payload), 0o644
                t.addfile(info, io.BytesIO(payload))
    return buf.getvalue()


def test_a_file_into_a_running_container_and_back(d, box, tmp_path):
    src = tmp_path / "hello.txt"
    src.write_text("hello\n")
    os.chmod(src, 0o640)
    d.docker("cp", str(src), f"{box}:/tmp/")
    assert sh(d, box, "cat /tmp/hello.txt; stat -c %a /tmp/hello.txt") == "hello\n640\n"
    d.docker("cp", str(src), f"{box}:/tmp/renamed.txt")
    assert sh(d, box, "cat /tmp/renamed.txt") == "hello\n"
    # The container changes it; it comes back with the change.
    sh(d, box, "echo more >> /tmp/hello.txt")
    out = tmp_path / "out.txt"
    d.docker("cp", f"{box}:/tmp/hello.txt", str(out))
    assert out.read_text() == "hello\nmore\n"
    assert oct(out.stat().st_mode & 0o777) == "0o640"


def test_large_files_stream_both_ways(d, box, tmp_path):
    big = tmp_path / "big.bin"
    data = os.urandom(1 << 20) * 24  # 24 MiB
    big.write_bytes(data)
    d.docker("cp", str(big), f"{box}:/tmp/big.bin")
    assert sh(d, box, "wc -c < /tmp/big.bin").strip() == str(len(data))
    back = tmp_path / "back.bin"
    d.docker("cp", f"{box}:/tmp/big.bin", str(back))
    assert back.read_bytes() == data


def test_a_path_as_a_tar_on_stdout(d, box):
    cp = d.docker("cp", f"{box}:/etc/passwd", "-", text=False)
    with tarfile.open(fileobj=io.BytesIO(cp.stdout)) as t:
        members = t.getmembers()
        assert [m.name for m in members] == ["passwd"]
        assert t.extractfile(members[0]).read().startswith(b"root:x:0:0:")
    cp = d.docker("cp", f"{box}:/etc/.", "-", text=False)
    with tarfile.open(fileobj=io.BytesIO(cp.stdout)) as t:
        names = t.getnames()
    assert names[0] == "." and "./passwd" in names and "./group" in names, names
    # The etc files berthd bind-mounts are read from where the container sees them.
    cp = d.docker("cp", f"{box}:/etc/hostname", "-", text=False)
    cid = d.docker("inspect", "-f", "{{.Id}}", box).stdout.strip()
    with tarfile.open(fileobj=io.BytesIO(cp.stdout)) as t:
        assert t.extractfile("hostname").read() == f"{cid[:12]}\n".encode()


def test_stat_header_and_errors(d, box):
    sh(d, box, "ln -s /etc/passwd /tmp/pwlink; ln -s ../etc /tmp/etclink; mkfifo /tmp/fifo")
    etc = path_stat(d, box, "/etc")
    assert etc["name"] == "etc" and etc["mode"] == (1 << 31) | 0o755 and etc["linkTarget"] == ""
    assert etc["mtime"].endswith("Z") and etc["mtime"][:2] == "20"
    tmp = path_stat(d, box, "/tmp")
    assert tmp["mode"] == (1 << 31) | (1 << 20) | 0o777  # dir, sticky, rwxrwxrwx
    link = path_stat(d, box, "/tmp/pwlink")
    assert link["mode"] == (1 << 27) | 0o777 and link["linkTarget"] == "/etc/passwd"
    assert path_stat(d, box, "/tmp/etclink")["linkTarget"] == "/etc"
    followed = path_stat(d, box, "/tmp/etclink/")
    assert followed["name"] == "etclink" and followed["mode"] & (1 << 31)
    assert path_stat(d, box, "/tmp/fifo")["mode"] == (1 << 25) | 0o644
    assert path_stat(d, box, "/etc/passwd")["size"] > 0
    status, _, body = d.api("GET", f"/containers/{box}/archive?path=/nope/x")
    assert (status, json.loads(body)["message"]) == (404, f"Could not find the file /nope/x in container {box}")
    status, _, body = d.api("HEAD", f"/containers/{box}/archive?path=/nope")
    assert status == 404
    status, _, body = d.api("GET", f"/containers/{box}/archive")
    assert (status, json.loads(body)["message"]) == (400, "Path cannot be empty")
    status, _, body = d.api("GET", "/containers/no-such-box/archive?path=/")
    assert (status, json.loads(body)["message"]) == (404, "No such container: no-such-box")
    status, _, body = d.api("PUT", f"/containers/{box}/archive?path=/etc/passwd", body=tar_bytes([("x", "file", b"x")]))
    assert (status, json.loads(body)["message"]) == (400, "extraction point is not a directory")
    cli = d.docker("cp", f"{box}:/nonexistent", "/tmp/never-written", check=False)
    assert cli.returncode == 1
    assert f"Could not find the file /nonexistent in container {box}" in cli.stderr
    cli = d.docker("cp", "/etc/hostname", f"{box}:/nonexistent/dir/x", check=False)
    assert cli.returncode == 1
    assert f"Could not find the file /nonexistent/dir in container {box}" in cli.stderr


def test_directories_both_ways_keeping_owners(d, box, tmp_path):
    tree = tmp_path / "tree"
    (tree / "sub").mkdir(parents=True)
    (tree / "a.txt").write_text("alpha\n")
    (tree / "sub" / "b.txt").write_text("beta\n")
    os.symlink("../a.txt", tree / "sub" / "link")
    for p in [tree, tree / "sub", tree / "a.txt", tree / "sub" / "b.txt"]:
        os.chown(p, 1234, 5678)
    os.chmod(tree / "sub", 0o750)
    d.docker("cp", "-a", str(tree), f"{box}:/tmp/")
    listing = sh(d, box, "cd /tmp/tree && stat -c '%n %u:%g %a' . sub a.txt sub/b.txt && readlink sub/link && cat sub/link")
    assert listing == ". 1234:5678 755\nsub 1234:5678 750\na.txt 1234:5678 644\nsub/b.txt 1234:5678 644\n../a.txt\nalpha\n"
    # Contents of a directory into an existing one.
    sh(d, box, "mkdir /tmp/into")
    d.docker("cp", f"{tree}/.", f"{box}:/tmp/into")
    assert sh(d, box, "cat /tmp/into/a.txt /tmp/into/sub/b.txt") == "alpha\nbeta\n"
    # And back out, as a new directory and as contents.
    sh(d, box, "echo gamma > /tmp/tree/sub/c.txt; chown 42:43 /tmp/tree/sub/c.txt")
    back = tmp_path / "back"
    d.docker("cp", "-a", f"{box}:/tmp/tree", str(back))
    assert (back / "sub" / "c.txt").read_text() == "gamma\n"
    assert os.readlink(back / "sub" / "link") == "../a.txt"
    # The archive carries the owners (the CLI itself extracts as the invoking user).
    out = d.docker("cp", f"{box}:/tmp/tree", "-", text=False).stdout
    with tarfile.open(fileobj=io.BytesIO(out)) as t:
        owners = {m.name: (m.uid, m.gid) for m in t.getmembers()}
    assert owners["tree/sub/c.txt"] == (42, 43) and owners["tree/a.txt"] == (1234, 5678), owners
    assert set(owners) == {"tree", "tree/a.txt", "tree/sub", "tree/sub/b.txt", "tree/sub/c.txt", "tree/sub/link"}
    contents = tmp_path / "contents"
    contents.mkdir()
    d.docker("cp", f"{box}:/tmp/tree/.", str(contents))
    assert sorted(p.name for p in contents.iterdir()) == ["a.txt", "sub"]


def test_archive_mode_gives_files_the_containers_user(d, tmp_path):
    name = f"cp-user-{uuid.uuid4().hex[:6]}"
    d.docker("run", "-d", "--name", name, "--user", "1000:1000", "busybox", "sleep", "1000")
    try:
        f = tmp_path / "f"
        f.write_text("x")
        os.chown(f, 1234, 5678)
        d.docker("cp", str(f), f"{name}:/tmp/plain")
        d.docker("cp", "-a", str(f), f"{name}:/tmp/archived")
        assert sh(d, name, "stat -c %u:%g /tmp/plain /tmp/archived") == "1234:5678\n1000:1000\n"
    finally:
        d.docker("rm", "-f", name)


def test_symlinks_are_copied_as_links_unless_followed(d, box, tmp_path):
    sh(d, box, "echo target > /tmp/real; ln -s /tmp/real /tmp/abs-link; ln -s real /tmp/rel-link")
    d.docker("cp", f"{box}:/tmp/abs-link", str(tmp_path / "l1"))
    assert os.readlink(tmp_path / "l1") == "/tmp/real"
    d.docker("cp", "-L", f"{box}:/tmp/abs-link", str(tmp_path / "l2"))
    assert not (tmp_path / "l2").is_symlink() and (tmp_path / "l2").read_text() == "target\n"
    d.docker("cp", "-L", f"{box}:/tmp/rel-link", str(tmp_path / "l3"))
    assert (tmp_path / "l3").read_text() == "target\n"
    # Host symlinks go in as links, or as their targets with -L.
    os.symlink("/etc/hostname", tmp_path / "hl")
    d.docker("cp", str(tmp_path / "hl"), f"{box}:/tmp/hl")
    assert sh(d, box, "readlink /tmp/hl") == "/etc/hostname\n"
    d.docker("cp", "-L", str(tmp_path / "hl"), f"{box}:/tmp/hl-followed")
    assert sh(d, box, "cat /tmp/hl-followed") == open("/etc/hostname").read()
    # Copying into a symlink to a directory goes into the directory.
    sh(d, box, "mkdir /tmp/realdir; ln -s /tmp/realdir /tmp/dirlink")
    d.docker("cp", str(tmp_path / "l2"), f"{box}:/tmp/dirlink/")
    assert sh(d, box, "cat /tmp/realdir/l2") == "target\n"


def test_stopped_and_created_containers(d, tmp_path):
    f = tmp_path / "script.sh"
    f.write_text("echo from the copied script\n")
    name = f"cp-stopped-{uuid.uuid4().hex[:6]}"
    d.docker("create", "--name", name, "busybox", "sh", "/tmp/script.sh")
    try:
        d.docker("cp", str(f), f"{name}:/tmp/script.sh")
        assert d.docker("start", "-a", name).stdout == "from the copied script\n"
        # Exited now: copy in and out again, then it still starts.
        f.write_text("echo second run\n")
        d.docker("cp", str(f), f"{name}:/tmp/")
        out = tmp_path / "out.sh"
        d.docker("cp", f"{name}:/tmp/script.sh", str(out))
        assert out.read_text() == "echo second run\n"
        assert path_stat(d, name, "/tmp/script.sh")["size"] == len("echo second run\n")
        assert d.docker("start", "-a", name).stdout == "second run\n"
        # Each copy into the stopped container mounted its root and unmounted it again.
        merged = d.docker("inspect", "-f", "{{.GraphDriver.Data.MergedDir}}", name).stdout.strip()
        mounted = [ln for ln in open("/proc/self/mountinfo") if ln.split()[4] == merged]
        assert mounted == [], f"the root filesystem stayed mounted: {mounted}"
    finally:
        d.docker("rm", "-f", name)


def test_paths_under_a_named_volume_go_to_the_volume(d, tmp_path):
    vol = f"cpvol-{uuid.uuid4().hex[:6]}"
    name = f"cp-vol-{uuid.uuid4().hex[:6]}"
    f = tmp_path / "x"
    f.write_text("in the volume\n")
    d.docker("run", "-d", "--name", name, "-v", f"{vol}:/data", "busybox", "sleep", "1000")
    try:
        d.docker("cp", str(f), f"{name}:/data/x")
        assert sh(d, name, "cat /data/x") == "in the volume\n"
        out = d.docker("run", "--rm", "-v", f"{vol}:/data", "busybox", "cat", "/data/x").stdout
        assert out == "in the volume\n"
        # A directory that holds the volume takes the volume's files along.
        cp = d.docker("cp", f"{name}:/", "-", text=False)
        with tarfile.open(fileobj=io.BytesIO(cp.stdout)) as t:
            assert any(n.endswith("data/x") for n in t.getnames())
        d.docker("stop", "-t", "0", name)
        f.write_text("while stopped\n")
        d.docker("cp", str(f), f"{name}:/data/y")
        out = d.docker("run", "--rm", "-v", f"{vol}:/data", "busybox", "cat", "/data/y").stdout
        assert out == "while stopped\n"
    finally:
        d.docker("rm", "-f", name)
        d.docker("volume", "rm", vol, check=False)


def test_read_only_root_and_volumes_refuse_writes(d, tmp_path):
    name = f"cp-ro-{uuid.uuid4().hex[:6]}"
    d.docker("run", "-d", "--name", name, "--read-only", "-v", f"{tmp_path}:/hostdir:ro",
             "busybox", "sleep", "1000")
    try:
        (tmp_path / "f").write_text("f")
        cli = d.docker("cp", str(tmp_path / "f"), f"{name}:/tmp/", check=False)
        assert cli.returncode == 1 and "container rootfs is marked read-only" in cli.stderr
        cli = d.docker("cp", str(tmp_path / "f"), f"{name}:/hostdir/g", check=False)
        assert cli.returncode == 1 and "mounted volume is marked read-only" in cli.stderr
        # Reading through a bind works.
        out = d.docker("cp", f"{name}:/hostdir/f", "-", text=False).stdout
        with tarfile.open(fileobj=io.BytesIO(out)) as t:
            assert t.extractfile("f").read() == b"f"
    finally:
        d.docker("rm", "-f", name)


def test_hostile_archives_are_refused_or_contained(d, box):
    outside = d.tmp / f"outside-{uuid.uuid4().hex[:6]}"
    before = set(d.tmp.rglob("escape*"))

    def put(path, entries):
        return d.api("PUT", f"/containers/{box}/archive?path={path}", body=tar_bytes(entries))

    status, _, body = put("/tmp", [("../../escape", "file", b"pwned")])
    assert status >= 400 and "is outside of" in json.loads(body)["message"], body
    status, _, body = put("/tmp", [("a/../../../../escape2", "file", b"pwned")])
    assert status >= 400, body
    status, _, body = put("/tmp", [("evil", "symlink", "../../../../../..")])
    assert status >= 400 and "invalid symlink" in json.loads(body)["message"], body
    assert set(d.tmp.rglob("escape*")) == before
    # Absolute names and absolute symlinks mean the container's own paths.
    status, _, body = put("/tmp", [
        ("/abs/name", "file", b"under /tmp"),
        ("rootlink", "symlink", "/"),
        ("rootlink/etc/through-link", "file", b"contained"),
        ("hostlink", "symlink", str(outside)),
        ("hostlink/pwned", "file", b"contained too"),
    ])
    assert status == 200, body
    assert sh(d, box, "cat /tmp/abs/name /etc/through-link") == "under /tmpcontained"
    assert sh(d, box, f"cat {outside}/pwned") == "contained too"
    assert not outside.exists() and not os.path.exists("/etc/through-link")
    # Symlinks the container made that point out of it lead to its own root.
    sh(d, box, "ln -s ../../../../../../../.. /tmp/up; ln -s / /tmp/root")
    status, _, body = put("/tmp/up/tmp", [("via-up", "file", b"up")])
    assert status == 200, body
    status, _, body = put("/tmp/root", [("via-root", "file", b"root")])
    assert status == 200, body
    assert sh(d, box, "cat /tmp/via-up /via-root") == "uproot"
    assert not os.path.exists("/via-root") and not os.path.exists("/tmp/via-up")


def test_events_for_copies(d, box, tmp_path):
    start = time.time()
    f = tmp_path / "e"
    f.write_text("e")
    d.docker("cp", str(f), f"{box}:/tmp/")
    d.docker("cp", f"{box}:/tmp/e", str(tmp_path / "e2"))
    time.sleep(0.05)
    end = time.time()
    cp = d.docker("events", "--since", f"{start:.9f}", "--until", f"{end:.9f}", "--filter", f"container={box}",
                  "--format", "{{.Action}}", timeout=20)
    assert cp.stdout.split() == ["extract-to-dir", "archive-path"]
