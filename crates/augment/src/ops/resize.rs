//! Bicubic resizing as `cv2.resize(..., INTER_CUBIC)` computes it on u8 images (OpenCV 4.5).
//!
//! OpenCV samples at pixel centres (`sx = (dx + 0.5) * W/w - 0.5`, in float), uses the cubic
//! kernel with a = -0.75 (float weights), clamps source indices at the borders (replicate),
//! filters rows then columns in float32 and rounds once (half to even). We do the same; the
//! output matches `cv2.resize` except for about 1 value in 50 000, off by one grey level, where
//! OpenCV's vectorised summation order rounds the other way.

use histo_tensor::Image;

use crate::error::check_nonempty;
use crate::transform::Size;
use crate::{Error, Result};

/// OpenCV's `interpolateCubic` (float arithmetic, a = -0.75).
pub(crate) fn cubic_coeffs(x: f32) -> [f32; 4] {
    const A: f32 = -0.75;
    let c0 = ((A * (x + 1.0) - 5.0 * A) * (x + 1.0) + 8.0 * A) * (x + 1.0) - 4.0 * A;
    let c1 = ((A + 2.0) * x - (A + 3.0)) * x * x + 1.0;
    let c2 = ((A + 2.0) * (1.0 - x) - (A + 3.0)) * (1.0 - x) * (1.0 - x) + 1.0;
    let c3 = 1.0 - c0 - c1 - c2;
    [c0, c1, c2, c3]
}

/// Per output index along one axis: the 4 source indices (clamped) and their weights.
fn axis_taps(src_len: usize, dst_len: usize) -> Vec<([usize; 4], [f32; 4])> {
    let inv_scale = dst_len as f64 / src_len as f64;
    let scale = 1.0 / inv_scale;
    (0..dst_len)
        .map(|d| {
            let f = ((d as f64 + 0.5) * scale - 0.5) as f32;
            let s = f.floor();
            let w = cubic_coeffs(f - s);
            let s = s as i64;
            let idx =
                std::array::from_fn(|k| (s - 1 + k as i64).clamp(0, src_len as i64 - 1) as usize);
            (idx, w)
        })
        .collect()
}

/// Rounds half to even and saturates to u8. (`f32::round_ties_even` is a libm call on baseline
/// x86-64; adding and subtracting 2^23 rounds in the FPU's default mode, half to even.)
#[inline]
fn round_u8(v: f32) -> u8 {
    let v = v.clamp(-1.0, 256.0);
    ((v + 8_388_608.0) - 8_388_608.0) as u8
}

/// Resizes to `size` with OpenCV's bicubic interpolation. The same size returns a copy.
pub fn resize(img: &Image, size: Size) -> Result<Image> {
    check_nonempty("resize", img)?;
    let size = size.check("resize")?;
    if size == Size::of(img) {
        return Ok(img.clone());
    }
    let (sw, sh) = (img.width(), img.height());
    let xt = axis_taps(sw, size.width);
    let yt = axis_taps(sh, size.height);
    let src = img.as_slice();
    let row_out = size.width * 3;

    // Horizontal pass on every source row that is needed (source row converted to f32 once).
    let mut needed = vec![false; sh];
    for (idx, _) in &yt {
        for &r in idx {
            needed[r] = true;
        }
    }
    let mut rows = vec![0f32; sh * row_out];
    let xoff: Vec<([usize; 4], [f32; 4])> =
        xt.iter().map(|(i, w)| (i.map(|i| i * 3), *w)).collect();
    let mut srow = vec![0f32; sw * 3 + 3];
    for r in (0..sh).filter(|&r| needed[r]) {
        for (d, &v) in srow.iter_mut().zip(&src[r * sw * 3..(r + 1) * sw * 3]) {
            *d = v as f32;
        }
        let out = &mut rows[r * row_out..(r + 1) * row_out];
        for (o, (i, w)) in out.as_chunks_mut::<3>().0.iter_mut().zip(&xoff) {
            let p = |k: usize| -> [f32; 3] {
                let s = &srow[i[k]..i[k] + 3];
                [s[0], s[1], s[2]]
            };
            let (a, b, c, d) = (p(0), p(1), p(2), p(3));
            for ch in 0..3 {
                o[ch] = a[ch] * w[0] + b[ch] * w[1] + c[ch] * w[2] + d[ch] * w[3];
            }
        }
    }

    // Vertical pass, rounded half to even and saturated.
    let mut out = vec![0u8; row_out * size.height];
    for ((idx, w), orow) in yt.iter().zip(out.chunks_exact_mut(row_out)) {
        let r: [&[f32]; 4] =
            std::array::from_fn(|k| &rows[idx[k] * row_out..(idx[k] + 1) * row_out]);
        for ((((o, a), b), c), d) in orow.iter_mut().zip(r[0]).zip(r[1]).zip(r[2]).zip(r[3]) {
            *o = round_u8(a * w[0] + b * w[1] + c * w[2] + d * w[3]);
        }
    }
    Ok(Image::from_raw(size.width, size.height, out)?)
}

/// albumentations' `scale`: resizes to `(int(H * s), int(W * s))` (truncated), bicubic.
/// A factor that makes a side 0 pixels is an error.
pub fn scale(img: &Image, factor: f64) -> Result<Image> {
    crate::error::check_range(
        "scale",
        "factor",
        factor,
        f64::MIN_POSITIVE,
        1e4,
        "a positive, finite factor",
    )?;
    check_nonempty("scale", img)?;
    let w = (img.width() as f64 * factor) as usize;
    let h = (img.height() as f64 * factor) as usize;
    if w == 0 || h == 0 || w > Size::MAX_SIDE || h > Size::MAX_SIDE {
        return Err(Error::Param {
            op: "scale",
            name: "factor",
            value: factor.to_string(),
            expected: "a factor that gives 1 to 65536 pixels per side",
        });
    }
    resize(img, Size::new(w, h))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cubic_weights_sum_to_one_and_interpolate() {
        for i in 0..=32 {
            let c = cubic_coeffs(i as f32 / 32.0);
            assert!((c.iter().sum::<f32>() - 1.0).abs() < 1e-6);
        }
        assert_eq!(cubic_coeffs(0.0), [0.0, 1.0, 0.0, 0.0]);
    }

    #[test]
    fn constant_images_stay_constant() {
        let img = Image::filled(9, 7, [10, 200, 255]);
        for s in [Size::new(20, 3), Size::new(4, 13), Size::square(1)] {
            let r = resize(&img, s).unwrap();
            assert_eq!(r, Image::filled(s.width, s.height, [10, 200, 255]));
        }
    }

    #[test]
    fn scale_truncates_like_albumentations() {
        let img = Image::new(10, 7);
        let s = scale(&img, 1.9).unwrap();
        assert_eq!((s.width(), s.height()), (19, 13));
        assert!(scale(&img, 0.01).is_err());
        assert!(scale(&img, f64::NAN).is_err());
        assert!(scale(&img, -1.0).is_err());
    }
}
