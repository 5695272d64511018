"""Pulling with the real docker CLI: mirror, direct registry, progress, errors, crash safety."""
import json
import os
import signal
import subprocess
import threading
from pathlib import Path

import pytest

from images.build import load, make_layer, write_layout


def images_table(d):
    out = d.docker("images", "--format", "{{.Repository}}:{{.Tag}} {{.ID}}").stdout
    return dict(line.split() for line in out.splitlines())


def test_pull_from_docker_io_goes_to_the_mirror(make_berthd, registry, test_images):
    d = make_berthd()
    out = d.docker("pull", "busybox").stdout
    digest = registry.seeded["library/busybox:latest"]
    assert "Pulling from library/busybox" in out
    assert "Pull complete" in out
    assert f"Digest: {digest}" in out
    assert "Status: Downloaded newer image for busybox:latest" in out
    assert "docker.io/library/busybox:latest" in out
    _, _, config = load(test_images["busybox"].path)
    assert "busybox:latest" in images_table(d)
    again = d.docker("pull", "busybox").stdout
    assert "Status: Image is up to date for busybox:latest" in again
    info = json.loads(d.api("GET", "/info")[2])
    assert info["Images"] == 1


def test_pull_directly_shares_layers_and_says_already_exists(make_berthd, registry):
    d = make_berthd()
    d.docker("pull", "busybox")
    ref = registry.ref("berth-test/httpd", "1.0")
    out = d.docker("pull", ref).stdout
    assert "Already exists" in out, out
    assert f"Status: Downloaded newer image for {ref}" in out
    table = images_table(d)
    assert f"{registry.host}/berth-test/httpd:1.0" in table and "busybox:latest" in table


def test_inspect_matches_the_image_as_built(berthd, registry, test_images):
    berthd.docker("pull", "busybox")
    _, manifest, config = load(test_images["busybox"].path)
    i = json.loads(berthd.docker("image", "inspect", "busybox").stdout)[0]
    assert i["Id"] == manifest["config"]["digest"]
    assert i["RepoTags"] == ["busybox:latest"]
    assert i["RepoDigests"] == [f"busybox@{registry.seeded['library/busybox:latest']}"]
    assert i["Config"]["Cmd"] == ["sh"]
    assert i["RootFS"]["Layers"] == config["rootfs"]["diff_ids"]
    assert i["Os"] == "linux" and i["Architecture"] == "amd64"
    assert i["Size"] > 500_000  # the static busybox binary
    assert i["GraphDriver"]["Name"] == "overlay2"
    upper = Path(i["GraphDriver"]["Data"]["UpperDir"])
    assert (upper / "bin" / "busybox").stat().st_size > 500_000
    assert os.readlink(upper / "bin" / "sh") == "busybox"
    # by ID, short ID and digest reference too
    for name in [i["Id"], i["Id"][7:19], f"busybox@{registry.seeded['library/busybox:latest']}"]:
        assert json.loads(berthd.docker("image", "inspect", name).stdout)[0]["Id"] == i["Id"]


def test_history_lists_the_build_steps(berthd):
    berthd.docker("pull", "busybox")
    out = berthd.docker("history", "--no-trunc", "--format", "{{.ID}}|{{.CreatedBy}}|{{.Size}}", "busybox").stdout
    lines = out.strip().splitlines()
    assert len(lines) >= 1
    assert lines[0].startswith("sha256:")


def test_missing_image_and_tag_fail_clearly(berthd, registry):
    cp = berthd.docker("pull", registry.ref("library/nope", "1"), check=False)
    assert cp.returncode == 1
    assert f"manifest for {registry.host}/library/nope:1 not found: manifest unknown" in cp.stderr
    cp = berthd.docker("pull", registry.ref("library/busybox", "no-such-tag"), check=False)
    assert cp.returncode == 1 and "not found" in cp.stderr


def test_registry_down_is_a_clear_error(berthd):
    from lib.ports import free_port
    cp = berthd.docker("pull", f"127.0.0.1:{free_port()}/library/busybox:latest", check=False)
    assert cp.returncode == 1
    assert "Error response from daemon" in cp.stderr
    assert berthd.running()


def test_invalid_reference_is_rejected_like_dockerd(berthd):
    cp = berthd.docker("pull", "Not/Valid", check=False)
    assert cp.returncode != 0 and "invalid reference format" in cp.stderr
    status, _, body = berthd.api("POST", "/v1.50/images/create?fromImage=UPPER&tag=latest")
    assert status == 400 and "invalid reference format" in json.loads(body)["message"]


def test_tag_untag_and_remove(make_berthd, registry):
    d = make_berthd()
    d.docker("pull", "busybox")
    d.docker("tag", "busybox", "mybox:1")
    d.docker("tag", "busybox", "other/repo:2")
    table = images_table(d)
    assert {"busybox:latest", "mybox:1", "other/repo:2"} <= set(table)
    assert len(set(table.values())) == 1
    out = d.docker("rmi", "mybox:1").stdout
    assert out.strip() == "Untagged: mybox:1"
    image_id = json.loads(d.docker("image", "inspect", "busybox").stdout)[0]["Id"]
    cp = d.docker("rmi", image_id[7:19], check=False)
    assert cp.returncode == 1
    assert "image is referenced in multiple repositories" in cp.stderr
    out = d.docker("rmi", "-f", image_id[7:19]).stdout
    assert "Untagged: busybox:latest" in out and f"Deleted: {image_id}" in out
    assert images_table(d) == {}
    overlay = d.data_root / "overlay2"
    assert [p.name for p in overlay.iterdir() if p.name != "l"] == [], "layers left behind"
    cp = d.docker("rmi", "busybox", check=False)
    assert cp.returncode == 1 and "No such image: busybox:latest" in cp.stderr


def test_rmi_of_the_last_tag_deletes_the_image(make_berthd):
    d = make_berthd()
    d.docker("pull", "busybox")
    out = d.docker("rmi", "busybox").stdout
    assert "Untagged: busybox:latest" in out
    assert "Untagged: busybox@sha256:" in out
    assert "Deleted: sha256:" in out


def test_image_list_filters(make_berthd, registry):
    d = make_berthd()
    d.docker("pull", "busybox")
    d.docker("pull", "httpd")
    fmt = ["--format", "{{.Repository}}:{{.Tag}}"]
    assert d.docker("images", "--filter", "label=com.example.role=web", *fmt).stdout.split() == ["httpd:latest"]
    assert d.docker("images", "--filter", "reference=busy*", *fmt).stdout.split() == ["busybox:latest"]
    assert d.docker("images", "--filter", "dangling=true", *fmt).stdout.split() == []
    assert sorted(d.docker("images", *fmt).stdout.split()) == ["busybox:latest", "httpd:latest"]
    cp = d.docker("images", "--filter", "bogus=1", check=False)
    assert cp.returncode == 1 and "invalid filter 'bogus'" in cp.stderr


def test_docker_py_pull_and_list(make_berthd):
    d = make_berthd()
    c = d.client()
    try:
        img = c.images.pull("busybox", tag="latest")
        assert "busybox:latest" in img.tags
        assert [i.id for i in c.images.list()] == [img.id]
        assert c.images.get("busybox").attrs["Config"]["Cmd"] == ["sh"]
    finally:
        c.close()


def test_concurrent_pulls_of_one_image_both_succeed(make_berthd):
    d = make_berthd()
    results = []

    def pull():
        results.append(d.docker("pull", "busybox", check=False))

    threads = [threading.Thread(target=pull) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert [r.returncode for r in results] == [0, 0, 0], [r.stderr for r in results]
    assert list(images_table(d)) == ["busybox:latest"]
    assert len([p for p in (d.data_root / "overlay2").iterdir() if p.name != "l"]) == 1


@pytest.fixture(scope="module")
def big_image(tmp_path_factory, registry):
    """~96 MiB of incompressible layers, so that a pull takes long enough to be interrupted."""
    out = tmp_path_factory.mktemp("big") / "layout"
    from images.build import file_
    layers = []
    for i in range(3):
        tar, gz = make_layer([file_(f"data{i}.bin", os.urandom(32 << 20))])
        layers.append((tar, gz, f"layer {i}"))
    write_layout(out, layers, {"config": {"Cmd": ["sh"]}})
    registry.push_oci(out, "berth-test/big", "1")
    return registry.ref("berth-test/big", "1")


def test_kill9_during_pull_then_restart_and_pull_again(make_berthd, big_image):
    d = make_berthd()
    env = {k: v for k, v in os.environ.items() if not k.startswith("DOCKER_")}
    env["DOCKER_CONFIG"] = str(d.docker_config)
    p = subprocess.Popen(["docker", "-H", d.url, "pull", big_image], stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT, text=True, env=env)
    for line in p.stdout:
        if "Downloading" in line or "Extracting" in line or "Pulling fs layer" in line:
            break
    d.kill9()
    p.wait(30)
    d.start()
    assert not list((d.data_root / "tmp").glob("*")) if (d.data_root / "tmp").exists() else True
    out = d.docker("pull", big_image).stdout
    assert "Status: Downloaded newer image" in out or "Status: Image is up to date" in out
    i = json.loads(d.docker("image", "inspect", big_image).stdout)[0]
    upper = Path(i["GraphDriver"]["Data"]["UpperDir"])
    assert (upper / "data2.bin").stat().st_size == 32 << 20
    assert len(images_table(d)) == 1


def test_a_corrupted_blob_in_the_registry_is_refused(make_berthd, make_registry, test_images):
    reg = make_registry()
    reg.push_oci(test_images["httpd"].path, "berth-test/corrupt", "1")
    _, manifest, _ = load(test_images["httpd"].path)
    top = manifest["layers"][-1]["digest"].split(":")[1]
    blob = next((reg.dir / "data").rglob(f"blobs/sha256/{top[:2]}/{top}/data"))
    data = bytearray(blob.read_bytes())
    data[len(data) // 2] ^= 0xFF
    blob.write_bytes(bytes(data))
    d = make_berthd()
    cp = d.docker("pull", reg.ref("berth-test/corrupt", "1"), check=False)
    assert cp.returncode == 1, cp.stdout
    assert images_table(d) == {}
    assert d.running()


def test_a_layer_shared_by_concurrent_pulls_is_downloaded_once(make_berthd, make_registry, test_images):
    reg = make_registry(seed=True, accesslog=True)
    d = make_berthd(config={"registry-mirrors": [reg.url], "insecure-registries": [reg.host]}, mirror=False)
    refs = [reg.ref("library/busybox", "latest"), reg.ref("library/httpd", "latest"),
            reg.ref("berth-test/httpd", "1.0")] * 2
    results = []
    threads = [threading.Thread(target=lambda r=r: results.append(d.docker("pull", r, check=False))) for r in refs]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert [r.returncode for r in results] == [0] * len(refs), [r.stderr for r in results]
    _, manifest, _ = load(test_images["busybox"].path)
    base = manifest["layers"][0]["digest"]
    gets = [line for line in reg.log_text().splitlines() if f"GET /v2/" in line and f"/blobs/{base}" in line]
    assert len(gets) == 1, gets


def test_max_concurrent_downloads_applies_and_reloads(make_berthd, big_image):
    d = make_berthd(config={"max-concurrent-downloads": 5})
    d.config_file.write_text(json.dumps({**json.loads(d.config_file.read_text()), "max-concurrent-downloads": 1}))
    d.sighup()
    import time
    deadline = time.monotonic() + 15
    while "max-concurrent-downloads changed" not in d.log_text():
        assert time.monotonic() < deadline, d.log_text()
        time.sleep(0.05)
    out = d.docker("pull", big_image).stdout
    # Three layers, one download at a time: the others wait their turn.
    assert out.count("Waiting") >= 2, out


def _oci_layout(out: Path, layers: list[tuple[bytes, bytes, str]]) -> None:
    """A layout whose layers are (tar, blob, mediaType): gzip, zstd or plain."""
    import hashlib
    blobs = out / "blobs" / "sha256"
    blobs.mkdir(parents=True)

    def put(data: bytes) -> dict:
        d = "sha256:" + hashlib.sha256(data).hexdigest()
        (blobs / d[7:]).write_bytes(data)
        return {"digest": d, "size": len(data)}

    config = {"architecture": "amd64", "os": "linux", "config": {"Cmd": ["sh"]},
              "rootfs": {"type": "layers", "diff_ids": ["sha256:" + hashlib.sha256(t).hexdigest() for t, _, _ in layers]},
              "history": [{"created_by": mt} for _, _, mt in layers]}
    manifest = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "config": {"mediaType": "application/vnd.oci.image.config.v1+json", **put(json.dumps(config).encode())},
                "layers": [{"mediaType": mt, **put(blob)} for _, blob, mt in layers]}
    m = put(json.dumps(manifest).encode())
    (out / "oci-layout").write_text('{"imageLayoutVersion":"1.0.0"}')
    (out / "index.json").write_text(json.dumps({"schemaVersion": 2, "manifests": [
        {"mediaType": "application/vnd.oci.image.manifest.v1+json", **m,
         "annotations": {"org.opencontainers.image.ref.name": "1"}}]}))


def test_gzip_zstd_and_plain_layers_all_unpack(make_berthd, registry, tmp_path):
    from images.build import file_
    tars = [make_layer([file_(f"{name}.txt", f"{name} layer\n".encode())]) for name in ("gz", "zst", "plain")]
    zst = subprocess.run(["zstd", "-q", "-c"], input=tars[1][0], capture_output=True, check=True).stdout
    _oci_layout(tmp_path / "layout", [
        (tars[0][0], tars[0][1], "application/vnd.oci.image.layer.v1.tar+gzip"),
        (tars[1][0], zst, "application/vnd.oci.image.layer.v1.tar+zstd"),
        (tars[2][0], tars[2][0], "application/vnd.oci.image.layer.v1.tar"),
    ])
    registry.push_oci(tmp_path / "layout", "berth-test/mixed", "1")
    d = make_berthd()
    ref = registry.ref("berth-test/mixed", "1")
    d.docker("pull", ref)
    i = json.loads(d.docker("image", "inspect", ref).stdout)[0]
    dirs = [i["GraphDriver"]["Data"]["UpperDir"], *i["GraphDriver"]["Data"]["LowerDir"].split(":")]
    found = {p.name: p.read_text() for dir_ in dirs for p in Path(dir_).glob("*.txt")}
    assert found == {"gz.txt": "gz layer\n", "zst.txt": "zst layer\n", "plain.txt": "plain layer\n"}


def test_pull_all_tags(make_berthd, make_registry, test_images):
    reg = make_registry()
    for tag in ("1.0", "1.1", "latest"):
        reg.push_oci(test_images["busybox"].path, "team/tools", tag)
    d = make_berthd()
    out = d.docker("pull", "-a", reg.host + "/team/tools").stdout
    for tag in ("1.0", "1.1", "latest"):
        assert f"{tag}: Pulling from team/tools" in out or f"Status: Downloaded newer image for {reg.host}/team/tools:{tag}" in out, out
    tags = sorted(d.docker("images", "--format", "{{.Tag}}", reg.host + "/team/tools").stdout.split())
    assert tags == ["1.0", "1.1", "latest"]


def test_manifest_lists_pick_this_platform_or_the_requested_one(make_berthd, registry, tmp_path):
    """A two-platform index (amd64 + arm64) pushed as an index; each platform's image
    has its own marker file so the test sees which one was unpacked."""
    import hashlib
    from images.build import file_
    out = tmp_path / "multi"
    blobs = out / "blobs" / "sha256"
    blobs.mkdir(parents=True)

    def put(data: bytes) -> dict:
        d = "sha256:" + hashlib.sha256(data).hexdigest()
        (blobs / d[7:]).write_bytes(data)
        return {"digest": d, "size": len(data)}

    entries = []
    for arch in ("amd64", "arm64"):
        tar, gz = make_layer([file_(f"{arch}.txt", arch.encode())])
        config = {"architecture": arch, "os": "linux", "config": {"Cmd": ["sh"]},
                  "rootfs": {"type": "layers", "diff_ids": ["sha256:" + hashlib.sha256(tar).hexdigest()]}}
        manifest = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                    "config": {"mediaType": "application/vnd.oci.image.config.v1+json", **put(json.dumps(config).encode())},
                    "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", **put(gz)}]}
        entries.append({"mediaType": "application/vnd.oci.image.manifest.v1+json", **put(json.dumps(manifest).encode()),
                        "platform": {"architecture": arch, "os": "linux"}})
    index = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": entries}
    idx = put(json.dumps(index).encode())
    (out / "oci-layout").write_text('{"imageLayoutVersion":"1.0.0"}')
    (out / "index.json").write_text(json.dumps({"schemaVersion": 2, "manifests": [
        {"mediaType": "application/vnd.oci.image.index.v1+json", **idx,
         "annotations": {"org.opencontainers.image.ref.name": "multi"}}]}))
    registry.skopeo("copy", "--quiet", "--all", "--dest-tls-verify=false", "--dest-no-creds",
                    f"oci:{out}:multi", f"docker://{registry.ref('berth-test/multi', '1')}")
    ref = registry.ref("berth-test/multi", "1")

    def pulled(d, *flags):
        out = d.docker("pull", *flags, ref).stdout
        i = json.loads(d.docker("image", "inspect", ref).stdout)[0]
        marker = [p.name for p in Path(i["GraphDriver"]["Data"]["UpperDir"]).glob("*.txt")]
        return out, i, marker

    d = make_berthd()
    out, i, marker = pulled(d)
    assert marker == ["amd64.txt"] and i["Architecture"] == "amd64"
    assert f"Digest: {idx['digest']}" in out  # the index digest, as dockerd reports it
    assert i["RepoDigests"] == [f"{ref.rsplit(':', 1)[0]}@{idx['digest']}"]
    out, i, marker = pulled(d, "--platform", "linux/arm64")
    assert marker == ["arm64.txt"] and i["Architecture"] == "arm64"
    cp = d.docker("pull", "--platform", "linux/s390x", ref, check=False)
    assert cp.returncode == 1 and "no matching manifest for linux/s390x" in cp.stderr
