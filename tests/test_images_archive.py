"""docker save / docker load: round trips, several images, OCI layouts, hostile archives."""
import io
import json
import tarfile

from images.build import load as load_layout


def image_id(d, name):
    return json.loads(d.docker("image", "inspect", name).stdout)[0]["Id"]


def test_save_rmi_load_round_trip_keeps_the_image_id(make_berthd, tmp_path):
    d = make_berthd()
    d.docker("pull", "busybox")
    before = image_id(d, "busybox")
    archive = tmp_path / "busybox.tar"
    d.docker("save", "-o", str(archive), "busybox")
    with tarfile.open(archive) as t:
        names = t.getnames()
        manifest = json.load(t.extractfile("manifest.json"))
        index = json.load(t.extractfile("index.json"))
    assert "oci-layout" in names
    assert manifest[0]["RepoTags"] == ["busybox:latest"]
    assert index["manifests"][0]["annotations"]["io.containerd.image.name"] == "docker.io/library/busybox:latest"
    d.docker("rmi", "busybox")
    out = d.docker("load", "-i", str(archive)).stdout
    assert "Loaded image: busybox:latest" in out
    assert image_id(d, "busybox") == before
    d.docker("run", "--help")  # the CLI still works; containers come later


def test_several_images_in_one_archive(make_berthd, tmp_path):
    d = make_berthd()
    d.docker("pull", "busybox")
    d.docker("pull", "httpd")
    ids = {n: image_id(d, n) for n in ("busybox", "httpd")}
    archive = tmp_path / "both.tar"
    d.docker("save", "-o", str(archive), "busybox", "httpd")
    with tarfile.open(archive) as t:
        manifest = json.load(t.extractfile("manifest.json"))
        blobs = [n for n in t.getnames() if n.startswith("blobs/sha256/") and len(n) > 20]
    assert sorted(e["RepoTags"][0] for e in manifest) == ["busybox:latest", "httpd:latest"]
    assert len(blobs) == len(set(blobs)), "the shared busybox layer is stored once"
    d.docker("rmi", "busybox", "httpd")
    out = d.docker("load", "-i", str(archive)).stdout
    assert "Loaded image: busybox:latest" in out and "Loaded image: httpd:latest" in out
    assert {n: image_id(d, n) for n in ids} == ids


def test_loading_a_plain_oci_layout(make_berthd, test_images, tmp_path):
    d = make_berthd()
    layout = test_images["busybox"].path
    archive = tmp_path / "oci.tar"
    with tarfile.open(archive, "w") as t:
        for p in sorted(layout.rglob("*")):
            t.add(p, arcname=str(p.relative_to(layout)), recursive=False)
    _, manifest, _ = load_layout(layout)
    out = d.docker("load", "-i", str(archive)).stdout
    assert f"Loaded image ID: {manifest['config']['digest']}" in out


def tar_bytes(entries):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as t:
        for name, data in entries:
            ti = tarfile.TarInfo(name)
            ti.size = len(data)
            t.addfile(ti, io.BytesIO(data))
    return buf.getvalue()


def test_a_hostile_archive_cannot_write_outside(make_berthd, tmp_path):
    d = make_berthd()
    victim = d.tmp / "escaped"
    data = tar_bytes([(f"../../../../../../..{victim}", b"pwned"), ("manifest.json", b"[]")])
    status, _, body = d.api("POST", "/v1.50/images/load", body=data, headers={"Content-Type": "application/x-tar"})
    assert status == 400, body
    assert "escapes" in json.loads(body)["message"]
    assert not victim.exists()
    assert d.running()


def test_a_layer_that_does_not_match_its_diff_id_is_refused(make_berthd, tmp_path):
    d = make_berthd()
    d.docker("pull", "busybox")
    archive = tmp_path / "b.tar"
    d.docker("save", "-o", str(archive), "busybox")
    d.docker("rmi", "busybox")
    with tarfile.open(archive) as t:
        members = [(m, t.extractfile(m).read() if m.isfile() else None) for m in t.getmembers()]
    manifest = json.loads(next(data for m, data in members if m.name == "manifest.json"))
    layer = manifest[0]["Layers"][0]
    evil = tar_bytes([("bin/evil", b"not the real layer")])
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w") as t:
        for m, data in members:
            if m.name == layer:
                data = evil
                m.size = len(evil)
            t.addfile(m, io.BytesIO(data) if data is not None else None)
    status, _, body = d.api("POST", "/images/load", body=out.getvalue())
    assert status == 400, body
    assert "diff id" in json.loads(body)["message"]
    assert d.docker("images", "-q").stdout.strip() == ""


def test_docker_py_save_and_load(make_berthd):
    d = make_berthd()
    c = d.client()
    try:
        img = c.images.pull("busybox", tag="latest")
        data = b"".join(img.save())
        c.images.remove("busybox")
        loaded = c.images.load(data)
        assert [i.id for i in loaded] == [img.id]
    finally:
        c.close()


def test_import_a_rootfs_tar_with_changes(make_berthd, test_images, tmp_path):
    d = make_berthd()
    rootfs = tar_bytes([("etc/hello", b"imported\n"), ("bin/tool", b"#!/bin/sh\n")])
    cp = d.docker("import", "--change", 'CMD ["/bin/tool"]', "--change", "ENV A=1", "--change", "LABEL x=y",
                  "-", "imported/root:1", input=rootfs, text=False)
    new_id = cp.stdout.decode().strip()
    assert new_id.startswith("sha256:")
    i = json.loads(d.docker("image", "inspect", "imported/root:1").stdout)[0]
    assert i["Id"] == new_id
    assert i["Config"]["Cmd"] == ["/bin/tool"]
    assert i["Config"]["Env"] == ["A=1"]
    assert i["Config"]["Labels"] == {"x": "y"}
    from pathlib import Path
    assert (Path(i["GraphDriver"]["Data"]["UpperDir"]) / "etc/hello").read_text() == "imported\n"
    # A large upload: the error must reach the client even though it is still sending.
    big = tar_bytes([("blob", b"x" * (8 << 20))])
    bad = d.docker("import", "--change", "RUN make", "-", "x:1", input=big, text=False, check=False)
    assert bad.returncode == 1 and b"not a valid change command" in bad.stderr


def test_image_prune_removes_dangling_then_all(make_berthd):
    d = make_berthd()
    d.docker("pull", "busybox")
    d.docker("pull", "httpd")
    out = d.docker("image", "prune", "-f").stdout
    assert "Total reclaimed space: 0B" in out
    out = d.docker("image", "prune", "-a", "-f").stdout
    assert "Deleted Images:" in out and "untagged: busybox:latest" in out
    assert d.docker("images", "-q").stdout.strip() == ""
