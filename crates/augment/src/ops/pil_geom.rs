//! PIL's geometric ops with Pillow's exact arithmetic: `Image.rotate` (nearest, black fill, no
//! expand) and `Image.transform(AFFINE)` for translations (nearest) and shears (bicubic), as used
//! by the v2 RandAugment pool. Areas mapped from outside the image are black.

use histo_tensor::Image;

use crate::Result;
use crate::error::{check_finite, check_range};
use crate::transform::floor;

/// PIL's `AFFINE` data `(a, b, c, d, e, f)`: output pixel (x, y) samples the input at
/// `(a x + b y + c, d x + e y + f)` (pixel centres at +0.5).
pub type PilAffine = [f64; 6];

fn coord(v: f64) -> i64 {
    if v < 0.0 { -1 } else { v as i64 }
}

/// Nearest-neighbour affine transform, following Pillow's dispatch (`ImagingTransformAffine`):
/// a pure scale/translation uses the exact float path, anything else 16.16 fixed point.
fn affine_nearest(img: &Image, a: &PilAffine) -> Image {
    let (w, h) = (img.width(), img.height());
    let src = img.as_slice();
    let mut out = vec![0u8; src.len()];
    let put = |out: &mut [u8], x: usize, y: usize, xin: i64, yin: i64| {
        if xin >= 0 && xin < w as i64 && yin >= 0 && yin < h as i64 {
            let s = (yin as usize * w + xin as usize) * 3;
            let d = (y * w + x) * 3;
            out[d..d + 3].copy_from_slice(&src[s..s + 3]);
        }
    };
    if a[1] == 0.0 && a[3] == 0.0 {
        // ImagingScaleAffine
        let mut xin = Vec::with_capacity(w);
        let mut xo = a[2] + a[0] * 0.5;
        for _ in 0..w {
            xin.push(coord(xo));
            xo += a[0];
        }
        let mut yo = a[5] + a[4] * 0.5;
        for y in 0..h {
            let yi = coord(yo);
            for (x, &xi) in xin.iter().enumerate() {
                put(&mut out, x, y, xi, yi);
            }
            yo += a[4];
        }
    } else {
        let fits = |x: f64, y: f64| {
            (x * a[0] + y * a[1] + a[2]).abs() < 32768.0
                && (x * a[3] + y * a[4] + a[5]).abs() < 32768.0
        };
        let (fw, fh) = (w as f64, h as f64);
        if fits(0.0, 0.0) && fits(fw, fh) && fits(0.0, fh) && fits(fw, 0.0) {
            // affine_fixed: 16.16 fixed point
            let fix = |v: f64| (v * 65536.0 + 0.5).floor() as i64;
            let (a0, a1, a3, a4) = (fix(a[0]), fix(a[1]), fix(a[3]), fix(a[4]));
            let mut a2 = fix(a[2] + a[0] * 0.5 + a[1] * 0.5);
            let mut a5 = fix(a[5] + a[3] * 0.5 + a[4] * 0.5);
            for y in 0..h {
                let (mut xx, mut yy) = (a2, a5);
                for x in 0..w {
                    put(&mut out, x, y, xx >> 16, yy >> 16);
                    xx += a0;
                    yy += a3;
                }
                a2 += a1;
                a5 += a4;
            }
        } else {
            let mut xo = a[2] + a[1] * 0.5 + a[0] * 0.5;
            let mut yo = a[5] + a[4] * 0.5 + a[3] * 0.5;
            for y in 0..h {
                let (mut xx, mut yy) = (xo, yo);
                for x in 0..w {
                    put(&mut out, x, y, coord(xx), coord(yy));
                    xx += a[0];
                    yy += a[3];
                }
                xo += a[1];
                yo += a[4];
            }
        }
    }
    Image::from_raw(w, h, out).expect("same size as the input")
}

/// Bicubic affine transform (Pillow's `bicubic_filter32RGB`: cubic convolution with a = -1,
/// edge-clamped neighbours, truncated; samples outside the image are black).
fn affine_bicubic(img: &Image, a: &PilAffine) -> Image {
    let (w, h) = (img.width() as i64, img.height() as i64);
    let src = img.as_slice();
    let mut out = vec![0u8; src.len()];
    let xclip = |x: i64| x.clamp(0, w - 1) as usize;
    let cubic = |v1: f64, v2: f64, v3: f64, v4: f64, d: f64| {
        let p1 = v2;
        let p2 = -v1 + v3;
        let p3 = 2.0 * (v1 - v2) + v3 - v4;
        let p4 = -v1 + v2 - v3 + v4;
        p1 + d * (p2 + d * (p3 + d * p4))
    };
    for y in 0..h {
        for x in 0..w {
            let (xi, yi) = (x as f64 + 0.5, y as f64 + 0.5);
            let xin = a[0] * xi + a[1] * yi + a[2];
            let yin = a[3] * xi + a[4] * yi + a[5];
            if xin < 0.0 || xin >= w as f64 || yin < 0.0 || yin >= h as f64 {
                continue;
            }
            let (xs, ys) = (xin - 0.5, yin - 0.5);
            let (fx, fy) = (floor(xs), floor(ys));
            let (dx, dy) = (xs - fx, ys - fy);
            let (x0, y0) = (fx as i64 - 1, fy as i64 - 1);
            let xs4 = [xclip(x0), xclip(x0 + 1), xclip(x0 + 2), xclip(x0 + 3)];
            let d = ((y * w + x) * 3) as usize;
            for c in 0..3 {
                let row = |r: i64| {
                    let base = r as usize * w as usize * 3 + c;
                    let p = |i: usize| src[base + xs4[i] * 3] as f64;
                    cubic(p(0), p(1), p(2), p(3), dx)
                };
                let v1 = row(y0.clamp(0, h - 1));
                let v2 = if y0 + 1 >= 0 && y0 + 1 < h {
                    row(y0 + 1)
                } else {
                    v1
                };
                let v3 = if y0 + 2 >= 0 && y0 + 2 < h {
                    row(y0 + 2)
                } else {
                    v2
                };
                let v4 = if y0 + 3 >= 0 && y0 + 3 < h {
                    row(y0 + 3)
                } else {
                    v3
                };
                let v = cubic(v1, v2, v3, v4, dy);
                out[d + c] = if v <= 0.0 {
                    0
                } else if v >= 255.0 {
                    255
                } else {
                    v as u8
                };
            }
        }
    }
    Image::from_raw(img.width(), img.height(), out).expect("same size as the input")
}

/// Python's `round(x, 15)`.
fn round15(x: f64) -> f64 {
    format!("{x:.15}").parse().unwrap_or(x)
}

/// `Image.rotate(degrees)`: counter-clockwise about `(W/2, H/2)`, nearest neighbour, same size,
/// black corners. Multiples of 180° (and of 90° on square images) are exact transposes.
pub fn pil_rotate(img: &Image, degrees: f64) -> Result<Image> {
    check_finite("pil_rotate", "degrees", degrees)?;
    let angle = degrees.rem_euclid(360.0);
    let (w, h) = (img.width(), img.height());
    if angle == 0.0 {
        return Ok(img.clone());
    }
    if angle == 180.0 {
        return Ok(crate::ops::flip(img, crate::ops::Flip::Both));
    }
    if (angle == 90.0 || angle == 270.0) && w == h {
        let src = img.as_slice();
        let mut out = vec![0u8; src.len()];
        for y in 0..h {
            for x in 0..w {
                // 90° CCW: out(x, y) = in(w-1-y, x); 270°: out(x, y) = in(y, h-1-x).
                let (sx, sy) = if angle == 90.0 {
                    (w - 1 - y, x)
                } else {
                    (y, h - 1 - x)
                };
                let (s, d) = ((sy * w + sx) * 3, (y * w + x) * 3);
                out[d..d + 3].copy_from_slice(&src[s..s + 3]);
            }
        }
        return Ok(Image::from_raw(w, h, out)?);
    }
    let (cx, cy) = (w as f64 / 2.0, h as f64 / 2.0);
    let t = -angle.to_radians();
    let mut m = [
        round15(t.cos()),
        round15(t.sin()),
        0.0,
        round15(-t.sin()),
        round15(t.cos()),
        0.0,
    ];
    m[2] = m[0] * -cx + m[1] * -cy + m[2] + cx;
    m[5] = m[3] * -cx + m[4] * -cy + m[5] + cy;
    Ok(affine_nearest(img, &m))
}

/// `Image.transform(size, AFFINE, (1, 0, px, 0, 1, 0))`: content moves left by `px` pixels
/// (nearest neighbour; fractional shifts round at pixel centres). `px` in [-1e4, 1e4].
pub fn translate_x(img: &Image, px: f64) -> Result<Image> {
    check_range(
        "translate_x",
        "pixels",
        px,
        -1e4,
        1e4,
        "a shift in [-1e4, 1e4] px",
    )?;
    Ok(affine_nearest(img, &[1.0, 0.0, px, 0.0, 1.0, 0.0]))
}

/// `Image.transform(size, AFFINE, (1, 0, 0, 0, 1, px))`: content moves up by `px` pixels.
pub fn translate_y(img: &Image, px: f64) -> Result<Image> {
    check_range(
        "translate_y",
        "pixels",
        px,
        -1e4,
        1e4,
        "a shift in [-1e4, 1e4] px",
    )?;
    Ok(affine_nearest(img, &[1.0, 0.0, 0.0, 0.0, 1.0, px]))
}

/// `Image.transform(size, AFFINE, (1, level, 0, 0, 1, 0), BICUBIC)`. `level` in [-10, 10].
pub fn shear_x(img: &Image, level: f64) -> Result<Image> {
    check_range(
        "shear_x",
        "level",
        level,
        -10.0,
        10.0,
        "a shear in [-10, 10]",
    )?;
    Ok(affine_bicubic(img, &[1.0, level, 0.0, 0.0, 1.0, 0.0]))
}

/// `Image.transform(size, AFFINE, (1, 0, 0, level, 1, 0), BICUBIC)`. `level` in [-10, 10].
pub fn shear_y(img: &Image, level: f64) -> Result<Image> {
    check_range(
        "shear_y",
        "level",
        level,
        -10.0,
        10.0,
        "a shear in [-10, 10]",
    )?;
    Ok(affine_bicubic(img, &[1.0, 0.0, 0.0, level, 1.0, 0.0]))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn numbered(w: usize, h: usize) -> Image {
        let mut img = Image::new(w, h);
        for y in 0..h {
            for x in 0..w {
                img.put_pixel(x, y, [x as u8 + 1, y as u8 + 1, 7]);
            }
        }
        img
    }

    #[test]
    fn integer_translation_shifts_and_fills_black() {
        let img = numbered(5, 3);
        let t = translate_x(&img, 2.0).unwrap();
        assert_eq!(t.pixel(0, 0), img.pixel(2, 0));
        assert_eq!(t.pixel(3, 1), [0, 0, 0]);
        let t = translate_y(&img, -1.0).unwrap();
        assert_eq!(t.pixel(4, 1), img.pixel(4, 0));
        assert_eq!(t.pixel(4, 0), [0, 0, 0]);
        assert_eq!(translate_x(&img, 0.0).unwrap(), img);
        assert_eq!(shear_x(&img, 0.0).unwrap(), img);
    }

    #[test]
    fn quarter_turns_are_transposes() {
        let img = numbered(4, 4);
        let r = pil_rotate(&img, 90.0).unwrap();
        // CCW: the top-right corner goes to the top-left.
        assert_eq!(r.pixel(0, 0), img.pixel(3, 0));
        assert_eq!(pil_rotate(&r, -90.0).unwrap(), img);
        assert_eq!(pil_rotate(&img, 360.0).unwrap(), img);
        assert!(pil_rotate(&img, f64::NAN).is_err());
    }
}
