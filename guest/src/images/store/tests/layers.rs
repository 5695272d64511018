use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Barrier};
use std::time::Duration;

use super::*;

#[test]
fn chain_ids_follow_oci() {
    let d0 = Digest::of(b"a");
    let d1 = Digest::of(b"b");
    let c0 = Store::chain_id(None, &d0);
    assert_eq!(c0, d0);
    let c1 = Store::chain_id(Some(&c0), &d1);
    assert_eq!(c1, Digest::of(format!("{d0} {d1}").as_bytes()));
}

#[test]
fn layers_are_laid_out_like_dockerd() {
    let dir = TestDir::new();
    let store = dir.open();
    let base = add_layer(&store, None, "base");
    let top = add_layer(&store, Some(&base.chain_id), "top");
    assert_eq!(top.parent.as_ref(), Some(&base.chain_id));
    assert_eq!(top.size, 3);
    assert_eq!(top.cache_id.len(), 64);
    assert_eq!(top.compressed, Some(Digest::of(b"gz:top")));
    assert_eq!(store.layer(&top.chain_id), Some(top.clone()));

    let entry = dir.0.join("image/layerdb/sha256").join(top.chain_id.hex());
    assert_eq!(
        names(&entry),
        ["cache-id", "compressed", "diff", "parent", "size"]
    );
    assert_eq!(
        fs::read_to_string(entry.join("diff")).unwrap(),
        top.diff_id.as_str()
    );
    assert_eq!(
        fs::read_to_string(entry.join("cache-id")).unwrap(),
        top.cache_id
    );
    let base_entry = dir.0.join("image/layerdb/sha256").join(base.chain_id.hex());
    assert_eq!(
        names(&base_entry),
        ["cache-id", "compressed", "diff", "size"]
    );

    let diff = store.layer_diff_dir(&top);
    assert_eq!(fs::read_to_string(diff.join("file")).unwrap(), "top");
    let layer_dir = dir.0.join("overlay2").join(&top.cache_id);
    let short = fs::read_to_string(layer_dir.join("link")).unwrap();
    assert_eq!(short.len(), 26);
    assert_eq!(
        fs::read_to_string(dir.0.join("overlay2/l").join(&short).join("file")).unwrap(),
        "top"
    );
    let base_short =
        fs::read_to_string(dir.0.join("overlay2").join(&base.cache_id).join("link")).unwrap();
    assert_eq!(
        fs::read_to_string(layer_dir.join("lower")).unwrap(),
        format!("l/{base_short}")
    );
    assert!(!dir
        .0
        .join("overlay2")
        .join(&base.cache_id)
        .join("lower")
        .exists());

    let third = add_layer(&store, Some(&top.chain_id), "third");
    let lower =
        fs::read_to_string(dir.0.join("overlay2").join(&third.cache_id).join("lower")).unwrap();
    assert_eq!(lower, format!("l/{short}:l/{base_short}"));

    drop(store);
    let store = dir.open();
    assert_eq!(store.layer(&top.chain_id), Some(top));
    assert_eq!(store.layer(&third.chain_id), Some(third));
}

#[test]
fn create_layer_rejects_a_wrong_diff_id_and_cleans_up() {
    let dir = TestDir::new();
    let store = dir.open();
    let claimed = Digest::of(b"what the config says");
    let err = store
        .create_layer(None, &claimed, None, fill_with("what the tar holds"))
        .unwrap_err();
    assert!(matches!(err, StoreError::DigestMismatch { .. }), "{err}");
    assert!(store.layer(&claimed).is_none());
    assert!(overlay_dirs(&dir.0).is_empty());
    assert!(names(&dir.0.join("overlay2/l")).is_empty());
    assert!(names(&dir.0.join("image/layerdb/sha256")).is_empty());

    let err = store
        .create_layer(None, &claimed, None, |_| {
            Err(StoreError::Corrupt("bad tar".into()))
        })
        .unwrap_err();
    assert_eq!(err.to_string(), "bad tar");
    assert!(overlay_dirs(&dir.0).is_empty());

    let missing_parent = Digest::of(b"parent");
    let err = store
        .create_layer(Some(&missing_parent), &claimed, None, fill_with("x"))
        .unwrap_err();
    assert!(matches!(err, StoreError::NotFound(_)), "{err}");
}

#[test]
fn a_panicking_fill_leaves_nothing_and_the_layer_can_be_retried() {
    let dir = TestDir::new();
    let store = dir.open();
    let diff = Digest::of(b"content");
    let panicked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let _ = store.create_layer(None, &diff, None, |d| {
            fs::write(d.join("half"), "x").unwrap();
            panic!("unpacker bug")
        });
    }));
    assert!(panicked.is_err());
    assert!(overlay_dirs(&dir.0).is_empty());
    store
        .create_layer(None, &diff, None, fill_with("content"))
        .unwrap();
    assert!(store.layer(&diff).is_some());
}

#[test]
fn concurrent_creators_of_one_layer_unpack_it_once() {
    let dir = TestDir::new();
    let store = Arc::new(dir.open());
    let base = add_layer(&store, None, "shared base");
    let fills = Arc::new(AtomicUsize::new(0));
    let start = Arc::new(Barrier::new(8));
    let diff = Digest::of(b"shared layer");
    let threads: Vec<_> = (0..8)
        .map(|_| {
            let (store, fills, start, diff, parent) = (
                store.clone(),
                fills.clone(),
                start.clone(),
                diff.clone(),
                base.chain_id.clone(),
            );
            std::thread::spawn(move || {
                start.wait();
                store
                    .create_layer(Some(&parent), &diff, None, |d| {
                        fills.fetch_add(1, Ordering::SeqCst);
                        std::thread::sleep(Duration::from_millis(100));
                        fill_with("shared layer")(d)
                    })
                    .unwrap()
            })
        })
        .collect();
    let results: Vec<LayerInfo> = threads.into_iter().map(|t| t.join().unwrap()).collect();
    assert_eq!(fills.load(Ordering::SeqCst), 1);
    assert!(results.iter().all(|r| *r == results[0]));
    assert_eq!(overlay_dirs(&dir.0).len(), 2);
    assert!(store.creating.lock().unwrap().is_empty());
}
