//! [`Image`]: an owned RGB u8 image in HWC layout.

use std::path::Path;

use ndarray::{Array3, ArrayView3, ArrayViewMut3};

use crate::{Error, Result};

/// An owned RGB image with 8 bits per channel, stored row-major as `[height, width, 3]`.
///
/// The backing array is always in standard (C-contiguous) layout, so [`Image::as_slice`] is the
/// interleaved `RGBRGB…` buffer that codecs and the `image` crate use.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Image {
    data: Array3<u8>,
}

impl Image {
    /// A black image of the given size.
    pub fn new(width: usize, height: usize) -> Self {
        Self {
            data: Array3::zeros((height, width, 3)),
        }
    }

    /// An image filled with one colour.
    pub fn filled(width: usize, height: usize, rgb: [u8; 3]) -> Self {
        let mut img = Self::new(width, height);
        for px in img.as_mut_slice().chunks_exact_mut(3) {
            px.copy_from_slice(&rgb);
        }
        img
    }

    /// Wraps an interleaved `RGBRGB…` buffer of `width * height * 3` bytes.
    pub fn from_raw(width: usize, height: usize, data: Vec<u8>) -> Result<Self> {
        let want = width * height * 3;
        if data.len() != want {
            return Err(Error::Shape {
                expected: format!("{want} bytes ({width}x{height}x3)"),
                got: format!("{} bytes", data.len()),
            });
        }
        let data = Array3::from_shape_vec((height, width, 3), data).map_err(|e| Error::Shape {
            expected: format!("[{height}, {width}, 3]"),
            got: e.to_string(),
        })?;
        Ok(Self { data })
    }

    /// Wraps an `[H, W, 3]` array (copied into standard layout if it is not already).
    pub fn from_array(data: Array3<u8>) -> Result<Self> {
        if data.dim().2 != 3 {
            return Err(Error::Shape {
                expected: "[H, W, 3]".into(),
                got: format!("{:?}", data.shape()),
            });
        }
        let data = if data.is_standard_layout() {
            data
        } else {
            data.as_standard_layout().into_owned()
        };
        Ok(Self { data })
    }

    /// Converts from the `image` crate's RGB image (no copy of the pixels).
    pub fn from_rgb_image(img: ::image::RgbImage) -> Self {
        let (w, h) = (img.width() as usize, img.height() as usize);
        let data = Array3::from_shape_vec((h, w, 3), img.into_raw())
            .expect("an RgbImage buffer always holds width*height*3 bytes");
        Self { data }
    }

    /// Converts any decoded image to RGB8 (alpha is dropped, grey is replicated).
    pub fn from_dynamic(img: ::image::DynamicImage) -> Self {
        Self::from_rgb_image(img.into_rgb8())
    }

    /// Copies into the `image` crate's RGB image.
    pub fn to_rgb_image(&self) -> ::image::RgbImage {
        ::image::RgbImage::from_raw(
            self.width() as u32,
            self.height() as u32,
            self.as_slice().to_vec(),
        )
        .expect("an Image buffer always holds width*height*3 bytes")
    }

    /// Reads a PNG, JPEG or TIFF file (format from the content, not the extension).
    pub fn open(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let read = || -> std::result::Result<::image::DynamicImage, ::image::ImageError> {
            ::image::ImageReader::open(path)?
                .with_guessed_format()?
                .decode()
        };
        read().map(Self::from_dynamic).map_err(|cause| Error::Read {
            path: path.to_path_buf(),
            cause,
        })
    }

    /// Decodes a PNG, JPEG or TIFF image held in memory.
    pub fn decode(bytes: &[u8]) -> Result<Self> {
        ::image::load_from_memory(bytes)
            .map(Self::from_dynamic)
            .map_err(Error::Decode)
    }

    /// Writes the image; the format follows the extension (`.png`, `.jpg`/`.jpeg`, `.tif`/`.tiff`).
    pub fn save(&self, path: impl AsRef<Path>) -> Result<()> {
        let path = path.as_ref();
        self.to_rgb_image()
            .save(path)
            .map_err(|cause| Error::Write {
                path: path.to_path_buf(),
                cause,
            })
    }

    /// Width in pixels.
    pub fn width(&self) -> usize {
        self.data.dim().1
    }

    /// Height in pixels.
    pub fn height(&self) -> usize {
        self.data.dim().0
    }

    /// `true` when the image has no pixels.
    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    /// The pixel at column `x`, row `y`. Panics when out of bounds, like slice indexing.
    pub fn pixel(&self, x: usize, y: usize) -> [u8; 3] {
        let i = (y * self.width() + x) * 3;
        let s = &self.as_slice()[i..i + 3];
        [s[0], s[1], s[2]]
    }

    /// Sets the pixel at column `x`, row `y`. Panics when out of bounds, like slice indexing.
    pub fn put_pixel(&mut self, x: usize, y: usize, rgb: [u8; 3]) {
        let i = (y * self.width() + x) * 3;
        self.as_mut_slice()[i..i + 3].copy_from_slice(&rgb);
    }

    /// The `[H, W, 3]` array.
    pub fn array(&self) -> &Array3<u8> {
        &self.data
    }

    /// A view of the `[H, W, 3]` array.
    pub fn view(&self) -> ArrayView3<'_, u8> {
        self.data.view()
    }

    /// A mutable view of the `[H, W, 3]` array.
    pub fn view_mut(&mut self) -> ArrayViewMut3<'_, u8> {
        self.data.view_mut()
    }

    /// The interleaved `RGBRGB…` bytes, row by row.
    pub fn as_slice(&self) -> &[u8] {
        self.data
            .as_slice()
            .expect("Image keeps its array in standard layout")
    }

    /// The interleaved bytes, mutable.
    pub fn as_mut_slice(&mut self) -> &mut [u8] {
        self.data
            .as_slice_mut()
            .expect("Image keeps its array in standard layout")
    }

    /// Unwraps the `[H, W, 3]` array.
    pub fn into_array(self) -> Array3<u8> {
        self.data
    }

    /// Unwraps the interleaved buffer.
    pub fn into_raw(self) -> Vec<u8> {
        let (v, offset) = self.data.into_raw_vec_and_offset();
        debug_assert!(offset.unwrap_or(0) == 0);
        v
    }
}

impl From<::image::RgbImage> for Image {
    fn from(img: ::image::RgbImage) -> Self {
        Self::from_rgb_image(img)
    }
}

impl From<&Image> for ::image::RgbImage {
    fn from(img: &Image) -> Self {
        img.to_rgb_image()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gradient(w: usize, h: usize) -> Image {
        let mut img = Image::new(w, h);
        for y in 0..h {
            for x in 0..w {
                img.put_pixel(x, y, [x as u8, y as u8, (x * y) as u8]);
            }
        }
        img
    }

    #[test]
    fn raw_layout_is_hwc() {
        let img = Image::from_raw(2, 1, vec![1, 2, 3, 4, 5, 6]).unwrap();
        assert_eq!(img.width(), 2);
        assert_eq!(img.height(), 1);
        assert_eq!(img.pixel(1, 0), [4, 5, 6]);
        assert_eq!(img.array()[[0, 1, 2]], 6);
    }

    #[test]
    fn wrong_buffer_size_is_an_error() {
        let e = Image::from_raw(2, 2, vec![0; 11]).unwrap_err();
        assert!(e.to_string().contains("12 bytes"), "{e}");
        let e = Image::from_array(Array3::zeros((2, 2, 4))).unwrap_err();
        assert!(e.to_string().contains("[H, W, 3]"), "{e}");
    }

    #[test]
    fn non_standard_layout_is_made_contiguous() {
        let a = Array3::from_shape_fn((3, 2, 3), |(y, x, c)| (y * 10 + x * 3 + c) as u8);
        let t = a.clone().permuted_axes([1, 0, 2]); // [2, 3, 3], not contiguous
        let img = Image::from_array(t).unwrap();
        assert_eq!((img.width(), img.height()), (3, 2));
        assert_eq!(img.pixel(2, 1), [a[[2, 1, 0]], a[[2, 1, 1]], a[[2, 1, 2]]]);
    }

    #[test]
    fn rgb_image_round_trip() {
        let img = gradient(7, 5);
        let back = Image::from_rgb_image(img.to_rgb_image());
        assert_eq!(img, back);
    }

    #[test]
    fn png_and_tiff_files_round_trip_exactly() {
        let dir = tempfile::tempdir().unwrap();
        let img = gradient(13, 9);
        for name in ["a.png", "a.tif"] {
            let p = dir.path().join(name);
            img.save(&p).unwrap();
            assert_eq!(Image::open(&p).unwrap(), img, "{name}");
        }
        let p = dir.path().join("a.jpg");
        img.save(&p).unwrap();
        let jpg = Image::open(&p).unwrap();
        assert_eq!((jpg.width(), jpg.height()), (13, 9));
    }

    #[test]
    fn unreadable_file_names_the_path() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("broken.png");
        std::fs::write(&p, b"not an image at all").unwrap();
        let e = Image::open(&p).unwrap_err().to_string();
        assert!(e.contains("broken.png"), "{e}");
        let e = Image::open(dir.path().join("missing.png"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("missing.png"), "{e}");
    }
}
