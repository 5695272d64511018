use super::*;

/// Debris of a kill -9 at various moments, then `open`: whatever is left
/// must be complete and consistent, and the store must keep working.
#[test]
fn open_recovers_from_crash_debris() {
    let dir = TestDir::new();
    let root = &dir.0;
    let store = dir.open();
    let (good, good_chain) = add_image(&store, &["base", "good"], "good");
    let (broken, broken_chain) = add_image(&store, &["base", "broken"], "broken");
    store
        .set_ref("docker.io/library/good:latest", &good)
        .unwrap();
    store
        .set_ref("docker.io/library/broken:latest", &broken)
        .unwrap();
    let (lost, _) = add_image(&store, &["base"], "lost");
    drop(store);

    // A download in progress.
    fs::write(root.join("tmp/blob-0123456789abcdef"), b"partial").unwrap();
    // A layerdb entry being assembled.
    fs::create_dir(root.join("tmp/layerdb-0123456789abcdef")).unwrap();
    fs::write(
        root.join("tmp/layerdb-0123456789abcdef/diff"),
        Digest::of(b"x").as_str(),
    )
    .unwrap();
    // An unpack in progress, with its short link already made.
    let orphan = root.join("overlay2").join(util::random_hex());
    fs::create_dir_all(orphan.join("diff/usr/bin")).unwrap();
    fs::write(orphan.join("diff/usr/bin/half"), b"half a file").unwrap();
    std::os::unix::fs::symlink(
        Path::new("..")
            .join(orphan.file_name().unwrap())
            .join("diff"),
        root.join("overlay2/l/ORPHANLINKORPHANLINKORPHAN"),
    )
    .unwrap();
    // A container layer, which is not debris.
    let container_dir = util::random_hex();
    fs::create_dir_all(root.join("overlay2").join(&container_dir).join("diff")).unwrap();
    let mount = root.join("image/layerdb/mounts/container1");
    fs::create_dir_all(&mount).unwrap();
    fs::write(mount.join("mount-id"), &container_dir).unwrap();
    // A layerdb entry that lost its diff file: the broken image's top layer.
    let entry = root
        .join("image/layerdb/sha256")
        .join(broken_chain[1].hex());
    fs::remove_file(entry.join("diff")).unwrap();
    // A layer whose parent is gone.
    let ghost_parent = Digest::of(b"ghost");
    let ghost = Store::chain_id(Some(&ghost_parent), &Digest::of(b"child"));
    let ghost_entry = root.join("image/layerdb/sha256").join(ghost.hex());
    fs::create_dir(&ghost_entry).unwrap();
    fs::write(ghost_entry.join("diff"), Digest::of(b"child").as_str()).unwrap();
    fs::write(ghost_entry.join("parent"), ghost_parent.as_str()).unwrap();
    fs::write(ghost_entry.join("size"), "1").unwrap();
    fs::write(ghost_entry.join("cache-id"), &container_dir).unwrap();
    // An image record whose config blob is gone.
    fs::remove_file(root.join("image/content/sha256").join(lost.hex())).unwrap();
    // An image record directory made but never written.
    fs::create_dir(
        root.join("image/imagedb/metadata/sha256")
            .join(Digest::of(b"empty").hex()),
    )
    .unwrap();
    // repositories.json naming an image that does not exist.
    let mut refs: serde_json::Value =
        serde_json::from_slice(&fs::read(root.join("image/repositories.json")).unwrap()).unwrap();
    refs["Repositories"]["docker.io/library/gone"] =
        serde_json::json!({"docker.io/library/gone:1": Digest::of(b"gone").to_string()});
    fs::write(
        root.join("image/repositories.json"),
        serde_json::to_vec(&refs).unwrap(),
    )
    .unwrap();
    // An interrupted atomic_write.
    fs::write(root.join("image/.repositories.json.tmp-4242"), b"{").unwrap();

    let store = dir.open();
    assert!(names(&root.join("tmp")).is_empty());
    assert!(!orphan.exists());
    assert!(root.join("overlay2").join(&container_dir).exists());
    assert!(!root.join("overlay2/l/ORPHANLINKORPHANLINKORPHAN").exists());
    assert!(!entry.exists());
    assert!(!ghost_entry.exists());
    assert!(!root.join("image/.repositories.json.tmp-4242").exists());

    assert_eq!(
        store
            .images()
            .iter()
            .map(|r| r.id.clone())
            .collect::<Vec<_>>(),
        vec![good.clone()]
    );
    assert!(store.layer(&broken_chain[1]).is_none());
    for c in &good_chain {
        let info = store.layer(c).unwrap();
        assert!(store.layer_diff_dir(&info).join("file").is_file());
    }
    assert_eq!(
        store.refs(),
        [("docker.io/library/good:latest".to_string(), good.clone())]
    );
    assert_eq!(
        names(&root.join("image/imagedb/metadata/sha256")),
        [good.hex()]
    );
    // Every short link left points at a kept layer.
    for l in names(&root.join("overlay2/l")) {
        assert!(root.join("overlay2/l").join(l).join("file").exists());
    }

    // The broken image can be pulled again, and the cleaned state persists.
    let (again, _) = add_image(&store, &["base", "broken"], "broken");
    assert_eq!(again, broken);
    drop(store);
    let store = dir.open();
    assert_eq!(store.images().len(), 2);
    assert_eq!(store.refs().len(), 1);
}

#[test]
fn open_repairs_a_missing_short_link() {
    let dir = TestDir::new();
    let store = dir.open();
    let (_, chain) = add_image(&store, &["base", "top"], "x");
    let base = store.layer(&chain[0]).unwrap();
    let top = store.layer(&chain[1]).unwrap();
    drop(store);
    let link = dir.0.join("overlay2").join(&base.cache_id).join("link");
    let old = fs::read_to_string(&link).unwrap();
    fs::remove_file(dir.0.join("overlay2/l").join(&old)).unwrap();

    let store = dir.open();
    assert!(store.layer(&chain[0]).is_some());
    let new = fs::read_to_string(&link).unwrap();
    assert_ne!(new, old);
    assert!(dir.0.join("overlay2/l").join(&new).join("file").exists());
    let lower =
        fs::read_to_string(dir.0.join("overlay2").join(&top.cache_id).join("lower")).unwrap();
    assert_eq!(lower, format!("l/{new}"));
}

#[test]
fn open_sets_aside_an_unreadable_repositories_file() {
    let dir = TestDir::new();
    drop(dir.open());
    fs::write(dir.0.join("image/repositories.json"), b"not json").unwrap();
    let store = dir.open();
    assert!(store.refs().is_empty());
    assert!(dir.0.join("image/repositories.json.corrupt").is_file());
}
