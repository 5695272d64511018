"""docker events: live streams, replays with --since/--until, filters."""
import json
import os
import subprocess
import threading
import time


def events_proc(d, *args):
    env = {k: v for k, v in os.environ.items() if not k.startswith("DOCKER_")}
    env["DOCKER_CONFIG"] = str(d.docker_config)
    return subprocess.Popen(["docker", "-H", d.url, "events", "--format", "{{json .}}", *args],
                            stdout=subprocess.PIPE, text=True, env=env)


def wait_listeners(d, n):
    deadline = time.monotonic() + 10
    while json.loads(d.api("GET", "/info")[2])["NEventsListener"] < n:
        assert time.monotonic() < deadline, "events listener never connected"
        time.sleep(0.05)


def collect_lines(p):
    """The lines p prints, gathered by a thread as they come (it ends with p's output)."""
    lines = []

    def gather():
        for line in p.stdout:
            lines.append(line)
    t = threading.Thread(target=gather, daemon=True)
    t.start()
    return lines, t


def test_live_events_in_order(make_berthd):
    d = make_berthd()
    p = events_proc(d)
    lines, reader = collect_lines(p)
    try:
        wait_listeners(d, 1)
        d.docker("volume", "create", "evvol")
        d.docker("pull", "busybox")
        d.docker("tag", "busybox", "evbox:1")
        cid = d.docker("create", "--name", "evc", "-l", "app=demo", "busybox").stdout.strip()
        d.docker("rename", "evc", "evc2")
        d.docker("rm", "evc2")
        d.docker("rmi", "evbox:1")
        d.docker("volume", "rm", "evvol")
        deadline = time.monotonic() + 20
        while len(lines) < 8 and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.2)  # anything more that would come (it must not)
    finally:
        p.terminate()
        p.wait(timeout=10)
        reader.join(timeout=10)
    out = "".join(lines)
    seen = [(e["Type"], e["Action"]) for e in map(json.loads, out.splitlines())]
    assert seen == [("volume", "create"), ("image", "pull"), ("image", "tag"), ("container", "create"),
                    ("container", "rename"), ("container", "destroy"), ("image", "untag"), ("volume", "destroy")], seen
    events = [json.loads(line) for line in out.splitlines()]
    create = events[3]
    assert create["Actor"]["ID"] == cid
    assert create["Actor"]["Attributes"] == {"app": "demo", "image": "busybox", "name": "evc"}
    assert events[4]["Actor"]["Attributes"]["oldName"] == "/evc"
    assert events[1]["Actor"]["ID"] == "busybox:latest"


def test_since_until_replays_and_ends(make_berthd):
    d = make_berthd()
    start = time.time()
    d.docker("volume", "create", "r1")
    d.docker("volume", "create", "r2")
    time.sleep(0.05)
    end = time.time()
    d.docker("volume", "create", "r3")
    cp = d.docker("events", "--since", f"{start:.9f}", "--until", f"{end:.9f}", "--format", "{{.Actor.ID}}", timeout=20)
    assert cp.stdout.split() == ["r1", "r2"]


def test_filters_select_events(make_berthd):
    d = make_berthd()
    start = time.time()
    d.docker("volume", "create", "f1")
    d.docker("pull", "busybox")
    until = f"{time.time():.9f}"
    since = f"{start:.9f}"
    only_images = d.docker("events", "--since", since, "--until", until, "--filter", "type=image",
                           "--format", "{{.Type}} {{.Action}}").stdout.splitlines()
    assert only_images == ["image pull"]
    vol = d.docker("events", "--since", since, "--until", until, "--filter", "volume=f1",
                   "--format", "{{.Action}}").stdout.split()
    assert vol == ["create"]


def test_daemon_stop_ends_live_event_streams_cleanly(make_berthd):
    """dockerd ends `GET /events` at shutdown; a stream left open must not hold the daemon
    until its grace period and then be cut mid-response."""
    d = make_berthd(config={"shutdown-timeout": 60})
    s = d.raw_socket(timeout=50)
    try:
        s.sendall(b"GET /events HTTP/1.1\r\nHost: berth\r\n\r\n")
        wait_listeners(d, 1)
        d.docker("volume", "create", "last-event")
        d.proc.send_signal(15)
        data = b""
        while chunk := s.recv(65536):
            data += chunk
        assert d.proc.wait(timeout=50) == 0
    finally:
        s.close()
    head, _, body = data.partition(b"\r\n\r\n")
    assert b"200 OK" in head and b"chunked" in head.lower()
    assert b'"last-event"' in body
    # The last chunk of a response that was ended, not cut.
    assert body.endswith(b"0\r\n\r\n"), body[-40:]
