//! Helpers shared by the integration tests.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use histo_tensor::Image;
use histo_wsi::{BackendKind, PyramidOptions, PyramidWriter, Slide, SlideOptions};

/// The real Aperio SVS kept in the repository.
pub fn svs() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../data/fixtures/CMU-1-Small-Region.svs")
}

/// Reference values produced by `data/fixtures/wsi/make_reference.py`.
pub fn reference() -> serde_json::Value {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../data/fixtures/wsi/reference.json");
    serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap()
}

/// The backends this build can test: the pure-Rust reader always, OpenSlide with the feature.
pub fn backends() -> Vec<BackendKind> {
    let mut v = vec![BackendKind::Rust];
    if cfg!(feature = "openslide") {
        v.push(BackendKind::OpenSlide);
    }
    v
}

pub fn open(path: &Path, backend: BackendKind) -> Slide {
    Slide::open_with(
        path,
        &SlideOptions {
            backend,
            ..Default::default()
        },
    )
    .unwrap_or_else(|e| panic!("{backend}: {e}"))
}

/// Max and mean absolute difference of two equally sized images.
pub fn diff(a: &Image, b: &Image) -> (u8, f64) {
    assert_eq!((a.width(), a.height()), (b.width(), b.height()));
    let mut mx = 0u8;
    let mut sum = 0u64;
    for (x, y) in a.as_slice().iter().zip(b.as_slice()) {
        let d = x.abs_diff(*y);
        mx = mx.max(d);
        sum += u64::from(d);
    }
    (mx, sum as f64 / a.as_slice().len() as f64)
}

/// A smooth, deterministic test picture (JPEG-friendly).
pub fn smooth(w: usize, h: usize) -> Image {
    let mut img = Image::new(w, h);
    for y in 0..h {
        for x in 0..w {
            let fx = x as f64 / w as f64;
            let fy = y as f64 / h as f64;
            img.put_pixel(
                x,
                y,
                [
                    (60.0 + 150.0 * fx) as u8,
                    (40.0 + 160.0 * fy) as u8,
                    (200.0 - 100.0 * (fx * fy)) as u8,
                ],
            );
        }
    }
    img
}

/// White background (244, 244, 246) with a pink "tissue" block over level-0 columns
/// `[0, pink_w)` (all rows).
pub fn half_tissue(w: usize, h: usize, pink_w: usize) -> Image {
    let mut img = Image::filled(w, h, [244, 244, 246]);
    for y in 0..h {
        for x in 0..pink_w.min(w) {
            img.put_pixel(x, y, [236, 150, 196]);
        }
    }
    img
}

/// Writes `img` as a pyramid with tiles of `tile` pixels and returns the path.
pub fn pyramid(dir: &Path, name: &str, img: &Image, tile: u32, opts: PyramidOptions) -> PathBuf {
    let p = dir.join(name);
    PyramidWriter::write_image(
        &p,
        img,
        PyramidOptions {
            tile_size: tile,
            ..opts
        },
    )
    .unwrap();
    p
}
