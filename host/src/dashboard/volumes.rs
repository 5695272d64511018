//! Volumes: list (with size and the containers using them), remove.

use std::collections::{BTreeMap, HashMap};

use bollard::query_parameters::{ListContainersOptions, ListVolumesOptions, RemoveVolumeOptions};
use serde_json::{json, Value};

use super::context::Context;
use super::error::CommandError;
use super::Args;

pub(crate) async fn list(ctx: &Context) -> Result<Value, CommandError> {
    let docker = ctx.docker().await?;
    let volumes = docker
        .list_volumes(Some(ListVolumesOptions::default()))
        .await?
        .volumes
        .unwrap_or_default();
    let containers = docker
        .list_containers(Some(ListContainersOptions {
            all: true,
            ..Default::default()
        }))
        .await?;
    // Engines that leave Mounts out of the list (berthd today) answer it in inspect.
    let inspected = futures::future::join_all(
        containers
            .iter()
            .filter(|c| c.mounts.as_ref().is_none_or(|m| m.is_empty()))
            .filter_map(|c| c.id.clone())
            .map(|id| {
                let docker = docker.clone();
                async move {
                    docker
                        .inspect_container(
                            &id,
                            None::<bollard::query_parameters::InspectContainerOptions>,
                        )
                        .await
                        .ok()
                }
            }),
    )
    .await;
    let mut users: HashMap<String, Vec<String>> = HashMap::new();
    let mut add = |container: &str, mount_type: Option<&str>, volume: Option<&String>| {
        if let (Some("volume"), Some(v)) = (mount_type, volume) {
            let list = users.entry(v.clone()).or_default();
            if !list.iter().any(|n| n == container) {
                list.push(container.to_string());
            }
        }
    };
    for c in &containers {
        let name = c
            .names
            .as_ref()
            .and_then(|n| n.first())
            .map(|n| n.trim_start_matches('/').to_string())
            .unwrap_or_default();
        for m in c.mounts.iter().flatten() {
            add(&name, m.typ.as_deref(), m.name.as_ref());
        }
    }
    for info in inspected.into_iter().flatten() {
        let name = info
            .name
            .as_deref()
            .unwrap_or_default()
            .trim_start_matches('/');
        for m in info.mounts.iter().flatten() {
            add(name, m.typ.as_deref(), m.name.as_ref());
        }
    }
    let sizes = sizes(ctx).await;
    let rows: Vec<Value> = volumes
        .iter()
        .map(|v| {
            json!({
                "name": v.name,
                "driver": v.driver,
                "mountpoint": v.mountpoint,
                "created": v.created_at.as_ref().map(|d| d.to_string()),
                "size": sizes.get(&v.name),
                "in_use_by": users.get(&v.name).cloned().unwrap_or_default(),
            })
        })
        .collect();
    Ok(Value::Array(rows))
}

/// Sizes from `/system/df` (the engine measures them); none when it cannot say.
#[cfg(not(unix))]
async fn sizes(_ctx: &Context) -> BTreeMap<String, i64> {
    BTreeMap::new()
}

#[cfg(unix)]
async fn sizes(ctx: &Context) -> BTreeMap<String, i64> {
    let Some(sock) = ctx.unix_socket() else {
        return BTreeMap::new();
    };
    let df = match super::raw::get_json(&sock, "/system/df").await {
        Ok(df) => df,
        Err(e) => {
            tracing::warn!("volume sizes unknown: {}", e.message);
            return BTreeMap::new();
        }
    };
    let mut out = BTreeMap::new();
    for v in df["Volumes"].as_array().into_iter().flatten() {
        if let (Some(name), Some(size)) = (v["Name"].as_str(), v["UsageData"]["Size"].as_i64()) {
            // -1 is the engine's "not computed".
            if size >= 0 {
                out.insert(name.to_string(), size);
            }
        }
    }
    out
}

pub(crate) async fn remove(ctx: &Context, args: &Args) -> Result<Value, CommandError> {
    let name = args.str("name")?;
    let force = args.bool_or("force", false)?;
    ctx.docker()
        .await?
        .remove_volume(&name, Some(RemoveVolumeOptions { force }))
        .await?;
    Ok(json!({"name": name, "removed": true}))
}
