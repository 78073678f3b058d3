//! Fixture writers shared by the integration tests.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use histo_tensor::Image;

/// A small image whose pixels encode `tag`, so a test can tell which file was decoded.
pub fn tagged(w: usize, h: usize, tag: u8) -> Image {
    let mut img = Image::new(w, h);
    for y in 0..h {
        for x in 0..w {
            img.put_pixel(x, y, [tag, x as u8, y as u8]);
        }
    }
    img
}

/// Writes `img` to `dir/name`, creating `dir`.
pub fn write(dir: &Path, name: &str, img: &Image) -> PathBuf {
    std::fs::create_dir_all(dir).unwrap();
    let p = dir.join(name);
    img.save(&p).unwrap();
    p
}

/// The committed fixture folder `data/fixtures/datasets`.
pub fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../data/fixtures/datasets")
}
