use super::*;

#[test]
fn references_round_trip_across_reopen() {
    let dir = TestDir::new();
    let store = dir.open();
    let (a, _) = add_image(&store, &["base"], "a");
    let (b, _) = add_image(&store, &["base"], "b");
    let manifest = Digest::of(b"m");
    let latest = "docker.io/library/busybox:latest";
    let by_digest = format!("docker.io/library/busybox@{manifest}");

    assert_eq!(store.set_ref(latest, &a).unwrap(), None);
    assert_eq!(store.set_ref(latest, &a).unwrap(), Some(a.clone()));
    assert_eq!(store.set_ref(&by_digest, &a).unwrap(), None);
    assert_eq!(store.set_ref("localhost:5000/app:v1", &b).unwrap(), None);
    assert_eq!(
        store.image(&a).unwrap().repo_digests,
        vec![by_digest.clone()]
    );
    assert_eq!(store.refs_of(&a), [latest.to_string(), by_digest.clone()]);
    assert_eq!(store.resolve_ref(latest), Some(a.clone()));
    assert!(store.set_ref("x:y", &Digest::of(b"no such image")).is_err());

    // Retagging reports the image that lost the tag (now dangling).
    assert_eq!(store.set_ref(latest, &b).unwrap(), Some(a.clone()));

    let file: serde_json::Value =
        serde_json::from_slice(&fs::read(dir.0.join("image/repositories.json")).unwrap()).unwrap();
    assert_eq!(
        file["Repositories"]["docker.io/library/busybox"][latest],
        b.as_str()
    );
    assert_eq!(
        file["Repositories"]["docker.io/library/busybox"][by_digest.as_str()],
        a.as_str()
    );
    assert_eq!(
        file["Repositories"]["localhost:5000/app"]["localhost:5000/app:v1"],
        b.as_str()
    );

    let before = store.refs();
    drop(store);
    let store = dir.open();
    assert_eq!(store.refs(), before);
    assert_eq!(
        store.refs_of(&b),
        ["docker.io/library/busybox:latest", "localhost:5000/app:v1"]
    );

    assert_eq!(store.remove_ref(latest).unwrap(), Some(b.clone()));
    assert_eq!(store.remove_ref(latest).unwrap(), None);
    assert_eq!(store.resolve_ref(latest), None);
    drop(store);
    assert_eq!(dir.open().resolve_ref(latest), None);
}

#[test]
fn repository_of_strips_tag_or_digest() {
    assert_eq!(
        repository_of("docker.io/library/busybox:latest"),
        "docker.io/library/busybox"
    );
    assert_eq!(
        repository_of(&format!("docker.io/library/busybox@{}", Digest::of(b""))),
        "docker.io/library/busybox"
    );
    assert_eq!(repository_of("localhost:5000/app:v1"), "localhost:5000/app");
    assert_eq!(repository_of("localhost:5000/app"), "localhost:5000/app");
}
