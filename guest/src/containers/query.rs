//! `docker ps` and `docker inspect` for containers.

use serde_json::{json, Value};

use super::record::{Container, ZERO_TIME};
use super::service::Containers;
use crate::errdefs::{Error, Result};

pub use crate::filters::Filters;

const FILTERS: &[&str] = &[
    "id", "name", "label", "status", "ancestor", "exited", "before", "since", "health",
];
const STATUSES: &[&str] = &[
    "created",
    "restarting",
    "running",
    "removing",
    "paused",
    "exited",
    "dead",
];

impl Containers {
    pub fn list(
        &self,
        all: bool,
        limit: Option<usize>,
        size: bool,
        filters: &Filters,
    ) -> Result<Vec<Value>> {
        crate::filters::check_keys(filters, FILTERS)?;
        for (k, vals) in filters {
            if k == "status" {
                if let Some(bad) = vals.iter().find(|v| !STATUSES.contains(&v.as_str())) {
                    return Err(Error::invalid(format!("invalid filter 'status={bad}'")));
                }
            }
        }
        let mut list = self.store.all();
        // Newest first, as dockerd lists them.
        list.sort_by(|a, b| b.created.cmp(&a.created).then(b.id.cmp(&a.id)));
        let created_of = |name: &str| self.store.get(name).map(|c| c.created);
        let before = filters
            .get("before")
            .and_then(|v| v.first())
            .map(|n| created_of(n))
            .transpose()?;
        let since = filters
            .get("since")
            .and_then(|v| v.first())
            .map(|n| created_of(n))
            .transpose()?;
        let ancestors: Vec<String> = filters
            .get("ancestor")
            .map(|v| {
                v.iter()
                    .filter_map(|a| self.images.resolve(a).ok())
                    .map(|d| d.to_string())
                    .collect()
            })
            .unwrap_or_default();
        let name_res = filters
            .get("name")
            .into_iter()
            .flatten()
            .map(|n| {
                regex::Regex::new(n)
                    .map_err(|e| Error::invalid(format!("invalid filter 'name={n}': {e}")))
            })
            .collect::<Result<Vec<_>>>()?;
        let any = |key: &str, pred: &dyn Fn(&str) -> bool| {
            filters.get(key).is_none_or(|v| v.iter().any(|x| pred(x)))
        };
        let shown = list.into_iter().filter(|c| {
            // Without -a only running containers, unless a filter asks for a state.
            (all || c.state.running
                || filters.contains_key("status")
                || filters.contains_key("exited"))
                && any("id", &|x| c.id.starts_with(x))
                && (name_res.is_empty()
                    || name_res.iter().any(|re| {
                        re.is_match(&c.name) || re.is_match(c.name.trim_start_matches('/'))
                    }))
                && any("status", &|x| c.state.status == x)
                && any("health", &|x| {
                    c.state
                        .health
                        .as_ref()
                        .map(|h| h.status.as_str())
                        .unwrap_or("none")
                        == x
                })
                && any("exited", &|x| {
                    c.state.status == "exited" && x.parse::<i64>().ok() == Some(c.state.exit_code)
                })
                && filters.get("label").is_none_or(|want| {
                    // All label filters must match, as in dockerd.
                    want.iter().all(|x| {
                        crate::filters::label_matches(|k| c.config["Labels"][k].as_str(), x)
                    })
                })
                && (!filters.contains_key("ancestor") || ancestors.contains(&c.image))
                && before.as_ref().is_none_or(|b| c.created < *b)
                && since.as_ref().is_none_or(|s| c.created > *s)
        });
        Ok(shown
            .take(limit.unwrap_or(usize::MAX))
            .map(|c| {
                let mut row = summary(&c, self.mounts_json(&c));
                if size {
                    let (rw, root) = self.sizes(&c);
                    row["SizeRw"] = json!(rw);
                    row["SizeRootFs"] = json!(root);
                }
                row
            })
            .collect())
    }

    pub fn inspect(&self, what: &str) -> Result<Value> {
        let c = self.store.get(what)?;
        let dir = self.images.overlay_root().join(&c.mount_id);
        let lower: Vec<String> = c
            .lower
            .split(':')
            .map(|l| self.images.overlay_root().join(l).display().to_string())
            .collect();
        let files = self.store.dir(&c.id);
        Ok(json!({
            "Id": c.id,
            "Created": c.created,
            "Path": c.path,
            "Args": c.args,
            "State": {
                "Status": c.state.status, "Running": c.state.running, "Paused": c.state.paused,
                "Restarting": c.state.restarting, "OOMKilled": c.state.oom_killed, "Dead": c.state.dead,
                "Pid": c.state.pid, "ExitCode": c.state.exit_code, "Error": c.state.error,
                "StartedAt": c.state.started_at, "FinishedAt": c.state.finished_at,
                "Health": c.state.health,
            },
            "Image": c.image,
            "ResolvConfPath": files.join("resolv.conf"),
            "HostnamePath": files.join("hostname"),
            "HostsPath": files.join("hosts"),
            // dockerd shows the path for json-file logs once there are any.
            "LogPath": if c.host_config["LogConfig"]["Type"] == "json-file" && c.state.started_at != ZERO_TIME {
                files.join(format!("{}-json.log", c.id)).display().to_string()
            } else {
                String::new()
            },
            "Name": c.name,
            "RestartCount": c.restart_count,
            "Driver": "overlay2",
            "Platform": "linux",
            "MountLabel": "",
            "ProcessLabel": "",
            "AppArmorProfile": "",
            "ExecIDs": Value::Null,
            "HostConfig": c.host_config,
            "GraphDriver": {"Name": "overlay2", "Data": {
                "LowerDir": lower.join(":"),
                "UpperDir": dir.join("diff"),
                "WorkDir": dir.join("work"),
                "MergedDir": dir.join("merged"),
            }},
            "Mounts": self.mounts_json(&c),
            "Config": c.config,
            "NetworkSettings": network_settings(&c, true),
        }))
    }
}

impl Containers {
    /// `Mounts` of inspect and of `docker ps` rows: volumes, then binds.
    fn mounts_json(&self, c: &Container) -> Vec<Value> {
        c.volumes
            .iter()
            .map(|v| {
                json!({
                    "Type": "volume",
                    "Name": v.name,
                    "Source": self.volumes.store.mountpoint(&v.name),
                    "Destination": v.destination,
                    "Driver": "local",
                    "Mode": "",
                    "RW": !v.read_only,
                    "Propagation": "",
                })
            })
            .chain(bind_mounts(c))
            .collect()
    }

    /// Every container with the sizes `docker system df` shows, and how many
    /// containers use each image and each volume.
    pub fn disk_usage(
        &self,
    ) -> (
        Vec<Value>,
        std::collections::HashMap<String, i64>,
        std::collections::HashMap<String, i64>,
    ) {
        let mut by_image = std::collections::HashMap::new();
        let mut by_volume = std::collections::HashMap::new();
        let mut rows = Vec::new();
        for c in self.store.all() {
            *by_image.entry(c.image.clone()).or_insert(0) += 1;
            for v in &c.volumes {
                *by_volume.entry(v.name.clone()).or_insert(0) += 1;
            }
            let (rw, root) = self.sizes(&c);
            let mut row = summary(&c, self.mounts_json(&c));
            row["SizeRw"] = json!(rw);
            row["SizeRootFs"] = json!(root);
            rows.push(row);
        }
        (rows, by_image, by_volume)
    }

    /// (the container's own layer, it plus its image's layers), in bytes.
    fn sizes(&self, c: &Container) -> (i64, i64) {
        let rw = self.rw_size(c) as i64;
        let image: i64 = self
            .images
            .resolve(&c.image)
            .map(|id| {
                self.images
                    .layer_sizes(&id)
                    .iter()
                    .map(|(_, s)| *s as i64)
                    .sum()
            })
            .unwrap_or(0);
        (rw, rw + image)
    }
}

/// One row of `GET /containers/json`.
fn summary(c: &Container, mounts: Vec<Value>) -> Value {
    let command = std::iter::once(c.path.as_str())
        .chain(c.args.iter().map(String::as_str))
        .collect::<Vec<_>>()
        .join(" ");
    let created =
        time::OffsetDateTime::parse(&c.created, &time::format_description::well_known::Rfc3339)
            .map(|t| t.unix_timestamp())
            .unwrap_or(0);
    let _ = ZERO_TIME;
    json!({
        "Id": c.id,
        "Names": [c.name],
        "Image": c.image_name,
        "ImageID": c.image,
        "Command": command,
        "Created": created,
        "Ports": super::ports::ps_ports(&c.ports),
        "Labels": c.config["Labels"],
        "State": c.state.status,
        "Status": c.state.human(),
        "HostConfig": {"NetworkMode": c.host_config["NetworkMode"]},
        "NetworkSettings": network_settings(c, false),
        "Mounts": mounts,
    })
}

/// `NetworkSettings` of inspect (`full`) and of `docker ps` rows.
fn network_settings(c: &Container, full: bool) -> Value {
    let mut nets = serde_json::Map::new();
    if c.networks.is_empty() {
        // Not running: the networks it will join, without addresses yet.
        for name in super::network::configured_networks(c) {
            let aliases = c.endpoints_config[&name]["Aliases"].clone();
            nets.insert(
                name,
                json!({
                    "IPAMConfig": null, "Links": null, "Aliases": aliases, "MacAddress": "",
                    "DriverOpts": null, "NetworkID": "", "EndpointID": "", "Gateway": "",
                    "IPAddress": "", "IPPrefixLen": 0, "IPv6Gateway": "", "GlobalIPv6Address": "",
                    "GlobalIPv6PrefixLen": 0, "DNSNames": null,
                }),
            );
        }
    }
    for (name, ep) in &c.networks {
        nets.insert(
            name.clone(),
            json!({
                "IPAMConfig": null, "Links": null, "Aliases": ep.aliases,
                "MacAddress": ep.mac, "DriverOpts": null, "NetworkID": ep.network_id,
                "EndpointID": ep.endpoint_id, "Gateway": ep.gateway, "IPAddress": ep.ip,
                "IPPrefixLen": ep.prefix, "IPv6Gateway": "", "GlobalIPv6Address": "",
                "GlobalIPv6PrefixLen": 0, "DNSNames": null,
            }),
        );
    }
    if !full {
        return json!({"Networks": nets});
    }
    let primary = c.networks.get("bridge");
    let field = |f: fn(&crate::networks::model::Endpoint) -> Value, zero: Value| {
        primary.map(f).unwrap_or(zero)
    };
    json!({
        "Bridge": "", "SandboxID": "", "SandboxKey": "", "HairpinMode": false,
        "LinkLocalIPv6Address": "", "LinkLocalIPv6PrefixLen": 0,
        "Ports": if c.ports.is_object() { c.ports.clone() } else { json!({}) },
        "SecondaryIPAddresses": null, "SecondaryIPv6Addresses": null,
        "EndpointID": field(|e| json!(e.endpoint_id), json!("")),
        "Gateway": field(|e| json!(e.gateway), json!("")),
        "GlobalIPv6Address": "", "GlobalIPv6PrefixLen": 0,
        "IPAddress": field(|e| json!(e.ip), json!("")),
        "IPPrefixLen": field(|e| json!(e.prefix), json!(0)),
        "IPv6Gateway": "",
        "MacAddress": field(|e| json!(e.mac), json!("")),
        "Networks": nets,
    })
}

/// Host-path binds (`-v /host:/ctr[:opts]`, `--mount type=bind`, and those
/// taken with `--volumes-from`) as inspect's `Mounts` shows them.
fn bind_mounts(c: &Container) -> Vec<Value> {
    super::volumes_from::host_binds(c)
        .into_iter()
        .map(|b| {
            let propagation = if b.propagation.is_empty() {
                "rprivate".to_string()
            } else {
                b.propagation
            };
            json!({
                "Type": "bind", "Source": b.source, "Destination": b.destination,
                "Mode": if b.read_only { "ro" } else { "" }, "RW": !b.read_only,
                "Propagation": propagation,
            })
        })
        .collect()
}
