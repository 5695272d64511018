"""Networks: user-defined bridges, names between containers, the default bridge."""
import json

import pytest


@pytest.fixture(scope="module")
def d(berthd):
    berthd.docker("pull", "busybox")
    return berthd


def test_containers_on_a_user_network_find_each_other_by_name(d):
    d.docker("network", "create", "--label", "app=demo", "appnet")
    net = json.loads(d.docker("network", "inspect", "appnet").stdout)[0]
    subnet = net["IPAM"]["Config"][0]["Subnet"]
    assert net["Driver"] == "bridge" and net["Labels"] == {"app": "demo"}
    d.docker("run", "-d", "--name", "web", "--network", "appnet", "--network-alias", "www", "busybox",
             "sh", "-c", "echo hello-from-web > /index.html; httpd -f -p 80 -h /")
    out = d.docker("run", "--rm", "--network", "appnet", "busybox", "sh", "-c",
                   "wget -qO- http://web/index.html; wget -qO- http://www/index.html; nslookup web | tail -n +3").stdout
    assert out.count("hello-from-web") == 2, out
    ip = json.loads(d.docker("inspect", "web").stdout)[0]["NetworkSettings"]["Networks"]["appnet"]["IPAddress"]
    assert ip and ip in out
    members = json.loads(d.docker("network", "inspect", "appnet").stdout)[0]["Containers"]
    assert [m["Name"] for m in members.values()] == ["web"]
    busy = d.docker("network", "rm", "appnet", check=False)
    assert busy.returncode != 0 and "has active endpoints" in busy.stderr
    d.docker("rm", "-f", "web")
    d.docker("network", "rm", "appnet")
    assert "appnet" not in d.docker("network", "ls", "--format", "{{.Name}}").stdout


def test_default_bridge_gives_an_address_and_hosts(d):
    out = d.docker("run", "--rm", "--add-host", "gw:host-gateway", "busybox", "sh", "-c",
                   "ip -o -4 addr show eth0; ip route; cat /etc/hosts").stdout
    bridge = json.loads(d.docker("network", "inspect", "bridge").stdout)[0]
    gw = bridge["IPAM"]["Config"][0]["Gateway"]
    assert "eth0" in out and f"default via {gw}" in out
    assert f"{gw}\tgw" in out
    assert d.docker("network", "rm", "bridge", check=False).returncode != 0


def _free_port():
    import socket
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def test_a_published_port_answers_on_the_host(d):
    import urllib.request
    port = _free_port()
    d.docker("run", "-d", "--name", "pub", "-p", f"127.0.0.1:{port}:80", "busybox", "sh", "-c",
             "echo published > /index.html; httpd -f -p 80 -h /")
    assert d.docker("port", "pub").stdout.strip() == f"80/tcp -> 127.0.0.1:{port}"
    body = None
    for _ in range(50):
        try:
            body = urllib.request.urlopen(f"http://127.0.0.1:{port}/index.html", timeout=5).read()
            break
        except OSError:
            import time
            time.sleep(0.1)
    assert body == b"published\n"
    taken = d.docker("run", "-d", "-p", f"127.0.0.1:{port}:80", "busybox", "true", check=False)
    assert taken.returncode != 0 and "port is already allocated" in taken.stderr, taken.stderr
    ps = d.docker("ps", "--filter", "name=pub", "--format", "{{.Ports}}").stdout
    assert f"127.0.0.1:{port}->80/tcp" in ps
    d.docker("rm", "-f", "pub")
    d.docker("container", "prune", "-f")
    with __import__("pytest").raises(OSError):
        urllib.request.urlopen(f"http://127.0.0.1:{port}/index.html", timeout=2)


def test_a_published_udp_port_carries_datagrams_both_ways(d):
    from lib.ports import udp_exchange
    d.docker("run", "-d", "--name", "udp", "-p", "127.0.0.1::5353/udp", "udpecho")
    port = int(d.docker("port", "udp", "5353/udp").stdout.strip().rsplit(":", 1)[1])
    assert udp_exchange(port, b"ping") == b"echo: ping"
    assert udp_exchange(port, b"x" * 1400) == b"echo: " + b"x" * 1400
    d.docker("rm", "-f", "udp")
    # Gone with the container: nothing answers any more.
    assert udp_exchange(port, b"ping", tries=3) is None


def _net_counts(d):
    import subprocess
    links = subprocess.run(["ip", "-o", "link"], capture_output=True, text=True).stdout.count("\n")
    mounts = open("/proc/self/mountinfo").read().count(str(d.tmp))
    return links, mounts


def test_nothing_leaks_after_many_connect_and_run_cycles(make_berthd):
    import os
    d = make_berthd()
    d.docker("pull", "busybox")
    d.docker("network", "create", "cyc")
    d.docker("run", "-d", "--name", "hub", "busybox", "sleep", "1000")
    before = _net_counts(d)
    cycles = int(os.environ.get("BERTH_LEAK_CYCLES", "200"))
    for i in range(cycles // 2):
        d.docker("network", "connect", "cyc", "hub")
        d.docker("network", "disconnect", "cyc", "hub")
        d.docker("run", "--rm", "--network", "cyc", "busybox", "true")
    assert _net_counts(d) == before
    d.docker("rm", "-f", "hub")
    d.docker("network", "rm", "cyc")
    assert list((d.exec_root / "netns").iterdir()) == []
    # A container that ends while berthd is away: its namespace goes at the next start.
    d.docker("run", "-d", "--name", "brief", "busybox", "sleep", "1")
    assert len(list((d.exec_root / "netns").iterdir())) == 1
    d.kill9()
    import time
    time.sleep(2)
    d.start()
    assert list((d.exec_root / "netns").iterdir()) == []
    # hub's veth and the cyc bridge are gone; nothing of this daemon is mounted.
    assert _net_counts(d) == (before[0] - 2, 0)


def test_a_bip_overlapping_a_user_network_stops_the_daemon_with_both_named(make_berthd):
    from lib.berthd import BerthdError
    d = make_berthd(mirror=False)
    d.docker("network", "create", "--subnet", "10.97.0.0/16", "taken")
    d.stop()
    d.config["bip"] = "10.97.5.1/24"
    with pytest.raises(BerthdError) as err:
        d.start()
    msg = str(err.value)
    assert 'Error creating default "bridge" network' in msg and "taken" in msg and "10.97.0.0/16" in msg, msg
    d.config["bip"] = "10.98.5.1/24"
    d.start()
    assert "taken" in d.docker("network", "ls", "--format", "{{.Name}}").stdout


def test_a_network_mtu_option_reaches_the_containers(d):
    d.docker("network", "create", "-o", "com.docker.network.driver.mtu=1400", "smallmtu")
    try:
        out = d.docker("run", "--rm", "--network", "smallmtu", "busybox", "cat",
                       "/sys/class/net/eth0/mtu").stdout
        assert out.strip() == "1400"
        opts = json.loads(d.docker("network", "inspect", "smallmtu").stdout)[0]["Options"]
        assert opts == {"com.docker.network.driver.mtu": "1400"}
    finally:
        d.docker("network", "rm", "smallmtu")
    bad = d.docker("network", "create", "-o", "com.docker.network.driver.mtu=12", "tiny", check=False)
    assert bad.returncode != 0 and "invalid MTU 12" in bad.stderr
