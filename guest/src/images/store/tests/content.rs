use std::io::Write;

use super::*;

#[test]
fn blobs_round_trip_and_are_verified_on_read() {
    let dir = TestDir::new();
    let store = dir.open();
    let d = store.put_blob(b"hello").unwrap();
    assert_eq!(d, Digest::of(b"hello"));
    assert!(store.has_blob(&d));
    assert_eq!(store.read_blob(&d).unwrap(), b"hello");
    assert_eq!(fs::read(store.blob_path(&d)).unwrap(), b"hello");
    assert!(store
        .blob_path(&d)
        .ends_with(format!("image/content/sha256/{}", d.hex())));

    fs::write(store.blob_path(&d), b"hellO").unwrap();
    assert!(matches!(
        store.read_blob(&d),
        Err(StoreError::DigestMismatch { .. })
    ));
    // Writing it again repairs it.
    store.put_blob(b"hello").unwrap();
    assert_eq!(store.read_blob(&d).unwrap(), b"hello");

    let missing = Digest::of(b"nope");
    assert!(!store.has_blob(&missing));
    assert!(matches!(
        store.read_blob(&missing),
        Err(StoreError::NotFound(_))
    ));
}

#[test]
fn blob_writer_fed_wrong_bytes_fails_and_leaves_nothing() {
    let dir = TestDir::new();
    let store = dir.open();
    let expected = Digest::of(b"the right bytes");
    let mut w = store.blob_writer(&expected, None).unwrap();
    w.write_all(b"the wrong bytes").unwrap();
    let err = w.commit().unwrap_err();
    assert!(matches!(err, StoreError::DigestMismatch { .. }), "{err}");
    assert!(err.to_string().contains(expected.as_str()));
    assert!(!store.has_blob(&expected));
    assert!(names(&dir.0.join("tmp")).is_empty());
    assert!(names(&dir.0.join("image/content/sha256")).is_empty());
}

#[test]
fn blob_writer_checks_the_size() {
    let dir = TestDir::new();
    let store = dir.open();
    let d = Digest::of(b"12345");

    let mut w = store.blob_writer(&d, Some(4)).unwrap();
    assert!(w.write_all(b"12345").is_err());
    drop(w);

    let mut w = store.blob_writer(&d, Some(6)).unwrap();
    w.write_all(b"12345").unwrap();
    assert!(matches!(
        w.commit(),
        Err(StoreError::SizeMismatch {
            expected: 6,
            actual: 5,
            ..
        })
    ));

    let mut w = store.blob_writer(&d, Some(5)).unwrap();
    w.write_all(b"12").unwrap();
    w.write_all(b"345").unwrap();
    assert_eq!(w.written(), 5);
    w.commit().unwrap();
    assert_eq!(store.read_blob(&d).unwrap(), b"12345");
    assert!(names(&dir.0.join("tmp")).is_empty());
}

#[test]
fn dropping_a_blob_writer_removes_its_temp_file() {
    let dir = TestDir::new();
    let store = dir.open();
    let mut w = store.blob_writer(&Digest::of(b"x"), None).unwrap();
    w.write_all(b"x").unwrap();
    assert_eq!(names(&dir.0.join("tmp")).len(), 1);
    drop(w);
    assert!(names(&dir.0.join("tmp")).is_empty());
    assert!(!store.has_blob(&Digest::of(b"x")));
}
