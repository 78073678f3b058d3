//! PIL's colour ops with Pillow's exact arithmetic: `ImageEnhance` (contrast, brightness,
//! sharpness, colour), `ImageOps.autocontrast`, `equalize`, `posterize` and `solarize`
//! (the v2 RandAugment pool of the original; golden-tested against Pillow 9.5).

use histo_tensor::Image;
use serde::{Deserialize, Serialize};

use crate::Result;
use crate::error::check_range;
use crate::ops::color::apply_luts;

/// Pillow's RGB → L conversion (ITU-R 601-2 luma, 16-bit fixed point, rounded).
pub fn luma(px: &[u8]) -> u8 {
    ((px[0] as u32 * 19595 + px[1] as u32 * 38470 + px[2] as u32 * 7471 + 0x8000) >> 16) as u8
}

/// `Image.blend(degenerate, img, factor)`: `deg + factor * (img - deg)` in float32, truncated
/// (clipped to [0, 255] when extrapolating, i.e. factor outside [0, 1]).
fn blend(deg: &[u8], img: &Image, factor: f32) -> Image {
    let mut out = img.clone();
    let interpolate = (0.0..=1.0).contains(&factor);
    for (o, &d) in out.as_mut_slice().iter_mut().zip(deg) {
        let t = d as i32 as f32 + factor * ((*o as i32 - d as i32) as f32);
        *o = if interpolate {
            t as u8
        } else if t <= 0.0 {
            0
        } else if t >= 255.0 {
            255
        } else {
            t as u8
        };
    }
    out
}

/// Which `ImageEnhance` class.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Enhance {
    /// Blend with the mean grey (of the luma, rounded).
    Contrast,
    /// Blend with black.
    Brightness,
    /// Blend with the image smoothed by PIL's SMOOTH 3x3 kernel (borders untouched).
    Sharpness,
    /// Blend with the greyscale (luma) image.
    Color,
}

/// PIL's SMOOTH filter: 3x3 kernel [1 1 1; 1 5 1; 1 1 1] / 13 in float32 plus 0.5, truncated;
/// the outermost rows and columns are copied unchanged.
fn smooth(img: &Image) -> Vec<u8> {
    let (w, h) = (img.width(), img.height());
    let src = img.as_slice();
    let mut out = src.to_vec();
    if w < 3 || h < 3 {
        return out;
    }
    let k1 = 1.0f32 / 13.0;
    let k5 = 5.0f32 / 13.0;
    let row = w * 3;
    let p = |y: usize, x: usize, c: usize| src[y * row + x * 3 + c] as f32;
    for y in 1..h - 1 {
        for x in 1..w - 1 {
            for c in 0..3 {
                let mut ss = 0.5f32;
                // Pillow sums the row below, then the row itself, then the row above.
                ss += p(y + 1, x - 1, c) * k1 + p(y + 1, x, c) * k1 + p(y + 1, x + 1, c) * k1;
                ss += p(y, x - 1, c) * k1 + p(y, x, c) * k5 + p(y, x + 1, c) * k1;
                ss += p(y - 1, x - 1, c) * k1 + p(y - 1, x, c) * k1 + p(y - 1, x + 1, c) * k1;
                out[y * row + x * 3 + c] = if ss <= 0.0 {
                    0
                } else if ss >= 255.0 {
                    255
                } else {
                    ss as u8
                };
            }
        }
    }
    out
}

/// `ImageEnhance.<kind>(img).enhance(factor)`. 1 returns the input; 0 gives the degenerate
/// image (grey, black, smoothed, greyscale); factors above 1 extrapolate. `factor` in [0, 10].
pub fn enhance(img: &Image, kind: Enhance, factor: f64) -> Result<Image> {
    check_range(
        "enhance",
        "factor",
        factor,
        0.0,
        10.0,
        "a factor in [0, 10]",
    )?;
    let src = img.as_slice();
    let deg: Vec<u8> = match kind {
        Enhance::Brightness => vec![0; src.len()],
        Enhance::Contrast => {
            let n = (img.width() * img.height()) as f64;
            let sum: u64 = src.chunks_exact(3).map(|p| luma(p) as u64).sum();
            let mean = if n > 0.0 {
                (sum as f64 / n + 0.5) as u8
            } else {
                0
            };
            vec![mean; src.len()]
        }
        Enhance::Sharpness => smooth(img),
        Enhance::Color => src
            .chunks_exact(3)
            .flat_map(|p| {
                let l = luma(p);
                [l, l, l]
            })
            .collect(),
    };
    Ok(blend(&deg, img, factor as f32))
}

/// Per-channel histograms.
fn histograms(img: &Image) -> [[u64; 256]; 3] {
    let mut h = [[0u64; 256]; 3];
    for p in img.as_slice().chunks_exact(3) {
        for c in 0..3 {
            h[c][p[c] as usize] += 1;
        }
    }
    h
}

/// `ImageOps.autocontrast(img)` (cutoff 0): per channel, stretch [min, max] to [0, 255].
pub fn autocontrast(img: &Image) -> Image {
    let hist = histograms(img);
    let luts = hist.map(|h| {
        let lo = h.iter().position(|&v| v > 0);
        let hi = h.iter().rposition(|&v| v > 0);
        match (lo, hi) {
            (Some(lo), Some(hi)) if hi > lo => {
                let scale = 255.0 / (hi - lo) as f64;
                let offset = -(lo as f64) * scale;
                std::array::from_fn(|i| (i as f64 * scale + offset).clamp(0.0, 255.0) as u8)
            }
            _ => std::array::from_fn(|i| i as u8),
        }
    });
    apply_luts(img, &luts)
}

/// `ImageOps.equalize(img)`: per-channel histogram equalisation with Pillow's integer steps.
pub fn equalize(img: &Image) -> Image {
    let hist = histograms(img);
    let luts = hist.map(|h| {
        let used: Vec<u64> = h.iter().copied().filter(|&v| v > 0).collect();
        let identity = std::array::from_fn(|i| i as u8);
        if used.len() <= 1 {
            return identity;
        }
        let step = (used.iter().sum::<u64>() - used[used.len() - 1]) / 255;
        if step == 0 {
            return identity;
        }
        let mut n = step / 2;
        std::array::from_fn(|i| {
            let v = (n / step).min(255) as u8;
            n += h[i];
            v
        })
    });
    apply_luts(img, &luts)
}

/// `ImageOps.posterize(img, bits)`: keep the `bits` (1..=8) most significant bits.
pub fn posterize(img: &Image, bits: u8) -> Result<Image> {
    check_range(
        "posterize",
        "bits",
        bits as f64,
        1.0,
        8.0,
        "a number of bits in 1..=8",
    )?;
    let mask = !((1u16 << (8 - bits)) - 1) as u8;
    let lut = std::array::from_fn(|i| i as u8 & mask);
    Ok(apply_luts(img, &[lut, lut, lut]))
}

/// `ImageOps.solarize(img, threshold)`: invert every value at or above `threshold`.
pub fn solarize(img: &Image, threshold: u8) -> Image {
    let lut = std::array::from_fn(|i| {
        if i < threshold as usize {
            i as u8
        } else {
            255 - i as u8
        }
    });
    apply_luts(img, &[lut, lut, lut])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn factor_one_is_identity_and_zero_is_degenerate() {
        let mut img = Image::new(5, 4);
        for (i, v) in img.as_mut_slice().iter_mut().enumerate() {
            *v = (i * 53 % 256) as u8;
        }
        for kind in [
            Enhance::Contrast,
            Enhance::Brightness,
            Enhance::Sharpness,
            Enhance::Color,
        ] {
            assert_eq!(enhance(&img, kind, 1.0).unwrap(), img, "{kind:?}");
        }
        assert_eq!(
            enhance(&img, Enhance::Brightness, 0.0).unwrap(),
            Image::new(5, 4)
        );
        assert!(enhance(&img, Enhance::Color, -0.1).is_err());
    }

    #[test]
    fn lut_ops_follow_their_definitions() {
        let img = Image::from_raw(2, 1, vec![0, 127, 128, 200, 255, 3]).unwrap();
        assert_eq!(solarize(&img, 128).as_slice(), &[0, 127, 127, 55, 0, 3]);
        assert_eq!(
            posterize(&img, 3).unwrap().as_slice(),
            &[0, 96, 128, 192, 224, 0]
        );
        assert!(posterize(&img, 0).is_err());
        let flat = Image::filled(3, 3, [9, 9, 9]);
        assert_eq!(autocontrast(&flat), flat);
        assert_eq!(equalize(&flat), flat);
        assert_eq!(luma(&[255, 255, 255]), 255);
    }
}
