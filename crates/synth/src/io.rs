//! Writing files so that a crash never leaves a torn one: everything goes to a hidden temporary
//! name in the same folder and is renamed into place; a file that exists is complete.

use std::io::Cursor;
use std::path::{Path, PathBuf};

use histo_tensor::Image;
use tiff::encoder::{Compression, DeflateLevel, Predictor, Rational, TiffEncoder, colortype};
use tiff::tags::ResolutionUnit;

use crate::{Error, Result};

/// The hidden temporary name used while `path` is being written.
pub(crate) fn tmp_path(path: &Path) -> PathBuf {
    let mut name = std::ffi::OsString::from(".");
    name.push(path.file_name().unwrap_or_default());
    name.push(".tmp");
    path.with_file_name(name)
}

/// Creates a folder and its parents.
pub(crate) fn mkdir(path: &Path) -> Result<()> {
    std::fs::create_dir_all(path).map_err(|e| Error::io(path, e))
}

/// Writes `bytes` to `path` atomically (temporary file + rename).
pub(crate) fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let tmp = tmp_path(path);
    std::fs::write(&tmp, bytes).map_err(|e| Error::io(&tmp, e))?;
    std::fs::rename(&tmp, path).map_err(|e| Error::io(path, e))
}

/// An RGB TIFF (Deflate with horizontal predictor, resolution tags for `mpp`) in memory.
pub(crate) fn tiff_bytes(img: &Image, mpp: f64, path: &Path) -> Result<Vec<u8>> {
    let err = |e: tiff::TiffError| Error::Encode {
        path: path.to_path_buf(),
        msg: e.to_string(),
    };
    let mut buf = Cursor::new(Vec::new());
    {
        let mut enc = TiffEncoder::new(&mut buf)
            .map_err(err)?
            .with_compression(Compression::Deflate(DeflateLevel::Balanced))
            .with_predictor(Predictor::Horizontal);
        let mut im = enc
            .new_image::<colortype::RGB8>(img.width() as u32, img.height() as u32)
            .map_err(err)?;
        // pixels per centimetre
        let ppcm = (1e4 / mpp).round() as u32;
        im.resolution(ResolutionUnit::Centimeter, Rational { n: ppcm, d: 1 });
        im.write_data(img.as_slice()).map_err(err)?;
    }
    Ok(buf.into_inner())
}

/// A PNG in memory.
pub(crate) fn png_bytes(img: &Image, path: &Path) -> Result<Vec<u8>> {
    use image::ImageEncoder;
    let mut buf = Vec::new();
    image::codecs::png::PngEncoder::new(&mut buf)
        .write_image(
            img.as_slice(),
            img.width() as u32,
            img.height() as u32,
            image::ExtendedColorType::Rgb8,
        )
        .map_err(|e| Error::Encode {
            path: path.to_path_buf(),
            msg: e.to_string(),
        })?;
    Ok(buf)
}

/// Writes an image atomically, as TIFF or PNG according to the extension.
pub(crate) fn save_image(img: &Image, path: &Path, mpp: f64) -> Result<()> {
    let bytes = match path.extension().and_then(|e| e.to_str()) {
        Some("tif") | Some("tiff") => tiff_bytes(img, mpp, path)?,
        _ => png_bytes(img, path)?,
    };
    write_atomic(path, &bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tiff_and_png_round_trip_exactly() {
        let dir = tempfile::tempdir().unwrap();
        let mut img = Image::new(37, 23);
        for y in 0..23 {
            for x in 0..37 {
                img.put_pixel(x, y, [(x * 7) as u8, (y * 11) as u8, (x * y) as u8]);
            }
        }
        for name in ["a.tif", "a.png"] {
            let p = dir.path().join(name);
            save_image(&img, &p, 0.5).unwrap();
            assert_eq!(Image::open(&p).unwrap(), img, "{name}");
            assert!(!tmp_path(&p).exists());
        }
        assert_eq!(
            tmp_path(Path::new("/x/y/ADI-1.tif")),
            PathBuf::from("/x/y/.ADI-1.tif.tmp")
        );
    }
}
