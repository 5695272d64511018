//! Read-only views of the image store: `docker images`, `image inspect`,
//! `history`, with dockerd's filters.

use std::collections::HashMap;

use bollard_stubs::models::ImageSummary;
use serde_json::{json, Value};

use super::digest::Digest;
use super::reference::Reference;
use super::service::Images;
use super::store::ImageRecord;
use crate::errdefs::{Error, Result};

pub use crate::filters::Filters;

const LIST_FILTERS: &[&str] = &["dangling", "reference", "label", "before", "since", "until"];

impl Images {
    /// Repository tags and digests of an image in the familiar form the CLI shows.
    fn names_of(&self, id: &Digest) -> (Vec<String>, Vec<String>) {
        let mut tags = Vec::new();
        let mut digests = Vec::new();
        for r in self.store.refs_of(id) {
            match Reference::parse(&r) {
                Ok(p) if p.digest().is_some() => digests.push(p.familiar()),
                Ok(p) => tags.push(p.familiar()),
                Err(_) => {}
            }
        }
        (tags, digests)
    }

    pub fn list(&self, filters: &Filters, all: bool) -> Result<Vec<ImageSummary>> {
        crate::filters::check_keys(filters, LIST_FILTERS)?;
        let created_of =
            |id: &Digest| -> i64 { self.image_config(id).map(|c| created_unix(&c)).unwrap_or(0) };
        let bound = |key: &str| -> Result<Option<i64>> {
            match filters.get(key).and_then(|v| v.first()) {
                None => Ok(None),
                Some(name) => Ok(Some(created_of(&self.resolve(name)?))),
            }
        };
        let (before, since) = (bound("before")?, bound("since")?);
        let until = match filters.get("until").and_then(|v| v.first()) {
            None => None,
            Some(v) => Some(crate::timefmt::until_cutoff(v, crate::timefmt::now_unix())?),
        };
        let dangling = crate::filters::bool_filter(filters, "dangling")?;
        let mut out = Vec::new();
        for rec in self.store.images() {
            let config = match self.image_config(&rec.id) {
                Ok(c) => c,
                Err(e) => {
                    tracing::warn!("skipping image {}: {e}", rec.id);
                    continue;
                }
            };
            let (tags, digests) = self.names_of(&rec.id);
            // Without -a, an untagged image another was built on is an
            // intermediate build image, not shown (nor dangling).
            if !all && tags.is_empty() && !self.store.children(&rec.id).is_empty() {
                continue;
            }
            let created = created_unix(&config);
            if dangling.is_some_and(|d| d != tags.is_empty()) {
                continue;
            }
            if before.is_some_and(|b| created >= b)
                || since.is_some_and(|s| created <= s)
                || until.is_some_and(|u| created >= u)
            {
                continue;
            }
            let labels = labels_of(&config);
            if let Some(wanted) = filters.get("label") {
                if !wanted.iter().all(|w| {
                    crate::filters::label_matches(|k| labels.get(k).map(String::as_str), w)
                }) {
                    continue;
                }
            }
            let mut shown_tags = tags.clone();
            if let Some(patterns) = filters.get("reference") {
                shown_tags.retain(|t| patterns.iter().any(|p| reference_matches(p, t)));
                if shown_tags.is_empty() {
                    continue;
                }
            }
            out.push(ImageSummary {
                id: rec.id.to_string(),
                parent_id: rec
                    .parent
                    .as_ref()
                    .map(|p| p.to_string())
                    .unwrap_or_default(),
                repo_tags: shown_tags,
                repo_digests: digests,
                created,
                size: rec.size as i64,
                shared_size: -1,
                labels,
                containers: -1,
                manifests: None,
                descriptor: None,
            });
        }
        // Newest first, as dockerd lists them.
        out.sort_by(|a, b| b.created.cmp(&a.created).then(a.id.cmp(&b.id)));
        Ok(out)
    }

    /// An image as users name it: its ID, record and parsed config.
    fn lookup(&self, name: &str) -> Result<(Digest, ImageRecord, Value)> {
        let id = self.resolve(name)?;
        let rec = self
            .store
            .image(&id)
            .ok_or_else(|| Error::not_found(format!("No such image: {name}")))?;
        let config = self.image_config(&id)?;
        Ok((id, rec, config))
    }

    pub fn inspect(&self, name: &str) -> Result<Value> {
        let (id, rec, config) = self.lookup(name)?;
        let (tags, digests) = self.names_of(&id);
        Ok(json!({
            "Id": id.to_string(),
            "RepoTags": tags,
            "RepoDigests": digests,
            "Parent": rec.parent.as_ref().map(|p| p.to_string()).unwrap_or_default(),
            "Comment": config.get("comment").cloned().unwrap_or(json!("")),
            "Created": config.get("created").cloned().unwrap_or(json!("")),
            "DockerVersion": config.get("docker_version").cloned().unwrap_or(json!("")),
            "Author": config.get("author").cloned().unwrap_or(json!("")),
            "Config": config.get("config").cloned().unwrap_or(Value::Null),
            "Architecture": config.get("architecture").cloned().unwrap_or(json!("")),
            "Variant": config.get("variant").cloned(),
            "Os": config.get("os").cloned().unwrap_or(json!("linux")),
            "OsVersion": config.get("os.version").cloned(),
            "Size": rec.size,
            "GraphDriver": self.graph_driver(&rec),
            "RootFS": {"Type": "layers", "Layers": config["rootfs"]["diff_ids"].clone()},
            "Metadata": {"LastTagTime": rec.last_tag_time.clone().unwrap_or_else(|| "0001-01-01T00:00:00Z".into())},
        }))
    }

    fn graph_driver(&self, rec: &ImageRecord) -> Value {
        let dirs: Vec<String> = rec
            .layers
            .iter()
            .rev()
            .filter_map(|c| self.store.layer(c))
            .map(|l| self.store.layer_diff_dir(&l).display().to_string())
            .collect();
        let mut data = HashMap::new();
        if let Some((top, lower)) = dirs.split_first() {
            data.insert("UpperDir", top.clone());
            if !lower.is_empty() {
                data.insert("LowerDir", lower.join(":"));
            }
        }
        json!({"Name": "overlay2", "Data": data})
    }

    pub fn history(&self, name: &str) -> Result<Vec<Value>> {
        let (id, rec, config) = self.lookup(name)?;
        let (tags, _) = self.names_of(&id);
        let sizes: Vec<u64> = rec
            .layers
            .iter()
            .map(|c| self.store.layer(c).map(|l| l.size).unwrap_or(0))
            .collect();
        let entries = config["history"].as_array().cloned().unwrap_or_default();
        let mut layer = 0;
        let mut out = Vec::new();
        for h in &entries {
            let empty = h["empty_layer"].as_bool().unwrap_or(false);
            let size = if empty {
                0
            } else {
                let s = sizes.get(layer).copied().unwrap_or(0);
                layer += 1;
                s
            };
            out.push(json!({
                "Id": "<missing>",
                "Created": h["created"].as_str().map(crate::timefmt::rfc3339_to_unix).unwrap_or(0),
                "CreatedBy": h["created_by"].as_str().unwrap_or(""),
                "Tags": Value::Null,
                "Size": size,
                "Comment": h["comment"].as_str().unwrap_or(""),
            }));
        }
        out.reverse();
        match out.first_mut() {
            Some(top) => {
                top["Id"] = json!(id.to_string());
                top["Tags"] = json!(tags);
            }
            None => out.push(json!({
                "Id": id.to_string(), "Created": created_unix(&config), "CreatedBy": "",
                "Tags": tags, "Size": rec.size, "Comment": "",
            })),
        }
        Ok(out)
    }
}

fn labels_of(config: &Value) -> HashMap<String, String> {
    config["config"]["Labels"]
        .as_object()
        .map(|m| {
            m.iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
                .collect()
        })
        .unwrap_or_default()
}

/// dockerd matches `reference=` patterns against the familiar name, with and
/// without the tag, using path globbing.
pub fn reference_matches(pattern: &str, familiar_tag: &str) -> bool {
    let repo = familiar_tag
        .rsplit_once(':')
        .map(|(r, _)| r)
        .unwrap_or(familiar_tag);
    glob(pattern, familiar_tag) || glob(pattern, repo)
}

/// `*` matches within a path segment, `?` one character; no `/` crossing.
fn glob(pattern: &str, text: &str) -> bool {
    fn go(p: &[u8], t: &[u8]) -> bool {
        match (p.first(), t.first()) {
            (None, None) => true,
            (Some(b'*'), _) => go(&p[1..], t) || (!t.is_empty() && t[0] != b'/' && go(p, &t[1..])),
            (Some(b'?'), Some(c)) if *c != b'/' => go(&p[1..], &t[1..]),
            (Some(a), Some(b)) if a == b => go(&p[1..], &t[1..]),
            _ => false,
        }
    }
    go(pattern.as_bytes(), text.as_bytes())
}

fn created_unix(config: &Value) -> i64 {
    config["created"]
        .as_str()
        .map(crate::timefmt::rfc3339_to_unix)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reference_filter_globs_like_dockerd() {
        assert!(reference_matches("busybox", "busybox:latest"));
        assert!(reference_matches("busy*", "busybox:latest"));
        assert!(reference_matches("busybox:lat*", "busybox:latest"));
        assert!(!reference_matches("box", "busybox:latest"));
        assert!(!reference_matches("*", "library/busybox:latest"));
        assert!(reference_matches("*/*", "berth-test/httpd:1.0"));
    }
}
