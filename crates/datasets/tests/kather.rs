mod common;

use common::{tagged, write};
use histo_datasets::{Cached, ClassFolders, Dataset, Error, KATHER_CLASSES, Subset};
use histo_tensor::Target;

/// Writes a Kather-style root with `counts[c]` TIFF patches in class folder c (names given in
/// reverse order so that creation order differs from sorted order).
fn kather_root(counts: &[usize; 9]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for (c, class) in KATHER_CLASSES.iter().enumerate() {
        for k in (0..counts[c]).rev() {
            let tag = (c * 20 + k) as u8;
            write(
                &dir.path().join(class),
                &format!("{class}-S{k:02}.tif"),
                &tagged(6, 5, tag),
            );
        }
    }
    dir
}

#[test]
fn counts_label_order_and_sorted_enumeration() {
    let dir = kather_root(&[2, 1, 3, 1, 1, 2, 1, 1, 4]);
    let ds = ClassFolders::kather(dir.path()).unwrap();
    assert_eq!(ds.len(), 16);
    assert_eq!(ds.class_counts(), vec![2, 1, 3, 1, 1, 2, 1, 1, 4]);
    assert_eq!(
        ds.class_names(),
        KATHER_CLASSES.map(String::from).as_slice()
    );
    assert!(ds.problems().is_empty(), "{:?}", ds.problems());
    // Class order, then file name order.
    assert_eq!(ds.id(0).unwrap(), "ADI/ADI-S00.tif");
    assert_eq!(ds.id(1).unwrap(), "ADI/ADI-S01.tif");
    assert_eq!(ds.id(2).unwrap(), "BACK/BACK-S00.tif");
    assert_eq!(ds.id(15).unwrap(), "TUM/TUM-S03.tif");
    let labels: Vec<u32> = (0..ds.len())
        .map(|i| ds.target(i).unwrap().class().unwrap())
        .collect();
    assert_eq!(labels, vec![0, 0, 1, 2, 2, 2, 3, 4, 5, 5, 6, 7, 8, 8, 8, 8]);
    // The decoded pixels are those of the named file.
    let s = ds.get(15).unwrap();
    assert_eq!(s.target, Target::Class(8));
    assert_eq!(s.id, "TUM/TUM-S03.tif");
    assert_eq!(s.image, tagged(6, 5, 8 * 20 + 3));
}

#[test]
fn png_and_jpeg_are_read_and_other_things_reported() {
    let dir = kather_root(&[1, 1, 1, 1, 1, 1, 1, 1, 1]);
    let root = dir.path();
    write(&root.join("LYM"), "extra.png", &tagged(4, 4, 1));
    write(&root.join("LYM"), "extra.jpg", &tagged(4, 4, 1));
    std::fs::write(root.join("LYM/notes.txt"), "x").unwrap();
    std::fs::write(root.join("LYM/.DS_Store"), "x").unwrap();
    std::fs::create_dir_all(root.join("UNKNOWN")).unwrap();
    std::fs::create_dir_all(root.join("MUC/nested")).unwrap();
    let ds = ClassFolders::kather(root).unwrap();
    assert_eq!(ds.len(), 11);
    assert_eq!(ds.class_counts()[3], 3);
    let msgs: Vec<String> = ds.problems().iter().map(|p| p.to_string()).collect();
    assert_eq!(msgs.len(), 3, "{msgs:?}");
    assert!(
        msgs.iter()
            .any(|m| m.contains("UNKNOWN") && m.contains("unknown class"))
    );
    assert!(msgs.iter().any(|m| m.contains("nested")));
    assert!(
        msgs.iter()
            .any(|m| m.contains("1 file(s)") && m.contains("notes.txt"))
    );
}

#[test]
fn missing_and_empty_classes_are_reported() {
    let dir = kather_root(&[1, 0, 1, 1, 1, 1, 1, 1, 1]);
    std::fs::remove_dir_all(dir.path().join("TUM")).unwrap();
    std::fs::create_dir_all(dir.path().join("BACK")).unwrap();
    let ds = ClassFolders::kather(dir.path()).unwrap();
    assert_eq!(ds.len(), 7);
    let msgs: Vec<String> = ds.problems().iter().map(|p| p.to_string()).collect();
    assert!(
        msgs.iter()
            .any(|m| m.contains("BACK") && m.contains("empty")),
        "{msgs:?}"
    );
    assert!(
        msgs.iter()
            .any(|m| m.contains("TUM") && m.contains("missing")),
        "{msgs:?}"
    );
}

#[test]
fn bad_roots_are_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let e = ClassFolders::kather(dir.path().join("nope")).unwrap_err();
    assert!(matches!(e, Error::Missing { .. }), "{e}");
    assert!(e.to_string().contains("nope"), "{e}");
    // Pointing at the parent of train/ and test/.
    std::fs::create_dir_all(dir.path().join("train/ADI")).unwrap();
    std::fs::create_dir_all(dir.path().join("test")).unwrap();
    let e = ClassFolders::kather(dir.path()).unwrap_err().to_string();
    assert!(e.contains("point at one of those"), "{e}");
    // Class folders without images.
    let e = ClassFolders::kather(dir.path().join("train"))
        .unwrap_err()
        .to_string();
    assert!(e.contains("no image"), "{e}");
}

#[test]
fn unreadable_image_is_an_error_naming_the_file_not_a_panic() {
    let dir = kather_root(&[1, 1, 1, 1, 1, 1, 1, 1, 1]);
    std::fs::write(dir.path().join("DEB/DEB-S00.tif"), b"garbage").unwrap();
    let ds = ClassFolders::kather(dir.path()).unwrap();
    let e = ds.get(2).unwrap_err().to_string();
    assert!(e.contains("DEB-S00.tif"), "{e}");
    assert!(matches!(
        ds.get(99),
        Err(Error::Index { index: 99, len: 9 })
    ));
}

#[test]
fn discover_uses_sorted_folder_names() {
    let dir = tempfile::tempdir().unwrap();
    for (c, name) in ["tumour", "benign", "stroma", "normal"].iter().enumerate() {
        write(&dir.path().join(name), "a.png", &tagged(3, 3, c as u8));
    }
    let ds = ClassFolders::discover(dir.path()).unwrap();
    assert_eq!(ds.class_names(), ["benign", "normal", "stroma", "tumour"]);
    assert_eq!(ds.get(3).unwrap().image, tagged(3, 3, 0));
}

#[test]
fn cache_serves_repeats_within_its_byte_budget() {
    let dir = kather_root(&[3, 0, 0, 0, 0, 0, 0, 0, 0]);
    let one = 6 * 5 * 3;
    let ds = Cached::new(ClassFolders::kather(dir.path()).unwrap(), 2 * one);
    let first = ds.get(0).unwrap();
    assert_eq!(ds.get(0).unwrap(), first);
    ds.get(1).unwrap();
    ds.get(2).unwrap(); // evicts 0 (least recently used)
    let st = ds.stats();
    assert_eq!(
        (st.hits, st.misses, st.entries, st.bytes),
        (1, 3, 2, 2 * one)
    );
    ds.get(2).unwrap();
    ds.get(0).unwrap();
    let st = ds.stats();
    assert_eq!((st.hits, st.misses), (2, 4));
    // Nothing fits: every access decodes.
    let tiny = Cached::new(ClassFolders::kather(dir.path()).unwrap(), one - 1);
    tiny.get(0).unwrap();
    tiny.get(0).unwrap();
    assert_eq!(tiny.stats().misses, 2);
}

#[test]
fn datasets_are_object_safe_send_and_sync() {
    fn assert_send_sync<T: Send + Sync>(_: &T) {}
    let dir = kather_root(&[2, 1, 0, 0, 0, 0, 0, 0, 0]);
    let ds: std::sync::Arc<dyn Dataset> =
        std::sync::Arc::new(ClassFolders::kather(dir.path()).unwrap());
    assert_send_sync(&ds);
    let sub = Subset::new(ds.clone(), vec![2, 0, 2]).unwrap();
    assert_eq!(sub.len(), 3);
    assert_eq!(sub.id(0).unwrap(), "BACK/BACK-S00.tif");
    assert_eq!(sub.get(2).unwrap().target, Target::Class(1));
    assert!(Subset::new(ds.clone(), vec![3]).is_err());
    // Parallel reads from many threads give the same samples as serial ones.
    let serial: Vec<_> = (0..3).map(|i| ds.get(i).unwrap()).collect();
    let par: Vec<_> = std::thread::scope(|s| {
        let hs: Vec<_> = (0..3)
            .map(|i| {
                let ds = &ds;
                s.spawn(move || ds.get(i).unwrap())
            })
            .collect();
        hs.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert_eq!(serial, par);
}
