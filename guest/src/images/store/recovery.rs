//! What `open` does before the store is used: whatever a crash interrupted is
//! either unreferenced debris (deleted) or metadata pointing at something that
//! is gone (dropped), and everything else is left alone.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fs;
use std::io;
use std::path::Path;

use super::images::{ImageRecord, RECORD_FILE};
use super::layers::{make_link, read_entry, LayerInfo};
use super::refs::RepositoriesFile;
use super::util::{is_atomic_write_temp, remove_path, sync_dir};
use super::{Paths, State};
use crate::fsutil::atomic_write;
use crate::images::digest::Digest;

#[derive(Default)]
struct Cleaned {
    tmp: usize,
    layers: usize,
    overlay_dirs: usize,
    links: usize,
    images: usize,
    refs: usize,
}

pub(super) fn recover(paths: &Paths) -> io::Result<State> {
    let mut cleaned = Cleaned::default();
    wipe_tmp(paths, &mut cleaned)?;
    let layers = load_layers(paths, &mut cleaned)?;
    clean_overlay(paths, &layers, &mut cleaned)?;
    let images = load_images(paths, &layers, &mut cleaned)?;
    let refs = load_refs(paths, &images, &mut cleaned)?;
    remove_atomic_write_temps(&paths.image)?;

    let c = &cleaned;
    if c.tmp + c.layers + c.overlay_dirs + c.links + c.images + c.refs > 0 {
        tracing::info!(
            "image store recovered: removed {} temporary files, {} incomplete layers, {} orphaned \
             layer directories, {} images and {} references; repaired or removed {} short links",
            c.tmp,
            c.layers,
            c.overlay_dirs,
            c.images,
            c.refs,
            c.links
        );
    }
    tracing::debug!(
        images = images.len(),
        layers = layers.len(),
        references = refs.len(),
        "image store opened"
    );
    Ok(State {
        images,
        layers,
        refs,
    })
}

fn wipe_tmp(paths: &Paths, c: &mut Cleaned) -> io::Result<()> {
    for entry in fs::read_dir(&paths.tmp)? {
        remove_path(&entry?.path())?;
        c.tmp += 1;
    }
    Ok(())
}

/// Renames `path` into `tmp/` before deleting it, so that a crash during the
/// deletion cannot leave a subset of files that passes for a whole entry.
fn discard(paths: &Paths, path: &Path) -> io::Result<()> {
    let gone = paths.temp_name("discarded");
    fs::rename(path, &gone)?;
    remove_path(&gone)
}

fn load_layers(paths: &Paths, c: &mut Cleaned) -> io::Result<HashMap<Digest, LayerInfo>> {
    let mut layers = HashMap::new();
    let mut removed = false;
    for entry in fs::read_dir(&paths.layerdb)? {
        let entry = entry?;
        let name = entry.file_name().to_string_lossy().into_owned();
        let loaded = match Digest::from_hex(&name) {
            Ok(chain_id) => read_entry(paths, &chain_id),
            Err(_) => Err("not a chain id".to_string()),
        };
        match loaded {
            Ok(info) => {
                layers.insert(info.chain_id.clone(), info);
            }
            Err(why) => {
                tracing::info!("removing incomplete layer {name}: {why}");
                discard(paths, &entry.path())?;
                removed = true;
                c.layers += 1;
            }
        }
    }
    // A layer is only usable on top of its parent; repeat until no removal
    // uncovers another orphan.
    loop {
        let orphans: Vec<Digest> = layers
            .values()
            .filter(|l| l.parent.as_ref().is_some_and(|p| !layers.contains_key(p)))
            .map(|l| l.chain_id.clone())
            .collect();
        if orphans.is_empty() {
            break;
        }
        for chain_id in orphans {
            tracing::info!("removing layer {chain_id}: its parent layer is missing");
            discard(paths, &paths.layerdb.join(chain_id.hex()))?;
            layers.remove(&chain_id);
            removed = true;
            c.layers += 1;
        }
    }
    if removed {
        sync_dir(&paths.layerdb)?;
    }
    Ok(layers)
}

/// Deletes overlay2 dirs that no layer or container owns, repairs the short
/// links of the ones kept, and deletes links that point nowhere useful.
fn clean_overlay(
    paths: &Paths,
    layers: &HashMap<Digest, LayerInfo>,
    c: &mut Cleaned,
) -> io::Result<()> {
    let mut owned: HashSet<String> = layers.values().map(|l| l.cache_id.clone()).collect();
    owned.extend(container_dirs(paths)?);
    let links_dir_name = paths.links.file_name().unwrap_or_default().to_owned();
    let mut kept = Vec::new();
    for entry in fs::read_dir(&paths.overlay)? {
        let entry = entry?;
        let name = entry.file_name();
        if name == links_dir_name {
            continue;
        }
        let name = name.to_string_lossy().into_owned();
        if owned.contains(&name) {
            remove_atomic_write_temps(&entry.path())?;
            kept.push(name);
        } else {
            tracing::info!("removing orphaned layer directory overlay2/{name}");
            remove_path(&entry.path())?;
            c.overlay_dirs += 1;
        }
    }

    let mut relinked = false;
    for info in layers.values() {
        if link_of(paths, &info.cache_id).is_none() {
            tracing::info!("recreating the short link of layer {}", info.chain_id);
            make_link(paths, &info.cache_id)?;
            relinked = true;
            c.links += 1;
        }
    }
    if relinked {
        rewrite_lowers(paths, layers)?;
    }

    let live: HashSet<String> = kept
        .iter()
        .filter_map(|dir| fs::read_to_string(paths.overlay.join(dir).join("link")).ok())
        .map(|s| s.trim().to_string())
        .collect();
    for entry in fs::read_dir(&paths.links)? {
        let entry = entry?;
        if !live.contains(entry.file_name().to_string_lossy().as_ref()) {
            remove_path(&entry.path())?;
            c.links += 1;
        }
    }
    sync_dir(&paths.links)?;
    sync_dir(&paths.overlay)
}

/// overlay2 dirs of container layers, which dockerd names in
/// `layerdb/mounts/<container>/mount-id` and `init-id`.
fn container_dirs(paths: &Paths) -> io::Result<Vec<String>> {
    let mut dirs = Vec::new();
    for entry in fs::read_dir(&paths.mounts)? {
        let entry = entry?;
        for file in ["mount-id", "init-id"] {
            if let Ok(s) = fs::read_to_string(entry.path().join(file)) {
                dirs.push(s.trim().to_string());
            }
        }
    }
    Ok(dirs)
}

/// The layer's short link name if both the `link` file and the symlink it
/// names are there and point at the layer.
fn link_of(paths: &Paths, cache_id: &str) -> Option<String> {
    let short = fs::read_to_string(paths.overlay.join(cache_id).join("link")).ok()?;
    let short = short.trim().to_string();
    let target = fs::read_link(paths.links.join(&short)).ok()?;
    (target == Path::new("..").join(cache_id).join("diff")).then_some(short)
}

/// Rewrites `lower` files from the links, for when a link was recreated.
fn rewrite_lowers(paths: &Paths, layers: &HashMap<Digest, LayerInfo>) -> io::Result<()> {
    for info in layers.values() {
        let mut lowers = Vec::new();
        let mut below = info.parent.as_ref().and_then(|p| layers.get(p));
        while let Some(l) = below {
            let short = link_of(paths, &l.cache_id).ok_or_else(|| {
                io::Error::other(format!("layer {} has no link after repair", l.chain_id))
            })?;
            lowers.push(format!("l/{short}"));
            below = l.parent.as_ref().and_then(|p| layers.get(p));
        }
        if !lowers.is_empty() {
            let path = paths.overlay.join(&info.cache_id).join("lower");
            let want = lowers.join(":");
            if fs::read_to_string(&path).ok().as_deref() != Some(want.as_str()) {
                atomic_write(&path, want.as_bytes(), 0o644)?;
            }
        }
    }
    Ok(())
}

fn load_images(
    paths: &Paths,
    layers: &HashMap<Digest, LayerInfo>,
    c: &mut Cleaned,
) -> io::Result<BTreeMap<Digest, ImageRecord>> {
    let mut images = BTreeMap::new();
    let mut removed = false;
    for entry in fs::read_dir(&paths.imagedb)? {
        let entry = entry?;
        let name = entry.file_name().to_string_lossy().into_owned();
        match load_image(paths, layers, &name, &entry.path()) {
            Ok(record) => {
                remove_atomic_write_temps(&entry.path())?;
                images.insert(record.id.clone(), record);
            }
            Err(why) => {
                tracing::warn!("dropping image {name}: {why}");
                discard(paths, &entry.path())?;
                removed = true;
                c.images += 1;
            }
        }
    }
    if removed {
        sync_dir(&paths.imagedb)?;
    }
    Ok(images)
}

fn load_image(
    paths: &Paths,
    layers: &HashMap<Digest, LayerInfo>,
    name: &str,
    dir: &Path,
) -> Result<ImageRecord, String> {
    let id = Digest::from_hex(name).map_err(|_| "not an image id".to_string())?;
    let bytes = fs::read(dir.join(RECORD_FILE)).map_err(|e| format!("{RECORD_FILE}: {e}"))?;
    let record: ImageRecord =
        serde_json::from_slice(&bytes).map_err(|e| format!("{RECORD_FILE}: {e}"))?;
    if record.id != id {
        return Err(format!("the record is for {}", record.id));
    }
    if !paths.content.join(id.hex()).is_file() {
        return Err("its config blob is missing".into());
    }
    if let Some(missing) = record.layers.iter().find(|l| !layers.contains_key(l)) {
        return Err(format!("its layer {missing} is missing"));
    }
    Ok(record)
}

fn load_refs(
    paths: &Paths,
    images: &BTreeMap<Digest, ImageRecord>,
    c: &mut Cleaned,
) -> io::Result<BTreeMap<String, Digest>> {
    let mut refs = match fs::read(&paths.repositories) {
        Ok(bytes) => match serde_json::from_slice::<RepositoriesFile>(&bytes) {
            Ok(file) => file.into_refs(),
            Err(e) => {
                let aside = paths.repositories.with_extension("json.corrupt");
                tracing::warn!(
                    "{} is unreadable ({e}); moved it to {} and starting without references",
                    paths.repositories.display(),
                    aside.display()
                );
                fs::rename(&paths.repositories, &aside)?;
                BTreeMap::new()
            }
        },
        Err(e) if e.kind() == io::ErrorKind::NotFound => BTreeMap::new(),
        Err(e) => return Err(e),
    };
    let before = refs.len();
    refs.retain(|reference, id| {
        let keep = images.contains_key(&*id);
        if !keep {
            tracing::warn!("dropping reference {reference}: image {id} is missing");
        }
        keep
    });
    if refs.len() != before {
        c.refs += before - refs.len();
        let json =
            serde_json::to_vec(&RepositoriesFile::from_refs(&refs)).map_err(io::Error::other)?;
        atomic_write(&paths.repositories, &json, 0o600)?;
    }
    Ok(refs)
}

fn remove_atomic_write_temps(dir: &Path) -> io::Result<()> {
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        if is_atomic_write_temp(&entry.file_name().to_string_lossy()) {
            remove_path(&entry.path())?;
        }
    }
    Ok(())
}
