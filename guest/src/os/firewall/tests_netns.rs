//! The real iptables, only ever inside network namespaces these tests
//! create (and delete, even on failure): the host's own tables are never
//! touched. Skipped without root, `ip` or iptables.

use std::io::{BufRead, BufReader};
use std::net::IpAddr;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};

use super::*;

fn sh(args: &[&str]) -> std::process::Output {
    Command::new(args[0])
        .args(&args[1..])
        .output()
        .expect(args[0])
}

fn ok(args: &[&str]) -> String {
    let out = sh(args);
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Why the real tests can't run here, if they can't.
fn unsupported() -> Option<String> {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    if !status
        .lines()
        .any(|l| l.starts_with("Uid:") && l.split_whitespace().nth(2) == Some("0"))
    {
        return Some("not root".into());
    }
    match Iptables::new().version() {
        Ok(v) if v.starts_with("iptables") => {}
        _ => return Some("no iptables".into()),
    }
    if Command::new("ip").arg("-V").output().is_err() {
        return Some("no ip(8)".into());
    }
    None
}

/// A network namespace named `berth-fwtest-<pid>-<n>-<role>`, with the
/// processes started in it; both go away on drop.
struct Netns {
    name: String,
    children: Vec<Child>,
}

impl Netns {
    fn new(role: &str) -> Netns {
        static N: AtomicU32 = AtomicU32::new(0);
        let n = N.fetch_add(1, Ordering::Relaxed);
        let name = format!("berth-fwtest-{}-{n}-{role}", std::process::id());
        ok(&["ip", "netns", "add", &name]);
        let ns = Netns {
            name,
            children: Vec::new(),
        };
        ns.ip(&["link", "set", "lo", "up"]);
        ns
    }

    fn ip(&self, args: &[&str]) -> String {
        ok(&[&["ip", "-n", &self.name][..], args].concat())
    }

    fn exec(&self, args: &[&str]) -> std::process::Output {
        sh(&[&["ip", "netns", "exec", &self.name][..], args].concat())
    }

    /// A one-connection-at-a-time TCP server that answers each client with
    /// the address it sees the client coming from.
    fn peer_echo_server(&mut self, ip: &str, port: u16) {
        let code = "import socket,sys\n\
            s=socket.socket(); s.setsockopt(socket.SOL_SOCKET,socket.SO_REUSEADDR,1)\n\
            s.bind((sys.argv[1],int(sys.argv[2]))); s.listen(8); s.settimeout(60)\n\
            print('ready',flush=True)\n\
            while True:\n  c,a=s.accept(); c.sendall(a[0].encode()); c.close()\n";
        let mut child = Command::new("ip")
            .args([
                "netns",
                "exec",
                &self.name,
                "python3",
                "-c",
                code,
                ip,
                &port.to_string(),
            ])
            .stdout(Stdio::piped())
            .spawn()
            .expect("python3");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        self.children.push(child);
        assert_eq!(line.trim(), "ready");
    }

    /// What the server at ip:port says, or None if the connection fails.
    fn ask(&self, ip: &str, port: u16) -> Option<String> {
        let code = "import socket,sys\n\
            c=socket.create_connection((sys.argv[1],int(sys.argv[2])),timeout=3)\n\
            print(c.recv(100).decode())\n";
        let out = self.exec(&["python3", "-c", code, ip, &port.to_string()]);
        out.status
            .success()
            .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        for c in &mut self.children {
            let _ = c.kill();
            let _ = c.wait();
        }
        let _ = sh(&["ip", "netns", "del", &self.name]);
    }
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn berth_lines(ns: &Netns, table: &str) -> Vec<String> {
    let out = ok(&[
        "ip", "netns", "exec", &ns.name, "iptables", "-w", "-t", table, "-S",
    ]);
    out.lines()
        .filter(|l| l.contains("BERTH"))
        .map(String::from)
        .collect()
}

#[test]
fn real_rules_in_a_netns() {
    if let Some(why) = unsupported() {
        return eprintln!("skipped: {why}");
    }
    let ns = Netns::new("rules");
    let fw = Iptables::in_netns(&ns.name);
    let t0 = bridge("berth-t0", "10.213.0.0/24", false, true);
    let t1 = bridge("berth-t1", "10.213.1.0/24", true, false);
    let web = published("tcp", ip("0.0.0.0"), 8080, ip("10.213.0.2"), 80, "berth-t0");
    let dns = published(
        "udp",
        ip("127.0.0.1"),
        5353,
        ip("10.213.0.2"),
        53,
        "berth-t0",
    );
    // The same state in a firewall: both bridges, both ports.
    let apply = |f: &dyn Firewall| {
        f.setup().unwrap();
        for b in [&t0, &t1] {
            f.add_network(b).unwrap();
        }
        for p in [&web, &dns] {
            f.add_port(p).unwrap();
        }
    };
    // Setting up and adding a network again changes nothing.
    fw.setup().unwrap();
    fw.add_network(&t0).unwrap();
    apply(&fw);
    assert_eq!(
        berth_lines(&ns, "nat"),
        [
            "-N BERTH",
            "-N BERTH-POSTROUTING",
            "-A PREROUTING -m addrtype --dst-type LOCAL -m comment --comment berth -j BERTH",
            "-A OUTPUT ! -d 127.0.0.0/8 -m addrtype --dst-type LOCAL -m comment --comment berth -j BERTH",
            "-A POSTROUTING -m comment --comment berth -j BERTH-POSTROUTING",
            "-A BERTH ! -i berth-t0 -p tcp -m tcp --dport 8080 -j DNAT --to-destination 10.213.0.2:80",
            "-A BERTH -d 127.0.0.1/32 ! -i berth-t0 -p udp -m udp --dport 5353 -j DNAT --to-destination 10.213.0.2:53",
            "-A BERTH-POSTROUTING -s 10.213.0.0/24 ! -o berth-t0 -j MASQUERADE",
        ]
    );
    // What the real iptables prints is what the recorder simulates, so the
    // fake's tests hold for the real thing.
    let rec = Recorder::new();
    apply(&rec);
    let mut real = berth_lines(&ns, "filter");
    let mut fake = rec.dump("filter");
    real.sort();
    fake.sort();
    assert_eq!(real, fake);
    assert_eq!(fw.leftover_rules().unwrap(), rec.leftover_rules().unwrap());

    fw.remove_port(&web).unwrap();
    fw.remove_network(&t1).unwrap();
    let nat = berth_lines(&ns, "nat");
    assert!(!nat.iter().any(|l| l.contains("--dport 8080")), "{nat:#?}");
    assert!(!berth_lines(&ns, "filter")
        .iter()
        .any(|l| l.contains("berth-t1")));

    fw.teardown().unwrap();
    assert!(berth_lines(&ns, "nat").is_empty());
    assert!(berth_lines(&ns, "filter").is_empty());
    assert!(fw.leftover_rules().unwrap().is_empty());
    fw.teardown().unwrap();
}

/// client ns ──veth── host ns (bridge) ──veth── container ns, with the host
/// routing under FORWARD policy DROP like dockerd sets it: the published
/// port must be reachable only through Berth's rules, and the container's
/// outgoing traffic must be masqueraded.
#[test]
fn real_traffic_through_dnat_forward_and_masquerade() {
    if let Some(why) = unsupported() {
        return eprintln!("skipped: {why}");
    }
    if Command::new("python3").arg("-V").output().is_err() {
        return eprintln!("skipped: no python3 for the test servers");
    }
    let host = Netns::new("host");
    let mut ctr = Netns::new("ctr");
    let mut client = Netns::new("client");
    host.ip(&["link", "add", "bbr0", "type", "bridge"]);
    host.ip(&["addr", "add", "10.213.0.1/24", "dev", "bbr0"]);
    host.ip(&[
        "link", "add", "hc0", "type", "veth", "peer", "name", "eth0", "netns", &ctr.name,
    ]);
    host.ip(&["link", "set", "hc0", "master", "bbr0"]);
    host.ip(&[
        "link",
        "add",
        "hx0",
        "type",
        "veth",
        "peer",
        "name",
        "eth0",
        "netns",
        &client.name,
    ]);
    host.ip(&["addr", "add", "192.0.2.1/24", "dev", "hx0"]);
    for l in ["bbr0", "hc0", "hx0"] {
        host.ip(&["link", "set", l, "up"]);
    }
    ctr.ip(&["addr", "add", "10.213.0.2/24", "dev", "eth0"]);
    ctr.ip(&["link", "set", "eth0", "up"]);
    ctr.ip(&["route", "add", "default", "via", "10.213.0.1"]);
    client.ip(&["addr", "add", "192.0.2.2/24", "dev", "eth0"]);
    client.ip(&["link", "set", "eth0", "up"]);
    let fwd = host.exec(&["sh", "-c", "echo 1 > /proc/sys/net/ipv4/ip_forward"]);
    assert!(fwd.status.success());

    let fw = Iptables::in_netns(&host.name);
    fw.setup().unwrap();
    forward_policy(&fw, "DROP").unwrap();
    fw.add_network(&bridge("bbr0", "10.213.0.0/24", false, true))
        .unwrap();
    ctr.peer_echo_server("10.213.0.2", 80);
    client.peer_echo_server("192.0.2.2", 9000);

    // Not published yet: nothing answers on the host's port.
    assert_eq!(client.ask("192.0.2.1", 8080), None);
    fw.add_port(&published(
        "tcp",
        ip("0.0.0.0"),
        8080,
        ip("10.213.0.2"),
        80,
        "bbr0",
    ))
    .unwrap();
    // DNAT keeps the client's address, as with dockerd without the proxy.
    assert_eq!(client.ask("192.0.2.1", 8080).as_deref(), Some("192.0.2.2"));
    // The host reaching its own address goes through OUTPUT's jump.
    assert_eq!(host.ask("192.0.2.1", 8080).as_deref(), Some("192.0.2.1"));
    // Outgoing from the container: masqueraded behind the host.
    assert_eq!(ctr.ask("192.0.2.2", 9000).as_deref(), Some("192.0.2.1"));

    fw.remove_port(&published(
        "tcp",
        ip("0.0.0.0"),
        8080,
        ip("10.213.0.2"),
        80,
        "bbr0",
    ))
    .unwrap();
    assert_eq!(client.ask("192.0.2.1", 8080), None);
    fw.remove_network(&bridge("bbr0", "10.213.0.0/24", false, true))
        .unwrap();
    // Without the network's ACCEPTs, DROP policy cuts the container off.
    assert_eq!(ctr.ask("192.0.2.2", 9000), None);
    fw.teardown().unwrap();
    assert!(fw.leftover_rules().unwrap().is_empty());
}

#[test]
fn real_iptables_restore_builds_what_the_single_commands_build() {
    if let Some(why) = unsupported() {
        return eprintln!("skipped: {why}");
    }
    let nets = [
        bridge("berth-t0", "10.213.0.0/24", false, true),
        bridge("berth-t1", "10.213.1.0/24", true, false),
    ];
    let (a, b) = (Netns::new("steps"), Netns::new("batch"));
    let steps = Iptables::in_netns(&a.name);
    steps.setup().unwrap();
    for n in &nets {
        steps.add_network(n).unwrap();
    }
    let batch = Iptables::in_netns(&b.name);
    assert_eq!(batch.rebuild(&nets).unwrap(), 0);
    for table in ["nat", "filter"] {
        assert_eq!(berth_lines(&b, table), berth_lines(&a, table), "{table}");
    }
    assert!(batch.rebuild(&nets).unwrap() > 0);
    assert_eq!(berth_lines(&b, "filter"), berth_lines(&a, "filter"));
}
