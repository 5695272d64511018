//! Command-line flags, named and behaving like dockerd's.

use std::path::PathBuf;

use clap::parser::ValueSource;
use clap::{ArgMatches, Parser};
use serde_json::{Map, Value};

/// berthd serves the Docker Engine API for Berth.
///
/// Every flag has the same name and meaning as dockerd's and can also be set
/// in daemon.json (but not both: that is an error, as with dockerd).
#[derive(Debug, Parser)]
#[command(name = "berthd", version, about, long_about = None)]
pub struct Flags {
    /// Daemon configuration file
    #[arg(long = "config-file", value_name = "FILE")]
    pub config_file: Option<PathBuf>,

    /// Validate the configuration and exit ("configuration OK" or the problem)
    #[arg(long)]
    pub validate: bool,

    /// Daemon socket(s) to connect to: unix://PATH, tcp://ADDR:PORT, vsock://:PORT
    #[arg(short = 'H', long = "host", value_name = "URL")]
    pub hosts: Vec<String>,

    /// Enable debug mode
    #[arg(short = 'D', long, num_args = 0..=1, default_missing_value = "true", require_equals = true)]
    pub debug: Option<bool>,

    /// Set the logging level ("debug"|"info"|"warn"|"error"|"fatal")
    #[arg(short = 'l', long = "log-level", value_name = "LEVEL")]
    pub log_level: Option<String>,

    /// Root directory of persistent Berth state
    #[arg(long = "data-root", value_name = "DIR")]
    pub data_root: Option<PathBuf>,

    /// Root directory for execution state files
    #[arg(long = "exec-root", value_name = "DIR")]
    pub exec_root: Option<PathBuf>,

    /// Path to use for the daemon PID file
    #[arg(short = 'p', long, value_name = "FILE")]
    pub pidfile: Option<PathBuf>,

    /// Group for the unix socket (default "docker" when it exists, else root)
    #[arg(short = 'G', long, value_name = "GROUP")]
    pub group: Option<String>,

    /// Use TLS; implied by --tlsverify. --tls=false allows plain TCP
    #[arg(long, num_args = 0..=1, default_missing_value = "true", require_equals = true)]
    pub tls: Option<bool>,

    /// Use TLS and verify the remote (client certificates must chain to --tlscacert)
    #[arg(long, num_args = 0..=1, default_missing_value = "true", require_equals = true)]
    pub tlsverify: Option<bool>,

    /// Trust certs signed only by this CA
    #[arg(long, value_name = "FILE")]
    pub tlscacert: Option<PathBuf>,

    /// Path to TLS certificate file
    #[arg(long, value_name = "FILE")]
    pub tlscert: Option<PathBuf>,

    /// Path to TLS key file
    #[arg(long, value_name = "FILE")]
    pub tlskey: Option<PathBuf>,

    /// Set key=value labels on the daemon
    #[arg(long = "label", value_name = "KEY=VALUE")]
    pub labels: Vec<String>,

    /// Keep containers running while the daemon is down
    #[arg(long = "live-restore", num_args = 0..=1, default_missing_value = "true", require_equals = true)]
    pub live_restore: Option<bool>,

    /// Preferred registry mirror
    #[arg(long = "registry-mirror", value_name = "URL")]
    pub registry_mirrors: Vec<String>,

    /// Enable insecure registry communication
    #[arg(long = "insecure-registry", value_name = "HOST")]
    pub insecure_registries: Vec<String>,

    /// Max concurrent downloads per pull
    #[arg(long = "max-concurrent-downloads", value_name = "N")]
    pub max_concurrent_downloads: Option<i64>,

    /// Max concurrent uploads per push
    #[arg(long = "max-concurrent-uploads", value_name = "N")]
    pub max_concurrent_uploads: Option<i64>,

    /// Storage driver to use
    #[arg(short = 's', long = "storage-driver", value_name = "NAME")]
    pub storage_driver: Option<String>,

    /// Default log driver for containers
    #[arg(long = "log-driver", value_name = "NAME")]
    pub log_driver: Option<String>,

    /// Default OCI runtime for containers
    #[arg(long = "default-runtime", value_name = "NAME")]
    pub default_runtime: Option<String>,

    /// Enable experimental features
    #[arg(long, num_args = 0..=1, default_missing_value = "true", require_equals = true)]
    pub experimental: Option<bool>,

    /// Seconds to wait for containers to stop when the daemon shuts down
    #[arg(long = "shutdown-timeout", value_name = "SECONDS")]
    pub shutdown_timeout: Option<i64>,
}

/// Flag id (clap's field name) → daemon.json key, and how its value is written there.
const FLAG_KEYS: &[(&str, &str)] = &[
    ("hosts", "hosts"),
    ("debug", "debug"),
    ("log_level", "log-level"),
    ("data_root", "data-root"),
    ("exec_root", "exec-root"),
    ("pidfile", "pidfile"),
    ("group", "group"),
    ("tls", "tls"),
    ("tlsverify", "tlsverify"),
    ("tlscacert", "tlscacert"),
    ("tlscert", "tlscert"),
    ("tlskey", "tlskey"),
    ("labels", "labels"),
    ("live_restore", "live-restore"),
    ("registry_mirrors", "registry-mirrors"),
    ("insecure_registries", "insecure-registries"),
    ("max_concurrent_downloads", "max-concurrent-downloads"),
    ("max_concurrent_uploads", "max-concurrent-uploads"),
    ("storage_driver", "storage-driver"),
    ("log_driver", "log-driver"),
    ("default_runtime", "default-runtime"),
    ("experimental", "experimental"),
    ("shutdown_timeout", "shutdown-timeout"),
];

impl Flags {
    /// The flags given explicitly on the command line, as daemon.json values.
    ///
    /// Only explicit flags count: dockerd compares exactly these against the
    /// file to report keys set in both places.
    pub fn explicit(&self, matches: &ArgMatches) -> Map<String, Value> {
        let all = self.as_json();
        FLAG_KEYS
            .iter()
            .filter(|(id, _)| matches.value_source(id) == Some(ValueSource::CommandLine))
            .filter_map(|(_, key)| all.get(*key).map(|v| (key.to_string(), v.clone())))
            .collect()
    }

    fn as_json(&self) -> Map<String, Value> {
        fn path(p: &Option<PathBuf>) -> Value {
            p.as_ref()
                .map(|p| Value::String(p.display().to_string()))
                .unwrap_or(Value::Null)
        }
        let mut m = Map::new();
        m.insert("hosts".into(), self.hosts.clone().into());
        m.insert("debug".into(), self.debug.into());
        m.insert("log-level".into(), self.log_level.clone().into());
        m.insert("data-root".into(), path(&self.data_root));
        m.insert("exec-root".into(), path(&self.exec_root));
        m.insert("pidfile".into(), path(&self.pidfile));
        m.insert("group".into(), self.group.clone().into());
        m.insert("tls".into(), self.tls.into());
        m.insert("tlsverify".into(), self.tlsverify.into());
        m.insert("tlscacert".into(), path(&self.tlscacert));
        m.insert("tlscert".into(), path(&self.tlscert));
        m.insert("tlskey".into(), path(&self.tlskey));
        m.insert("labels".into(), self.labels.clone().into());
        m.insert("live-restore".into(), self.live_restore.into());
        m.insert(
            "registry-mirrors".into(),
            self.registry_mirrors.clone().into(),
        );
        m.insert(
            "insecure-registries".into(),
            self.insecure_registries.clone().into(),
        );
        m.insert(
            "max-concurrent-downloads".into(),
            self.max_concurrent_downloads.into(),
        );
        m.insert(
            "max-concurrent-uploads".into(),
            self.max_concurrent_uploads.into(),
        );
        m.insert("storage-driver".into(), self.storage_driver.clone().into());
        m.insert("log-driver".into(), self.log_driver.clone().into());
        m.insert(
            "default-runtime".into(),
            self.default_runtime.clone().into(),
        );
        m.insert("experimental".into(), self.experimental.into());
        m.insert("shutdown-timeout".into(), self.shutdown_timeout.into());
        m
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::{CommandFactory, FromArgMatches};

    fn parse(args: &[&str]) -> Map<String, Value> {
        let m = Flags::command().get_matches_from(args);
        Flags::from_arg_matches(&m).unwrap().explicit(&m)
    }

    #[test]
    fn only_explicit_flags_are_reported() {
        let m = parse(&["berthd", "--debug", "-H", "unix:///tmp/s", "-H", "tcp://:1"]);
        assert_eq!(m.len(), 2, "{m:?}");
        assert_eq!(m["debug"], Value::Bool(true));
        assert_eq!(m["hosts"], serde_json::json!(["unix:///tmp/s", "tcp://:1"]));
    }

    #[test]
    fn bool_flags_take_explicit_false() {
        let m = parse(&["berthd", "--tls=false"]);
        assert_eq!(m["tls"], Value::Bool(false));
    }

    #[test]
    fn every_flag_maps_to_a_key() {
        let cmd = Flags::command();
        let ids: Vec<_> = FLAG_KEYS.iter().map(|(id, _)| *id).collect();
        for arg in cmd.get_arguments() {
            let id = arg.get_id().as_str();
            if ["config_file", "validate", "help", "version"].contains(&id) {
                continue;
            }
            assert!(ids.contains(&id), "flag {id} has no daemon.json key");
        }
    }
}
