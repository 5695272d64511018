//! `GET /system/df`: what images, containers and volumes take on disk, and
//! what is in use.

use std::collections::HashMap;

use serde_json::{json, Value};

use crate::containers::service::Containers;
use crate::errdefs::Result;
use crate::images::service::Images;
use crate::volumes::service::Volumes;

pub fn disk_usage(images: &Images, containers: &Containers, volumes: &Volumes) -> Result<Value> {
    let (container_rows, users_by_image, users_by_volume) = containers.disk_usage();
    let summaries = images.list(&Default::default(), true)?;

    // A layer used by several images is counted once in LayersSize and shows
    // as SharedSize in each of them.
    let mut layer_users: HashMap<String, (u64, usize)> = HashMap::new();
    let mut layers_of = HashMap::new();
    for s in &summaries {
        let id = crate::images::digest::Digest::parse(&s.id).ok();
        let sizes = id.map(|id| images.layer_sizes(&id)).unwrap_or_default();
        for (chain, size) in &sizes {
            layer_users.entry(chain.to_string()).or_insert((*size, 0)).1 += 1;
        }
        layers_of.insert(s.id.clone(), sizes);
    }
    let layers_size: u64 = layer_users.values().map(|(s, _)| s).sum();
    let image_rows: Vec<Value> = summaries
        .into_iter()
        .map(|s| {
            let shared: u64 = layers_of[&s.id]
                .iter()
                .filter(|(c, _)| layer_users[&c.to_string()].1 > 1)
                .map(|(_, size)| size)
                .sum();
            let mut v = serde_json::to_value(&s).unwrap_or(Value::Null);
            v["Containers"] = json!(users_by_image.get(&s.id).copied().unwrap_or(0));
            v["SharedSize"] = json!(shared);
            v
        })
        .collect();
    let volume_rows: Vec<Value> = volumes
        .list(&Default::default())?
        .into_iter()
        .map(|mut v| {
            let name = v["Name"].as_str().unwrap_or_default().to_string();
            let size = crate::fsutil::dir_size(std::path::Path::new(
                v["Mountpoint"].as_str().unwrap_or(""),
            ));
            v["UsageData"] =
                json!({"Size": size, "RefCount": users_by_volume.get(&name).copied().unwrap_or(0)});
            v
        })
        .collect();
    Ok(json!({
        "LayersSize": layers_size,
        "Images": image_rows,
        "Containers": container_rows,
        "Volumes": volume_rows,
        "BuildCache": [],
    }))
}
