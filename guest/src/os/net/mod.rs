//! Network plumbing behind one narrow trait, so the networks subsystem's
//! decisions (which bridge, which address, which namespace) are testable
//! without root: bridges, veth pairs moved into a container's network
//! namespace, addresses and routes (netlink, with `rtnetlink`), and the
//! namespaces themselves (a bind-mounted nsfs file per container).

mod linux;
mod netns;

use std::io;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

#[allow(unused_imports)] // used once the networks subsystem is wired in
pub use linux::Linux;

/// One container interface on a bridge.
#[derive(Debug, Clone, PartialEq)]
pub struct Endpoint {
    /// The container's network namespace (a bind-mounted nsfs file).
    pub netns: PathBuf,
    pub bridge: String,
    /// The host end of the veth pair (on the bridge).
    pub host_if: String,
    /// The name inside the container (`eth0`, `eth1`, …).
    pub ifname: String,
    pub addr: Ipv4Addr,
    pub prefix: u8,
    /// The default route; only the first network of a container gets one.
    pub gateway: Option<Ipv4Addr>,
    pub mac: [u8; 6],
    pub mtu: u32,
}

pub trait NetOps: Send + Sync + 'static {
    /// Creates the bridge with `gateway/prefix` if it does not exist, and
    /// brings it up.
    fn ensure_bridge(&self, name: &str, gateway: Ipv4Addr, prefix: u8, mtu: u32) -> io::Result<()>;
    /// Removes a link; a missing one is not an error.
    fn delete_link(&self, name: &str) -> io::Result<()>;
    fn link_exists(&self, name: &str) -> bool;
    /// A new network namespace kept alive by a bind mount at `path`, with
    /// its loopback up.
    fn create_netns(&self, path: &Path) -> io::Result<()>;
    fn delete_netns(&self, path: &Path) -> io::Result<()>;
    fn connect(&self, ep: &Endpoint) -> io::Result<()>;
}

/// A MAC address derived from the IP, as dockerd makes them (02:42 + IP).
pub fn mac_for(ip: Ipv4Addr) -> [u8; 6] {
    let o = ip.octets();
    [0x02, 0x42, o[0], o[1], o[2], o[3]]
}

pub fn mac_string(mac: &[u8; 6]) -> String {
    mac.iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Everything happens in a network namespace this test makes (its
    /// threads inherit it), never in the machine's own.
    #[test]
    fn a_container_namespace_joins_a_bridge_and_reaches_its_gateway() {
        if !nix::unistd::Uid::effective().is_root() {
            eprintln!("skipped: needs root");
            return;
        }
        let dir = std::env::temp_dir().join(format!("berth-net-{}", std::process::id()));
        let dir2 = dir.clone();
        let result = std::thread::spawn(move || -> io::Result<String> {
            nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNET)?;
            // Local delivery (to the bridge's address) goes through lo.
            std::process::Command::new("ip")
                .args(["link", "set", "lo", "up"])
                .status()?;
            let ops = Linux;
            let ns = dir2.join("ns1");
            ops.ensure_bridge("btest0", Ipv4Addr::new(10, 99, 0, 1), 24, 1500)?;
            ops.ensure_bridge("btest0", Ipv4Addr::new(10, 99, 0, 1), 24, 1500)?; // again: fine
            ops.create_netns(&ns)?;
            let ip = Ipv4Addr::new(10, 99, 0, 2);
            ops.connect(&Endpoint {
                netns: ns.clone(),
                bridge: "btest0".into(),
                host_if: "vethtest0".into(),
                ifname: "eth0".into(),
                addr: ip,
                prefix: 24,
                gateway: Some(Ipv4Addr::new(10, 99, 0, 1)),
                mac: mac_for(ip),
                mtu: 1500,
            })?;
            let out = std::process::Command::new("nsenter")
                .arg(format!("--net={}", ns.display()))
                .args(["sh", "-c", "ip -o -4 addr show eth0; ip route; busybox ping -c1 -W2 10.99.0.1 >/dev/null && echo reached"])
                .output()?;
            ops.delete_link("vethtest0")?;
            assert!(!ops.link_exists("vethtest0"));
            ops.delete_netns(&ns)?;
            ops.delete_link("btest0")?;
            Ok(String::from_utf8_lossy(&out.stdout).into_owned())
        })
        .join()
        .unwrap();
        let _ = std::fs::remove_dir_all(&dir);
        let out = result.unwrap();
        assert!(
            out.contains("eth0") && out.contains("10.99.0.2/24"),
            "{out}"
        );
        assert!(out.contains("default via 10.99.0.1 dev eth0"), "{out}");
        assert!(out.contains("reached"), "{out}");
    }
}
