"""The firewall: outbound NAT, DNAT of published ports, `--internal`, `icc`, and rules that
come and go with containers, networks and the daemon.

berthd runs inside a network namespace of the test's own ("the host"), wired by a veth pair to
a second namespace ("the outside world") where an HTTP server listens. Nothing here touches
the machine's own tables, links or forwarding setting.
"""
import json
import os
import subprocess
import time
from pathlib import Path

import pytest

from lib.berthd import Berthd, require_binary

HOST_IP, OUTSIDE_IP = "10.251.0.1", "10.251.0.2"
# A container started with -d may not listen yet: fetch until it answers (bounded). (busybox's
# own `wget -T` crashes in Debian's static build: `timeout` bounds each try instead; never as
# PID 1, which would ignore the SIGTERM that `timeout` sends: hence the `; exit $?` after it.)
FETCH = "for i in $(seq 50); do timeout 5 wget -qO- {url} && exit 0; sleep 0.1; done; exit 1"


def sh(*argv, check=True, timeout=60):
    return subprocess.run(argv, capture_output=True, text=True, check=check, timeout=timeout)


def rules(ns: str) -> list[str]:
    """Every Berth rule and chain in the namespace, as `iptables -S` prints them."""
    out = []
    for table in ("nat", "filter"):
        lines = sh("ip", "netns", "exec", ns, "iptables", "-w", "-t", table, "-S").stdout.splitlines()
        out += [f"{table} {l}" for l in lines if "BERTH" in l or "berth" in l]
    return out


def links(ns: str) -> list[str]:
    return [l.split(":")[1].strip().split("@")[0]
            for l in sh("ip", "-n", ns, "-o", "link", "show").stdout.splitlines()]


@pytest.fixture(scope="module")
def world(tmp_path_factory, berthd):
    """(host namespace, outside namespace, the outside server's request log)."""
    require_binary()
    tag = f"{os.getpid() % 100000}"
    host, outside = f"bfw-h{tag}", f"bfw-o{tag}"
    www = tmp_path_factory.mktemp("www")
    (www / "hello").write_text("hello-from-outside\n")
    log = www.parent / f"{www.name}-access.log"
    server = None
    try:
        for ns in (host, outside):
            sh("ip", "netns", "add", ns)
            sh("ip", "-n", ns, "link", "set", "lo", "up")
        sh("ip", "link", "add", f"fwh{tag}", "netns", host, "type", "veth", "peer", "name", f"fwo{tag}",
           "netns", outside)
        sh("ip", "-n", host, "addr", "add", f"{HOST_IP}/24", "dev", f"fwh{tag}")
        sh("ip", "-n", outside, "addr", "add", f"{OUTSIDE_IP}/24", "dev", f"fwo{tag}")
        sh("ip", "-n", host, "link", "set", f"fwh{tag}", "up")
        sh("ip", "-n", outside, "link", "set", f"fwo{tag}", "up")
        # The outside has no route to any container subnet: only NAT gets an answer back.
        server = subprocess.Popen(
            ["ip", "netns", "exec", outside, "python3", "-u", "-m", "http.server", "8000", "--bind",
             OUTSIDE_IP, "--directory", str(www)],
            stdout=subprocess.DEVNULL, stderr=open(log, "w"))
        for _ in range(100):
            if sh("ip", "netns", "exec", host, "busybox", "wget", "-qO-", f"http://{OUTSIDE_IP}:8000/hello",
                  check=False).returncode == 0:
                break
            time.sleep(0.1)
        yield host, outside, log
    finally:
        if server:
            server.kill()
            server.wait()
        for ns in (host, outside):
            sh("ip", "netns", "del", ns, check=False)


@pytest.fixture(scope="module")
def d(world, berthd, tmp_path_factory):
    """A berthd inside the host namespace with dockerd's defaults: iptables and ip-forward on."""
    host, _, _ = world
    daemon = Berthd(config={"iptables": True, "ip-forward": True}, netns=host)
    try:
        daemon.start()
        # Images come from the session daemon: this namespace cannot reach the test registry.
        tar = tmp_path_factory.mktemp("img") / "busybox.tar"
        berthd.docker("pull", "busybox")
        berthd.docker("save", "-o", str(tar), "busybox")
        daemon.docker("load", "-i", str(tar))
        yield daemon
    finally:
        daemon.cleanup()


def outside_log(world) -> str:
    return Path(world[2]).read_text()


def test_outbound_traffic_leaves_with_the_hosts_address(d, world):
    host, _, _ = world
    assert sh("ip", "netns", "exec", host, "cat", "/proc/sys/net/ipv4/ip_forward").stdout.strip() == "1"
    out = d.docker("run", "--rm", "busybox", "wget", "-qO-", f"http://{OUTSIDE_IP}:8000/hello").stdout
    assert out == "hello-from-outside\n"
    bridge = json.loads(d.docker("network", "inspect", "bridge").stdout)[0]
    subnet = bridge["IPAM"]["Config"][0]["Subnet"]
    assert any(f"-s {subnet}" in r and "MASQUERADE" in r for r in rules(host)), rules(host)
    # The server saw the host's address, not the container's.
    last = [l for l in outside_log(world).splitlines() if "GET /hello" in l][-1]
    assert last.startswith(HOST_IP + " "), last


def test_a_published_port_answers_other_hosts_and_keeps_their_address(d, world):
    host, outside, _ = world
    d.docker("run", "-d", "--name", "pub", "-p", "8080:80", "busybox", "sh", "-c",
             "echo published > /www; mkdir -p /h && mv /www /h/index.html; httpd -f -vv -p 80 -h /h")
    try:
        got = ""
        for _ in range(50):
            r = sh("ip", "netns", "exec", outside, "busybox", "wget", "-qO-", f"http://{HOST_IP}:8080/",
                   check=False)
            if r.returncode == 0:
                got = r.stdout
                break
            time.sleep(0.1)
        assert got == "published\n"
        # DNAT, not the proxy: the container sees the outside's own address.
        assert OUTSIDE_IP in d.docker("logs", "pub").stderr
        dnat = [r for r in rules(host) if "--dport 8080" in r and "DNAT" in r]
        assert len(dnat) == 1, rules(host)
    finally:
        d.docker("rm", "-f", "pub")
    assert not [r for r in rules(host) if "--dport 8080" in r], rules(host)
    # From the host itself the userland proxy serves loopback as before (and is gone too).
    r = sh("ip", "netns", "exec", host, "busybox", "wget", "-qO-", "http://127.0.0.1:8080/", check=False)
    assert r.returncode != 0


def test_an_internal_network_keeps_traffic_inside(d, world):
    d.docker("network", "create", "--internal", "closed")
    try:
        d.docker("run", "-d", "--name", "peer", "--network", "closed", "busybox", "sh", "-c",
                 "echo inside > /index.html; httpd -f -p 80 -h /")
        r = d.docker("run", "--rm", "--network", "closed", "busybox", "sh", "-c",
                     "(" + FETCH.format(url="http://peer/index.html")
                     + f") && timeout 5 wget -qO- http://{OUTSIDE_IP}:8000/hello; exit $?", check=False)
        assert r.stdout == "inside\n" and r.returncode != 0, (r.stdout, r.stderr)
        routes = d.docker("run", "--rm", "--network", "closed", "busybox", "ip", "route").stdout
        assert "default" not in routes and "dev eth0" in routes, routes
    finally:
        d.docker("rm", "-f", "peer")
        d.docker("network", "rm", "closed")


def test_icc_off_separates_containers_of_one_network(d, world):
    d.docker("network", "create", "-o", "com.docker.network.bridge.enable_icc=false", "apart")
    d.docker("network", "create", "together")
    try:
        for net in ("apart", "together"):
            d.docker("run", "-d", "--name", f"srv-{net}", "--network", net, "busybox", "sh", "-c",
                     "echo hi > /index.html; httpd -f -p 80 -h /")
        ok = d.docker("run", "--rm", "--network", "together", "busybox", "sh", "-c",
                      FETCH.format(url="http://srv-together/index.html"), check=False)
        assert ok.stdout == "hi\n", ok.stderr
        no = d.docker("run", "--rm", "--network", "apart", "busybox", "sh", "-c",
                      "timeout 5 wget -qO- http://srv-apart/index.html; exit $?", check=False)
        assert no.returncode != 0 and no.stdout == ""
    finally:
        d.docker("rm", "-f", "srv-apart", "srv-together")
        d.docker("network", "rm", "apart", "together")


def test_200_cycles_leave_no_rule_or_link_behind(d, world):
    host, _, _ = world
    before_rules, before_links = sorted(rules(host)), sorted(links(host))
    client = d.client()
    net = client.networks.create("cycles")
    try:
        for i in range(200):
            c = client.containers.run("busybox", ["sleep", "60"], detach=True,
                                      ports={"80/tcp": ("0.0.0.0", 9000 + i % 5)})
            net.connect(c)
            net.disconnect(c)
            c.remove(force=True)
    finally:
        net.remove()
        client.close()
    assert sorted(rules(host)) == before_rules
    assert sorted(links(host)) == before_links


def test_rules_are_rebuilt_after_a_crash_and_removed_at_stop(d, world):
    host, _, _ = world
    d.docker("run", "-d", "--name", "survivor", "--restart", "always", "-p", "8181:80", "busybox",
             "sleep", "600")
    d.kill9()
    assert [r for r in rules(host) if "--dport 8181" in r], "a killed daemon leaves its rules"
    d.start()
    try:
        # One DNAT for the port, not the old one plus a new one.
        assert len([r for r in rules(host) if "--dport 8181" in r and "DNAT" in r]) == 1, rules(host)
        masq = [r for r in rules(host) if "MASQUERADE" in r]
        assert len(masq) == len(set(masq)), masq
    finally:
        d.docker("rm", "-f", "survivor")
    d.stop()
    try:
        assert rules(host) == []
    finally:
        d.start()


def forwarding(ns: str) -> tuple[str, str]:
    fwd = sh("ip", "netns", "exec", ns, "cat", "/proc/sys/net/ipv4/ip_forward").stdout.strip()
    policy = sh("ip", "netns", "exec", ns, "iptables", "-w", "-S", "FORWARD").stdout.splitlines()[0]
    return fwd, policy


def test_a_clean_stop_gives_forwarding_back_as_it_was_found(d, world):
    host, _, _ = world
    d.stop()
    sh("ip", "netns", "exec", host, "sh", "-c", "echo 0 > /proc/sys/net/ipv4/ip_forward")
    sh("ip", "netns", "exec", host, "iptables", "-w", "-P", "FORWARD", "ACCEPT")
    try:
        d.start()
        # dockerd's rule: a host that did not route gets a FORWARD policy of DROP.
        assert forwarding(host) == ("1", "-P FORWARD DROP")
    finally:
        d.stop()
    assert forwarding(host) == ("0", "-P FORWARD ACCEPT")
    assert rules(host) == []
    d.start()
