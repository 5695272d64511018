//! Rule generation: the exact iptables argv of each call, against the
//! simulating recorder (no root, no iptables needed).

use std::net::IpAddr;

use super::*;

fn argv(s: &str) -> Vec<String> {
    s.split_whitespace().map(String::from).collect()
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

#[test]
fn port_rules_exact_argv() {
    let web = published("tcp", ip("0.0.0.0"), 8080, ip("172.18.0.2"), 80, "br-abc");
    let r = Recorder::new();
    r.setup().unwrap();
    r.take_calls();
    r.add_port(&web).unwrap();
    r.add_port(&published(
        "udp",
        ip("127.0.0.1"),
        5353,
        ip("172.18.0.2"),
        53,
        "br-abc",
    ))
    .unwrap();
    assert_eq!(
        r.take_calls(),
        vec![
            argv("-t nat -A BERTH ! -i br-abc -p tcp -m tcp --dport 8080 -j DNAT --to-destination 172.18.0.2:80"),
            argv("-t filter -A BERTH -d 172.18.0.2/32 ! -i br-abc -o br-abc -p tcp -m tcp --dport 80 -j ACCEPT"),
            argv("-t nat -A BERTH -d 127.0.0.1/32 ! -i br-abc -p udp -m udp --dport 5353 -j DNAT --to-destination 172.18.0.2:53"),
            argv("-t filter -A BERTH -d 172.18.0.2/32 ! -i br-abc -o br-abc -p udp -m udp --dport 53 -j ACCEPT"),
        ]
    );
    r.remove_port(&web).unwrap();
    assert_eq!(
        r.take_calls(),
        vec![
            argv("-t nat -D BERTH ! -i br-abc -p tcp -m tcp --dport 8080 -j DNAT --to-destination 172.18.0.2:80"),
            argv("-t filter -D BERTH -d 172.18.0.2/32 ! -i br-abc -o br-abc -p tcp -m tcp --dport 80 -j ACCEPT"),
        ]
    );
    // IPv6 bindings are the proxy's alone.
    r.add_port(&published(
        "tcp",
        ip("::"),
        8080,
        ip("172.18.0.2"),
        80,
        "br-abc",
    ))
    .unwrap();
    assert!(r.take_calls().is_empty());
}

#[test]
fn setup_creates_chains_and_jumps_once() {
    let r = Recorder::new();
    r.setup().unwrap();
    let calls = r.take_calls();
    let expected_start = [
        "-t nat -N BERTH",
        "-t nat -N BERTH-POSTROUTING",
        "-t filter -N BERTH",
        "-t filter -N BERTH-FORWARD",
        "-t filter -N BERTH-ISOLATION",
        "-t filter -N BERTH-ISOLATION-2",
        "-t nat -C PREROUTING -m addrtype --dst-type LOCAL -m comment --comment berth -j BERTH",
        "-t nat -A PREROUTING -m addrtype --dst-type LOCAL -m comment --comment berth -j BERTH",
    ];
    assert_eq!(calls[..8], expected_start.map(argv));
    assert!(calls.contains(&argv(
        "-t nat -A OUTPUT ! -d 127.0.0.0/8 -m addrtype --dst-type LOCAL -m comment --comment berth -j BERTH"
    )));
    assert!(calls.contains(&argv(
        "-t nat -A POSTROUTING -m comment --comment berth -j BERTH-POSTROUTING"
    )));
    let forward: Vec<String> = r
        .dump("filter")
        .into_iter()
        .filter(|l| l.starts_with("-A FORWARD"))
        .collect();
    assert_eq!(
        forward,
        [
            "-A FORWARD -m comment --comment berth -j BERTH-ISOLATION",
            "-A FORWARD -m comment --comment berth -j BERTH-FORWARD",
        ]
    );
    // Again: only checks, nothing added.
    r.setup().unwrap();
    let again = r.take_calls();
    assert!(
        again.iter().all(|c| c[2] == "-N" || c[2] == "-C"),
        "{again:?}"
    );
    assert_eq!(r.dump("nat").len(), 5);
}

#[test]
fn setup_restores_forward_jump_order() {
    let r = Recorder::new();
    r.setup().unwrap();
    // Someone deleted the isolation jump: both come back, in order.
    r.iptables(&argv(
        "-t filter -D FORWARD -m comment --comment berth -j BERTH-ISOLATION",
    ))
    .unwrap();
    r.iptables(&argv("-t filter -A FORWARD -j ACCEPT")).unwrap();
    r.setup().unwrap();
    let forward: Vec<String> = r
        .dump("filter")
        .into_iter()
        .filter(|l| l.starts_with("-A FORWARD"))
        .collect();
    assert_eq!(
        forward,
        [
            "-A FORWARD -m comment --comment berth -j BERTH-ISOLATION",
            "-A FORWARD -m comment --comment berth -j BERTH-FORWARD",
            "-A FORWARD -j ACCEPT",
        ]
    );
}

#[test]
fn network_rules_like_dockerd() {
    let r = Recorder::new();
    r.setup().unwrap();
    r.add_network(&bridge("br-a", "172.18.0.0/16", false, true))
        .unwrap();
    r.add_network(&bridge("br-a", "172.18.0.0/16", false, true))
        .unwrap();
    assert!(r
        .dump("nat")
        .contains(&"-A BERTH-POSTROUTING -s 172.18.0.0/16 ! -o br-a -j MASQUERADE".into()));
    let filter = r.dump("filter");
    let mine: Vec<&str> = filter
        .iter()
        .map(String::as_str)
        .filter(|l| l.contains("br-a"))
        .collect();
    assert_eq!(
        mine,
        [
            "-A BERTH-FORWARD -o br-a -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT",
            "-A BERTH-FORWARD -o br-a -j BERTH",
            "-A BERTH-FORWARD -i br-a ! -o br-a -j ACCEPT",
            "-A BERTH-FORWARD -i br-a -o br-a -j ACCEPT",
            "-A BERTH-ISOLATION -i br-a ! -o br-a -j BERTH-ISOLATION-2",
            "-A BERTH-ISOLATION-2 -o br-a -j DROP",
        ]
    );
    r.remove_network(&bridge("br-a", "172.18.0.0/16", false, true))
        .unwrap();
    assert!(r
        .dump("filter")
        .iter()
        .chain(&r.dump("nat"))
        .all(|l| !l.contains("br-a")));
}

#[test]
fn internal_and_icc_false_networks() {
    let r = Recorder::new();
    r.setup().unwrap();
    r.add_network(&bridge("br-i", "10.9.0.0/24", true, false))
        .unwrap();
    assert!(
        r.dump("nat").iter().all(|l| !l.contains("br-i")),
        "internal: no MASQUERADE"
    );
    let filter = r.dump("filter");
    for want in [
        "-A BERTH-ISOLATION ! -d 10.9.0.0/24 -i br-i -j DROP",
        "-A BERTH-ISOLATION ! -s 10.9.0.0/24 -o br-i -j DROP",
        "-A BERTH-FORWARD -i br-i -o br-i -j DROP",
    ] {
        assert!(
            filter.contains(&want.to_string()),
            "missing {want}: {filter:#?}"
        );
    }
    assert!(!filter
        .iter()
        .any(|l| l.contains("br-i ! -o br-i -j ACCEPT")));
}

#[test]
fn two_bindings_to_one_container_port_each_own_their_rule() {
    let r = Recorder::new();
    r.setup().unwrap();
    let c = ip("172.18.0.2");
    r.add_port(&published("tcp", ip("0.0.0.0"), 8080, c, 80, "br-a"))
        .unwrap();
    r.add_port(&published("tcp", ip("0.0.0.0"), 8081, c, 80, "br-a"))
        .unwrap();
    r.remove_port(&published("tcp", ip("0.0.0.0"), 8080, c, 80, "br-a"))
        .unwrap();
    let accepts = r
        .dump("filter")
        .into_iter()
        .filter(|l| l.contains("--dport 80 -j ACCEPT"))
        .count();
    assert_eq!(accepts, 1);
}

#[test]
fn teardown_removes_everything_and_leftovers_show_before() {
    let r = Recorder::new();
    r.setup().unwrap();
    r.add_network(&bridge("br-a", "172.18.0.0/16", false, true))
        .unwrap();
    r.add_port(&published(
        "tcp",
        ip("0.0.0.0"),
        8080,
        ip("172.18.0.2"),
        80,
        "br-a",
    ))
    .unwrap();
    // Someone else's rule in a built-in chain stays.
    r.iptables(&argv("-t nat -A POSTROUTING -o eth9 -j MASQUERADE"))
        .unwrap();
    r.iptables(&argv("-t filter -N XBERTH")).unwrap();
    let left = r.leftover_rules().unwrap();
    assert!(left.contains(&"-t nat -N BERTH".to_string()), "{left:#?}");
    assert!(left
        .contains(&"-t filter -A FORWARD -m comment --comment berth -j BERTH-FORWARD".to_string()));
    r.teardown().unwrap();
    assert_eq!(r.leftover_rules().unwrap(), Vec::<String>::new());
    assert_eq!(r.dump("nat"), ["-A POSTROUTING -o eth9 -j MASQUERADE"]);
    assert_eq!(r.dump("filter"), ["-N XBERTH"]);
    // Twice is fine.
    r.teardown().unwrap();
}

struct Broken;

impl Runner for Broken {
    fn iptables(&self, _: &[String]) -> io::Result<Outcome> {
        Ok(Outcome {
            code: 4,
            stdout: String::new(),
            stderr: "iptables: Resource temporarily unavailable.\n".into(),
        })
    }

    fn restore(&self, _: &str) -> io::Result<Outcome> {
        Ok(Outcome {
            code: 2,
            stdout: String::new(),
            stderr: "iptables-restore: line 3 failed\n".into(),
        })
    }
}

#[test]
fn failures_name_the_command() {
    let e = Broken
        .add_network(&bridge("br-a", "172.18.0.0/16", false, true))
        .unwrap_err();
    assert_eq!(
        e.to_string(),
        "iptables -t nat -C BERTH-POSTROUTING -s 172.18.0.0/16 ! -o br-a -j MASQUERADE: \
         iptables: Resource temporarily unavailable. (exit status 4)"
    );
}

#[test]
fn ip_forward_sysctl_written_only_when_off() {
    let path = std::env::temp_dir().join(format!("berth-ipfwd-{}", std::process::id()));
    std::fs::write(&path, "0\n").unwrap();
    assert!(enable_sysctl(&path).unwrap());
    assert_eq!(std::fs::read_to_string(&path).unwrap().trim(), "1");
    assert!(!enable_sysctl(&path).unwrap());
    std::fs::remove_file(&path).unwrap();
}

#[test]
fn rebuild_in_one_script_equals_the_step_by_step_setup() {
    let nets = [
        bridge("br-a", "172.18.0.0/16", false, true),
        bridge("br-i", "10.9.0.0/24", true, false),
    ];
    let steps = Recorder::new();
    steps.setup().unwrap();
    for n in &nets {
        steps.add_network(n).unwrap();
    }
    let batch = Recorder::new();
    assert_eq!(
        batch.rebuild(&nets).unwrap(),
        0,
        "nothing left on fresh tables"
    );
    for table in ["nat", "filter"] {
        assert_eq!(batch.dump(table), steps.dump(table), "{table}");
    }
    // A second start finds the first one's rules, replaces them, ends the same.
    let before = (batch.dump("nat"), batch.dump("filter"));
    assert!(batch.rebuild(&nets).unwrap() > 0);
    assert_eq!((batch.dump("nat"), batch.dump("filter")), before);
}
