//! Bad input: every case gives an error naming the file and the problem, never a panic, a hang
//! or garbage pixels.

mod common;

use common::*;
use histo_wsi::{Annotations, BackendKind, PyramidOptions, Slide};

fn err_of(p: &std::path::Path) -> String {
    Slide::open(p).unwrap_err().to_string()
}

#[test]
fn truncated_non_tiff_and_missing_files() {
    let dir = tempfile::tempdir().unwrap();
    let good = pyramid(
        dir.path(),
        "g.tif",
        &smooth(600, 400),
        128,
        Default::default(),
    );
    let bytes = std::fs::read(&good).unwrap();
    // Our writer puts the directories at the end: cutting the file loses them.
    for (name, cut) in [
        ("t1.tif", bytes.len() / 2),
        ("t2.tif", bytes.len() - 10),
        ("t3.tif", 5),
    ] {
        let p = dir.path().join(name);
        std::fs::write(&p, &bytes[..cut]).unwrap();
        let e = err_of(&p);
        assert!(e.contains(name), "{e}");
    }
    // The real SVS keeps its directories after the data: cutting its tail loses the tiles'
    // bytes or the directories; either way a clear error at open.
    let svs_bytes = std::fs::read(svs()).unwrap();
    for cut in [svs_bytes.len() - 1000, 1_400_000, 1_000_000] {
        let p = dir.path().join(format!("cut{cut}.svs"));
        std::fs::write(&p, &svs_bytes[..cut]).unwrap();
        let e = err_of(&p);
        assert!(e.contains(&format!("cut{cut}.svs")), "{e}");
        assert!(e.contains("truncated") || e.contains("TIFF"), "{e}");
    }
    let p = dir.path().join("text.svs");
    std::fs::write(&p, b"this is not a slide at all").unwrap();
    let e = err_of(&p);
    assert!(e.contains("text.svs") && e.contains("not a TIFF"), "{e}");
    let e = err_of(&dir.path().join("missing.svs"));
    assert!(e.contains("missing.svs"), "{e}");
}

#[test]
fn tiff_without_tiles() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("strips.tif");
    smooth(64, 32).save(&p).unwrap(); // the image crate writes strips
    let e = err_of(&p);
    assert!(
        e.contains("strips.tif") && e.contains("no tiled image"),
        "{e}"
    );
}

/// Rewrites the value of `tag` (a SHORT stored in the entry) in every directory of a classic
/// little-endian TIFF.
fn patch_short_tag(bytes: &mut [u8], tag: u16, value: u16) {
    let rd16 = |b: &[u8], o: usize| u16::from_le_bytes([b[o], b[o + 1]]);
    let rd32 =
        |b: &[u8], o: usize| u32::from_le_bytes([b[o], b[o + 1], b[o + 2], b[o + 3]]) as usize;
    let mut ifd = rd32(bytes, 4);
    while ifd != 0 {
        let n = rd16(bytes, ifd) as usize;
        for i in 0..n {
            let e = ifd + 2 + 12 * i;
            if rd16(bytes, e) == tag {
                bytes[e + 8..e + 10].copy_from_slice(&value.to_le_bytes());
            }
        }
        ifd = rd32(bytes, ifd + 2 + 12 * n);
    }
}

#[test]
fn unsupported_compression_and_corrupt_tiles() {
    let dir = tempfile::tempdir().unwrap();
    let good = pyramid(
        dir.path(),
        "g.tif",
        &smooth(300, 300),
        128,
        PyramidOptions {
            format: histo_wsi::TiffFormat::Classic,
            ..Default::default()
        },
    );
    let bytes = std::fs::read(&good).unwrap();
    // JPEG 2000 (Aperio 33003)
    let mut j2k = bytes.clone();
    patch_short_tag(&mut j2k, 259, 33003);
    let p = dir.path().join("j2k.svs");
    std::fs::write(&p, &j2k).unwrap();
    let e = err_of(&p);
    assert!(
        e.contains("j2k.svs") && e.contains("JPEG 2000") && e.contains("unsupported"),
        "{e}"
    );
    // Garbage in the tile data: opening works (structure is fine), reading fails cleanly.
    let mut bad = bytes.clone();
    for b in &mut bad[16..4000] {
        *b = 0x5A;
    }
    let p = dir.path().join("garbled.tif");
    std::fs::write(&p, &bad).unwrap();
    let s = Slide::open(&p).unwrap();
    let e = s.read_region(0, 0, 0, 300, 300).unwrap_err().to_string();
    assert!(e.contains("garbled.tif") && e.contains("tile"), "{e}");
}

#[test]
fn bad_requests_on_a_good_slide() {
    let s = open(&svs(), BackendKind::Rust);
    for (lvl, w, h, what) in [
        (0, 0, 5, "zero-size"),
        (1, 5, 5, "no level 1"),
        (0, 100_000, 100_000, "larger than"),
    ] {
        let e = s.read_region(0, 0, lvl, w, h).unwrap_err().to_string();
        assert!(
            e.contains("CMU-1-Small-Region.svs") && e.contains(what),
            "{e}"
        );
    }
    let e = s
        .read_region(i64::MAX / 2, 0, 0, 4, 4)
        .unwrap_err()
        .to_string();
    assert!(e.contains("out of range"), "{e}");
}

#[test]
fn malformed_annotations() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("bad.xml");
    std::fs::write(
        &p,
        "<ASAP_Annotations><Annotations><Annotation PartOfGroup=\"Tumor\">",
    )
    .unwrap();
    let e = Annotations::read_asap_xml(&p).unwrap_err().to_string();
    assert!(e.contains("bad.xml") && e.contains("malformed XML"), "{e}");
    let p = dir.path().join("nan.xml");
    std::fs::write(
        &p,
        r#"<ASAP_Annotations><Annotations><Annotation Name="A" PartOfGroup="Tumor"><Coordinates>
           <Coordinate Order="0" X="1.5" Y="oops" /></Coordinates></Annotation></Annotations></ASAP_Annotations>"#,
    )
    .unwrap();
    let e = Annotations::read_asap_xml(&p).unwrap_err().to_string();
    assert!(
        e.contains("nan.xml") && e.contains("\"oops\" is not a number"),
        "{e}"
    );
    let p = dir.path().join("bad.json");
    std::fs::write(
        &p,
        r#"{"positive": [{"name": "a", "vertices": [[1, "x"]]}]}"#,
    )
    .unwrap();
    let e = Annotations::read_json(&p).unwrap_err().to_string();
    assert!(e.contains("bad.json"), "{e}");
}
