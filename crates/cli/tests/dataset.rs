//! `histo dataset info` on small datasets written by the test.

mod common;

use std::path::Path;
use std::process::Output;

use histo_tensor::Image;

use common::*;

fn histo(args: &[&str]) -> Output {
    histo_log(args, "error")
}

fn patch(dir: &Path, name: &str, w: usize, h: usize) {
    std::fs::create_dir_all(dir).unwrap();
    Image::filled(w, h, [200, 100, 150])
        .save(dir.join(name))
        .unwrap();
}

const CLASSES: [&str; 9] = [
    "ADI", "BACK", "DEB", "LYM", "MUC", "MUS", "NORM", "STR", "TUM",
];

#[test]
fn kather_info_text_and_json() {
    let dir = tempfile::tempdir().unwrap();
    for split in ["train", "test"] {
        for (c, class) in CLASSES.iter().enumerate() {
            for k in 0..(c % 3 + 1) {
                patch(
                    &dir.path().join(split).join(class),
                    &format!("{class}-{k}.tif"),
                    12,
                    12,
                );
            }
        }
    }
    patch(&dir.path().join("train/ADI"), "odd.png", 10, 8);
    std::fs::write(dir.path().join("train/TUM/broken.tif"), b"not a tiff").unwrap();
    std::fs::create_dir_all(dir.path().join("train/OTHER")).unwrap();
    let root = dir.path().to_str().unwrap();

    let o = histo(&["dataset", "info", "--kind", "kather", "--root", root]);
    let t = text(&o);
    assert!(o.status.success(), "{t}");
    assert!(t.contains("train: 20 samples"), "{t}");
    assert!(t.contains("test: 18 samples"), "{t}");
    assert!(t.contains("ADI 2, BACK 2, DEB 3"), "{t}");
    assert!(t.contains("12x12 (18)") && t.contains("10x8 (1)"), "{t}");
    assert!(t.contains("unreadable images: 1"), "{t}");
    assert!(
        t.contains("OTHER") && t.contains("unknown class folder"),
        "{t}"
    );

    let o = histo(&[
        "dataset", "info", "--kind", "kather", "--root", root, "--json",
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["kind"], "kather");
    assert_eq!(v["parts"][0]["name"], "train");
    assert_eq!(v["parts"][0]["samples"], 20);
    assert_eq!(v["parts"][0]["classes"][8], serde_json::json!(["TUM", 4]));
    assert_eq!(v["parts"][1]["unreadable"], 0);
    assert_eq!(v["problems"].as_array().unwrap().len(), 2);
}

#[test]
fn breastpathq_info_reports_scores_and_raters() {
    let dir = tempfile::tempdir().unwrap();
    let r = dir.path();
    patch(&r.join("train"), "10_1.tif", 16, 16);
    patch(&r.join("train"), "10_2.tif", 16, 16);
    std::fs::write(
        r.join("train_labels.csv"),
        "slide,rid,y\n10,1,0.2\n10,2,0.6\n",
    )
    .unwrap();
    patch(&r.join("test"), "11_1.tif", 16, 16);
    std::fs::write(
        r.join("test_labels.csv"),
        "slide,rid,pathologist1,pathologist2\n11,1,0.3,0.5\n",
    )
    .unwrap();
    let o = histo(&[
        "dataset",
        "info",
        "--kind",
        "breastpathq",
        "--root",
        r.to_str().unwrap(),
    ]);
    let t = text(&o);
    assert!(o.status.success(), "{t}");
    assert!(t.contains("train: 2 samples"), "{t}");
    assert!(
        t.contains("scores: min 0.200, max 0.600, mean 0.400"),
        "{t}"
    );
    assert!(
        t.contains("test: 1 samples") && t.contains("16x16 (1)"),
        "{t}"
    );
    assert!(t.contains("no problems found"), "{t}");
}

#[test]
fn bad_input_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nowhere");
    let o = histo(&[
        "dataset",
        "info",
        "--kind",
        "kather",
        "--root",
        missing.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(1));
    let t = text(&o);
    assert!(t.contains("nowhere") && t.contains("not found"), "{t}");

    let r = dir.path();
    std::fs::create_dir_all(r.join("train")).unwrap();
    std::fs::write(r.join("train_labels.csv"), "slide,rid,y\n10,1,oops\n").unwrap();
    patch(&r.join("train"), "10_1.tif", 4, 4);
    let o = histo(&[
        "dataset",
        "info",
        "--kind",
        "breastpathq",
        "--root",
        r.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(1));
    let t = text(&o);
    assert!(
        t.contains("train_labels.csv") && t.contains("line 2"),
        "{t}"
    );

    let o = histo(&["dataset", "info", "--kind", "imagenet", "--root", "."]);
    assert!(!o.status.success());
    assert!(text(&o).contains("kather"));
}

#[test]
fn camelyon16_info_with_annotations_and_reference() {
    let dir = tempfile::tempdir().unwrap();
    let r = dir.path();
    let t = r.join("PATCHES_TUMOR_TRAIN");
    std::fs::create_dir_all(&t).unwrap();
    std::fs::write(
        t.join("list.txt"),
        "Tumor_030,150,150\nTumor_030,900,900\nTumor_031,5,5\n",
    )
    .unwrap();
    for i in 0..3 {
        patch(&t, &format!("{i}.png"), 16, 16);
    }
    let n = r.join("PATCHES_NORMAL_TRAIN");
    std::fs::create_dir_all(&n).unwrap();
    std::fs::write(n.join("list.txt"), "Normal_040,1,1\n").unwrap();
    patch(&n, "0.png", 16, 16);
    std::fs::create_dir_all(r.join("jsons/train")).unwrap();
    std::fs::write(
        r.join("jsons/train/Tumor_030.json"),
        r#"{"positive":[{"name":"A","vertices":[[100,100],[200,100],[200,200],[100,200]]}],"negative":[]}"#,
    )
    .unwrap();
    std::fs::write(
        r.join("test_reference.csv"),
        "image,label\nTest_001,Tumor\nTest_002,Normal\n",
    )
    .unwrap();
    let o = histo(&[
        "dataset",
        "info",
        "--kind",
        "camelyon16",
        "--root",
        r.to_str().unwrap(),
        "--json",
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["parts"][0]["name"], "PATCHES_TUMOR_TRAIN");
    assert_eq!(v["parts"][0]["samples"], 2);
    assert_eq!(
        v["parts"][0]["classes"],
        serde_json::json!([["normal", 1], ["tumor", 1]])
    );
    assert_eq!(
        v["parts"][1]["classes"],
        serde_json::json!([["normal", 1], ["tumor", 0]])
    );
    let problems = v["problems"].to_string();
    assert!(problems.contains("Tumor_031"), "{problems}");
    assert!(
        v["notes"].to_string().contains("1 Tumor, 1 Normal"),
        "{}",
        v["notes"]
    );
}

#[test]
fn tile_store_info_on_a_missing_store_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let o = histo(&[
        "dataset",
        "info",
        "--kind",
        "tile-store",
        "--root",
        dir.path().to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert!(text(&o).contains("manifest.json"), "{}", text(&o));
}
