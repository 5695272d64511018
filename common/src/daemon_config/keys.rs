//! The table of every daemon.json key dockerd 28 accepts on Linux.
//!
//! The table is the single source of truth for "is this key known", "what
//! JSON shape must it have", "does SIGHUP apply it" and "does Berth honour
//! it". Keys are sorted so that lookups can binary-search and so that a test
//! can catch an entry added out of place.

/// The JSON shape a key's value must have.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ValueKind {
    Bool,
    String,
    /// A whole number (JSON numbers with a fraction are rejected, as Go does).
    Int,
    StringList,
    /// `{"k": "v", ...}`
    StringMap,
    /// `{"k": true, ...}` (`features`)
    BoolMap,
    /// `{"driver": {"k": "v"}, ...}` (`default-network-opts`)
    StringMapMap,
    /// Any JSON object; its content is not checked (`builder`).
    Object,
    /// `{"name": {"path": "...", "runtimeArgs": [...]}, ...}`
    Runtimes,
    /// `{"nofile": {"Name": "nofile", "Hard": 1, "Soft": 1}, ...}`
    Ulimits,
    /// `[{"base": "172.30.0.0/16", "size": 24}, ...]`
    AddressPools,
    /// `{"http-proxy": "...", "https-proxy": "...", "no-proxy": "..."}`
    Proxies,
}

impl ValueKind {
    /// How the kind reads in an error message ("expected {this}, found ...").
    pub fn describe(self) -> &'static str {
        match self {
            ValueKind::Bool => "a boolean",
            ValueKind::String => "a string",
            ValueKind::Int => "an integer",
            ValueKind::StringList => "an array of strings",
            ValueKind::StringMap => "an object of strings",
            ValueKind::BoolMap => "an object of booleans",
            ValueKind::StringMapMap => "an object of objects of strings",
            ValueKind::Object => "an object",
            ValueKind::Runtimes => "an object of runtimes",
            ValueKind::Ulimits => "an object of ulimits",
            ValueKind::AddressPools => "an array of address pools",
            ValueKind::Proxies => "an object",
        }
    }
}

/// One daemon.json key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyInfo {
    pub name: &'static str,
    pub kind: ValueKind,
    /// dockerd applies it on SIGHUP (daemon/reload.go, reload_unix.go).
    pub reloadable: bool,
    /// Berth honours it; unsupported keys are accepted, type-checked and
    /// reported so that existing daemon.json files keep working.
    pub supported: bool,
    pub help: &'static str,
}

const fn key(
    name: &'static str,
    kind: ValueKind,
    reloadable: bool,
    supported: bool,
    help: &'static str,
) -> KeyInfo {
    KeyInfo {
        name,
        kind,
        reloadable,
        supported,
        help,
    }
}

use ValueKind as K;

// Columns: name, kind, reloadable, supported, help.
#[rustfmt::skip]
pub static KEYS: &[KeyInfo] = &[
    key("allow-direct-routing", K::Bool, false, false, "Allow remote access to published ports on container IP addresses"),
    key("allow-nondistributable-artifacts", K::StringList, true, false, "Deprecated and ignored: pushing nondistributable artifacts is always allowed"),
    key("api-cors-header", K::String, false, false, "Removed: setting it is an error; use a reverse proxy if you need CORS headers"),
    key("authorization-plugins", K::StringList, true, false, "Authorization plugins to load"),
    key("bip", K::String, false, true, "IPv4 address and prefix of the default bridge, e.g. 172.17.0.1/16"),
    key("bip6", K::String, false, false, "IPv6 address and prefix of the default bridge"),
    key("bridge", K::String, false, true, "The default bridge network's device (made when missing)"),
    key("builder", K::Object, false, false, "BuildKit settings (garbage collection, ...)"),
    key("cdi-spec-dirs", K::StringList, false, false, "CDI specification directories to use"),
    key("cgroup-parent", K::String, false, true, "Parent cgroup for all containers"),
    key("containerd", K::String, false, false, "containerd gRPC address"),
    key("containerd-namespace", K::String, false, false, "containerd namespace to use"),
    key("containerd-plugins-namespace", K::String, false, false, "containerd namespace to use for plugins"),
    key("cpu-rt-period", K::Int, false, false, "CPU real-time period in microseconds for the parent cgroup (cgroup v1 only)"),
    key("cpu-rt-runtime", K::Int, false, false, "CPU real-time runtime in microseconds for the parent cgroup (cgroup v1 only)"),
    key("cri-containerd", K::Bool, false, false, "Start containerd with the CRI plugin"),
    key("data-root", K::String, false, true, "Root directory of persistent Berth state (default /var/lib/berth)"),
    key("debug", K::Bool, true, true, "Enable debug mode"),
    key("default-address-pools", K::AddressPools, false, true, "Address pools that new networks get their subnets from"),
    key("default-cgroupns-mode", K::String, true, false, "Default cgroup namespace mode for containers (\"host\" | \"private\")"),
    key("default-gateway", K::String, false, false, "Default gateway IPv4 address for the default bridge network"),
    key("default-gateway-v6", K::String, false, false, "Default gateway IPv6 address for the default bridge network"),
    key("default-ipc-mode", K::String, true, false, "Default IPC mode for containers (\"shareable\" | \"private\")"),
    key("default-network-opts", K::StringMapMap, false, false, "Default options of new networks, by driver"),
    key("default-runtime", K::String, true, true, "Default OCI runtime for containers (default: Berth's built-in runtime)"),
    key("default-shm-size", K::String, true, true, "Default /dev/shm size for containers, e.g. \"64M\""),
    key("default-ulimits", K::Ulimits, false, true, "Default ulimits for containers"),
    key("deprecated-key-path", K::String, false, false, "Deprecated and ignored"),
    key("dns", K::StringList, false, true, "DNS servers for containers (IP addresses)"),
    key("dns-opts", K::StringList, false, true, "DNS options for containers"),
    key("dns-search", K::StringList, false, true, "DNS search domains for containers"),
    key("exec-opts", K::StringList, false, true, "Runtime execution options, e.g. native.cgroupdriver=systemd"),
    key("exec-root", K::String, false, true, "Root directory for execution state files (default /var/run/berth)"),
    key("experimental", K::Bool, false, true, "Enable experimental features"),
    key("features", K::BoolMap, true, true, "Enable or disable named daemon features"),
    key("fixed-cidr", K::String, false, true, "IPv4 subnet of the default bridge that container addresses come from"),
    key("fixed-cidr-v6", K::String, false, false, "IPv6 subnet for the default bridge network"),
    key("group", K::String, false, true, "Group that owns the Unix socket"),
    key("host-gateway-ip", K::String, false, false, "Deprecated: use host-gateway-ips"),
    key("host-gateway-ips", K::StringList, false, false, "IP addresses that \"host-gateway\" in --add-host resolves to"),
    key("hosts", K::StringList, false, true, "Addresses to listen on: unix://, tcp://, vsock://"),
    key("icc", K::Bool, false, true, "Enable inter-container communication on the default bridge"),
    key("init", K::Bool, false, true, "Run an init in containers to forward signals and reap processes"),
    key("init-path", K::String, false, true, "Path to the init binary"),
    key("insecure-registries", K::StringList, true, true, "Registries (host[:port] or CIDR) reached over plain HTTP or unverified TLS"),
    key("ip", K::String, false, false, "Host IP for port publishing from the default bridge"),
    key("ip-forward", K::Bool, false, true, "Enable IP forwarding in the system configuration"),
    key("ip-forward-no-drop", K::Bool, false, false, "Do not set the filter-FORWARD policy to DROP when enabling IP forwarding"),
    key("ip-masq", K::Bool, false, true, "Enable IP masquerading for the default bridge"),
    key("ip6tables", K::Bool, false, false, "Enable addition of ip6tables rules"),
    key("iptables", K::Bool, false, true, "Enable addition of iptables rules"),
    key("ipv6", K::Bool, false, false, "Enable IPv6 on the default bridge"),
    key("labels", K::StringList, true, true, "key=value labels of the daemon"),
    key("live-restore", K::Bool, true, true, "Keep containers running while the daemon restarts"),
    key("log-driver", K::String, false, true, "Default log driver for containers: json-file, local or none"),
    key("log-format", K::String, false, false, "Format of the daemon's own logs (\"text\" | \"json\")"),
    key("log-level", K::String, false, true, "Daemon log level: debug, info, warn, error or fatal"),
    key("log-opts", K::StringMap, false, true, "Default log driver options for containers"),
    key("max-concurrent-downloads", K::Int, true, true, "Maximum concurrent layer downloads per pull"),
    key("max-concurrent-uploads", K::Int, true, true, "Maximum concurrent layer uploads per push"),
    key("max-download-attempts", K::Int, true, true, "Maximum download attempts per layer"),
    key("metrics-addr", K::String, false, false, "Address to serve the metrics API on"),
    key("mtu", K::Int, false, true, "MTU of the default bridge network"),
    key("network-control-plane-mtu", K::Int, false, false, "Network control plane MTU"),
    key("network-diagnostic-port", K::Int, true, false, "TCP port of the network diagnostic server"),
    key("no-new-privileges", K::Bool, false, true, "Set no-new-privileges for new containers by default"),
    key("node-generic-resources", K::StringList, false, false, "User-defined resources advertised to swarm"),
    key("pidfile", K::String, false, true, "Path of the daemon's PID file (default /var/run/berthd.pid)"),
    key("proxies", K::Proxies, false, false, "HTTP proxies for the daemon's outgoing traffic"),
    key("raw-logs", K::Bool, false, false, "Full timestamps without ANSI colours in the daemon's logs"),
    key("registry-mirrors", K::StringList, true, true, "Registry mirrors for Docker Hub (http:// or https:// URLs)"),
    key("rootless", K::Bool, false, false, "Enable rootless mode"),
    key("runtimes", K::Runtimes, true, true, "Additional runc-compatible runtimes by name"),
    key("seccomp-profile", K::String, false, true, "Seccomp profile: \"builtin\", \"unconfined\" or a path"),
    key("selinux-enabled", K::Bool, false, false, "Enable SELinux support"),
    key("shutdown-timeout", K::Int, true, true, "Seconds to wait for containers to stop when the daemon shuts down"),
    key("storage-driver", K::String, false, true, "Storage driver: overlay2 or vfs"),
    key("storage-opts", K::StringList, false, false, "Storage driver options"),
    key("swarm-default-advertise-addr", K::String, false, false, "Default address or interface for swarm"),
    key("tls", K::Bool, false, true, "Use TLS; implied by tlsverify"),
    key("tlscacert", K::String, false, true, "Trust only client certificates signed by this CA"),
    key("tlscert", K::String, false, true, "Path to the TLS certificate file"),
    key("tlskey", K::String, false, true, "Path to the TLS key file"),
    key("tlsverify", K::Bool, false, true, "Use TLS and require client certificates"),
    key("userland-proxy", K::Bool, false, true, "Use a userland proxy for loopback traffic to published ports"),
    key("userland-proxy-path", K::String, false, false, "Path to the userland proxy binary"),
    key("userns-remap", K::String, false, false, "User/group for user namespace remapping"),
];

/// Looks a key up by its daemon.json name.
pub fn key_info(name: &str) -> Option<&'static KeyInfo> {
    KEYS.binary_search_by(|k| k.name.cmp(name))
        .ok()
        .map(|i| &KEYS[i])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_sorted_and_unique() {
        for pair in KEYS.windows(2) {
            assert!(
                pair[0].name < pair[1].name,
                "{} before {}",
                pair[0].name,
                pair[1].name
            );
        }
    }

    #[test]
    fn lookup_finds_every_key_and_nothing_else() {
        for k in KEYS {
            assert_eq!(key_info(k.name).map(|i| i.name), Some(k.name));
        }
        assert!(key_info("label").is_none());
        assert!(key_info("graph").is_none());
        assert!(key_info("").is_none());
    }

    #[test]
    fn dockerd_reloadable_set() {
        let reloadable: Vec<&str> = KEYS
            .iter()
            .filter(|k| k.reloadable)
            .map(|k| k.name)
            .collect();
        assert_eq!(
            reloadable,
            [
                "allow-nondistributable-artifacts",
                "authorization-plugins",
                "debug",
                "default-cgroupns-mode",
                "default-ipc-mode",
                "default-runtime",
                "default-shm-size",
                "features",
                "insecure-registries",
                "labels",
                "live-restore",
                "max-concurrent-downloads",
                "max-concurrent-uploads",
                "max-download-attempts",
                "network-diagnostic-port",
                "registry-mirrors",
                "runtimes",
                "shutdown-timeout",
            ]
        );
    }

    #[test]
    fn every_help_is_one_line() {
        for k in KEYS {
            assert!(!k.help.is_empty() && !k.help.contains('\n'), "{}", k.name);
        }
    }
}
