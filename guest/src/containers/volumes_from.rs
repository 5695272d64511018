//! `--volumes-from CONTAINER[:ro|:rw]` (`HostConfig.VolumesFrom`): at create,
//! the new container takes what each named container mounts (its volumes,
//! named or anonymous, and the host directories it binds) at the same
//! destinations, as dockerd does:
//!
//! - the mounts are taken once, at create: a later change to the other
//!   container does not follow;
//! - `:ro` makes them read-only; `:rw` (the default) keeps each one's mode,
//!   so a mount that is read-only over there stays so;
//! - a later `--volumes-from` replaces an earlier one at the same destination,
//!   and the container's own `Binds`, `Mounts` and `Tmpfs` replace both;
//! - they count as mounted for the image's `VOLUME`s, which then get no
//!   anonymous volume of their own;
//! - what the other container itself took through `--volumes-from` comes
//!   along (its record holds those mounts as its own).
//!
//! Anonymous volumes stay marked anonymous here too: `rm -v` of either
//! container skips a volume the other still uses, so the last one removed
//! with `-v` takes it (see `drop_anonymous`).

use std::collections::HashSet;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::record::{Container, VolumeMount};
use super::service::Containers;
use crate::errdefs::{Error, Result};
use crate::volumes::service::VolumeUsage;

/// A host directory another container binds, taken through `--volumes-from`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct InheritedBind {
    pub source: String,
    pub destination: String,
    pub read_only: bool,
    /// The other container's propagation for it; empty for the default.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub propagation: String,
}

impl InheritedBind {
    /// The mount as a `Binds` entry, the form the spec builder takes host
    /// directories in.
    pub fn as_bind(&self) -> String {
        let mut mode = if self.read_only { "ro" } else { "rw" }.to_string();
        if !self.propagation.is_empty() {
            mode.push(',');
            mode.push_str(&self.propagation);
        }
        format!("{}:{}:{mode}", self.source, self.destination)
    }
}

/// What a new container takes from the containers it names.
#[derive(Debug, Default, PartialEq)]
pub(super) struct Inherited {
    pub volumes: Vec<VolumeMount>,
    pub binds: Vec<InheritedBind>,
}

impl Inherited {
    /// Where the inherited mounts go: the image's `VOLUME`s there are covered.
    pub fn destinations(&self) -> HashSet<String> {
        self.volumes
            .iter()
            .map(|v| v.destination.clone())
            .chain(self.binds.iter().map(|b| b.destination.clone()))
            .collect()
    }

    /// Adds the mounts of `from`, replacing what an earlier one put at the
    /// same destination.
    fn take(&mut self, from: &Container, read_only: bool) {
        for v in &from.volumes {
            let destination = clean(&v.destination);
            self.remove(&destination);
            self.volumes.push(VolumeMount {
                name: v.name.clone(),
                destination,
                anonymous: v.anonymous,
                read_only: v.read_only || read_only,
                // The source container filled it already if it was to be filled.
                nocopy: false,
            });
        }
        for b in host_binds(from) {
            self.remove(&b.destination);
            self.binds.push(InheritedBind {
                read_only: b.read_only || read_only,
                ..b
            });
        }
    }

    fn remove(&mut self, destination: &str) {
        self.volumes.retain(|v| v.destination != destination);
        self.binds.retain(|b| b.destination != destination);
    }
}

impl Containers {
    /// The mounts `HostConfig.VolumesFrom` gives a container being created
    /// with `host_config`, less those its own mounts replace.
    pub(super) fn volumes_from(&self, host_config: &Value) -> Result<Inherited> {
        let mut out = Inherited::default();
        for spec in host_config["VolumesFrom"].as_array().into_iter().flatten() {
            let (name, read_only) = parse(spec.as_str().unwrap_or(""))?;
            // dockerd's "No such container: X", a 404 as from any lookup.
            let from = self.store.get(name)?;
            out.take(&from, read_only);
        }
        let own = own_destinations(host_config);
        out.volumes.retain(|v| !own.contains(&v.destination));
        out.binds.retain(|b| !own.contains(&b.destination));
        for v in &out.volumes {
            // A record naming a volume that is gone would mount an empty
            // directory in its place; dockerd refuses such a create too.
            self.volumes.store.get(&v.name)?;
        }
        Ok(out)
    }

    /// Whether a container still uses the volume: an anonymous volume shared
    /// through `--volumes-from` is not removed with the first container that
    /// goes with `rm -v`, nor by a create that fails.
    pub(super) fn volume_in_use(&self, name: &str) -> bool {
        !VolumeUsage::users_of(self, name).is_empty()
    }
}

/// `CONTAINER[:MODE]` with dockerd's rules for the mode: `ro` or `rw`, with
/// an SELinux label or a consistency option; no propagation, no copy modes.
fn parse(spec: &str) -> Result<(&str, bool)> {
    if spec.is_empty() {
        return Err(Error::invalid(
            "volumes-from specification cannot be an empty string",
        ));
    }
    let (name, mode) = spec.split_once(':').unwrap_or((spec, ""));
    if mode.is_empty() {
        return Ok((name, false));
    }
    let (mut rw, mut label, mut consistency) = (0, 0, 0);
    for option in mode.split(',') {
        match option {
            "ro" | "rw" => rw += 1,
            "z" | "Z" => label += 1,
            "consistent" | "cached" | "delegated" => consistency += 1,
            _ => return Err(Error::invalid(format!("invalid mode: {mode}"))),
        }
    }
    if rw > 1 || label > 1 || consistency > 1 {
        return Err(Error::invalid(format!("invalid mode: {mode}")));
    }
    Ok((name, mode.split(',').any(|o| o == "ro")))
}

/// The host directories a container binds: its own (`Binds` with a host
/// path, `Mounts` of type bind) and those it took through `--volumes-from`.
pub(super) fn host_binds(c: &Container) -> Vec<InheritedBind> {
    let mut out = Vec::new();
    for b in c.host_config["Binds"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
    {
        let mut parts = b.splitn(3, ':');
        let (Some(source), Some(destination)) = (parts.next(), parts.next()) else {
            continue;
        };
        if !source.starts_with('/') {
            continue; // a named volume: in the record's volumes
        }
        let options: Vec<&str> = parts.next().unwrap_or("").split(',').collect();
        out.push(InheritedBind {
            source: source.to_string(),
            destination: clean(destination),
            read_only: options.contains(&"ro"),
            propagation: options
                .iter()
                .find(|o| o.ends_with("shared") || o.ends_with("slave") || o.ends_with("private"))
                .map(|o| o.to_string())
                .unwrap_or_default(),
        });
    }
    for m in c.host_config["Mounts"].as_array().into_iter().flatten() {
        if m["Type"].as_str() != Some("bind") {
            continue;
        }
        let (Some(source), Some(target)) = (m["Source"].as_str(), m["Target"].as_str()) else {
            continue;
        };
        out.push(InheritedBind {
            source: source.to_string(),
            destination: clean(target),
            read_only: m["ReadOnly"].as_bool().unwrap_or(false),
            propagation: m["BindOptions"]["Propagation"]
                .as_str()
                .unwrap_or("")
                .to_string(),
        });
    }
    out.extend(c.inherited_binds.iter().cloned());
    out
}

/// Where the container's own mounts go; they replace inherited ones there.
fn own_destinations(host_config: &Value) -> HashSet<String> {
    let binds = host_config["Binds"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .filter_map(|b| b.split(':').nth(1));
    let mounts = host_config["Mounts"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|m| m["Target"].as_str());
    let tmpfs = host_config["Tmpfs"]
        .as_object()
        .into_iter()
        .flat_map(|t| t.keys().map(String::as_str));
    binds.chain(mounts).chain(tmpfs).map(clean).collect()
}

/// The destination as dockerd keys mounts (Go's `path.Clean`): no `.` or
/// `..` parts, no duplicate or trailing slashes.
fn clean(path: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for p in path.split('/') {
        match p {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            p => parts.push(p),
        }
    }
    format!("/{}", parts.join("/"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn container(host_config: Value, volumes: Vec<VolumeMount>) -> Container {
        let mut c: Container = serde_json::from_value(json!({
            "id": "a".repeat(64), "name": "/src", "created": "", "image": "", "image_name": "",
            "path": "sh", "args": [], "config": {}, "host_config": host_config,
            "state": super::super::record::State::created(), "mount_id": "", "lower": "",
        }))
        .unwrap();
        c.volumes = volumes;
        c
    }

    fn vol(name: &str, dst: &str, anonymous: bool, read_only: bool) -> VolumeMount {
        VolumeMount {
            name: name.into(),
            destination: dst.into(),
            anonymous,
            read_only,
            nocopy: false,
        }
    }

    #[test]
    fn specs_follow_dockerd() {
        assert_eq!(parse("data").unwrap(), ("data", false));
        assert_eq!(parse("data:").unwrap(), ("data", false));
        assert_eq!(parse("data:ro").unwrap(), ("data", true));
        assert_eq!(parse("data:rw,z").unwrap(), ("data", false));
        assert_eq!(parse("data:Z,ro").unwrap(), ("data", true));
        for bad in ["data:rprivate", "data:nocopy", "data:ro,rw", "data:bogus"] {
            let mode = bad.split_once(':').unwrap().1;
            assert_eq!(
                parse(bad).unwrap_err().message,
                format!("invalid mode: {mode}")
            );
        }
        assert_eq!(
            parse("").unwrap_err().message,
            "volumes-from specification cannot be an empty string"
        );
    }

    #[test]
    fn everything_mounted_comes_along_and_ro_applies_to_all() {
        let mut src = container(
            json!({
                "Binds": ["named:/data", "/host/logs:/logs:ro", "/host/run:/run/x:rw,rslave"],
                "Mounts": [{"Type": "bind", "Source": "/host/cfg", "Target": "/etc/app/"},
                           {"Type": "tmpfs", "Target": "/scratch"}],
            }),
            vec![
                vol("named", "/data", false, false),
                vol("anon1", "/cache", true, false),
            ],
        );
        src.inherited_binds.push(InheritedBind {
            source: "/host/far".into(),
            destination: "/far".into(),
            read_only: false,
            propagation: String::new(),
        });
        let mut got = Inherited::default();
        got.take(&src, false);
        assert_eq!(
            got.volumes,
            vec![
                vol("named", "/data", false, false),
                vol("anon1", "/cache", true, false)
            ]
        );
        let binds: Vec<String> = got.binds.iter().map(InheritedBind::as_bind).collect();
        assert_eq!(
            binds,
            [
                "/host/logs:/logs:ro",
                "/host/run:/run/x:rw,rslave",
                "/host/cfg:/etc/app:rw",
                "/host/far:/far:rw"
            ]
        );
        let mut ro = Inherited::default();
        ro.take(&src, true);
        assert!(ro.volumes.iter().all(|v| v.read_only) && ro.binds.iter().all(|b| b.read_only));
    }

    #[test]
    fn later_sources_replace_earlier_ones_and_own_mounts_replace_both() {
        let a = container(json!({}), vec![vol("va", "/data", false, false)]);
        let b = container(
            json!({"Binds": ["/host/b:/data/"]}),
            vec![vol("vb", "/other", true, false)],
        );
        let mut got = Inherited::default();
        got.take(&a, false);
        got.take(&b, false);
        assert!(got.volumes.iter().all(|v| v.name == "vb"));
        assert_eq!(got.binds[0].destination, "/data");
        let own = own_destinations(&json!({
            "Binds": ["mine:/other:ro"], "Tmpfs": {"/data": ""},
        }));
        assert_eq!(
            own,
            HashSet::from(["/other".to_string(), "/data".to_string()])
        );
        assert_eq!(
            got.destinations(),
            HashSet::from(["/other".to_string(), "/data".to_string()])
        );
    }

    #[test]
    fn destinations_are_cleaned() {
        assert_eq!(clean("/data/"), "/data");
        assert_eq!(clean("//a/./b/../c"), "/a/c");
        assert_eq!(clean("/"), "/");
    }
}
