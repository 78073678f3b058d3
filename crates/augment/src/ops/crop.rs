//! Crops: fixed, centre (albumentations `CenterCrop`) and random (`RandomCrop`).

use histo_tensor::Image;
use rand::RngCore;

use crate::error::check_nonempty;
use crate::transform::{Size, int_inclusive};
use crate::{Error, Result};

/// The `size` window whose top-left corner is at (`x`, `y`).
pub fn crop(img: &Image, x: usize, y: usize, size: Size) -> Result<Image> {
    let size = size.check("crop")?;
    if x + size.width > img.width() || y + size.height > img.height() {
        return Err(Error::Shape {
            op: "crop",
            what: format!(
                "the {size} window at ({x}, {y}) does not fit in the {}x{} image",
                img.width(),
                img.height()
            ),
        });
    }
    let (row_in, row_out) = (img.width() * 3, size.width * 3);
    let src = img.as_slice();
    let mut out = Vec::with_capacity(row_out * size.height);
    for r in y..y + size.height {
        let start = r * row_in + x * 3;
        out.extend_from_slice(&src[start..start + row_out]);
    }
    Ok(Image::from_raw(size.width, size.height, out)?)
}

fn fits(op: &'static str, img: &Image, size: Size) -> Result<()> {
    check_nonempty(op, img)?;
    size.check(op)?;
    if img.width() < size.width || img.height() < size.height {
        return Err(Error::TooSmall {
            op,
            width: img.width(),
            height: img.height(),
            need_w: size.width,
            need_h: size.height,
        });
    }
    Ok(())
}

/// The centred `size` window; the corner is `((W - w) / 2, (H - h) / 2)` rounded down, like
/// albumentations' `CenterCrop`. A crop of the image's own size returns a copy.
pub fn center_crop(img: &Image, size: Size) -> Result<Image> {
    fits("center_crop", img, size)?;
    crop(
        img,
        (img.width() - size.width) / 2,
        (img.height() - size.height) / 2,
        size,
    )
}

/// A `size` window at a uniformly random position (every position equally likely, like
/// torchvision's `RandomCrop`; albumentations' differs only in how the corner is rounded).
/// Draws two integers, even when the window is the whole image.
pub fn random_crop(img: &Image, size: Size, rng: &mut dyn RngCore) -> Result<Image> {
    fits("random_crop", img, size)?;
    let y = int_inclusive(rng, 0, img.height() - size.height);
    let x = int_inclusive(rng, 0, img.width() - size.width);
    crop(img, x, y, size)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sample_rng;

    fn numbered(w: usize, h: usize) -> Image {
        let mut img = Image::new(w, h);
        for y in 0..h {
            for x in 0..w {
                img.put_pixel(x, y, [x as u8, y as u8, 0]);
            }
        }
        img
    }

    #[test]
    fn center_crop_rounds_the_corner_down() {
        let img = numbered(7, 6);
        let c = center_crop(&img, Size::new(4, 3)).unwrap();
        assert_eq!((c.width(), c.height()), (4, 3));
        assert_eq!(c.pixel(0, 0), [1, 1, 0]);
    }

    #[test]
    fn random_crop_stays_inside_and_covers_all_positions() {
        let img = numbered(5, 4);
        let mut rng = sample_rng(3, 0, 0);
        let mut seen = std::collections::HashSet::new();
        for _ in 0..500 {
            let c = random_crop(&img, Size::new(3, 3), &mut rng).unwrap();
            let [x, y, _] = c.pixel(0, 0);
            assert!(x <= 2 && y <= 1);
            seen.insert((x, y));
        }
        assert_eq!(seen.len(), 6);
    }

    #[test]
    fn too_small_and_empty_images_are_errors() {
        let img = numbered(5, 4);
        let mut rng = sample_rng(3, 0, 0);
        let e = random_crop(&img, Size::square(8), &mut rng).unwrap_err();
        assert!(
            e.to_string().contains("5x4, smaller than the 8x8 crop"),
            "{e}"
        );
        let e = center_crop(&Image::new(0, 0), Size::square(1)).unwrap_err();
        assert!(e.to_string().contains("empty"), "{e}");
        let e = crop(&img, 3, 0, Size::new(3, 1)).unwrap_err();
        assert!(e.to_string().contains("does not fit"), "{e}");
        let e = center_crop(&img, Size::new(0, 2)).unwrap_err();
        assert!(e.to_string().contains("at least 1x1"), "{e}");
    }
}
