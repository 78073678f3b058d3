//! `histo slide info | read | thumbnail` and `histo tile rsp` on the real Aperio SVS fixture.

mod common;

use std::path::{Path, PathBuf};

use common::*;

fn svs() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../data/fixtures/CMU-1-Small-Region.svs")
}

fn backends() -> Vec<&'static str> {
    if cfg!(feature = "openslide") {
        vec!["rust", "openslide"]
    } else {
        vec!["rust"]
    }
}

#[test]
fn slide_info_json_has_the_documented_keys() {
    let p = svs();
    for b in backends() {
        let o = histo(&[
            "slide",
            "info",
            p.to_str().unwrap(),
            "--json",
            "--backend",
            b,
        ]);
        assert!(o.status.success(), "{}", text(&o));
        let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        let mut keys: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
        keys.sort();
        assert_eq!(
            keys,
            [
                "backend",
                "levels",
                "mpp_x",
                "mpp_y",
                "properties",
                "vendor"
            ]
        );
        assert_eq!(v["vendor"], "aperio");
        assert_eq!(v["backend"], b);
        assert_eq!(
            v["levels"][0],
            serde_json::json!({"width": 2220, "height": 2967, "downsample": 1.0})
        );
        assert_eq!(v["mpp_x"], 0.499);
        assert_eq!(v["properties"]["aperio.AppMag"], "20");
    }
}

#[test]
fn slide_read_and_thumbnail_write_pngs() {
    let dir = tempfile::tempdir().unwrap();
    let p = svs();
    let out = dir.path().join("r.png");
    let o = histo(&[
        "slide",
        "read",
        p.to_str().unwrap(),
        "--x",
        "-10",
        "--y",
        "100",
        "--level",
        "0",
        "--width",
        "64",
        "--height",
        "32",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let img = histo_tensor::Image::open(&out).unwrap();
    assert_eq!((img.width(), img.height()), (64, 32));
    assert_eq!(img.pixel(0, 0), [0, 0, 0]); // left of the slide
    let th = dir.path().join("t.png");
    let o = histo(&[
        "slide",
        "thumbnail",
        p.to_str().unwrap(),
        "--out",
        th.to_str().unwrap(),
        "--max-size",
        "200",
        "--tissue",
    ]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("tissue"), "{}", text(&o));
    let img = histo_tensor::Image::open(&th).unwrap();
    assert_eq!(img.height(), 200);
    // errors name the file and exit 1
    let o = histo(&[
        "slide",
        "read",
        p.to_str().unwrap(),
        "--x",
        "0",
        "--y",
        "0",
        "--level",
        "4",
        "--width",
        "8",
        "--height",
        "8",
        "--out",
        "/dev/null",
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert!(text(&o).contains("no level 4"), "{}", text(&o));
    let o = histo(&["slide", "info", "/nonexistent/x.svs"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(text(&o).contains("/nonexistent/x.svs"), "{}", text(&o));
}

#[test]
fn tile_rsp_at_virtual_magnifications_with_a_bad_slide_in_the_batch() {
    let dir = tempfile::tempdir().unwrap();
    let slides = dir.path().join("slides");
    std::fs::create_dir(&slides).unwrap();
    std::fs::copy(svs(), slides.join("a.svs")).unwrap();
    std::fs::write(slides.join("b.svs"), b"not a slide").unwrap();
    let store = dir.path().join("store");
    for b in backends() {
        let _ = std::fs::remove_dir_all(&store);
        let args = [
            "tile",
            "rsp",
            "--slides",
            slides.to_str().unwrap(),
            "--out",
            store.to_str().unwrap(),
            "--magnifications",
            "20,10,5",
            "--stride",
            "64",
            "--tissue",
            "v2",
            "--backend",
            b,
        ];
        let o = histo(&args);
        assert!(o.status.success(), "{}", text(&o));
        let t = text(&o);
        assert!(
            t.contains("1 used") && t.contains("1 failed") && t.contains("b.svs"),
            "{t}"
        );
        assert!(t.contains("candidates: 28"), "{t}");
        let store_r = histo_wsi::TileStore::open(&store).unwrap();
        assert!(!store_r.is_empty());
        assert_eq!(store_r.tile_size(), 256);
        // resuming: nothing new, JSON summary
        let mut again = args.to_vec();
        again.push("--json");
        let o = histo(&again);
        assert!(o.status.success(), "{}", text(&o));
        let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        assert_eq!(v["already_complete"], 1);
        assert_eq!(v["triplets"], 0);
        assert_eq!(v["store_total"].as_u64().unwrap() as usize, store_r.len());
    }
}
