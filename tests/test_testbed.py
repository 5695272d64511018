"""Tests of the test bed itself: image builder, registry, daemon fixture (with a stand-in daemon)."""
import gzip
import hashlib
import io
import json
import tarfile
from pathlib import Path

import pytest
import requests

from images.build import build_all, load
from lib import procs
from lib.berthd import Berthd, BerthdError, berthd_binary
from lib.registry import MT_OCI_MANIFEST, Registry

FAKE = Path(__file__).parent / "lib" / "fake_berthd.py"


def sha(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def blob(layout: Path, digest: str) -> bytes:
    return (layout / "blobs" / "sha256" / digest.split(":")[1]).read_bytes()


def layer(layout: Path, digest: str) -> tarfile.TarFile:
    return tarfile.open(fileobj=io.BytesIO(gzip.decompress(blob(layout, digest))))


# --- images -----------------------------------------------------------------------------------

def test_build_is_deterministic_and_cached(tmp_path, test_images):
    a = build_all(tmp_path / "a")
    b = build_all(tmp_path / "b", force=True)
    assert {n: i.digest for n, i in a.items()} == {n: i.digest for n, i in b.items()}
    assert {n: i.digest for n, i in a.items()} == {n: i.digest for n, i in test_images.items()}

    index = tmp_path / "a" / "busybox" / "index.json"
    before = index.stat().st_mtime_ns
    assert build_all(tmp_path / "a") == a
    assert index.stat().st_mtime_ns == before, "a matching cache must not rebuild"


@pytest.mark.parametrize("name", ["busybox", "httpd"])
def test_layout_is_valid(test_images, name):
    layout = test_images[name].path
    assert json.loads((layout / "oci-layout").read_text()) == {"imageLayoutVersion": "1.0.0"}
    for f in (layout / "blobs" / "sha256").iterdir():
        assert hashlib.sha256(f.read_bytes()).hexdigest() == f.name

    index, manifest, config = load(layout)
    desc = index["manifests"][0]
    assert desc["digest"] == test_images[name].digest
    assert desc["annotations"]["org.opencontainers.image.ref.name"] == "latest"
    assert desc["size"] == len(blob(layout, desc["digest"]))
    assert manifest["mediaType"] == MT_OCI_MANIFEST
    for d in [manifest["config"], *manifest["layers"]]:
        assert d["size"] == len(blob(layout, d["digest"]))

    diff_ids = [sha(gzip.decompress(blob(layout, l["digest"]))) for l in manifest["layers"]]
    assert config["rootfs"] == {"type": "layers", "diff_ids": diff_ids}
    assert len(config["history"]) == len(diff_ids)
    assert (config["architecture"], config["os"]) == ("amd64", "linux")
    assert "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin" in config["config"]["Env"]


def test_busybox_image_content(test_images):
    layout = test_images["busybox"].path
    _, manifest, config = load(layout)
    assert config["config"]["Cmd"] == ["sh"]
    assert len(manifest["layers"]) == 1
    tar = layer(layout, manifest["layers"][0]["digest"])
    m = {x.name: x for x in tar.getmembers()}
    assert m["bin/busybox"].isfile() and m["bin/busybox"].mode == 0o755
    assert m["bin/sh"].issym() and m["bin/sh"].linkname == "busybox"
    assert m["bin/httpd"].issym() and m["bin/wget"].issym()
    assert m["tmp"].mode == 0o1777
    assert all(x.uid == 0 and x.gid == 0 and x.mtime == m["bin"].mtime for x in m.values())
    assert "bin/busybox" not in [x.name for x in m.values() if x.issym()]
    assert tar.extractfile("etc/passwd").read().startswith(b"root:x:0:0:")


def test_httpd_image_content(test_images):
    layout = test_images["httpd"].path
    _, manifest, config = load(layout)
    _, bb_manifest, _ = load(test_images["busybox"].path)
    assert manifest["layers"][0] == bb_manifest["layers"][0], "httpd must share the busybox layer"
    c = config["config"]
    assert c["Entrypoint"] == ["httpd", "-f", "-v", "-p", "80", "-h", "/www"]
    assert c["Cmd"] == [] and c["WorkingDir"] == "/www" and c["ExposedPorts"] == {"80/tcp": {}}
    assert c["Labels"] == {"org.opencontainers.image.title": "berth-test-httpd", "com.example.role": "web"}
    with layer(layout, manifest["layers"][1]["digest"]) as tar:
        assert tar.extractfile("www/index.html").read() == b"hello from berth httpd\n"


# --- registry ---------------------------------------------------------------------------------

@pytest.mark.parametrize("ref,image", [("library/busybox:latest", "busybox"),
                                       ("library/httpd:latest", "httpd"),
                                       ("berth-test/httpd:1.0", "httpd")])
def test_registry_serves_seeded_manifests(registry, test_images, ref, image):
    repo, tag = ref.split(":")
    r = registry.get(f"/v2/{repo}/manifests/{tag}", headers={"Accept": MT_OCI_MANIFEST})
    assert r.status_code == 200
    assert r.headers["Docker-Content-Digest"] == test_images[image].digest == sha(r.content)
    assert registry.seeded[ref] == test_images[image].digest
    config = r.json()["config"]["digest"]
    assert registry.get(f"/v2/{repo}/blobs/{config}").status_code == 200


def test_skopeo_inspect(registry, test_images):
    info = registry.inspect("library/httpd")
    assert info["Digest"] == test_images["httpd"].digest
    assert info["Labels"]["com.example.role"] == "web"
    assert len(info["Layers"]) == 2
    assert registry.inspect("library/busybox", raw=True)["mediaType"] == MT_OCI_MANIFEST


def test_htpasswd_registry(make_registry, test_images):
    reg = make_registry(auth=("berth", "s3cret"), seed=True)
    anon = requests.get(f"{reg.url}/v2/", timeout=10)
    assert anon.status_code == 401
    assert anon.headers["WWW-Authenticate"].lower().startswith("basic")
    assert reg.get("/v2/", auth=("berth", "wrong")).status_code == 401
    assert reg.get("/v2/").status_code == 200
    path = "/v2/library/busybox/manifests/latest"
    assert reg.get(path, auth=False, headers={"Accept": MT_OCI_MANIFEST}).status_code == 401
    ok = reg.get(path, headers={"Accept": MT_OCI_MANIFEST})
    assert ok.headers["Docker-Content-Digest"] == test_images["busybox"].digest
    assert reg.inspect("library/busybox")["Digest"] == test_images["busybox"].digest


def test_registry_stop_leaves_nothing():
    reg = Registry().start()
    pid, tmp = reg.proc.pid, reg.dir
    reg.stop()
    assert not procs.pid_alive(pid)
    assert not tmp.exists()


# --- daemon fixture, against the stand-in daemon ----------------------------------------------

@pytest.mark.fake_berthd
def test_daemon_fixture_lifecycle(make_berthd):
    d = make_berthd(binary=FAKE, mirror=False, config={"debug": True})
    assert d.running() and d.pidfile.read_text().strip() == str(d.pid)
    status, headers, body = d.api("GET", "/_ping")
    assert (status, body) == (200, b"OK") and headers["Api-Version"]
    assert d.api("GET", "/v1.47/nope")[0] == 404
    assert "0.0.0-fake" in d.docker("version", "--format", "{{.Server.Version}}").stdout
    assert d.client().version()["Version"] == "0.0.0-fake"
    assert d.docker("no-such-command", check=False).returncode != 0

    d.sighup()
    assert d.stop() == 0
    assert not d.sock.exists() and not d.pidfile.exists()
    assert "reloaded" in d.log_text()

    d.start()
    assert d.kill9() == -9
    assert not procs.pid_alive(d.pid)


@pytest.mark.fake_berthd
def test_daemon_fixture_reports_early_exit(make_berthd):
    d = make_berthd(binary=FAKE, mirror=False, config={"fail-on-start": True}, start=False)
    with pytest.raises(BerthdError, match="asked to fail"):
        d.start(timeout=10)


@pytest.mark.fake_berthd
def test_daemon_fixture_mirror_config(make_berthd, registry):
    d = make_berthd(binary=FAKE, config={"debug": True})
    written = json.loads(d.config_file.read_text())
    # Plus each daemon's own bridge, subnet and address pools (Berthd._network_defaults).
    assert set(written) == {"registry-mirrors", "insecure-registries", "debug", "bridge", "bip",
                            "default-address-pools", "iptables", "ip-forward"}
    # The machine's own firewall and forwarding are never touched by the suites' daemons.
    assert written["iptables"] is False and written["ip-forward"] is False
    assert written["registry-mirrors"] == [registry.url] and written["insecure-registries"] == [registry.host]
    assert written["debug"] is True


def test_daemon_cleanup_removes_everything():
    d = Berthd(binary=FAKE).start()
    pid, tmp = d.pid, d.tmp
    d.cleanup()
    assert not procs.pid_alive(pid) and not tmp.exists()


def test_berthd_binary_location(monkeypatch, tmp_path):
    monkeypatch.setenv("BERTHD", str(tmp_path / "x"))
    assert berthd_binary() == tmp_path / "x"
    monkeypatch.delenv("BERTHD")
    monkeypatch.delenv("CARGO_TARGET_DIR", raising=False)
    assert berthd_binary() == Path(__file__).resolve().parent.parent / "target" / "debug" / "berthd"

