//! Flips (exact; no parameters).

use histo_tensor::Image;
use serde::{Deserialize, Serialize};

/// Which way to flip, with OpenCV's / albumentations' codes (`cv2.flip(img, code)`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Flip {
    /// Mirror left-right (code 1).
    Horizontal,
    /// Mirror top-bottom (code 0).
    Vertical,
    /// Both, i.e. a rotation by 180° (code -1).
    Both,
}

impl Flip {
    /// The flip for an OpenCV code: `0` vertical, positive horizontal, negative both.
    pub fn from_code(code: i32) -> Self {
        match code {
            0 => Flip::Vertical,
            c if c > 0 => Flip::Horizontal,
            _ => Flip::Both,
        }
    }
}

/// Flips an image. Each flip is an involution: flipping twice gives the input back.
pub fn flip(img: &Image, how: Flip) -> Image {
    let (w, h) = (img.width(), img.height());
    let src = img.as_slice();
    let mut out = vec![0u8; src.len()];
    let row = w * 3;
    for y in 0..h {
        let sy = if how == Flip::Horizontal {
            y
        } else {
            h - 1 - y
        };
        let s = &src[sy * row..(sy + 1) * row];
        let d = &mut out[y * row..(y + 1) * row];
        if how == Flip::Vertical {
            d.copy_from_slice(s);
        } else {
            for (dp, sp) in d.chunks_exact_mut(3).zip(s.chunks_exact(3).rev()) {
                dp.copy_from_slice(sp);
            }
        }
    }
    Image::from_raw(w, h, out).expect("same size as the input")
}

/// Mirror left-right.
pub fn hflip(img: &Image) -> Image {
    flip(img, Flip::Horizontal)
}

/// Mirror top-bottom.
pub fn vflip(img: &Image) -> Image {
    flip(img, Flip::Vertical)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flips_move_pixels_where_expected() {
        let mut img = Image::new(3, 2);
        img.put_pixel(0, 0, [1, 2, 3]);
        assert_eq!(hflip(&img).pixel(2, 0), [1, 2, 3]);
        assert_eq!(vflip(&img).pixel(0, 1), [1, 2, 3]);
        assert_eq!(flip(&img, Flip::Both).pixel(2, 1), [1, 2, 3]);
        assert_eq!(Flip::from_code(0), Flip::Vertical);
        assert_eq!(Flip::from_code(1), Flip::Horizontal);
        assert_eq!(Flip::from_code(-1), Flip::Both);
    }
}
