use std::fs;
use std::path::{Path, PathBuf};

use super::*;

mod content;
mod images;
mod layers;
mod recovery;
mod refs;

/// A scratch data root, deleted at the end of the test.
struct TestDir(PathBuf);

impl TestDir {
    fn new() -> TestDir {
        let p = std::env::temp_dir().join(format!("berth-store-{}", &util::random_hex()[..12]));
        fs::create_dir_all(&p).unwrap();
        TestDir(p)
    }
    fn open(&self) -> Store {
        Store::open(&self.0).unwrap()
    }
}

impl Drop for TestDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

/// A layer whose tar stream is `content`: its diff id is what `fill` reports.
fn fill_with(content: &'static str) -> impl FnOnce(&Path) -> Result<(Digest, u64), StoreError> {
    move |dir: &Path| {
        fs::write(dir.join("file"), content)?;
        Ok((Digest::of(content.as_bytes()), content.len() as u64))
    }
}

fn add_layer(store: &Store, parent: Option<&Digest>, content: &'static str) -> LayerInfo {
    let compressed = store.put_blob(format!("gz:{content}").as_bytes()).unwrap();
    store
        .create_layer(
            parent,
            &Digest::of(content.as_bytes()),
            Some(&compressed),
            fill_with(content),
        )
        .unwrap()
}

/// An image of layers with the given contents; `salt` tells configs apart.
fn add_image(store: &Store, contents: &[&'static str], salt: &str) -> (Digest, Vec<Digest>) {
    let mut chain: Vec<Digest> = Vec::new();
    for c in contents {
        chain.push(add_layer(store, chain.last(), c).chain_id);
    }
    let diff_ids: Vec<String> = contents
        .iter()
        .map(|c| Digest::of(c.as_bytes()).to_string())
        .collect();
    let config = serde_json::json!({
        "created": "2024-05-01T10:00:00Z",
        "salt": salt,
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
    });
    let id = store
        .put_blob(&serde_json::to_vec(&config).unwrap())
        .unwrap();
    store.put_image(&id, &chain, None).unwrap();
    (id, chain)
}

fn names(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

fn overlay_dirs(root: &Path) -> Vec<String> {
    names(&root.join("overlay2"))
        .into_iter()
        .filter(|n| n != "l")
        .collect()
}

#[test]
fn store_is_shareable_across_threads() {
    fn check<T: Send + Sync>() {}
    check::<Store>();
}

#[test]
fn temp_paths_are_fresh_and_wiped_at_open() {
    let dir = TestDir::new();
    let store = dir.open();
    let a = store.temp_path("save");
    assert_ne!(a, store.temp_path("save"));
    assert_eq!(a.parent(), Some(dir.0.join("tmp").as_path()));
    assert!(!a.exists());
    fs::create_dir(&a).unwrap();
    fs::write(a.join("layer.tar"), b"...").unwrap();
    drop(store);
    dir.open();
    assert!(!a.exists());
}
