"""docker-compose (Debian's v1, through docker-py) brings an application up on Berth."""
import json
import os
import shutil
import subprocess
import time
import urllib.request

import pytest

pytestmark = pytest.mark.skipif(shutil.which("docker-compose") is None, reason="docker-compose is not installed")

COMPOSE = """
version: "3.8"
services:
  db:
    image: busybox
    command: ["sh", "-c", "echo stored > /data/value; exec httpd -f -p 5000 -h /data"]
    volumes: ["dbdata:/data"]
  web:
    image: busybox
    depends_on: [db]
    command: ["sh", "-c", "mkdir -p /www; (while true; do wget -qO /www/index.html.tmp http://db:5000/value && mv /www/index.html.tmp /www/index.html; sleep 0.3; done) & exec httpd -f -p 80 -h /www"]
    ports: ["127.0.0.1:{port}:80"]
volumes:
  dbdata: {{}}
"""


def _free_port():
    import socket
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def test_compose_up_serves_and_down_leaves_nothing(berthd, tmp_path):
    d = berthd
    d.docker("pull", "busybox")
    port = _free_port()
    (tmp_path / "docker-compose.yml").write_text(COMPOSE.format(port=port))
    project = f"berthdemo{os.getpid()}"
    env = {**os.environ, "DOCKER_HOST": d.url, "DOCKER_CONFIG": str(d.docker_config),
           "COMPOSE_PROJECT_NAME": project}
    compose = lambda *a: subprocess.run(["docker-compose", *a], cwd=tmp_path, env=env, capture_output=True,
                                         text=True, timeout=180)
    up = compose("up", "-d")
    assert up.returncode == 0, up.stderr
    body = None
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            body = urllib.request.urlopen(f"http://127.0.0.1:{port}/index.html", timeout=3).read()
            break
        except OSError:
            time.sleep(0.2)
    assert body == b"stored\n"
    ps = json.loads(d.docker("ps", "--filter", f"label=com.docker.compose.project={project}",
                             "--format", "{{json .Names}}").stdout.replace("\n", ",").join("[]").replace(",]", "]"))
    assert sorted(ps) == [f"{project}_db_1", f"{project}_web_1"]
    down = compose("down", "-v", "-t", "1")
    assert down.returncode == 0, down.stderr
    assert d.docker("ps", "-aq", "--filter", f"label=com.docker.compose.project={project}").stdout == ""
    assert project not in d.docker("network", "ls", "--format", "{{.Name}}").stdout
    assert project not in d.docker("volume", "ls", "--format", "{{.Name}}").stdout
