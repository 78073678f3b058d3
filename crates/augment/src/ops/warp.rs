//! Affine warps with OpenCV's exact arithmetic: `cv2.warpAffine(..., INTER_CUBIC,
//! BORDER_REFLECT_101)` on u8, as albumentations 0.4 calls it for `Rotate` and `ShiftScaleRotate`.
//!
//! OpenCV inverts the matrix, maps every output pixel to source coordinates in fixed point
//! (1/1024 px, then 1/32 px), weighs the 4x4 neighbourhood with a bicubic kernel (a = -0.75)
//! tabulated for the 32x32 sub-pixel positions in 15-bit fixed point, reflects coordinates outside
//! the image (`dcb|abcd|cba`, "reflect 101") and rounds once. We reproduce each of those steps.

use std::sync::OnceLock;

use histo_tensor::Image;

use crate::Result;
use crate::error::{check_finite, check_nonempty, check_range};
use crate::ops::resize::cubic_coeffs;
use crate::transform::Size;

const INTER_BITS: u32 = 5;
const INTER_TAB_SIZE: usize = 1 << INTER_BITS;
const AB_BITS: u32 = 10;
const AB_SCALE: f64 = (1 << AB_BITS) as f64;
const REMAP_COEF_BITS: u32 = 15;
const REMAP_COEF_SCALE: i32 = 1 << REMAP_COEF_BITS;
const HALF: f32 = (1 << (REMAP_COEF_BITS - 1)) as f32;

/// A 2x3 affine matrix mapping source (x, y, 1) to destination coordinates, as OpenCV's `M`.
pub type Affine = [[f64; 3]; 2];

/// OpenCV's `getRotationMatrix2D(center, angle, scale)`: counter-clockwise `angle` degrees
/// (y axis pointing down) around `center`, scaled by `scale`.
pub fn rotation_matrix(center: (f64, f64), angle: f64, scale: f64) -> Affine {
    let a = angle * std::f64::consts::PI / 180.0;
    let alpha = a.cos() * scale;
    let beta = a.sin() * scale;
    [
        [alpha, beta, (1.0 - alpha) * center.0 - beta * center.1],
        [-beta, alpha, beta * center.0 + (1.0 - alpha) * center.1],
    ]
}

/// The 32x32 tables of 4x4 bicubic weights (OpenCV's `initInterTab2D(INTER_CUBIC, fixpt)`).
fn weight_table() -> &'static [[f32; 16]] {
    static TAB: OnceLock<Vec<[f32; 16]>> = OnceLock::new();
    TAB.get_or_init(|| {
        let scale = 1.0f32 / INTER_TAB_SIZE as f32;
        let t1: Vec<[f32; 4]> = (0..INTER_TAB_SIZE)
            .map(|i| cubic_coeffs(i as f32 * scale))
            .collect();
        let mut out = Vec::with_capacity(INTER_TAB_SIZE * INTER_TAB_SIZE);
        for ty in &t1 {
            for tx in &t1 {
                let mut w = [0i16; 16];
                let mut sum = 0i32;
                for k1 in 0..4 {
                    for k2 in 0..4 {
                        let v = ty[k1] * tx[k2];
                        // saturate_cast<short>: 1.0 becomes 32767, not 32768.
                        let iv = (v * REMAP_COEF_SCALE as f32)
                            .round_ties_even()
                            .clamp(i16::MIN as f32, i16::MAX as f32)
                            as i32;
                        w[k1 * 4 + k2] = iv as i16;
                        sum += iv;
                    }
                }
                // OpenCV moves the rounding error onto one of the four central weights.
                if sum != REMAP_COEF_SCALE {
                    let diff = sum - REMAP_COEF_SCALE;
                    let (mut mk, mut big) = ((2, 2), (2, 2));
                    for k1 in 2..4 {
                        for k2 in 2..4 {
                            let v = w[k1 * 4 + k2];
                            if v < w[mk.0 * 4 + mk.1] {
                                mk = (k1, k2);
                            } else if v > w[big.0 * 4 + big.1] {
                                big = (k1, k2);
                            }
                        }
                    }
                    if diff < 0 {
                        let i = big.0 * 4 + big.1;
                        w[i] = (w[i] as i32 - diff) as i16;
                    } else {
                        let i = mk.0 * 4 + mk.1;
                        w[i] = (w[i] as i32 - diff) as i16;
                    }
                }
                out.push(w.map(|v| v as f32));
            }
        }
        out
    })
}

/// OpenCV's `borderInterpolate(p, len, BORDER_REFLECT_101)` (in O(1): the reflection is
/// periodic with period 2 (len - 1)).
pub(crate) fn reflect101(p: i64, len: i64) -> usize {
    if (0..len).contains(&p) {
        return p as usize;
    }
    if len <= 1 {
        return 0;
    }
    // One reflection covers every coordinate of an ordinary warp; larger ones wrap around.
    if p < 0 && p > -len {
        return (-p) as usize;
    }
    if p >= len && p < 2 * len - 1 {
        return (2 * len - 2 - p) as usize;
    }
    let period = 2 * (len - 1);
    let p = p.rem_euclid(period);
    (if p >= len { period - p } else { p }) as usize
}

/// `saturate_cast<int>(double)`: round half to even, saturating.
fn round_i32(v: f64) -> i32 {
    v.round_ties_even().clamp(i32::MIN as f64, i32::MAX as f64) as i32
}

/// `cv2.warpAffine(img, m, (width, height), flags=INTER_CUBIC, borderMode=BORDER_REFLECT_101)`.
/// `m` maps source to destination coordinates (it is inverted here, as OpenCV does).
pub fn warp_affine(img: &Image, m: &Affine, width: usize, height: usize) -> Result<Image> {
    check_nonempty("warp_affine", img)?;
    for v in m.iter().flatten() {
        check_finite("warp_affine", "matrix entry", *v)?;
    }
    Size::new(width, height).check("warp_affine")?;
    // Invert (OpenCV's code, in this order, in double precision).
    let [[m0, m1, m2], [m3, m4, m5]] = *m;
    let d = m0 * m4 - m1 * m3;
    let d = if d != 0.0 { 1.0 / d } else { 0.0 };
    let (a11, a22) = (m4 * d, m0 * d);
    let (i0, i1, i3, i4) = (a11, m1 * -d, m3 * -d, a22);
    let i2 = -i0 * m2 - i1 * m5;
    let i5 = -i3 * m2 - i4 * m5;

    let (sw, sh) = (img.width(), img.height());
    // The source as f32 RGBX: with |weights| summing to at most 1.9 · 2^15, every product and
    // partial sum below is an integer under 2^24, so float arithmetic is exact (and vectorises).
    let src: Vec<[f32; 4]> = img
        .as_slice()
        .as_chunks::<3>()
        .0
        .iter()
        .map(|p| [p[0] as f32, p[1] as f32, p[2] as f32, 0.0])
        .collect();
    let tab = weight_table();
    let round_delta = (AB_SCALE as i32) / INTER_TAB_SIZE as i32 / 2;
    let adelta: Vec<i32> = (0..width)
        .map(|x| round_i32(i0 * x as f64 * AB_SCALE))
        .collect();
    let bdelta: Vec<i32> = (0..width)
        .map(|x| round_i32(i3 * x as f64 * AB_SCALE))
        .collect();
    let (w1, h1) = (sw.saturating_sub(3), sh.saturating_sub(3));

    let mut out = vec![0u8; width * height * 3];
    for (y, orow) in out.chunks_exact_mut(width * 3).enumerate() {
        let x0 = round_i32((i1 * y as f64 + i2) * AB_SCALE).wrapping_add(round_delta);
        let y0 = round_i32((i4 * y as f64 + i5) * AB_SCALE).wrapping_add(round_delta);
        for (x, px) in orow.as_chunks_mut::<3>().0.iter_mut().enumerate() {
            let xx = x0.wrapping_add(adelta[x]) >> (AB_BITS - INTER_BITS);
            let yy = y0.wrapping_add(bdelta[x]) >> (AB_BITS - INTER_BITS);
            let sx = (xx >> INTER_BITS).clamp(i16::MIN as i32, i16::MAX as i32) as i64 - 1;
            let sy = (yy >> INTER_BITS).clamp(i16::MIN as i32, i16::MAX as i32) as i64 - 1;
            let w = &tab[((yy as usize & (INTER_TAB_SIZE - 1)) * INTER_TAB_SIZE)
                + (xx as usize & (INTER_TAB_SIZE - 1))];
            // One accumulator per kernel row: four independent dependency chains.
            let mut rows = [[0f32; 4]; 4];
            if sx >= 0 && sy >= 0 && (sx as usize) < w1 && (sy as usize) < h1 {
                let base = sy as usize * sw + sx as usize;
                for (r, acc) in rows.iter_mut().enumerate() {
                    let row = &src[base + r * sw..base + r * sw + 4];
                    for (k, p) in row.iter().enumerate() {
                        let wk = w[r * 4 + k];
                        for c in 0..4 {
                            acc[c] += p[c] * wk;
                        }
                    }
                }
            } else {
                let xs: [usize; 4] = std::array::from_fn(|i| reflect101(sx + i as i64, sw as i64));
                let ys: [usize; 4] = std::array::from_fn(|i| reflect101(sy + i as i64, sh as i64));
                for (r, acc) in rows.iter_mut().enumerate() {
                    for k in 0..4 {
                        let wk = w[r * 4 + k];
                        let p = &src[ys[r] * sw + xs[k]];
                        for c in 0..4 {
                            acc[c] += p[c] * wk;
                        }
                    }
                }
            }
            // (sum + 2^14) >> 15, saturated: exact in float (integers < 2^24, power-of-two
            // scale); truncation equals the floor once negatives are clamped to 0.
            for c in 0..3 {
                let sum = (rows[0][c] + rows[1][c]) + (rows[2][c] + rows[3][c]);
                let v = (sum + HALF) * (1.0 / REMAP_COEF_SCALE as f32);
                px[c] = v.clamp(0.0, 255.0) as u8;
            }
        }
    }
    Ok(Image::from_raw(width, height, out)?)
}

/// albumentations' `rotate`: `angle` degrees counter-clockwise about `(W/2, H/2)`, same size,
/// bicubic, reflect-101 borders. `angle` must be finite (any value; ±90 in the original).
pub fn rotate(img: &Image, angle: f64) -> Result<Image> {
    check_finite("rotate", "angle", angle)?;
    check_nonempty("rotate", img)?;
    let (w, h) = (img.width(), img.height());
    let m = rotation_matrix((w as f64 / 2.0, h as f64 / 2.0), angle, 1.0);
    warp_affine(img, &m, w, h)
}

/// albumentations' `shift_scale_rotate`: rotate by `angle` degrees and scale by `scale` about the
/// centre, then shift by (`dx` * W, `dy` * H); same size, bicubic, reflect-101 borders.
/// `scale` must be in (0, 100], `dx`/`dy` in [-10, 10].
pub fn shift_scale_rotate(img: &Image, angle: f64, scale: f64, dx: f64, dy: f64) -> Result<Image> {
    let op = "shift_scale_rotate";
    check_finite(op, "angle", angle)?;
    check_range(op, "scale", scale, 1e-6, 100.0, "a factor in (0, 100]")?;
    check_range(
        op,
        "dx",
        dx,
        -10.0,
        10.0,
        "a fraction of the width in [-10, 10]",
    )?;
    check_range(
        op,
        "dy",
        dy,
        -10.0,
        10.0,
        "a fraction of the height in [-10, 10]",
    )?;
    check_nonempty(op, img)?;
    let (w, h) = (img.width(), img.height());
    let mut m = rotation_matrix((w as f64 / 2.0, h as f64 / 2.0), angle, scale);
    m[0][2] += dx * w as f64;
    m[1][2] += dy * h as f64;
    warp_affine(img, &m, w, h)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weights_sum_to_one_in_fixed_point() {
        for w in weight_table() {
            assert_eq!(w.iter().map(|&v| v as i32).sum::<i32>(), REMAP_COEF_SCALE);
            // Exactness of the float accumulation: 255 · Σ|w| < 2^24.
            assert!(255.0 * w.iter().map(|v| v.abs()).sum::<f32>() < 16_777_216.0);
        }
        // Integer positions: OpenCV saturates 1.0 to 32767 and puts the missing 1 on [2][2].
        assert_eq!(weight_table()[0][5], i16::MAX as f32);
        assert_eq!(weight_table()[0][10], 1.0);
    }

    #[test]
    fn reflect_101_mirrors_without_repeating_the_edge() {
        let r: Vec<usize> = (-3..8).map(|p| reflect101(p, 5)).collect();
        assert_eq!(r, vec![3, 2, 1, 0, 1, 2, 3, 4, 3, 2, 1]);
        assert_eq!(reflect101(-7, 1), 0);
    }

    #[test]
    fn rotations_by_zero_and_360_are_identities() {
        let mut img = Image::new(6, 5);
        for (i, v) in img.as_mut_slice().iter_mut().enumerate() {
            *v = (i * 37 % 251) as u8;
        }
        assert_eq!(rotate(&img, 0.0).unwrap(), img);
        assert_eq!(shift_scale_rotate(&img, 0.0, 1.0, 0.0, 0.0).unwrap(), img);
    }

    #[test]
    fn bad_parameters_are_errors() {
        let img = Image::new(4, 4);
        assert!(rotate(&img, f64::NAN).is_err());
        assert!(shift_scale_rotate(&img, 0.0, 0.0, 0.0, 0.0).is_err());
        assert!(shift_scale_rotate(&img, 0.0, 1.0, f64::INFINITY, 0.0).is_err());
        assert!(rotate(&Image::new(0, 3), 1.0).is_err());
    }
}
