use super::*;

#[test]
fn put_image_checks_its_inputs_and_is_idempotent() {
    let dir = TestDir::new();
    let store = dir.open();
    let base = add_layer(&store, None, "base");
    let diff_ids = vec![base.diff_id.to_string()];
    let config = serde_json::to_vec(&serde_json::json!({
        "created": "2024-05-01T10:00:00Z",
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
    }))
    .unwrap();
    let id = Digest::of(&config);
    let layers = vec![base.chain_id.clone()];

    assert!(matches!(
        store.put_image(&id, &layers, None),
        Err(StoreError::NotFound(_))
    ));
    store.put_blob(&config).unwrap();
    assert!(matches!(
        store.put_image(&id, &[], None),
        Err(StoreError::Corrupt(_))
    ));

    let manifest = Digest::of(b"manifest");
    let repo = "docker.io/library/busybox";
    let record = store
        .put_image(&id, &layers, Some((repo, &manifest)))
        .unwrap();
    assert_eq!(record.id, id);
    assert_eq!(record.layers, layers);
    assert_eq!(record.size, 4);
    assert_eq!(record.created.as_deref(), Some("2024-05-01T10:00:00Z"));
    assert_eq!(record.repo_digests, [format!("{repo}@{manifest}")]);
    assert_eq!(record.last_tag_time, None);
    assert!(dir
        .0
        .join("image/imagedb/metadata/sha256")
        .join(id.hex())
        .join("image.json")
        .is_file());

    assert_eq!(
        store
            .put_image(&id, &layers, Some((repo, &manifest)))
            .unwrap(),
        record
    );
    let other = Digest::of(b"other manifest");
    let again = store
        .put_image(&id, &layers, Some(("docker.io/x/y", &other)))
        .unwrap();
    assert_eq!(again.repo_digests.len(), 2);
    assert_eq!(store.images(), vec![again]);

    store.mark_tagged(&id).unwrap();
    let tagged = store.image(&id).unwrap();
    assert!(tagged
        .last_tag_time
        .as_deref()
        .is_some_and(|t| t.ends_with('Z')));
    drop(store);
    assert_eq!(dir.open().image(&id), Some(tagged));
}

#[test]
fn put_image_requires_its_layers() {
    let dir = TestDir::new();
    let store = dir.open();
    let diff = Digest::of(b"never unpacked");
    let config =
        serde_json::to_vec(&serde_json::json!({"rootfs": {"diff_ids": [diff.to_string()]}}))
            .unwrap();
    let id = store.put_blob(&config).unwrap();
    assert!(matches!(
        store.put_image(&id, &[diff], None),
        Err(StoreError::NotFound(_))
    ));
    assert!(store.images().is_empty());
}

#[test]
fn deleting_an_image_keeps_layers_another_image_uses() {
    let dir = TestDir::new();
    let store = dir.open();
    let (a, a_chain) = add_image(&store, &["base", "a"], "a");
    let (b, b_chain) = add_image(&store, &["base", "b"], "b");
    assert_eq!(a_chain[0], b_chain[0]);
    let manifest = store.put_blob(b"manifest of a").unwrap();
    store
        .set_ref(&format!("docker.io/library/a@{manifest}"), &a)
        .unwrap();
    store.set_ref("docker.io/library/a:latest", &a).unwrap();
    assert_eq!(overlay_dirs(&dir.0).len(), 3);

    let removed = store.delete_image(&a).unwrap();
    assert_eq!(removed, [a_chain[1].clone()]);
    assert!(store.image(&a).is_none());
    assert!(store.layer(&a_chain[1]).is_none());
    assert!(store.layer(&a_chain[0]).is_some());
    assert!(!store.has_blob(&a));
    assert!(!store.has_blob(&manifest));
    assert!(!store.has_blob(&Digest::of(b"gz:a")));
    assert!(store.has_blob(&Digest::of(b"gz:base")));
    assert!(
        store.refs().is_empty(),
        "references to a deleted image go with it"
    );
    assert_eq!(overlay_dirs(&dir.0).len(), 2);
    assert_eq!(names(&dir.0.join("overlay2/l")).len(), 2);
    assert!(names(&dir.0.join("tmp")).is_empty());

    let removed = store.delete_image(&b).unwrap();
    assert_eq!(removed, b_chain);
    assert!(overlay_dirs(&dir.0).is_empty());
    assert!(names(&dir.0.join("overlay2/l")).is_empty());
    assert!(names(&dir.0.join("image/layerdb/sha256")).is_empty());
    assert!(names(&dir.0.join("image/imagedb/metadata/sha256")).is_empty());
    assert!(names(&dir.0.join("image/content/sha256")).is_empty());

    assert!(matches!(
        store.delete_image(&b),
        Err(StoreError::NotFound(_))
    ));
}

#[test]
fn deleting_an_image_keeps_layers_a_container_uses() {
    let dir = TestDir::new();
    let store = dir.open();
    let (a, chain) = add_image(&store, &["base", "top"], "a");
    let mount = dir.0.join("image/layerdb/mounts/c0ffee");
    fs::create_dir_all(&mount).unwrap();
    fs::write(mount.join("parent"), chain[1].as_str()).unwrap();
    assert!(store.delete_image(&a).unwrap().is_empty());
    assert!(store.layer(&chain[1]).is_some());
}

#[test]
fn deleting_an_image_pulled_from_an_index_removes_its_platform_manifest() {
    let dir = TestDir::new();
    let store = dir.open();
    let (a, _) = add_image(&store, &["base"], "a");
    let child = store
        .put_blob(b"{\"schemaVersion\":2,\"layers\":[]}")
        .unwrap();
    let index = serde_json::json!({"manifests": [{"digest": child.to_string()}]});
    let index = store
        .put_blob(&serde_json::to_vec(&index).unwrap())
        .unwrap();
    store
        .put_image(
            &a,
            &[Digest::of(b"base")],
            Some(("docker.io/library/a", &index)),
        )
        .unwrap();
    store.delete_image(&a).unwrap();
    assert!(!store.has_blob(&index));
    assert!(!store.has_blob(&child));
}

#[test]
fn short_ids_resolve_unless_ambiguous() {
    let dir = TestDir::new();
    let store = dir.open();
    // Seventeen ids over sixteen hex digits: two must share a first digit.
    let ids: Vec<Digest> = (0..17)
        .map(|i| add_image(&store, &[], &i.to_string()).0)
        .collect();
    for id in &ids {
        assert_eq!(
            store.resolve_id_prefix(id.hex()).unwrap().as_ref(),
            Some(id)
        );
        assert_eq!(
            store.resolve_id_prefix(id.as_str()).unwrap().as_ref(),
            Some(id)
        );
        assert_eq!(
            store.resolve_id_prefix(&id.hex()[..12]).unwrap().as_ref(),
            Some(id)
        );
    }
    let shared = (0..16)
        .map(|n| format!("{n:x}"))
        .find(|p| {
            ids.iter()
                .filter(|id| id.hex().starts_with(p.as_str()))
                .count()
                > 1
        })
        .unwrap();
    let err = store.resolve_id_prefix(&shared).unwrap_err();
    assert!(matches!(err, StoreError::Ambiguous(_)));
    assert!(err.to_string().contains("ambiguous"));
    let unused = (0..=0xfff)
        .map(|n| format!("{n:03x}"))
        .find(|p| !ids.iter().any(|id| id.hex().starts_with(p.as_str())))
        .unwrap();
    assert_eq!(store.resolve_id_prefix(&unused).unwrap(), None);
    assert_eq!(store.resolve_id_prefix("").unwrap(), None);
    assert_eq!(store.resolve_id_prefix("busybox").unwrap(), None);
    assert_eq!(
        store
            .resolve_id_prefix(&ids[0].hex().to_uppercase())
            .unwrap(),
        None
    );
}
