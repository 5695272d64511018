#!/usr/bin/env python3
"""Builds the test images as OCI image layouts, without docker, from Debian's busybox-static.

Deterministic: fixed mtimes, uid/gid 0, sorted entries, gzip with mtime 0, canonical JSON; so the
same builder and the same busybox binary give the same digests on every run and every machine
with the same zlib. A build is skipped when the output's recorded key (hash of this file and the
busybox binary) still matches.

    python3 tests/images/build.py [OUT_DIR] [--force]      # default OUT_DIR: <repo>/target/test-images
"""
from __future__ import annotations

import dataclasses
import gzip
import hashlib
import io
import json
import os
import shutil
import struct
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
DEFAULT_OUT = REPO / "target" / "test-images"
BUSYBOX = Path(os.environ.get("BERTH_BUSYBOX", "/bin/busybox"))

EPOCH = 1700000000  # 2023-11-14T22:13:20Z
CREATED = "2023-11-14T22:13:20Z"
REF = "latest"
PATH_ENV = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
PLATFORM = {"architecture": "amd64", "os": "linux"}

MT_INDEX = "application/vnd.oci.image.index.v1+json"
MT_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
MT_CONFIG = "application/vnd.oci.image.config.v1+json"
MT_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"
REF_ANNOTATION = "org.opencontainers.image.ref.name"


@dataclasses.dataclass(frozen=True)
class BuiltImage:
    name: str
    path: Path      # the OCI layout directory
    digest: str     # manifest digest, "sha256:..."
    ref: str = REF  # tag inside the layout (index.json ref.name annotation)


def canonical(obj) -> bytes:
    return json.dumps(obj, sort_keys=True, separators=(",", ":")).encode()


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def is_static_elf(data: bytes) -> bool:
    """True when the ELF64 binary has no PT_INTERP (a dynamic busybox would not run in the image)."""
    if data[:4] != b"\x7fELF" or data[4] != 2:
        return False
    phoff, = struct.unpack_from("<Q", data, 0x20)
    phentsize, phnum = struct.unpack_from("<HH", data, 0x36)
    return all(struct.unpack_from("<I", data, phoff + i * phentsize)[0] != 3 for i in range(phnum))


# --- layers -----------------------------------------------------------------------------------

def _entry(name, kind, mode, data=b"", target=""):
    ti = tarfile.TarInfo(name)
    ti.type, ti.mode, ti.mtime = kind, mode, EPOCH
    ti.uid = ti.gid = 0
    ti.uname = ti.gname = ""
    ti.size = len(data) if kind == tarfile.REGTYPE else 0
    ti.linkname = target
    return ti, data


def dir_(name, mode=0o755):
    return _entry(name, tarfile.DIRTYPE, mode)


def file_(name, data: bytes, mode=0o644):
    return _entry(name, tarfile.REGTYPE, mode, data)


def link(name, target):
    return _entry(name, tarfile.SYMTYPE, 0o777, target=target)


def make_layer(entries) -> tuple[bytes, bytes]:
    """Returns (uncompressed tar, gzipped tar) of the entries, sorted by path."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for ti, data in sorted(entries, key=lambda e: e[0].name.split("/")):
            tar.addfile(ti, io.BytesIO(data) if ti.type == tarfile.REGTYPE else None)
    gz = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=gz, mtime=0, compresslevel=6) as f:
        f.write(raw.getvalue())
    return raw.getvalue(), gz.getvalue()


def busybox_entries(binary: bytes, applets: list[str]):
    entries = [dir_(d) for d in ("bin", "dev", "etc", "home", "proc", "sys", "usr", "usr/bin", "var")]
    entries += [dir_("root", 0o700), dir_("tmp", 0o1777)]
    entries.append(file_("bin/busybox", binary, 0o755))
    # The busybox entry itself would make bin/busybox a symlink to itself.
    entries += [link(f"bin/{a}", "busybox") for a in applets if a != "busybox"]
    entries.append(link("usr/bin/env", "/bin/busybox"))  # for "#!/usr/bin/env sh" scripts
    entries.append(file_("etc/passwd", b"root:x:0:0:root:/root:/bin/sh\n"
                                       b"nobody:x:65534:65534:nobody:/nonexistent:/bin/false\n"))
    entries.append(file_("etc/group", b"root:x:0:\nnobody:x:65534:\n"))
    return entries


def httpd_entries():
    return [dir_("www"), file_("www/index.html", b"hello from berth httpd\n")]


# --- layouts ----------------------------------------------------------------------------------

def write_layout(out: Path, layers: list[tuple[bytes, bytes, str]], config: dict) -> str:
    """layers: (tar, tar.gz, created_by). Writes an OCI layout at out and returns the manifest digest."""
    blobs = out / "blobs" / "sha256"
    blobs.mkdir(parents=True)

    def put(data: bytes) -> dict:
        digest = sha256(data)
        (blobs / digest.split(":")[1]).write_bytes(data)
        return {"digest": digest, "size": len(data)}

    config = dict(config, created=CREATED, **PLATFORM)
    config["rootfs"] = {"type": "layers", "diff_ids": [sha256(tar) for tar, _, _ in layers]}
    config["history"] = [{"created": CREATED, "created_by": by} for _, _, by in layers]
    manifest = {
        "schemaVersion": 2,
        "mediaType": MT_MANIFEST,
        "config": {"mediaType": MT_CONFIG, **put(canonical(config))},
        "layers": [{"mediaType": MT_LAYER, **put(gz)} for _, gz, _ in layers],
    }
    mdesc = put(canonical(manifest))
    index = {
        "schemaVersion": 2,
        "mediaType": MT_INDEX,
        "manifests": [{"mediaType": MT_MANIFEST, **mdesc, "platform": PLATFORM,
                       "annotations": {REF_ANNOTATION: REF}}],
    }
    (out / "oci-layout").write_bytes(canonical({"imageLayoutVersion": "1.0.0"}))
    (out / "index.json").write_bytes(canonical(index))
    return mdesc["digest"]


def load(layout: Path) -> tuple[dict, dict, dict]:
    """(index, manifest, config) of a single-image layout."""
    layout = Path(layout)
    blob = lambda d: json.loads((layout / "blobs" / "sha256" / d.split(":")[1]).read_bytes())
    index = json.loads((layout / "index.json").read_bytes())
    manifest = blob(index["manifests"][0]["digest"])
    return index, manifest, blob(manifest["config"]["digest"])


UDP_ECHO_SRC = Path(__file__).with_name("udp_echo.c")


def compile_udp_echo() -> bytes:
    """tests/images/udp_echo.c, linked statically (busybox-static has no UDP tool)."""
    with tempfile.TemporaryDirectory() as d:
        out = Path(d) / "udp-echo"
        subprocess.run(["cc", "-static", "-O2", "-s", "-o", str(out), str(UDP_ECHO_SRC)], check=True)
        return out.read_bytes()


def build_key(busybox: bytes) -> str:
    h = hashlib.sha256(Path(__file__).read_bytes())
    h.update(busybox)
    h.update(UDP_ECHO_SRC.read_bytes())
    h.update(subprocess.run(["cc", "--version"], capture_output=True).stdout)
    return h.hexdigest()


def build_all(out_dir=DEFAULT_OUT, force: bool = False) -> dict[str, BuiltImage]:
    out_dir = Path(out_dir)
    binary = BUSYBOX.read_bytes()
    if not is_static_elf(binary):
        raise RuntimeError(f"{BUSYBOX} is not a static binary: install busybox-static (scripts/deps.sh)")
    key = build_key(binary)
    stamp = out_dir / "build-key.json"

    if not force and stamp.exists():
        recorded = json.loads(stamp.read_text())
        images = {n: BuiltImage(n, out_dir / n, d) for n, d in recorded.get("images", {}).items()}
        if recorded.get("key") == key and images and all(
                (img.path / "index.json").exists() and load(img.path)[0]["manifests"][0]["digest"] == img.digest
                for img in images.values()):
            return images

    applets = subprocess.run([str(BUSYBOX), "--list"], check=True, capture_output=True,
                             text=True).stdout.split()
    bb_tar, bb_gz = make_layer(busybox_entries(binary, applets))
    www_tar, www_gz = make_layer(httpd_entries())
    udp_tar, udp_gz = make_layer([file_("udp-echo", compile_udp_echo(), 0o755)])
    bb_layer = (bb_tar, bb_gz, "berth tests/images/build.py: busybox-static and applet links")
    specs = {
        "busybox": ([bb_layer], {"config": {"Env": [PATH_ENV], "Cmd": ["sh"]}}),
        "httpd": ([bb_layer, (www_tar, www_gz, "berth tests/images/build.py: /www/index.html")],
                  {"config": {
                      "Env": [PATH_ENV],
                      "Entrypoint": ["httpd", "-f", "-v", "-p", "80", "-h", "/www"],
                      "Cmd": [],
                      "WorkingDir": "/www",
                      "ExposedPorts": {"80/tcp": {}},
                      "Labels": {"org.opencontainers.image.title": "berth-test-httpd",
                                 "com.example.role": "web"},
                  }}),
        "udpecho": ([bb_layer, (udp_tar, udp_gz, "berth tests/images/build.py: /udp-echo")],
                    {"config": {
                        "Env": [PATH_ENV],
                        "Entrypoint": ["/udp-echo"],
                        "Cmd": ["5353"],
                        "ExposedPorts": {"5353/udp": {}},
                    }}),
    }

    out_dir.mkdir(parents=True, exist_ok=True)
    tmp = out_dir / f".tmp-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    images = {}
    try:
        for name, (layers, config) in specs.items():
            digest = write_layout(tmp / name, layers, config)
            images[name] = BuiltImage(name, out_dir / name, digest)
        stamp.unlink(missing_ok=True)
        for name in specs:
            shutil.rmtree(out_dir / name, ignore_errors=True)
            (tmp / name).rename(out_dir / name)
        stamp_tmp = tmp / "build-key.json"
        stamp_tmp.write_text(json.dumps({"key": key, "images": {n: i.digest for n, i in images.items()}}))
        stamp_tmp.rename(stamp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return images


if __name__ == "__main__":
    args = [a for a in sys.argv[1:] if a != "--force"]
    for img in build_all(args[0] if args else DEFAULT_OUT, force="--force" in sys.argv).values():
        print(f"{img.name}\t{img.digest}\t{img.path}")
