//! `docker save` and `docker load`: the archive Docker 25+ writes, which is an
//! OCI image layout (`index.json`, `blobs/`) plus the older `manifest.json`
//! and `repositories`, so both old and new tools can read it.

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::path::{Component, Path, PathBuf};

use serde::Deserialize;
use serde_json::{json, Value};

use super::compression;
use super::digest::{Digest, HashingWriter};
use super::reference::Reference;
use super::service::Images;
use super::store::{Store, StoreError};
use crate::errdefs::{Error, Result};

const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
const OCI_LAYER: &str = "application/vnd.oci.image.layer.v1.tar";

impl Images {
    /// Writes the images named by `names` as one archive into `out`.
    pub fn save(&self, names: &[String], out: impl Write) -> Result<()> {
        let mut images: BTreeMap<Digest, Vec<Reference>> = BTreeMap::new();
        for name in names {
            let id = self.resolve(name)?;
            let entry = images.entry(id).or_default();
            if let Ok(r) = Reference::parse(name) {
                if !super::reference::looks_like_image_id(name) && r.digest().is_none() {
                    entry.push(r.with_default_tag());
                }
            }
        }
        let tmp = self.store.temp_path("save");
        fs::create_dir_all(&tmp)?;
        let result = self.save_into(&images, &tmp, out);
        let _ = fs::remove_dir_all(&tmp);
        result
    }

    fn save_into(
        &self,
        images: &BTreeMap<Digest, Vec<Reference>>,
        tmp: &Path,
        out: impl Write,
    ) -> Result<()> {
        let mut tar = tar::Builder::new(out);
        let mut written = std::collections::HashSet::new();
        let mut layer_sizes: BTreeMap<Digest, u64> = BTreeMap::new();
        let mut index = Vec::new();
        let mut legacy = Vec::new();
        let mut repositories: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
        add_bytes(&mut tar, "blobs/", None)?;
        add_bytes(&mut tar, "blobs/sha256/", None)?;
        for (id, refs) in images {
            let record = self
                .store
                .image(id)
                .ok_or_else(|| Error::not_found(format!("No such image: {id}")))?;
            let config = self.store.read_blob(id).map_err(super::pull::store_err)?;
            add_blob(&mut tar, &mut written, id, &config)?;
            let mut layers = Vec::new();
            for chain in &record.layers {
                let info = self
                    .store
                    .layer(chain)
                    .ok_or_else(|| Error::system(format!("layer {chain} is missing")))?;
                let path = tmp.join(info.diff_id.hex());
                if !layer_sizes.contains_key(&info.diff_id) {
                    let size = self.layer_tar(&info, &path)?;
                    let name = format!("blobs/sha256/{}", info.diff_id.hex());
                    let mut h = file_header(size, 0o444);
                    h.set_entry_type(tar::EntryType::Regular);
                    tar.append_data(&mut h, &name, File::open(&path)?)?;
                    fs::remove_file(&path)?;
                    layer_sizes.insert(info.diff_id.clone(), size);
                }
                layers.push((info.diff_id.clone(), layer_sizes[&info.diff_id]));
            }
            let manifest = json!({
                "schemaVersion": 2,
                "mediaType": OCI_MANIFEST,
                "config": {"mediaType": OCI_CONFIG, "digest": id.to_string(), "size": config.len()},
                "layers": layers.iter().map(|(d, size)| json!({"mediaType": OCI_LAYER, "digest": d.to_string(), "size": size})).collect::<Vec<_>>(),
            });
            let mbytes = serde_json::to_vec(&manifest).map_err(|e| Error::system(e.to_string()))?;
            let mdigest = Digest::of(&mbytes);
            add_blob(&mut tar, &mut written, &mdigest, &mbytes)?;
            let tags: Vec<String> = refs.iter().map(|r| r.familiar()).collect();
            let base = json!({"mediaType": OCI_MANIFEST, "digest": mdigest.to_string(), "size": mbytes.len()});
            if refs.is_empty() {
                index.push(base.clone());
            }
            for r in refs {
                let mut e = base.clone();
                e["annotations"] = json!({
                    "io.containerd.image.name": r.to_string(),
                    "org.opencontainers.image.ref.name": r.tag().unwrap_or("latest"),
                });
                index.push(e);
                if let Some(top) = layers.last() {
                    repositories
                        .entry(r.familiar_repository())
                        .or_default()
                        .insert(
                            r.tag().unwrap_or("latest").to_string(),
                            top.0.hex().to_string(),
                        );
                }
            }
            legacy.push(json!({
                "Config": format!("blobs/sha256/{}", id.hex()),
                "RepoTags": tags,
                "Layers": layers.iter().map(|(d, _)| format!("blobs/sha256/{}", d.hex())).collect::<Vec<_>>(),
            }));
        }
        let index = json!({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": index});
        add_bytes(&mut tar, "index.json", Some(&to_vec(&index)?))?;
        add_bytes(
            &mut tar,
            "manifest.json",
            Some(&to_vec(&Value::Array(legacy))?),
        )?;
        add_bytes(
            &mut tar,
            "oci-layout",
            Some(br#"{"imageLayoutVersion":"1.0.0"}"#),
        )?;
        if !repositories.is_empty() {
            add_bytes(
                &mut tar,
                "repositories",
                Some(&to_vec(&json!(repositories))?),
            )?;
        }
        tar.finish()?;
        Ok(())
    }

    /// The layer as an uncompressed tar whose digest is its diff id, recreated
    /// from the compressed blob it was pulled as.
    fn layer_tar(&self, info: &super::store::LayerInfo, dest: &Path) -> Result<u64> {
        let blob = info.compressed.as_ref().ok_or_else(|| {
            Error::not_implemented(format!(
                "layer {} has no archived form; saving locally created layers is not supported yet",
                info.diff_id
            ))
        })?;
        let src = compression::decompress(File::open(self.store.blob_path(blob))?)?;
        let mut w = HashingWriter {
            inner: File::create(dest)?,
            hasher: Default::default(),
        };
        let mut src = src;
        io::copy(&mut src, &mut w)?;
        w.inner.sync_all()?;
        let size = w.hasher.len();
        let digest = w.hasher.finish();
        if digest != info.diff_id {
            return Err(Error::system(format!(
                "layer {} is corrupt: its content hashes to {digest}",
                info.diff_id
            )));
        }
        Ok(size)
    }

    /// Reads an archive from `input` and returns the lines `docker load` prints.
    pub fn load(&self, input: impl Read) -> Result<Vec<String>> {
        let tmp = self.store.temp_path("load");
        fs::create_dir_all(&tmp)?;
        let result = extract_archive(input, &tmp).and_then(|_| self.load_from(&tmp));
        let _ = fs::remove_dir_all(&tmp);
        result
    }

    fn load_from(&self, dir: &Path) -> Result<Vec<String>> {
        let entries = read_manifest_json(dir).or_else(|_| read_oci_index(dir))?;
        let mut lines = Vec::new();
        for e in entries {
            let config_bytes = fs::read(safe_join(dir, &e.config)?).map_err(|err| {
                Error::invalid(format!("invalid archive: config {}: {err}", e.config))
            })?;
            let config: Value = serde_json::from_slice(&config_bytes).map_err(|err| {
                Error::invalid(format!("invalid archive: config {}: {err}", e.config))
            })?;
            let diff_ids: Vec<Digest> = config["rootfs"]["diff_ids"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(|v| v.as_str().and_then(|s| Digest::parse(s).ok()))
                        .collect()
                })
                .unwrap_or_default();
            if diff_ids.len() != e.layers.len() {
                return Err(Error::invalid(
                    "invalid archive: the config's diff_ids do not match its layers",
                ));
            }
            let mut parent: Option<Digest> = None;
            let mut chains = Vec::new();
            for (path, diff_id) in e.layers.iter().zip(&diff_ids) {
                let chain = Store::chain_id(parent.as_ref(), diff_id);
                if self.store.layer(&chain).is_none() {
                    self.load_layer(&safe_join(dir, path)?, parent.as_ref(), diff_id)?;
                }
                chains.push(chain.clone());
                parent = Some(chain);
            }
            let config_digest = self.store.put_blob(&config_bytes)?;
            let image = self
                .store
                .put_image(&config_digest, &chains, None)
                .map_err(super::pull::store_err)?;
            if e.tags.is_empty() {
                lines.push(format!("Loaded image ID: {}", image.id));
            }
            for tag in &e.tags {
                let r = Reference::parse(tag)
                    .map_err(|err| {
                        Error::invalid(format!("invalid tag {tag:?} in archive: {err}"))
                    })?
                    .with_default_tag();
                if let Some(old) = self.store.set_ref(&r.to_string(), &image.id)? {
                    if old != image.id {
                        lines.push(format!(
                            "The image {} already exists, renaming the old one with ID {old} to empty string",
                            r.familiar()
                        ));
                    }
                }
                self.store
                    .mark_tagged(&image.id)
                    .map_err(super::pull::store_err)?;
                lines.push(format!("Loaded image: {}", r.familiar()));
                self.event("load", image.id.as_str(), Some(&r.familiar()));
            }
        }
        Ok(lines)
    }

    /// Keeps the layer tar as a blob (so the image can be saved and pushed
    /// again) and unpacks it, checking its digest is the diff id the config names.
    fn load_layer(&self, path: &Path, parent: Option<&Digest>, diff_id: &Digest) -> Result<()> {
        let mut w = self.store.blob_writer(diff_id, None)?;
        let mut src = compression::decompress(File::open(path)?)?;
        io::copy(&mut src, &mut w)?;
        w.commit().map_err(|e| match e {
            StoreError::DigestMismatch { .. } => Error::invalid(format!(
                "invalid archive: a layer does not match the diff id {diff_id} its image config names"
            )),
            other => super::pull::store_err(other),
        })?;
        super::pull::unpack_blob(&self.store, parent, diff_id, diff_id, |_| {})
    }
}

struct Entry {
    config: String,
    layers: Vec<String>,
    tags: Vec<String>,
}

#[derive(Deserialize)]
struct LegacyEntry {
    #[serde(rename = "Config")]
    config: String,
    #[serde(rename = "RepoTags", default)]
    repo_tags: Option<Vec<String>>,
    #[serde(rename = "Layers")]
    layers: Vec<String>,
}

fn read_manifest_json(dir: &Path) -> Result<Vec<Entry>> {
    let bytes = fs::read(dir.join("manifest.json"))
        .map_err(|_| Error::invalid("invalid archive: no manifest.json"))?;
    let list: Vec<LegacyEntry> = serde_json::from_slice(&bytes)
        .map_err(|e| Error::invalid(format!("invalid archive: manifest.json: {e}")))?;
    Ok(list
        .into_iter()
        .map(|e| Entry {
            config: e.config,
            layers: e.layers,
            tags: e.repo_tags.unwrap_or_default(),
        })
        .collect())
}

/// A plain OCI layout (e.g. from skopeo or buildah): names from annotations.
fn read_oci_index(dir: &Path) -> Result<Vec<Entry>> {
    let bytes = fs::read(dir.join("index.json")).map_err(|_| {
        Error::invalid("invalid archive: neither manifest.json nor index.json found; is this a `docker save` or OCI layout tar?")
    })?;
    let index: Value = serde_json::from_slice(&bytes)
        .map_err(|e| Error::invalid(format!("invalid archive: index.json: {e}")))?;
    let blob = |d: &str| -> Result<Value> {
        let digest = Digest::parse(d).map_err(|e| Error::invalid(e.to_string()))?;
        let b = fs::read(dir.join("blobs/sha256").join(digest.hex()))
            .map_err(|e| Error::invalid(format!("invalid archive: blob {d}: {e}")))?;
        if Digest::of(&b) != digest {
            return Err(Error::invalid(format!(
                "invalid archive: blob {d} does not match its digest"
            )));
        }
        serde_json::from_slice(&b)
            .map_err(|e| Error::invalid(format!("invalid archive: blob {d}: {e}")))
    };
    let mut out = Vec::new();
    for m in index["manifests"].as_array().cloned().unwrap_or_default() {
        let manifest = blob(m["digest"].as_str().unwrap_or(""))?;
        let path_of = |d: &Value| -> String {
            let s = d["digest"].as_str().unwrap_or("");
            format!("blobs/sha256/{}", s.strip_prefix("sha256:").unwrap_or(s))
        };
        let annotations = &m["annotations"];
        let tags = annotations["io.containerd.image.name"]
            .as_str()
            .map(String::from)
            .into_iter()
            .collect();
        out.push(Entry {
            config: path_of(&manifest["config"]),
            layers: manifest["layers"]
                .as_array()
                .map(|l| l.iter().map(path_of).collect())
                .unwrap_or_default(),
            tags,
        });
    }
    Ok(out)
}

/// Unpacks the archive's files (regular files and directories only) into `dir`;
/// nothing may land outside it.
fn extract_archive(input: impl Read, dir: &Path) -> Result<()> {
    let mut archive = tar::Archive::new(input);
    for entry in archive
        .entries()
        .map_err(|e| Error::invalid(format!("invalid archive: {e}")))?
    {
        let mut entry = entry.map_err(|e| Error::invalid(format!("invalid archive: {e}")))?;
        let path = entry
            .path()
            .map_err(|e| Error::invalid(format!("invalid archive: {e}")))?
            .to_string_lossy()
            .into_owned();
        let dest = safe_join(dir, &path)?;
        match entry.header().entry_type() {
            tar::EntryType::Directory => fs::create_dir_all(&dest)?,
            tar::EntryType::Regular | tar::EntryType::Continuous => {
                if let Some(p) = dest.parent() {
                    fs::create_dir_all(p)?;
                }
                let mut f = File::create(&dest)?;
                io::copy(&mut entry, &mut f)?;
            }
            // Links and devices have no place in an image archive: skip them
            // rather than follow them anywhere.
            _ => continue,
        }
    }
    Ok(())
}

/// `dir/rel`, refusing absolute paths and `..` so archive paths stay inside `dir`.
fn safe_join(dir: &Path, rel: &str) -> Result<PathBuf> {
    let mut out = dir.to_path_buf();
    for c in Path::new(rel).components() {
        match c {
            Component::Normal(p) => out.push(p),
            Component::CurDir => {}
            _ => {
                return Err(Error::invalid(format!(
                    "invalid archive: path {rel:?} escapes the archive"
                )))
            }
        }
    }
    Ok(out)
}

fn to_vec(v: &Value) -> Result<Vec<u8>> {
    serde_json::to_vec(v).map_err(|e| Error::system(e.to_string()))
}

fn file_header(size: u64, mode: u32) -> tar::Header {
    let mut h = tar::Header::new_gnu();
    h.set_size(size);
    h.set_mode(mode);
    h.set_mtime(0);
    h.set_uid(0);
    h.set_gid(0);
    h
}

fn add_bytes<W: Write>(tar: &mut tar::Builder<W>, name: &str, data: Option<&[u8]>) -> Result<()> {
    let mut h = file_header(
        data.map(|d| d.len() as u64).unwrap_or(0),
        if data.is_some() { 0o444 } else { 0o755 },
    );
    h.set_entry_type(if data.is_some() {
        tar::EntryType::Regular
    } else {
        tar::EntryType::Directory
    });
    tar.append_data(&mut h, name, data.unwrap_or(&[]))?;
    Ok(())
}

fn add_blob<W: Write>(
    tar: &mut tar::Builder<W>,
    written: &mut std::collections::HashSet<Digest>,
    d: &Digest,
    data: &[u8],
) -> Result<()> {
    if written.insert(d.clone()) {
        add_bytes(tar, &format!("blobs/sha256/{}", d.hex()), Some(data))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn archive_paths_cannot_escape() {
        let d = Path::new("/tmp/x");
        assert_eq!(
            safe_join(d, "blobs/sha256/ab").unwrap(),
            PathBuf::from("/tmp/x/blobs/sha256/ab")
        );
        assert_eq!(
            safe_join(d, "./manifest.json").unwrap(),
            PathBuf::from("/tmp/x/manifest.json")
        );
        assert!(safe_join(d, "../etc/passwd").is_err());
        assert!(safe_join(d, "/etc/passwd").is_err());
        assert!(safe_join(d, "a/../../b").is_err());
    }
}
