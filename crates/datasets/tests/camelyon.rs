mod common;

use std::path::Path;

use common::{tagged, write};
use histo_datasets::{
    CamelyonLabels, CamelyonOptions, CamelyonPatches, Concat, Dataset, original_slide_filter,
};
use histo_tensor::Target;
use histo_wsi::{Annotations, Polygon};

/// A patch folder: one line per (pid, x, y), PNG `i` tagged with i.
fn folder(dir: &Path, lines: &[&str]) {
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(dir.join("list.txt"), lines.join("\n") + "\n").unwrap();
    for (i, _) in lines.iter().enumerate() {
        write(dir, &format!("{i}.png"), &tagged(4, 4, i as u8));
    }
}

fn square(x0: f64, y0: f64, x1: f64, y1: f64) -> Annotations {
    Annotations {
        positive: vec![Polygon {
            name: "Annotation 0".into(),
            group: Some("Tumor".into()),
            vertices: vec![[x0, y0], [x1, y0], [x1, y1], [x0, y1]],
        }],
        negative: vec![],
    }
}

#[test]
fn slide_filter_is_the_originals() {
    assert!(original_slide_filter("Tumor_026"));
    assert!(!original_slide_filter("Tumor_025"));
    assert!(original_slide_filter("Normal_036"));
    assert!(!original_slide_filter("Normal_035"));
    assert!(!original_slide_filter("Test_001"));
    assert!(!original_slide_filter("Tumor_x"));
}

#[test]
fn png_index_is_the_unfiltered_line_number_b20() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("PATCHES_TUMOR_TRAIN");
    // Lines 0 and 2 are dropped by the filter; the original would then read 0.png for line 1.
    folder(
        &f,
        &[
            "Tumor_001,10,10",
            "Tumor_030,20,20",
            "Tumor_002,30,30",
            "Tumor_031,40,40",
        ],
    );
    let all = CamelyonPatches::open(&f, &CamelyonOptions::default()).unwrap();
    assert_eq!(all.len(), 4);
    let opts = CamelyonOptions {
        original_slide_filter: true,
        ..CamelyonOptions::default()
    };
    let ds = CamelyonPatches::open(&f, &opts).unwrap();
    assert_eq!(ds.len(), 2);
    assert_eq!(ds.coord(0).unwrap().pid, "Tumor_030");
    assert_eq!(ds.coord(0).unwrap().line, 1);
    assert_eq!(ds.path(1).unwrap(), f.join("3.png"));
    let s = ds.get(0).unwrap();
    assert_eq!(
        s.image,
        tagged(4, 4, 1),
        "line 1's PNG, not the filtered list's 0.png"
    );
    assert_eq!(s.id, "PATCHES_TUMOR_TRAIN/1");
    assert_eq!(s.target, Target::Class(1));
    assert_eq!(ds.class_names(), ["normal", "tumor"]);
}

#[test]
fn labels_from_json_and_xml_annotations() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let t = root.join("PATCHES_TUMOR_TRAIN");
    folder(
        &t,
        &[
            "Tumor_030,150,150",
            "Tumor_030,500,500",
            "Tumor_040,150,150",
            "Tumor_050,1,1",
        ],
    );
    let n = root.join("PATCHES_NORMAL_TRAIN");
    folder(&n, &["Normal_040,150,150", "Tumor_030,120,180"]);
    let ann = root.join("ann");
    std::fs::create_dir_all(&ann).unwrap();
    square(100.0, 100.0, 200.0, 200.0)
        .write_json(ann.join("Tumor_030.json"))
        .unwrap();
    square(0.0, 0.0, 50.0, 50.0)
        .write_asap_xml(ann.join("Tumor_040.xml"))
        .unwrap();
    let opts = CamelyonOptions {
        labels: CamelyonLabels::Annotations(ann.clone()),
        ..CamelyonOptions::default()
    };
    let tumour = CamelyonPatches::open(&t, &opts).unwrap();
    // Tumor_050 has no annotation: reported and skipped.
    assert_eq!(tumour.len(), 3);
    let labels: Vec<u32> = (0..3)
        .map(|i| tumour.target(i).unwrap().class().unwrap())
        .collect();
    assert_eq!(labels, [1, 0, 0]);
    assert_eq!(tumour.class_counts(), [2, 1]);
    let msgs: Vec<String> = tumour.problems().iter().map(|p| p.to_string()).collect();
    assert!(msgs.iter().any(|m| m.contains("Tumor_050")), "{msgs:?}");
    // A normal slide needs no file; a tumour-slide patch in the normal folder gets its true label.
    let normal = CamelyonPatches::open(&n, &opts).unwrap();
    let labels: Vec<u32> = (0..2)
        .map(|i| normal.target(i).unwrap().class().unwrap())
        .collect();
    assert_eq!(labels, [0, 1]);
    // Folder labels, and the two folders as one dataset.
    let (tu, no) = CamelyonPatches::open_split(root, "train", &CamelyonOptions::default()).unwrap();
    let both = Concat::new(vec![Box::new(tu), Box::new(no)]).unwrap();
    assert_eq!(both.len(), 6);
    assert_eq!(both.target(3).unwrap(), Target::Class(1));
    assert_eq!(both.target(4).unwrap(), Target::Class(0));
    assert_eq!(both.id(5).unwrap(), "PATCHES_NORMAL_TRAIN/1");
}

#[test]
fn bad_lists_and_annotations() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("PATCHES_NORMAL_VALID");
    folder(
        &f,
        &[
            "Normal_040,1,1",
            "garbage line",
            "Normal_041,x,2",
            "Normal_042,3,3",
        ],
    );
    std::fs::remove_file(f.join("3.png")).unwrap();
    let ds = CamelyonPatches::open(&f, &CamelyonOptions::default()).unwrap();
    assert_eq!(ds.len(), 1);
    let msgs: Vec<String> = ds.problems().iter().map(|p| p.to_string()).collect();
    assert!(
        msgs.iter()
            .any(|m| m.contains("line 2") && m.contains("not `pid,x,y`")),
        "{msgs:?}"
    );
    assert!(
        msgs.iter().any(|m| m.contains("2 malformed lines")),
        "{msgs:?}"
    );
    assert!(
        msgs.iter()
            .any(|m| m.contains("3.png") && m.contains("missing")),
        "{msgs:?}"
    );
    // No list.txt.
    let e = CamelyonPatches::open(
        dir.path().join("PATCHES_TUMOR_VALID"),
        &CamelyonOptions::default(),
    )
    .err()
    .unwrap()
    .to_string();
    assert!(e.contains("list.txt") && e.contains("not found"), "{e}");
    // A folder name that says neither tumour nor normal needs annotations.
    let g = dir.path().join("patches");
    folder(&g, &["Normal_040,1,1"]);
    let e = CamelyonPatches::open(&g, &CamelyonOptions::default())
        .err()
        .unwrap()
        .to_string();
    assert!(e.contains("annotation"), "{e}");
    // A malformed annotation file is an error naming it.
    let ann = dir.path().join("ann");
    std::fs::create_dir_all(&ann).unwrap();
    std::fs::write(ann.join("Tumor_030.xml"), "<ASAP_Annotations><Annotation").unwrap();
    let t = dir.path().join("PATCHES_TUMOR_TRAIN");
    folder(&t, &["Tumor_030,1,1"]);
    let opts = CamelyonOptions {
        labels: CamelyonLabels::Annotations(ann),
        ..Default::default()
    };
    let e = CamelyonPatches::open(&t, &opts).err().unwrap().to_string();
    assert!(e.contains("Tumor_030.xml"), "{e}");
    assert!(CamelyonPatches::open_split(dir.path(), "test", &CamelyonOptions::default()).is_err());
}
