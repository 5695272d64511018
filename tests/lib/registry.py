"""A throwaway image registry on 127.0.0.1: Debian's docker-registry (distribution 2.8)."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import requests

from . import procs
from .ports import free_port

REGISTRY_BIN = os.environ.get("BERTH_REGISTRY_BIN", "/usr/bin/docker-registry")
SKOPEO = os.environ.get("BERTH_SKOPEO", "skopeo")
MT_OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"


class RegistryError(RuntimeError):
    pass


class Registry:
    """Registry(auth=("user", "pass")) for htpasswd (basic) auth; anonymous otherwise.

    .host "127.0.0.1:PORT", .url "http://127.0.0.1:PORT", .port, .auth, .dir (temp dir).
    """

    def __init__(self, auth: tuple[str, str] | None = None, accesslog: bool = False):
        self.auth = auth
        self.accesslog = accesslog  # one line per request in log_text(), for counting downloads
        self.dir = Path(tempfile.mkdtemp(prefix="berth-registry-"))
        self.proc: subprocess.Popen | None = None
        self.port = 0

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        return f"http://{self.host}"

    def ref(self, repo: str, tag: str = "latest") -> str:
        return f"{self.host}/{repo}:{tag}"

    def _write_config(self) -> Path:
        # distribution reads YAML; JSON is YAML, which spares the bed a YAML library.
        config = {
            "version": "0.1",
            "log": {"level": "info", "accesslog": {"disabled": not self.accesslog}},
            "storage": {"filesystem": {"rootdirectory": str(self.dir / "data")},
                        "delete": {"enabled": True}},
            "http": {"addr": self.host, "secret": "berth-test-secret"},
        }
        if self.auth:
            import bcrypt  # distribution's htpasswd accepts bcrypt hashes only
            user, password = self.auth
            hashed = bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=5)).decode()
            (self.dir / "htpasswd").write_text(f"{user}:{hashed}\n")
            config["auth"] = {"htpasswd": {"realm": "berth-test", "path": str(self.dir / "htpasswd")}}
        path = self.dir / "config.yml"
        path.write_text(json.dumps(config, indent=1))
        return path

    def start(self, timeout: float = 20) -> "Registry":
        # REGISTRY_* variables override the config file; keep the caller's out of it.
        env = {k: v for k, v in os.environ.items() if not k.startswith("REGISTRY_")}
        for _attempt in range(3):  # the free port may be taken before the registry binds it
            self.port = free_port()
            config = self._write_config()
            log = open(self.dir / "registry.log", "ab")
            self.proc = procs.spawn([REGISTRY_BIN, "serve", str(config)], stdout=log,
                                    stderr=subprocess.STDOUT, env=env)
            log.close()
            if self._wait_ready(timeout):
                return self
            if self.proc.poll() is None:
                self.stop(cleanup=False)
                raise RegistryError(f"registry not ready in {timeout}s:\n{self.log_text()[-2000:]}")
            procs.forget(self.proc)
            if "address already in use" not in self.log_text():
                break
        raise RegistryError(f"registry exited with {self.proc.returncode}:\n{self.log_text()[-2000:]}")

    def _wait_ready(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and self.proc.poll() is None:
            try:
                # 401 is the ready answer of a registry with auth.
                if requests.get(f"{self.url}/v2/", timeout=2).status_code in (200, 401):
                    return True
            except requests.ConnectionError:
                pass
            time.sleep(0.05)
        return False

    def log_text(self) -> str:
        try:
            return (self.dir / "registry.log").read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def stop(self, cleanup: bool = True) -> None:
        if self.proc is not None:
            pid = self.proc.pid
            procs.terminate(self.proc)
            if not procs.wait_gone(pid):
                raise RegistryError(f"registry pid {pid} still alive after stop")
            self.proc = None
        if cleanup:
            shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    # --- client side --------------------------------------------------------------------------

    def get(self, path: str, headers: dict | None = None, auth=True, **kw) -> requests.Response:
        """GET url+path; with this registry's credentials unless auth=False (or other creds)."""
        creds = self.auth if auth is True else (auth or None)
        return requests.get(self.url + path, headers=headers, auth=creds, timeout=30, **kw)

    def skopeo(self, *args: str, check: bool = True, timeout: float = 120) -> subprocess.CompletedProcess:
        # --insecure-policy: skopeo otherwise needs /etc/containers/policy.json, which the bed
        # does not rely on the machine having.
        argv = [SKOPEO, "--insecure-policy", *args]
        cp = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
        if check and cp.returncode:
            raise RegistryError(f"{' '.join(argv)} exited {cp.returncode}:\n{cp.stderr}")
        return cp

    def _creds(self, prefix: str = "") -> list[str]:
        """skopeo credential flags; prefix "dest-" or "src-" for copy, "" for inspect."""
        if self.auth:
            return [f"--{prefix}creds", ":".join(self.auth)]
        return [f"--{prefix}no-creds"]  # never pick up the machine's auth files

    def push_oci(self, layout_dir, repo: str, tag: str = "latest") -> str:
        """Copies the layout's (first) image to REPO:TAG here; returns the pushed manifest digest."""
        index = json.loads((Path(layout_dir) / "index.json").read_text())
        src_ref = index["manifests"][0].get("annotations", {}).get("org.opencontainers.image.ref.name", "")
        src = f"oci:{layout_dir}:{src_ref}" if src_ref else f"oci:{layout_dir}"
        digest_file = self.dir / f"digest-{os.getpid()}-{time.monotonic_ns()}"
        self.skopeo("copy", "--quiet", "--dest-tls-verify=false", *self._creds("dest-"),
                    "--digestfile", str(digest_file), src, f"docker://{self.ref(repo, tag)}")
        digest = digest_file.read_text().strip()
        digest_file.unlink()
        return digest

    def inspect(self, repo: str, tag: str = "latest", raw: bool = False) -> dict:
        """skopeo inspect (image summary), or the raw manifest with raw=True."""
        out = self.skopeo("inspect", "--tls-verify=false", *self._creds(),
                          *(["--raw"] if raw else []), f"docker://{self.ref(repo, tag)}").stdout
        return json.loads(out)
