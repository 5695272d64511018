"""`berth dashboard` end to end: the real docker CLI and a real berthd on one side, Debian's
chromium driven by playwright-core (tests/dashboard/run.mjs) on the other; and the
`docker-credential-berth` helper behind a real `docker login` / `docker logout`.

Each browser step runs one node process and prints a JSON result; between steps the docker
CLI checks that the engine agrees with what the UI showed. The steps save screenshots of the
main views into docs/screenshots/ (linked from the README).
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import tempfile
from pathlib import Path

import pytest
import requests

from lib import procs

REPO = Path(__file__).resolve().parent.parent
RUNNER = REPO / "tests" / "dashboard" / "run.mjs"
SHOTS = REPO / "docs" / "screenshots"
TARGET = REPO / os.environ.get("CARGO_TARGET_DIR", "target") / "debug"
SETUP_HINT = "run scripts/deps-desktop-web.sh (chromium, npm packages, frontend build)"


def _need(path: Path, what: str) -> None:
    # Missing tools are a broken set-up, never a reason to skip.
    if not path.exists():
        pytest.fail(f"{what} missing at {path}: {SETUP_HINT}")


class Dashboard:
    """`berth dashboard --listen 127.0.0.1:0` against one berthd, with its daemon.json and pidfile."""

    def __init__(self, daemon, home: Path, vm_home: Path | None = None):
        berth = TARGET / "berth"
        _need(berth, "the berth binary (cargo build)")
        _need(REPO / "frontend" / "dist" / "index.html", "the built frontend")
        env = {k: v for k, v in os.environ.items() if not k.startswith("DOCKER_")}
        env.update(DOCKER_HOST=daemon.url, HOME=str(home), BERTH_LOG="info")
        argv = [str(berth), "dashboard", "--listen", "127.0.0.1:0"]
        if vm_home:
            # Berth's VM set up: the settings panel edits its files (and shows its resources).
            env["BERTH_HOME"] = str(vm_home)
        else:
            argv += ["--daemon-config", str(daemon.config_file), "--daemon-pidfile", str(daemon.pidfile)]
        self.log = open(home / "dashboard.log", "wb")
        self.proc = procs.spawn(argv, stdout=subprocess.PIPE, stderr=self.log, env=env)
        line = self.proc.stdout.readline().decode()
        if not line.startswith("Berth dashboard: "):
            self.stop()
            pytest.fail(f"berth dashboard printed {line!r}; log:\n{(home / 'dashboard.log').read_text()}")
        self.url = line.split(": ", 1)[1].strip()
        self.base = self.url.split("/?", 1)[0]
        self.token = self.url.split("token=", 1)[1]

    def step(self, step: str, **params) -> dict:
        _need(Path("/usr/bin/chromium"), "Debian's chromium")
        _need(REPO / "tests" / "dashboard" / "node_modules" / "playwright-core", "playwright-core")
        SHOTS.mkdir(parents=True, exist_ok=True)
        params = {"url": self.url, "shots": str(SHOTS), **params}
        cp = subprocess.run(["node", str(RUNNER), step, json.dumps(params)], capture_output=True, text=True,
                            timeout=180, cwd=RUNNER.parent)
        assert cp.returncode == 0, f"browser step {step} failed:\n{cp.stderr}\n{cp.stdout}"
        return json.loads(cp.stdout.strip().splitlines()[-1])

    def cmd(self, name: str, args=None, **kw) -> requests.Response:
        headers = {"X-Berth-Token": self.token, **kw.pop("headers", {})}
        return requests.post(f"{self.base}/api/cmd/{name}", json=args or {}, headers=headers, timeout=60, **kw)

    def stop(self) -> None:
        if self.proc.poll() is None:
            procs.terminate(self.proc, signal.SIGTERM, 10)
        self.proc.stdout.close()
        self.log.close()


@pytest.fixture
def dashboard(make_berthd):
    daemon = make_berthd()
    home = Path(tempfile.mkdtemp(prefix="berth-dash-"))
    d = Dashboard(daemon, home)
    d.daemon = daemon
    try:
        yield d
    finally:
        d.stop()
        shutil.rmtree(home, ignore_errors=True)


def running_names(daemon) -> set[str]:
    return set(daemon.docker("ps", "--format", "{{.Names}}").stdout.split())


def test_start_and_stop_a_container_from_the_ui(dashboard):
    d = dashboard.daemon
    d.docker("pull", "-q", "busybox")
    # httpd as PID 1 ignores SIGTERM: a short stop timeout keeps stop and restart quick.
    d.docker("create", "--name", "ui-web", "--stop-timeout", "1", "-p", "127.0.0.1::80", "busybox", "httpd", "-f", "-p", "80")
    assert "ui-web" not in running_names(d)

    assert dashboard.step("start", name="ui-web") == {"state": "running"}
    assert "ui-web" in running_names(d)
    rows = {r["name"]: r for r in dashboard.step("containers", name="ui-web")["rows"]}
    port = d.docker("port", "ui-web", "80").stdout.split(":")[-1].strip()
    assert rows["ui-web"]["open"] == [f"http://127.0.0.1:{port}/"], rows
    assert "busybox" in rows["ui-web"]["text"] and "Up" in rows["ui-web"]["text"]

    started = d.docker("inspect", "-f", "{{.State.StartedAt}}", "ui-web").stdout.strip()
    assert dashboard.step("restart", name="ui-web") == {"restarted": "ui-web"}
    assert "ui-web" in running_names(d)
    assert d.docker("inspect", "-f", "{{.State.StartedAt}}", "ui-web").stdout.strip() != started

    assert dashboard.step("stop", name="ui-web") == {"state": "exited"}
    assert "ui-web" not in running_names(d)

    assert dashboard.step("remove", name="ui-web") == {"removed": "ui-web"}
    assert "ui-web" not in d.docker("ps", "-a", "--format", "{{.Names}}").stdout.split()


def test_logs_inspect_and_in_use_errors(dashboard):
    d = dashboard.daemon
    d.docker("pull", "-q", "busybox")
    d.docker("run", "--name", "ui-hello", "-v", "ui-vol:/data", "busybox", "echo", "hello from berth")
    got = dashboard.step("logs", name="ui-hello", expect="hello from berth")
    assert got["inspect_name"] == "/ui-hello"
    assert got["inspect_id"] == d.docker("inspect", "-f", "{{.Id}}", "ui-hello").stdout.strip()

    vol = dashboard.step("volumes", name="ui-vol", user="ui-hello")
    assert vol["users"] == "ui-hello"
    assert "in use" in vol["error"], vol
    assert "ui-vol" in d.docker("volume", "ls", "-q").stdout.split()

    err = dashboard.step("rmi", tag="busybox:latest")["error"]
    assert "conflict" in err and "is using its referenced image" in err, err
    assert d.docker("image", "inspect", "busybox").returncode == 0


def test_pull_shows_progress_then_the_new_row(dashboard):
    d = dashboard.daemon
    assert "httpd" not in d.docker("images", "--format", "{{.Repository}}").stdout.split()
    got = dashboard.step("pull", reference="httpd", tag="httpd:latest")
    assert got["bar"]["visible"] is True
    assert got["bar"]["states"][0] == "running" and got["bar"]["states"][-1] == "done", got
    assert got["bar"]["max"] == 100
    assert got["status"] == "Pulled httpd"
    assert "httpd" in d.docker("images", "--format", "{{.Repository}}").stdout.split()

    assert dashboard.step("rmi_ok", tag="httpd:latest") == {"removed": "httpd:latest", "error_visible": False}
    assert "httpd" not in d.docker("images", "--format", "{{.Repository}}").stdout.split()


def test_invalid_settings_show_the_error_and_leave_the_file_alone(dashboard):
    before = dashboard.daemon.config_file.read_bytes()
    got = dashboard.step("settings_invalid")
    assert "not-an-ip" in got["dns_error"], got
    assert "line 1" in got["raw_error"], got
    assert dashboard.daemon.config_file.read_bytes() == before


def test_valid_settings_are_applied_and_docker_info_shows_them(dashboard):
    d = dashboard.daemon
    info = d.docker("info", "--format", "{{json .}}").stdout
    assert json.loads(info)["Debug"] is False
    got = dashboard.step("settings_valid", mirror="http://127.0.0.1:5999")
    assert got["action"] == "reloaded", got
    assert "SIGHUP" in got["message"] and "debug" in got["message"], got
    on_disk = json.loads(d.config_file.read_text())
    assert on_disk["debug"] is True and "http://127.0.0.1:5999" in on_disk["registry-mirrors"]
    # SIGHUP is asynchronous: the daemon logs the reload; docker info then shows it.
    info = {}
    for _ in range(100):
        info = json.loads(d.docker("info", "--format", "{{json .}}").stdout)
        if info["Debug"]:
            break
        subprocess.run(["sleep", "0.1"])
    assert info["Debug"] is True
    assert "http://127.0.0.1:5999/" in info["RegistryConfig"]["Mirrors"]


def test_restart_keys_are_written_and_reported(dashboard):
    text = dashboard.daemon.config_file.read_text()
    conf = {**json.loads(text), "live-restore": True, "log-driver": "local"}
    r = dashboard.cmd("settings.apply", {"text": json.dumps(conf)})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["needs_restart"] == ["log-driver"] and body["reloaded"] == ["live-restore"]
    assert body["action"] == "restart-required"
    assert "start-native.sh" in body["message"]
    assert json.loads(dashboard.daemon.config_file.read_text())["log-driver"] == "local"


def test_the_api_refuses_other_pages(dashboard):
    base, tok = dashboard.base, dashboard.token
    assert requests.post(f"{base}/api/cmd/engine.status", timeout=10).status_code == 403
    assert requests.get(f"{base}/", timeout=10).status_code == 403
    r = dashboard.cmd("engine.status", headers={"Host": f"evil.example:{base.rsplit(':', 1)[1]}"})
    assert r.status_code == 403 and "Host" in r.json()["message"]
    r = dashboard.cmd("engine.status", headers={"Origin": "http://evil.example"})
    assert r.status_code == 403
    r = dashboard.cmd("engine.status")
    assert r.status_code == 200 and r.json()["running"] is True
    # The page URL sets the token cookie the UI then uses.
    page = requests.get(dashboard.url, timeout=10)
    assert page.status_code == 200 and "<div id=\"app\">" in page.text
    assert f"berth_token_{base.rsplit(':', 1)[1]}={tok}" in page.headers["Set-Cookie"]
    assert "SameSite=Strict" in page.headers["Set-Cookie"]
    assert "default-src 'self'" in page.headers["Content-Security-Policy"]
    r = dashboard.cmd("nope.nothing")
    assert r.status_code == 404 and r.json()["field"] is None
    r = dashboard.cmd("settings.apply", {"text": "{\"debug\": 1}"})
    assert r.status_code == 422 and r.json()["field"] == "debug"


def test_credential_helper_serves_docker_login_and_logout(make_berthd, make_registry, tmp_path):
    helper = TARGET / "docker-credential-berth"
    _need(helper, "docker-credential-berth (cargo build)")
    if shutil.which("keyctl") is None:
        pytest.fail(f"keyctl missing: {SETUP_HINT}")
    reg = make_registry(auth=("alice", "s3cret-pw"), seed=True)
    d = make_berthd()
    cfg = tmp_path / "docker-config"
    cfg.mkdir()
    (cfg / "config.json").write_text(json.dumps({"credsStore": "berth"}))
    (tmp_path / "pw").write_text("s3cret-pw")
    out = tmp_path / "out"
    out.mkdir()
    # One session keyring for the whole login → use → logout sequence (no desktop keychain here).
    script = f"""
set -u
docker login -u alice --password-stdin {reg.host} < {tmp_path}/pw > {out}/login 2>&1; echo $? > {out}/login.rc
docker-credential-berth list > {out}/list1
echo {reg.host} | docker-credential-berth get > {out}/get1
docker pull -q {reg.host}/library/busybox:latest > {out}/pull 2>&1; echo $? > {out}/pull.rc
docker logout {reg.host} > {out}/logout 2>&1; echo $? > {out}/logout.rc
docker-credential-berth list > {out}/list2
echo {reg.host} | docker-credential-berth get > {out}/get2; echo $? > {out}/get2.rc
"""
    env = {k: v for k, v in os.environ.items() if not k.startswith("DOCKER_")}
    env.update(DOCKER_HOST=d.url, DOCKER_CONFIG=str(cfg), PATH=f"{TARGET}:{env['PATH']}")
    subprocess.run(["keyctl", "session", "-", "bash", "-c", script], env=env, check=True, timeout=180,
                   capture_output=True)
    read = lambda n: (out / n).read_text().strip()  # noqa: E731
    assert read("login.rc") == "0", read("login")
    assert json.loads(read("list1")) == {reg.host: "alice"}
    assert json.loads(read("get1")) == {"ServerURL": reg.host, "Username": "alice", "Secret": "s3cret-pw"}
    # The secret is in the keychain, not in config.json.
    assert "s3cret" not in (cfg / "config.json").read_text()
    assert read("pull.rc") == "0", read("pull")
    assert read("logout.rc") == "0", read("logout")
    assert json.loads(read("list2")) == {}
    assert read("get2.rc") == "1" and read("get2") == "credentials not found in native keychain"


def test_lists_follow_engine_events(dashboard):
    """The page never polls: a container made by the docker CLI while the page is open can only
    appear through the engine's event stream."""
    d = dashboard.daemon
    d.docker("pull", "-q", "busybox")
    params = {"url": dashboard.url, "name": "ui-evented"}
    with subprocess.Popen(["node", str(RUNNER), "follow", json.dumps(params)], stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, text=True, cwd=RUNNER.parent) as node:
        try:
            first = node.stdout.readline()
            assert json.loads(first) == {"ready": True}, first + node.stderr.read()
            d.docker("create", "--name", "ui-evented", "busybox", "true")
            out, err = node.communicate(timeout=120)
        finally:
            if node.poll() is None:
                node.kill()
    assert node.returncode == 0, err
    assert json.loads(out.strip().splitlines()[-1]) == {"seen": "ui-evented"}


def test_vm_resources_sit_in_the_settings_panel(berthd, tmp_path):
    """With Berth's VM set up (its config.json exists) the panel edits the VM's resources through
    the VM helper's settings code; a native engine shows no such section (the other tests)."""
    vm_home = tmp_path / "berth-home"
    vm_home.mkdir()
    (vm_home / "config.json").write_text(json.dumps({"cpus": 2, "memory_mib": 2048}))
    dash = Dashboard(berthd, tmp_path, vm_home=vm_home)
    try:
        got = dash.step("vm", cpus=3, bad_memory=16, memory=3072, share=str(tmp_path))
    finally:
        dash.stop()
    assert "memory_mib" in got["memory_error"] and "256" in got["memory_error"], got
    assert got["action"] == "restart-required", got
    saved = json.loads((vm_home / "config.json").read_text())
    assert (saved["cpus"], saved["memory_mib"], saved["shares"]) == (3, 3072, [str(tmp_path)])
    assert got["daemon_json"] == str(vm_home / "daemon.json")


def test_event_stream_follows_the_engine_going_away_and_back(dashboard):
    """What the tray and the status line follow: `engine` items when berthd stops and starts."""
    def items(resp):
        for line in resp.iter_lines(decode_unicode=True):
            if line and line.startswith("data:"):
                yield json.loads(line[5:])

    with requests.get(f"{dashboard.base}/api/events", headers={"X-Berth-Token": dashboard.token},
                      stream=True, timeout=60) as resp:
        assert resp.status_code == 200
        assert resp.headers["Content-Type"].startswith("text/event-stream")
        stream = items(resp)
        assert next(stream) == {"type": "engine", "running": True}
        dashboard.daemon.docker("volume", "create", "ev-vol")
        seen = next(i for i in stream if i["type"] == "event")
        assert (seen["kind"], seen["action"], seen["id"]) == ("volume", "create", "ev-vol")
        # berthd keeps open /events connections until its shutdown grace period runs out
        # (reported to berthd's owner), so this stop takes that long.
        dashboard.daemon.stop()
        assert next(i for i in stream if i["type"] == "engine") == {"type": "engine", "running": False}
        dashboard.daemon.start()
        assert next(i for i in stream if i["type"] == "engine") == {"type": "engine", "running": True}


def test_logs_stream_live_into_the_panel(dashboard):
    d = dashboard.daemon
    d.docker("pull", "-q", "busybox")
    # Writes its second line only when told to (through docker exec), after the panel is open.
    d.docker("run", "-d", "--name", "ui-live", "--stop-timeout", "1", "busybox", "sh", "-c",
             "echo first-line; while [ ! -e /tmp/go ]; do sleep 0.1; done; echo later-line; exec sleep 1000")
    params = {"url": dashboard.url, "name": "ui-live", "first": "first-line", "later": "later-line"}
    with subprocess.Popen(["node", str(RUNNER), "live_logs", json.dumps(params)], stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, text=True, cwd=RUNNER.parent) as node:
        try:
            first = node.stdout.readline()
            assert json.loads(first) == {"ready": True}, first + node.stderr.read()
            d.docker("exec", "ui-live", "touch", "/tmp/go")
            out, err = node.communicate(timeout=120)
        finally:
            if node.poll() is None:
                node.kill()
    assert node.returncode == 0, err
    assert json.loads(out.strip().splitlines()[-1]) == {"state": "streaming"}
