//! `histo evaluate-slides` on histo-synth's tiny Camelyon16-style test slides, with
//! `histo predict-slide`-style outputs written by the test: a perfect detector (FROC 1, every
//! tumour tile found), a detector below the detection threshold (FROC 0), and bad input.

mod common;

use std::fmt::Write as _;
use std::path::Path;
use std::process::Output;
use std::sync::OnceLock;

use histo_wsi::{Annotations, Slide};
use serde_json::Value;

use common::*;

/// The tiny Camelyon16-style data, generated once per test binary.
fn camelyon() -> &'static Path {
    static DIR: OnceLock<tempfile::TempDir> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let out = histo(&[
            "synth",
            "--scale",
            "tiny",
            "--only",
            "camelyon16",
            "--out",
            dir.path().to_str().unwrap(),
        ]);
        assert!(out.status.success(), "{}", text(&out));
        dir
    })
    .path()
}

const TILE: u64 = 256;

/// Writes `{slide}.json` + `{slide}_tiles.csv` for every test slide, on a 256-px grid, with
/// `value(is_tumour_tile)` as the tile probability. Returns the number of tumour tiles.
fn write_maps(maps: &Path, value: impl Fn(bool) -> f64) -> usize {
    std::fs::create_dir_all(maps).unwrap();
    let root = camelyon().join("camelyon16");
    let mut tumour_tiles = 0;
    for name in ["Test_001", "Test_002"] {
        let slide_path = root.join(format!("slides/test/{name}.tif"));
        let slide = Slide::open(&slide_path).unwrap();
        let (w, h) = slide.dimensions();
        let ann = Annotations::read_asap_xml(root.join(format!("annotations/{name}.xml"))).ok();
        let (cols, rows) = ((w / TILE) as usize, (h / TILE) as usize);
        let mut csv = String::from("col,row,x0,y0,tissue_fraction,value\n");
        let (mut max, mut sum) = (0f64, 0f64);
        for r in 0..rows {
            for c in 0..cols {
                let (x0, y0) = (c as u64 * TILE, r as u64 * TILE);
                let centre = ((x0 + TILE / 2) as f64, (y0 + TILE / 2) as f64);
                let tumour = ann
                    .as_ref()
                    .is_some_and(|a| a.is_positive(centre.0, centre.1));
                tumour_tiles += usize::from(tumour);
                let v = value(tumour);
                max = max.max(v);
                sum += v;
                writeln!(csv, "{c},{r},{x0},{y0},1.0,{v}").unwrap();
            }
        }
        std::fs::write(maps.join(format!("{name}_tiles.csv")), csv).unwrap();
        let json = serde_json::json!({
            "slide": slide_path, "max": max, "mean": sum / (cols * rows) as f64,
            "tiles": cols * rows, "cols": cols, "rows": rows, "value": "p(class 1)",
            "cell_level0": TILE as f64,
        });
        std::fs::write(maps.join(format!("{name}.json")), json.to_string()).unwrap();
    }
    tumour_tiles
}

fn evaluate(maps: &Path, out: &Path) -> Output {
    let root = camelyon().join("camelyon16");
    histo(&[
        "evaluate-slides",
        "--maps",
        maps.to_str().unwrap(),
        "--reference",
        root.join("test_reference.csv").to_str().unwrap(),
        "--annotations",
        root.join("annotations").to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ])
}

fn read_json(p: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap()
}

#[test]
fn perfect_detector_finds_every_lesion_without_false_positives() {
    let tmp = tempfile::tempdir().unwrap();
    let (maps, out) = (tmp.path().join("maps"), tmp.path().join("eval"));
    let n_tumour = write_maps(&maps, |t| if t { 0.9 } else { 0.1 });
    assert!(n_tumour > 0, "the tiny tumour slide has no tumour tile");
    let o = evaluate(&maps, &out);
    assert!(o.status.success(), "{}", text(&o));

    // Tile labels follow the annotation; the scores are what the maps hold.
    let tiles = std::fs::read_to_string(out.join("tiles.csv")).unwrap();
    let mut lines = tiles.lines();
    assert_eq!(lines.next(), Some("slide,col,row,x0,y0,target,score"));
    let mut positives = 0;
    for l in lines {
        let f: Vec<&str> = l.split(',').collect();
        let (target, score): (u8, f64) = (f[5].parse().unwrap(), f[6].parse().unwrap());
        assert_eq!(target == 1, score > 0.5, "{l}");
        positives += usize::from(target);
    }
    assert_eq!(positives, n_tumour);
    let slides = std::fs::read_to_string(out.join("slides.csv")).unwrap();
    assert!(slides.contains("\nTest_001,1,0.9,"), "{slides}");
    assert!(slides.contains("\nTest_002,0,0.1,"), "{slides}");

    let froc = read_json(&out.join("froc.json"));
    let lesions = froc["lesions"].as_u64().expect("lesion count");
    let found: u64 = froc["slides"]["Test_001"]["lesions_found"]
        .as_u64()
        .unwrap();
    assert!(lesions >= 1);
    assert_eq!(froc["slides"]["Test_002"]["false_positives"], 0);
    assert_eq!(froc["slides"]["Test_001"]["false_positives"], 0);
    // Every countable lesion holds a tumour tile here, so all are found: score 1.
    assert_eq!(found, lesions, "{froc}");
    assert_eq!(froc["score"].as_f64(), Some(1.0));
    assert!(out.join("froc.png").is_file());

    // The CSVs feed `histo evaluate --task binary`: a perfect separation, AUC 1.
    let m = tmp.path().join("tiles-metrics.json");
    let o = histo(&[
        "evaluate",
        "--task",
        "binary",
        "--predictions",
        out.join("tiles.csv").to_str().unwrap(),
        "--json",
        m.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(read_json(&m)["auc"].as_f64(), Some(1.0));
}

#[test]
fn detector_below_threshold_scores_zero() {
    let tmp = tempfile::tempdir().unwrap();
    let (maps, out) = (tmp.path().join("maps"), tmp.path().join("eval"));
    write_maps(&maps, |t| if t { 0.4 } else { 0.2 });
    let o = evaluate(&maps, &out);
    assert!(o.status.success(), "{}", text(&o));
    let froc = read_json(&out.join("froc.json"));
    // No probability above 0.5: no detection, sensitivity 0 everywhere.
    assert_eq!(froc["score"].as_f64(), Some(0.0), "{froc}");
    assert_eq!(froc["slides"]["Test_001"]["detections"], 0);
}

#[test]
fn bad_input_is_a_clear_error() {
    let tmp = tempfile::tempdir().unwrap();
    let (maps, out) = (tmp.path().join("maps"), tmp.path().join("eval"));
    write_maps(&maps, |t| if t { 0.9 } else { 0.1 });

    // A slide of the reference without a prediction.
    std::fs::remove_file(maps.join("Test_002.json")).unwrap();
    let o = evaluate(&maps, &out);
    assert!(!o.status.success());
    assert!(
        text(&o).contains("no prediction for slide Test_002"),
        "{}",
        text(&o)
    );
    write_maps(&maps, |t| if t { 0.9 } else { 0.1 });

    // A tumour slide without an annotation.
    let root = camelyon().join("camelyon16");
    let o = histo(&[
        "evaluate-slides",
        "--maps",
        maps.to_str().unwrap(),
        "--reference",
        root.join("test_reference.csv").to_str().unwrap(),
        "--annotations",
        tmp.path().to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(!o.status.success());
    assert!(text(&o).contains("no tumour annotation"), "{}", text(&o));

    // A malformed tile value.
    let csv = maps.join("Test_001_tiles.csv");
    let body = std::fs::read_to_string(&csv).unwrap();
    std::fs::write(&csv, body.replacen(",1.0,0.", ",1.0,x0.", 1)).unwrap();
    let o = evaluate(&maps, &out);
    assert!(!o.status.success());
    assert!(
        text(&o).contains("Test_001_tiles.csv line 2"),
        "{}",
        text(&o)
    );

    // A reference label that is neither Tumor nor Normal.
    let reference = tmp.path().join("ref.csv");
    std::fs::write(&reference, "image,label\nTest_001,Maybe\n").unwrap();
    let o = histo(&[
        "evaluate-slides",
        "--maps",
        maps.to_str().unwrap(),
        "--reference",
        reference.to_str().unwrap(),
        "--annotations",
        root.join("annotations").to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(!o.status.success());
    assert!(text(&o).contains("line 2: label `Maybe`"), "{}", text(&o));
}
