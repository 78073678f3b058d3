//! The pyramid writer: determinism, BigTIFF, streaming API checks, and pyramids written by
//! `vips tiffsave` (skipped, with the reason printed, where `vips` is not installed).

mod common;

use common::*;
use histo_tensor::Image;
use histo_wsi::{BackendKind, PyramidOptions, PyramidWriter, Slide, TiffFormat, pyramid_levels};

#[test]
fn identical_input_gives_identical_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let img = smooth(900, 650);
    let opts = PyramidOptions {
        mpp: Some(0.5),
        app_mag: Some(20.0),
        aperio: true,
        title: Some("determinism".into()),
        ..Default::default()
    };
    let a = pyramid(dir.path(), "a.tif", &img, 256, opts.clone());
    let b = pyramid(dir.path(), "b.tif", &img, 256, opts);
    assert_eq!(std::fs::read(a).unwrap(), std::fs::read(b).unwrap());
    // no temporary files are left behind
    let names: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names.len(), 2, "{names:?}");
}

#[test]
fn bigtiff_and_classic_hold_the_same_pixels() {
    let dir = tempfile::tempdir().unwrap();
    let img = smooth(333, 222);
    let c = pyramid(
        dir.path(),
        "c.tif",
        &img,
        64,
        PyramidOptions {
            format: TiffFormat::Classic,
            ..Default::default()
        },
    );
    let b = pyramid(
        dir.path(),
        "b.tif",
        &img,
        64,
        PyramidOptions {
            format: TiffFormat::Big,
            ..Default::default()
        },
    );
    assert_eq!(&std::fs::read(&b).unwrap()[..4], b"II+\0");
    assert_eq!(&std::fs::read(&c).unwrap()[..4], b"II*\0");
    let (sc, sb) = (Slide::open(&c).unwrap(), Slide::open(&b).unwrap());
    assert_eq!(sc.levels(), sb.levels());
    for l in 0..sc.level_count() {
        let (w, h) = (
            sc.levels()[l].width as usize,
            sc.levels()[l].height as usize,
        );
        assert_eq!(
            sc.read_region(0, 0, l, w, h).unwrap(),
            sb.read_region(0, 0, l, w, h).unwrap()
        );
    }
}

#[test]
fn level_plan_and_streaming_checks() {
    let o = PyramidOptions::default();
    let sizes = pyramid_levels(16384, 16384, &o);
    assert_eq!(sizes.len(), 7);
    assert_eq!(sizes[6], (256, 256));
    let sizes = pyramid_levels(
        1000,
        300,
        &PyramidOptions {
            max_levels: Some(2),
            ..o.clone()
        },
    );
    assert_eq!(sizes, [(1000, 300), (500, 150)]);
    let dir = tempfile::tempdir().unwrap();
    let mut w = PyramidWriter::create(
        dir.path().join("x.tif"),
        300,
        200,
        PyramidOptions {
            tile_size: 128,
            ..o.clone()
        },
    )
    .unwrap();
    assert_eq!(w.tile_grid(), (3, 2));
    // a wrong tile size is refused
    assert!(w.push_tile(&Image::new(100, 128)).is_err());
    // edge tiles may be the clipped size
    w.push_tile(&Image::new(128, 128)).unwrap();
    w.push_tile(&Image::new(128, 128)).unwrap();
    w.push_tile(&Image::new(44, 128)).unwrap();
    // finishing early is an error, and leaves no file
    let e = w.finish().unwrap_err().to_string();
    assert!(e.contains("3 of 6"), "{e}");
    assert!(!dir.path().join("x.tif").exists());
    assert!(
        PyramidWriter::create(
            dir.path().join("y.tif"),
            10,
            10,
            PyramidOptions {
                tile_size: 100,
                ..o
            }
        )
        .is_err()
    );
}

#[test]
fn vips_pyramids_are_read() {
    if std::process::Command::new("vips")
        .arg("--version")
        .output()
        .is_err()
    {
        eprintln!(
            "SKIPPED vips_pyramids_are_read: `vips` is not installed (Debian: libvips-tools)"
        );
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let img = smooth(1000, 700);
    let src = dir.path().join("src.png");
    img.save(&src).unwrap();
    let out = dir.path().join("vips.tif");
    let st = std::process::Command::new("vips")
        .arg("tiffsave")
        .arg(&src)
        .arg(&out)
        .args([
            "--tile",
            "--pyramid",
            "--compression",
            "jpeg",
            "--tile-width",
            "256",
            "--tile-height",
            "256",
        ])
        .status()
        .unwrap();
    assert!(st.success());
    for b in backends() {
        let s = open(&out, b);
        assert_eq!(s.vendor(), "generic-tiff");
        assert!(s.level_count() >= 3, "{b}: {:?}", s.levels());
        assert_eq!(s.dimensions(), (1000, 700));
        // vips pads edge tiles with black and subsamples chroma 4:2:0, which tints the last
        // row and column; compare the interior with the source
        let r = s.read_region(0, 0, 0, 998, 698).unwrap();
        let mut src = Image::new(998, 698);
        for y in 0..698 {
            for x in 0..998 {
                src.put_pixel(x, y, img.pixel(x, y));
            }
        }
        let (mx, mean) = diff(&r, &src);
        assert!(mx <= 16 && mean < 2.0, "{b}: max {mx} mean {mean}");
        let l1 = &s.levels()[1];
        assert!((l1.downsample - 2.0).abs() < 0.01, "{b}: {l1:?}");
    }
    // and the two backends agree on the vips file
    if backends().len() > 1 {
        let a = open(&out, BackendKind::Rust)
            .read_region(0, 0, 1, 500, 350)
            .unwrap();
        let o = open(&out, BackendKind::OpenSlide)
            .read_region(0, 0, 1, 500, 350)
            .unwrap();
        let (mx, mean) = diff(&a, &o);
        eprintln!("vips pyramid level 1, rust vs openslide: max |diff| {mx}, mean {mean:.4}");
        assert!(mx <= 3 && mean < 0.5, "max {mx} mean {mean}");
    }
}

#[test]
fn rust_and_openslide_agree_on_our_ycbcr_pyramid() {
    if backends().len() < 2 {
        eprintln!("SKIPPED: built without the openslide feature");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let img = smooth(800, 600);
    let p = pyramid(
        dir.path(),
        "y.tif",
        &img,
        256,
        PyramidOptions {
            aperio: true,
            mpp: Some(0.5),
            ..Default::default()
        },
    );
    for l in 0..3 {
        let s = open(&p, BackendKind::Rust);
        let (w, h) = (s.levels()[l].width as usize, s.levels()[l].height as usize);
        let a = s.read_region(0, 0, l, w, h).unwrap();
        let o = open(&p, BackendKind::OpenSlide)
            .read_region(0, 0, l, w, h)
            .unwrap();
        let (mx, mean) = diff(&a, &o);
        eprintln!(
            "own YCbCr pyramid level {l}, rust vs openslide: max |diff| {mx}, mean {mean:.4}"
        );
        assert!(mx <= 3 && mean < 0.5, "level {l}: max {mx} mean {mean}");
    }
}
