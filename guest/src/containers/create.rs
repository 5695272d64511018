//! `docker create`: a container record and its read-write layer.

use bollard_stubs::models::ContainerCreateBody;
use serde_json::{json, Map, Value};

use super::names;
use super::record::{Container, State, VolumeMount};
use super::service::Containers;
use crate::errdefs::{Error, Result};

impl Containers {
    /// Creates a container from what the client sent; returns its ID and warnings.
    pub fn create(
        &self,
        name: Option<&str>,
        body: &ContainerCreateBody,
    ) -> Result<(String, Vec<String>)> {
        let image_name = body
            .image
            .as_deref()
            .filter(|i| !i.is_empty())
            .ok_or_else(|| {
                Error::invalid("config cannot be empty in order to create a container")
            })?;
        let image_id = self.images.resolve(image_name)?;
        let image_config = self.images.image_config(&image_id)?;
        let generated = name.is_none_or(|n| n.is_empty());
        let name = match name.filter(|n| !n.is_empty()) {
            Some(n) => names::validate(n)?,
            None => format!(
                "/{}",
                names::generate(|n| self.store.name_taken_by(n).is_some())
            ),
        };
        if let Some(other) = self.store.name_taken_by(&name) {
            return Err(super::store::name_conflict(&name, &other));
        }
        let client = serde_json::to_value(body).map_err(|e| Error::invalid(e.to_string()))?;
        let id = new_id();
        let config = merge_config(&image_config["config"], &client, image_name, &id);
        let (path, args) = command(&config)?;
        let mut host_config = client
            .get("HostConfig")
            .cloned()
            .unwrap_or_else(|| json!({}));
        if host_config
            .get("NetworkMode")
            .and_then(Value::as_str)
            .unwrap_or("")
            .is_empty()
        {
            host_config["NetworkMode"] = json!("bridge");
        }

        super::spec::validate(body)?;
        if let Some(sig) = config["StopSignal"].as_str().filter(|s| !s.is_empty()) {
            super::stop::parse_signal(sig)?;
        }
        merge_log_config(&mut host_config, &self.config.get());
        super::logs::LogConfig::from_host_config(
            &id,
            std::path::Path::new("/"),
            &host_config["LogConfig"],
        )
        .map_err(Error::invalid)?;
        let runtime = match host_config["Runtime"].as_str().filter(|r| !r.is_empty()) {
            Some(r) => r.to_string(),
            None => {
                let cfg = self.config.get();
                cfg.default_runtime
                    .clone()
                    .unwrap_or_else(|| "berth".into())
            }
        };
        let known = matches!(runtime.as_str(), "berth" | "runc")
            || self.config.get().runtimes.contains_key(&runtime);
        if !known {
            return Err(Error::invalid(format!(
                "unknown or invalid runtime name: {runtime}"
            )));
        }
        host_config["Runtime"] = json!(runtime);
        let policy = host_config["RestartPolicy"]["Name"].as_str().unwrap_or("");
        if !matches!(policy, "" | "no") && host_config["AutoRemove"].as_bool().unwrap_or(false) {
            return Err(Error::invalid(
                "conflicting options: cannot specify both --restart and --rm",
            ));
        }
        if !matches!(
            policy,
            "" | "no" | "always" | "unless-stopped" | "on-failure"
        ) {
            return Err(Error::invalid(format!("invalid restart policy: unknown policy '{policy}'; use one of 'no', 'always', 'on-failure', or 'unless-stopped'")));
        }

        let top = self
            .images
            .top_layer(&image_id)?
            .ok_or_else(|| Error::not_implemented("images without layers cannot be run yet"))?;
        let inherited = self.volumes_from(&host_config)?;
        let mut volumes = self.volume_mounts(&host_config, &config, &inherited.destinations())?;
        volumes.extend(inherited.volumes);
        let rw = match self.images.create_rw_layer(&id, &top) {
            Ok(rw) => rw,
            Err(e) => {
                self.drop_anonymous(&volumes);
                return Err(e);
            }
        };
        let c = Container {
            id: id.clone(),
            name,
            created: crate::timefmt::now_rfc3339(),
            image: image_id.to_string(),
            image_name: image_name.to_string(),
            path,
            args,
            config,
            host_config,
            state: State::created(),
            mount_id: rw.mount_id,
            lower: rw.lower,
            restart_count: 0,
            manually_stopped: false,
            networks: Default::default(),
            ports: Default::default(),
            endpoints_config: client["NetworkingConfig"]["EndpointsConfig"].clone(),
            volumes,
            inherited_binds: inherited.binds,
        };
        let mut c = c;
        let mut result = self.store.insert_new(&c);
        // A generated name another create took meanwhile: draw another, as
        // dockerd does; a name the client chose is a conflict.
        let mut tries = 0;
        while result.is_err() && generated && tries < 10 {
            tries += 1;
            c.name = format!(
                "/{}",
                names::generate(|n| self.store.name_taken_by(n).is_some())
            );
            result = self.store.insert_new(&c);
        }
        if let Err(e) = result {
            let _ = self.images.remove_rw_layer(&id);
            self.drop_anonymous(&c.volumes);
            return Err(e);
        }
        self.event("create", &c, &[]);
        Ok((id, Vec::new()))
    }

    /// The volumes a new container mounts, created as dockerd creates them:
    /// named ones from `-v name:/path` and `--mount type=volume`, anonymous
    /// ones for the `VOLUME`s nothing else covers (`inherited`: what
    /// `--volumes-from` mounts, which covers them too).
    fn volume_mounts(
        &self,
        host_config: &Value,
        config: &Value,
        inherited: &std::collections::HashSet<String>,
    ) -> Result<Vec<VolumeMount>> {
        let mut out = Vec::new();
        let mut covered = inherited.clone();
        let result = (|| {
            for b in host_config["Binds"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
            {
                let parts: Vec<&str> = b.split(':').collect();
                let (src, dst, opts) = match parts.as_slice() {
                    [s, d] => (*s, *d, ""),
                    [s, d, o] => (*s, *d, *o),
                    _ => {
                        return Err(Error::invalid(format!(
                            "invalid volume specification: '{b}'"
                        )))
                    }
                };
                if !dst.starts_with('/') {
                    return Err(Error::invalid(format!(
                        "invalid volume specification: '{b}': invalid mount config for type \"volume\": invalid mount path: '{dst}' mount path must be absolute"
                    )));
                }
                covered.insert(dst.to_string());
                if src.starts_with('/') {
                    continue; // a bind mount of a host path
                }
                let v = self
                    .volumes
                    .ensure(Some(src), Default::default(), Default::default())?;
                out.push(VolumeMount {
                    name: v.name,
                    destination: dst.to_string(),
                    anonymous: false,
                    read_only: opts.split(',').any(|o| o == "ro"),
                    nocopy: opts.split(',').any(|o| o == "nocopy"),
                });
            }
            for m in host_config["Mounts"].as_array().into_iter().flatten() {
                let Some(target) = m["Target"].as_str() else {
                    continue;
                };
                covered.insert(target.to_string());
                if m["Type"].as_str() != Some("volume") {
                    continue;
                }
                let source = m["Source"].as_str().filter(|s| !s.is_empty());
                let labels = serde_json::from_value(m["VolumeOptions"]["Labels"].clone())
                    .unwrap_or_default();
                let opts =
                    serde_json::from_value(m["VolumeOptions"]["DriverConfig"]["Options"].clone())
                        .unwrap_or_default();
                let v = self.volumes.ensure(source, labels, opts)?;
                out.push(VolumeMount {
                    name: v.name,
                    destination: target.to_string(),
                    anonymous: source.is_none(),
                    read_only: m["ReadOnly"].as_bool().unwrap_or(false),
                    nocopy: m["VolumeOptions"]["NoCopy"].as_bool().unwrap_or(false),
                });
            }
            for dst in config["Volumes"]
                .as_object()
                .into_iter()
                .flat_map(|m| m.keys())
            {
                if covered.contains(dst) {
                    continue;
                }
                let v = self
                    .volumes
                    .ensure(None, Default::default(), Default::default())?;
                out.push(VolumeMount {
                    name: v.name,
                    destination: dst.clone(),
                    anonymous: true,
                    read_only: false,
                    nocopy: false,
                });
            }
            Ok(())
        })();
        match result {
            Ok(()) => Ok(out),
            Err(e) => {
                self.drop_anonymous(&out);
                Err(e)
            }
        }
    }

    /// Removes the anonymous volumes among `mounts` (`rm -v`, failed creates).
    pub(super) fn drop_anonymous(&self, mounts: &[VolumeMount]) {
        for m in mounts.iter().filter(|m| m.anonymous) {
            // Shared through --volumes-from: it goes with the last user.
            if self.volume_in_use(&m.name) {
                continue;
            }
            match self.volumes.store.remove(&m.name) {
                Ok(_) => self.volumes.destroyed(&m.name),
                Err(e) => tracing::warn!(volume = %m.name, "cannot remove anonymous volume: {e}"),
            }
        }
    }
}

pub(super) fn new_id() -> String {
    format!(
        "{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    )
}

/// The container's Config as `docker inspect` shows it: the client's values
/// over the image's (Env merged by key, Labels and ExposedPorts merged).
fn merge_config(image: &Value, client: &Value, image_name: &str, id: &str) -> Value {
    let mut out = Map::new();
    let pick = |k: &str| -> Value {
        match client.get(k) {
            Some(v) if !v.is_null() => v.clone(),
            _ => image.get(k).cloned().unwrap_or(Value::Null),
        }
    };
    let hostname = client
        .get("Hostname")
        .and_then(Value::as_str)
        .filter(|h| !h.is_empty())
        .map(String::from)
        .unwrap_or_else(|| id[..12].to_string());
    out.insert("Hostname".into(), json!(hostname));
    out.insert(
        "Domainname".into(),
        pick("Domainname")
            .as_str()
            .map(|s| json!(s))
            .unwrap_or(json!("")),
    );
    out.insert(
        "User".into(),
        pick("User").as_str().map(|s| json!(s)).unwrap_or(json!("")),
    );
    for k in [
        "AttachStdin",
        "AttachStdout",
        "AttachStderr",
        "Tty",
        "OpenStdin",
        "StdinOnce",
    ] {
        out.insert(
            k.into(),
            json!(client.get(k).and_then(Value::as_bool).unwrap_or(false)),
        );
    }
    // Env: image first, the client's entries replace same-named ones.
    let mut env: Vec<String> = image["Env"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default();
    for e in client["Env"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
    {
        let key = e.split('=').next().unwrap_or(e);
        env.retain(|x| x.split('=').next() != Some(key));
        env.push(e.to_string());
    }
    out.insert("Env".into(), json!(env));
    // An explicit Entrypoint replaces the image's and drops its Cmd.
    let entrypoint_given = client.get("Entrypoint").is_some_and(|v| !v.is_null());
    let entrypoint = pick("Entrypoint");
    let cmd = match client.get("Cmd") {
        Some(v) if !v.is_null() => v.clone(),
        _ if entrypoint_given => Value::Null,
        _ => image.get("Cmd").cloned().unwrap_or(Value::Null),
    };
    out.insert("Cmd".into(), cmd);
    out.insert("Image".into(), json!(image_name));
    out.insert("Volumes".into(), pick("Volumes"));
    out.insert(
        "WorkingDir".into(),
        pick("WorkingDir")
            .as_str()
            .map(|s| json!(s))
            .unwrap_or(json!("")),
    );
    out.insert("Entrypoint".into(), entrypoint);
    out.insert(
        "OnBuild".into(),
        image.get("OnBuild").cloned().unwrap_or(Value::Null),
    );
    let mut labels = image["Labels"].as_object().cloned().unwrap_or_default();
    labels.extend(client["Labels"].as_object().cloned().unwrap_or_default());
    out.insert("Labels".into(), json!(labels));
    let mut ports = image["ExposedPorts"]
        .as_object()
        .cloned()
        .unwrap_or_default();
    ports.extend(
        client["ExposedPorts"]
            .as_object()
            .cloned()
            .unwrap_or_default(),
    );
    if !ports.is_empty() {
        out.insert("ExposedPorts".into(), json!(ports));
    }
    for k in ["StopSignal", "StopTimeout", "Healthcheck"] {
        let v = pick(k);
        if !v.is_null() {
            out.insert(k.into(), v);
        }
    }
    Value::Object(out)
}

/// Path and Args as dockerd records them: the first word of Entrypoint + Cmd.
fn command(config: &Value) -> Result<(String, Vec<String>)> {
    let words: Vec<String> = ["Entrypoint", "Cmd"]
        .iter()
        .flat_map(|k| config[*k].as_array().cloned().unwrap_or_default())
        .filter_map(|v| v.as_str().map(String::from))
        .collect();
    let mut words = words.into_iter();
    match words.next() {
        Some(p) if !p.is_empty() => Ok((p, words.collect())),
        _ => Err(Error::invalid("no command specified")),
    }
}

/// dockerd's merge: an empty driver is the daemon's, and with the daemon's
/// driver come its options for the keys the container does not set.
fn merge_log_config(host_config: &mut Value, daemon: &berth_common::daemon_config::DaemonConfig) {
    let lc = &mut host_config["LogConfig"];
    if !lc.is_object() {
        *lc = json!({});
    }
    if lc["Type"].as_str().unwrap_or("").is_empty() {
        lc["Type"] = json!(daemon.log_driver);
    }
    if !lc["Config"].is_object() {
        lc["Config"] = json!({});
    }
    if lc["Type"] == json!(daemon.log_driver) {
        for (k, v) in &daemon.log_opts {
            if lc["Config"].get(k).is_none() {
                lc["Config"][k] = json!(v);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_values_override_the_image() {
        let image = json!({"Env": ["PATH=/bin", "A=1"], "Cmd": ["sh"], "Labels": {"a": "1"}, "ExposedPorts": {"80/tcp": {}}, "WorkingDir": "/www"});
        let client = json!({"Env": ["A=2", "B=3"], "Labels": {"b": "2"}, "Cmd": null});
        let c = merge_config(&image, &client, "busybox", &"ab".repeat(32));
        assert_eq!(c["Env"], json!(["PATH=/bin", "A=2", "B=3"]));
        assert_eq!(c["Cmd"], json!(["sh"]));
        assert_eq!(c["Labels"], json!({"a": "1", "b": "2"}));
        assert_eq!(c["WorkingDir"], json!("/www"));
        assert_eq!(c["Hostname"], json!("abababababab"));
        assert_eq!(command(&c).unwrap(), ("sh".to_string(), vec![]));
    }

    #[test]
    fn an_entrypoint_drops_the_image_cmd() {
        let image = json!({"Cmd": ["sh"], "Entrypoint": ["/init"]});
        let c = merge_config(
            &image,
            &json!({"Entrypoint": ["echo"]}),
            "x",
            &"0".repeat(64),
        );
        assert_eq!(c["Cmd"], Value::Null);
        assert_eq!(command(&c).unwrap(), ("echo".to_string(), vec![]));
        let c = merge_config(&image, &json!({"Cmd": ["-v"]}), "x", &"0".repeat(64));
        assert_eq!(
            command(&c).unwrap(),
            ("/init".to_string(), vec!["-v".to_string()])
        );
    }

    #[test]
    fn no_command_is_refused() {
        let c = merge_config(&json!({}), &json!({}), "x", &"0".repeat(64));
        assert_eq!(command(&c).unwrap_err().message, "no command specified");
    }
}
