//! Containers: list, lifecycle, inspect, logs, published ports.

use bollard::query_parameters::{
    ListContainersOptions, LogsOptions, RemoveContainerOptions, RestartContainerOptions,
    StopContainerOptions,
};
use futures::StreamExt;
use serde_json::{json, Value};

use super::context::Context;
use super::error::CommandError;
use super::Args;

/// Published ports as the UI shows them, with the URL "open" uses.
pub(crate) fn ports_json(ports: &[bollard::models::PortSummary]) -> Vec<Value> {
    let mut out: Vec<Value> = ports
        .iter()
        .map(|p| {
            let proto = p.typ.map(|t| t.to_string()).unwrap_or_else(|| "tcp".into());
            let url = match (p.public_port, proto.as_str()) {
                (Some(public), "tcp") => {
                    // 0.0.0.0 and :: listen everywhere, loopback included.
                    let ip = p.ip.as_deref().unwrap_or("");
                    let host = if ip.is_empty() || ip == "0.0.0.0" || ip == "::" {
                        "127.0.0.1".to_string()
                    } else if ip.contains(':') {
                        format!("[{ip}]")
                    } else {
                        ip.to_string()
                    };
                    Some(format!("http://{host}:{public}"))
                }
                _ => None,
            };
            json!({
                "ip": p.ip, "private": p.private_port, "public": p.public_port,
                "type": proto, "url": url,
            })
        })
        .collect();
    // IPv4 and IPv6 bindings of one port read as one entry.
    out.dedup_by(|a, b| a["private"] == b["private"] && a["public"] == b["public"]);
    out
}

pub(crate) async fn list(ctx: &Context, args: &Args) -> Result<Value, CommandError> {
    let all = args.bool_or("all", true)?;
    let docker = ctx.docker().await?;
    let list = docker
        .list_containers(Some(ListContainersOptions {
            all,
            ..Default::default()
        }))
        .await?;
    let rows: Vec<Value> = list
        .iter()
        .map(|c| {
            let name = c
                .names
                .as_ref()
                .and_then(|n| n.first())
                .map(|n| n.trim_start_matches('/').to_string())
                .unwrap_or_default();
            json!({
                "id": c.id,
                "name": name,
                "image": c.image,
                "state": c.state.map(|s| s.to_string()),
                // The engine's "Up 5 minutes" / "Exited (0) 2 seconds ago": uptime as docker ps says it.
                "status": c.status,
                "created": c.created,
                "ports": ports_json(c.ports.as_deref().unwrap_or_default()),
            })
        })
        .collect();
    Ok(Value::Array(rows))
}

pub(crate) async fn start(ctx: &Context, args: &Args) -> Result<Value, CommandError> {
    let id = args.str("id")?;
    ctx.docker()
        .await?
        .start_container(
            &id,
            None::<bollard::query_parameters::StartContainerOptions>,
        )
        .await?;
    Ok(json!({"id": id, "started": true}))
}

/// Seconds before SIGKILL; none given means the container's own (`--stop-timeout`), as with the CLI.
fn timeout(args: &Args) -> Result<Option<i32>, CommandError> {
    const UNSET: u64 = u64::MAX;
    Ok(match args.u64_or("timeout", UNSET)? {
        UNSET => None,
        t => Some(t.min(i32::MAX as u64) as i32),
    })
}

pub(crate) async fn stop(ctx: &Context, args: &Args) -> Result<Value, CommandError> {
    let id = args.str("id")?;
    let t = timeout(args)?;
    ctx.docker()
        .await?
        .stop_container(
            &id,
            Some(StopContainerOptions {
                t,
                ..Default::default()
            }),
        )
        .await?;
    Ok(json!({"id": id, "stopped": true}))
}

pub(crate) async fn restart(ctx: &Context, args: &Args) -> Result<Value, CommandError> {
    let id = args.str("id")?;
    let t = timeout(args)?;
    ctx.docker()
        .await?
        .restart_container(
            &id,
            Some(RestartContainerOptions {
                t,
                ..Default::default()
            }),
        )
        .await?;
    Ok(json!({"id": id, "restarted": true}))
}

pub(crate) async fn remove(ctx: &Context, args: &Args) -> Result<Value, CommandError> {
    let id = args.str("id")?;
    let force = args.bool_or("force", false)?;
    let volumes = args.bool_or("volumes", false)?;
    ctx.docker()
        .await?
        .remove_container(
            &id,
            Some(RemoveContainerOptions {
                force,
                v: volumes,
                ..Default::default()
            }),
        )
        .await?;
    Ok(json!({"id": id, "removed": true}))
}

pub(crate) async fn inspect(ctx: &Context, args: &Args) -> Result<Value, CommandError> {
    let id = args.str("id")?;
    let info = ctx
        .docker()
        .await?
        .inspect_container(
            &id,
            None::<bollard::query_parameters::InspectContainerOptions>,
        )
        .await?;
    serde_json::to_value(info).map_err(|e| CommandError::internal(e.to_string()))
}

/// The last `tail` lines at once (the panel then follows with the `containers.logs` stream).
pub(crate) async fn logs(ctx: &Context, args: &Args) -> Result<Value, CommandError> {
    let id = args.str("id")?;
    let tail = args.u64_or("tail", 200)?;
    let docker = ctx.docker().await?;
    let mut s = docker.logs(&id, Some(log_options(false, tail)));
    let mut lines = Vec::new();
    while let Some(item) = s.next().await {
        lines.push(super::streams::log_item(item?));
    }
    Ok(Value::Array(lines))
}

pub(crate) fn log_options(follow: bool, tail: u64) -> LogsOptions {
    LogsOptions {
        follow,
        stdout: true,
        stderr: true,
        tail: tail.to_string(),
        ..Default::default()
    }
}

/// The URLs of a container's published TCP ports ("open a published port").
pub(crate) async fn ports(ctx: &Context, args: &Args) -> Result<Value, CommandError> {
    let id = args.str("id")?;
    let docker = ctx.docker().await?;
    let mut filters = std::collections::HashMap::new();
    filters.insert("id".to_string(), vec![id.clone()]);
    let mut found = docker
        .list_containers(Some(ListContainersOptions {
            all: true,
            filters: Some(filters.clone()),
            ..Default::default()
        }))
        .await?;
    if found.is_empty() {
        filters.clear();
        filters.insert("name".to_string(), vec![id.clone()]);
        found = docker
            .list_containers(Some(ListContainersOptions {
                all: true,
                filters: Some(filters),
                ..Default::default()
            }))
            .await?;
    }
    let c = found
        .first()
        .ok_or_else(|| CommandError::not_found(format!("No such container: {id}")))?;
    Ok(Value::Array(ports_json(
        c.ports.as_deref().unwrap_or_default(),
    )))
}
