mod common;

use std::path::Path;

use common::{fixtures, tagged, write};
use histo_datasets::{
    BreastPathQ, BreastPathQH5, BreastPathQH5Test, Dataset, Error, H5Patches, RaterTarget, Scores,
};
use histo_tensor::Target;

fn release(root: &Path) {
    let train = root.join("train");
    for (k, (slide, rid)) in [(99788, 1), (99788, 2), (1234, 7)].iter().enumerate() {
        write(
            &train,
            &format!("{slide}_{rid}.tif"),
            &tagged(8, 8, k as u8),
        );
    }
    std::fs::write(
        root.join("train_labels.csv"),
        "slide,rid,y\n99788,1,0.25\n1234,7,1\n99788,2,0.0\n",
    )
    .unwrap();
    let test = root.join("test");
    write(&test, "5_1.tif", &tagged(8, 8, 50));
    write(&test, "5_2.tif", &tagged(8, 8, 51));
    std::fs::write(
        root.join("test_labels.csv"),
        "\u{feff}slide,rid,pathologist1,pathologist2\r\n5,1,0.2,0.4\r\n5,2,0.9,0.7\r\n",
    )
    .unwrap();
}

#[test]
fn one_rater_table_in_row_order() {
    let dir = tempfile::tempdir().unwrap();
    release(dir.path());
    let ds = BreastPathQ::open_release(dir.path(), "train").unwrap();
    assert_eq!(ds.len(), 3);
    assert!(!ds.has_two_raters());
    assert!(ds.problems().is_empty(), "{:?}", ds.problems());
    let ids: Vec<String> = (0..3).map(|i| ds.id(i).unwrap()).collect();
    assert_eq!(ids, ["99788_1", "1234_7", "99788_2"]);
    let s = ds.get(1).unwrap();
    assert_eq!(s.target, Target::Score(1.0));
    assert_eq!(s.image, tagged(8, 8, 2));
    assert_eq!(ds.scores(0).unwrap(), Scores::One(0.25));
}

#[test]
fn two_rater_table_with_bom_crlf_and_rater_choice() {
    let dir = tempfile::tempdir().unwrap();
    release(dir.path());
    let ds =
        BreastPathQ::open(dir.path().join("test"), dir.path().join("test_labels.csv")).unwrap();
    assert!(ds.has_two_raters());
    assert_eq!(ds.scores(1).unwrap(), Scores::Two(0.9, 0.7));
    assert_eq!(ds.target(0).unwrap(), Target::Score(0.5 * (0.2 + 0.4)));
    let ds = ds.with_rater_target(RaterTarget::Second);
    assert_eq!(ds.target(0).unwrap(), Target::Score(0.4));
    assert_eq!(ds.get(1).unwrap().image, tagged(8, 8, 51));
}

#[test]
fn missing_images_and_unlabelled_images_are_reported() {
    let dir = tempfile::tempdir().unwrap();
    release(dir.path());
    std::fs::remove_file(dir.path().join("train/1234_7.tif")).unwrap();
    write(&dir.path().join("train"), "777_1.tif", &tagged(8, 8, 9));
    let ds = BreastPathQ::open_release(dir.path(), "train").unwrap();
    assert_eq!(ds.len(), 2);
    let msgs: Vec<String> = ds.problems().iter().map(|p| p.to_string()).collect();
    assert!(
        msgs.iter()
            .any(|m| m.contains("1234_7.tif") && m.contains("line 3")),
        "{msgs:?}"
    );
    assert!(
        msgs.iter().any(|m| m.contains("1 image(s) have no row")),
        "{msgs:?}"
    );
}

#[test]
fn bad_rows_and_headers_are_errors_with_line_numbers() {
    let dir = tempfile::tempdir().unwrap();
    release(dir.path());
    let csv = dir.path().join("bad.csv");
    let open = |text: &str| {
        std::fs::write(&csv, text).unwrap();
        BreastPathQ::open(dir.path().join("train"), &csv)
            .unwrap_err()
            .to_string()
    };
    let e = open("slide,rid,y\n99788,1,0.5\n99788,2,abc\n");
    assert!(
        e.contains("bad.csv") && e.contains("line 3") && e.contains("not a number"),
        "{e}"
    );
    let e = open("slide,rid,y\n99788,1,1.5\n");
    assert!(e.contains("outside [0, 1]"), "{e}");
    let e = open("slide,rid,y\n99788,1,NaN\n");
    assert!(e.contains("outside [0, 1]"), "{e}");
    let e = open("slide,rid,score\n99788,1,0.5\n");
    assert!(e.contains("no `y` column"), "{e}");
    let e = open("slide,rid,pathologist1\n99788,1,0.5\n");
    assert!(e.contains("pathologist2"), "{e}");
    let e = open("slide,rid,y\n99788,1\n");
    assert!(e.contains("line 2") && e.contains("2 field(s)"), "{e}");
    let e = open("");
    assert!(e.contains("empty"), "{e}");
    let e = open("slide,rid,y\n1,1,0.5\n");
    assert!(e.contains("no row matches"), "{e}");
    let e = BreastPathQ::open(dir.path().join("train"), dir.path().join("none.csv")).unwrap_err();
    assert!(matches!(e, Error::Missing { .. }) && e.to_string().contains("none.csv"));
    assert!(BreastPathQ::open_release(dir.path(), "dev").is_err());
}

/// Reference values from `data/fixtures/datasets/make_h5.py` (h5py + NumPy).
fn expected(rel: &str) -> (Vec<usize>, Vec<Vec<u8>>, Vec<f64>) {
    let text = std::fs::read_to_string(fixtures().join("expected.json")).unwrap();
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    let e = &v[rel];
    let shape = e["shape"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_u64().unwrap() as usize)
        .collect();
    let pixels = e["pixels"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            p.as_array()
                .unwrap()
                .iter()
                .map(|x| x.as_u64().unwrap() as u8)
                .collect()
        })
        .collect();
    let y = e["y"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap())
        .collect();
    (shape, pixels, y)
}

#[test]
fn h5py_files_contiguous_f32_and_gzip_chunked_f64_match_numpy() {
    for rel in ["train/part_a.h5", "train/part_b.h5"] {
        let f = H5Patches::open(fixtures().join(rel)).unwrap();
        let (shape, pixels, y) = expected(rel);
        assert_eq!(f.len(), shape[0], "{rel}");
        assert_eq!(f.image_size(), (shape[2], shape[1]), "{rel}");
        for i in 0..f.len() {
            let img = f.image(i).unwrap();
            // Exact: same truncation as NumPy's astype(uint8).
            assert_eq!(img.as_slice(), pixels[i].as_slice(), "{rel} patch {i}");
            assert_eq!(f.scores()[i], y[i] as f32, "{rel} y[{i}]");
        }
    }
    // The crafted pixel just below 128/255 truncates to 127, as in NumPy.
    let f = H5Patches::open(fixtures().join("train/part_a.h5")).unwrap();
    assert_eq!(
        f.image(0).unwrap().pixel(0, 0),
        [0, 127, expected("train/part_a.h5").1[0][2]]
    );
}

#[test]
fn h5_folder_concatenates_sorted_files() {
    let ds = BreastPathQH5::open_dir(fixtures().join("train")).unwrap();
    assert_eq!(ds.len(), 9);
    assert_eq!(ds.id(4).unwrap(), "part_a.h5#4");
    assert_eq!(ds.id(5).unwrap(), "part_b.h5#0");
    let (_, pixels, y) = expected("train/part_b.h5");
    let s = ds.get(6).unwrap();
    assert_eq!(s.image.as_slice(), pixels[1].as_slice());
    assert_eq!(s.target, Target::Score(y[1] as f32));
    assert!(ds.get(9).is_err());
}

#[test]
fn h5_test_pairs_raters_by_sorted_name() {
    let ds = BreastPathQH5Test::open_release(fixtures()).unwrap();
    assert_eq!(ds.len(), 5);
    assert!(ds.problems().is_empty());
    // a_first.h5 sorts before b_second.h5 in both folders.
    let (_, pa, ya) = expected("TestSetSherine/a_first.h5");
    let (_, _, yb) = expected("TestSetSharon/a_first.h5");
    let (_, _, ya2) = expected("TestSetSherine/b_second.h5");
    let (_, _, yb2) = expected("TestSetSharon/b_second.h5");
    assert_eq!(ds.ratings(0).unwrap(), (ya[0] as f32, yb[0] as f32));
    assert_eq!(ds.ratings(4).unwrap(), (ya2[1] as f32, yb2[1] as f32));
    assert_eq!(ds.get(2).unwrap().image.as_slice(), pa[2].as_slice());
    let first = ds.with_rater_target(RaterTarget::First);
    assert_eq!(first.target(3).unwrap(), Target::Score(ya2[0] as f32));
}

#[test]
fn h5_bad_files_are_clear_errors() {
    let bad = fixtures().join("bad");
    let e = H5Patches::open(bad.join("wrong_keys.h5"))
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("wrong_keys.h5") && e.contains("no dataset `x`") && e.contains("images"),
        "{e}"
    );
    let e = H5Patches::open(bad.join("wrong_shape.h5"))
        .unwrap_err()
        .to_string();
    assert!(e.contains("(N, 3, H, W)"), "{e}");
    let e = H5Patches::open(bad.join("count_mismatch.h5"))
        .unwrap_err()
        .to_string();
    assert!(e.contains("`y` has shape [2]"), "{e}");
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("garbage.h5");
    std::fs::write(&p, b"this is not an HDF5 file at all, just text").unwrap();
    let e = H5Patches::open(&p).unwrap_err().to_string();
    assert!(e.contains("garbage.h5") && e.contains("HDF5"), "{e}");
    // Truncated copy of a real file.
    let bytes = std::fs::read(fixtures().join("train/part_b.h5")).unwrap();
    let p = dir.path().join("truncated.h5");
    std::fs::write(&p, &bytes[..bytes.len() / 2]).unwrap();
    let r = H5Patches::open(&p).and_then(|f| (0..f.len()).try_for_each(|i| f.image(i).map(|_| ())));
    assert!(r.unwrap_err().to_string().contains("truncated.h5"));
    assert!(BreastPathQH5::open_dir(dir.path().join("none")).is_err());
}

#[test]
fn h5_test_with_mismatched_rater_files_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (dir.path().join("A"), dir.path().join("B"));
    std::fs::create_dir_all(&a).unwrap();
    std::fs::create_dir_all(&b).unwrap();
    let src = fixtures().join("TestSetSherine");
    std::fs::copy(src.join("a_first.h5"), a.join("a_first.h5")).unwrap();
    std::fs::copy(src.join("b_second.h5"), a.join("b_second.h5")).unwrap();
    std::fs::copy(src.join("a_first.h5"), b.join("a_first.h5")).unwrap();
    let e = BreastPathQH5Test::open(&a, &b).unwrap_err().to_string();
    assert!(e.contains("cannot be paired"), "{e}");
    // Same count, different patch counts per pair.
    std::fs::copy(src.join("a_first.h5"), b.join("b_second.h5")).unwrap();
    let e = BreastPathQH5Test::open(&a, &b).unwrap_err().to_string();
    assert!(e.contains("b_second.h5") && e.contains("its pair"), "{e}");
    // Same shapes, different names: paired by position, reported.
    std::fs::remove_file(b.join("b_second.h5")).unwrap();
    std::fs::copy(src.join("b_second.h5"), b.join("z_other.h5")).unwrap();
    let ds = BreastPathQH5Test::open(&a, &b).unwrap();
    assert_eq!(ds.problems().len(), 1);
}
