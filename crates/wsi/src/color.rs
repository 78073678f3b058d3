//! Per-pixel colour measures used by tissue detection, computed as scikit-image does:
//! CIE-Lab a* (`skimage.color.rgb2lab`: sRGB, D65, 2° observer) and HSV saturation
//! (`skimage.color.rgb2hsv`), from u8 RGB scaled by `1/255` in float64 (`img_as_float`).

use std::sync::OnceLock;

/// sRGB → XYZ matrix of scikit-image (`xyz_from_rgb`), rows X and Y (a* needs only these).
const M_X: [f64; 3] = [0.412453, 0.357580, 0.180423];
const M_Y: [f64; 3] = [0.212671, 0.715160, 0.072169];
/// D65 2° reference white, X component (Y is 1).
const WHITE_X: f64 = 0.95047;

/// sRGB companding undone for each u8 value (`img_as_float` then the piecewise gamma).
fn linear_lut() -> &'static [f64; 256] {
    static LUT: OnceLock<[f64; 256]> = OnceLock::new();
    LUT.get_or_init(|| {
        let mut t = [0.0; 256];
        for (i, v) in t.iter_mut().enumerate() {
            let c = i as f64 * (1.0 / 255.0);
            *v = if c > 0.04045 {
                ((c + 0.055) / 1.055).powf(2.4)
            } else {
                c / 12.92
            };
        }
        t
    })
}

#[inline]
fn lab_f(t: f64) -> f64 {
    if t > 0.008856 {
        t.cbrt()
    } else {
        7.787 * t + 16.0 / 116.0
    }
}

/// CIE-Lab a* of one u8 RGB pixel, as `skimage.color.rgb2lab(...)[..., 1]`.
#[inline]
pub fn lab_a(rgb: [u8; 3]) -> f64 {
    let l = linear_lut();
    let (r, g, b) = (l[rgb[0] as usize], l[rgb[1] as usize], l[rgb[2] as usize]);
    let x = (r * M_X[0] + g * M_X[1] + b * M_X[2]) / WHITE_X;
    let y = r * M_Y[0] + g * M_Y[1] + b * M_Y[2];
    500.0 * (lab_f(x) - lab_f(y))
}

/// HSV saturation of one u8 RGB pixel, as `skimage.color.rgb2hsv(...)[..., 1]`.
#[inline]
pub fn hsv_saturation(rgb: [u8; 3]) -> f64 {
    let mx = rgb[0].max(rgb[1]).max(rgb[2]);
    let mn = rgb[0].min(rgb[1]).min(rgb[2]);
    if mx == mn {
        return 0.0;
    }
    let k = 1.0 / 255.0;
    let v = f64::from(mx) * k;
    (v - f64::from(mn) * k) / v
}

/// Sum of a* over all pixels of an interleaved RGB buffer, with the pixel count (for slide
/// means), with a fast cube root: the sum differs from one of [`lab_a`] values in the last bits.
pub fn sum_lab_a(rgb: &[u8]) -> (f64, u64) {
    let l = linear_lut();
    let mut s = 0.0;
    for p in rgb.chunks_exact(3) {
        s += lab_a_fast(l, p);
    }
    (s, (rgb.len() / 3) as u64)
}

/// Cube root by bit-level initial guess and Newton steps: within 2 ulp of `f64::cbrt` for the
/// positive normal inputs used here, several times faster.
#[inline]
fn fast_cbrt(x: f64) -> f64 {
    let mut y = f64::from_bits(x.to_bits() / 3 + 0x2A9F_7893_782D_A1CE);
    for _ in 0..4 {
        y -= (y - x / (y * y)) / 3.0;
    }
    y
}

#[inline]
fn lab_f_fast(t: f64) -> f64 {
    if t > 0.008856 {
        fast_cbrt(t)
    } else {
        7.787 * t + 16.0 / 116.0
    }
}

/// a* with a fast cube root (for sums, where the last bits do not matter).
#[inline]
fn lab_a_fast(l: &[f64; 256], p: &[u8]) -> f64 {
    let (r, g, b) = (l[p[0] as usize], l[p[1] as usize], l[p[2] as usize]);
    let x = (r * M_X[0] + g * M_X[1] + b * M_X[2]) / WHITE_X;
    let y = r * M_Y[0] + g * M_Y[1] + b * M_Y[2];
    500.0 * (lab_f_fast(x) - lab_f_fast(y))
}

/// The test `a* > threshold`, exact to [`lab_a`], as one table lookup per pixel.
///
/// For u8 sRGB, [`lab_a`] is strictly increasing in R for fixed (G, B) and strictly decreasing
/// in G for fixed (R, B) (checked exhaustively over all 2²⁴ colours in the tests). So the
/// pixels with `a* > t` are exactly those with `R >= r0(G, B)`, and `r0` is non-decreasing in
/// G: the 65,536 thresholds are found with at most 512 exact evaluations per B value
/// (≈ 131,000 in all, a few ms), instead of one per pixel.
#[derive(Clone, Debug)]
pub(crate) struct LabThreshold {
    /// `r0(G, B)` indexed `G * 256 + B`; 256 means no R passes.
    min_red: Vec<u16>,
}

impl LabThreshold {
    pub(crate) fn new(threshold: f64) -> Self {
        let mut min_red = vec![256u16; 256 * 256];
        for b in 0..256usize {
            let mut r = 0usize;
            for g in 0..256usize {
                // (written so that a NaN threshold passes no pixel, as `a > NaN` is false)
                while r < 256 {
                    if lab_a([r as u8, g as u8, b as u8]) > threshold {
                        break;
                    }
                    r += 1;
                }
                min_red[g * 256 + b] = r as u16;
            }
        }
        Self { min_red }
    }

    #[inline]
    pub(crate) fn test(&self, p: &[u8]) -> bool {
        u16::from(p[0]) >= self.min_red[usize::from(p[1]) << 8 | usize::from(p[2])]
    }
}

/// A 256×256 table of `saturation(max, min) > threshold`, indexed `max * 256 + min`: the
/// saturation test on a u8 pixel depends only on its largest and smallest channel.
pub(crate) fn saturation_table(threshold: f64) -> Vec<bool> {
    let mut t = vec![false; 256 * 256];
    for mx in 0..256usize {
        for mn in 0..=mx {
            t[mx * 256 + mn] = hsv_saturation([mx as u8, mn as u8, mn as u8]) > threshold;
        }
    }
    t
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn closed_form_values() {
        // (scikit-image reference values for many colours are checked in tests/tissue.rs.)
        // Greys have a* ~ 0 (skimage gives -0.00245 for white: its D65 white and matrix do not
        // round-trip exactly) and saturation 0.
        for g in [0u8, 1, 128, 255] {
            assert!(lab_a([g, g, g]).abs() < 3e-3, "{g}: {}", lab_a([g, g, g]));
            assert_eq!(hsv_saturation([g, g, g]), 0.0);
        }
        // saturation = (max - min) / max
        assert!((hsv_saturation([200, 100, 50]) - 0.75).abs() < 1e-12);
    }

    #[test]
    fn fast_cube_root_is_exact_enough() {
        let mut worst = 0.0f64;
        for i in 1..20_000 {
            let x = 0.008856 + i as f64 * 5e-5;
            worst = worst.max(((fast_cbrt(x) - x.cbrt()) / x.cbrt()).abs());
        }
        assert!(worst < 5e-16, "{worst}");
        for r in (0..256).step_by(3) {
            for g in (0..256).step_by(5) {
                for b in (0..256).step_by(2) {
                    let p = [r as u8, g as u8, b as u8];
                    assert!((lab_a_fast(linear_lut(), &p) - lab_a(p)).abs() < 1e-11);
                }
            }
        }
    }

    /// The premise of [`LabThreshold`], over every u8 colour: a* strictly increases with R and
    /// strictly decreases with G.
    #[test]
    fn lab_a_is_monotone_in_red_and_green() {
        let mut a = vec![0f64; 256];
        for g in 0..256 {
            for b in 0..256 {
                for (r, v) in a.iter_mut().enumerate() {
                    *v = lab_a([r as u8, g as u8, b as u8]);
                }
                assert!(a.windows(2).all(|w| w[0] < w[1]), "R at g={g} b={b}");
            }
        }
        for r in 0..256 {
            for b in 0..256 {
                for (g, v) in a.iter_mut().enumerate() {
                    *v = lab_a([r as u8, g as u8, b as u8]);
                }
                assert!(a.windows(2).all(|w| w[0] > w[1]), "G at r={r} b={b}");
            }
        }
    }

    #[test]
    fn threshold_table_equals_the_direct_test() {
        // every colour for a typical slide threshold; a coarser grid for the extremes (all
        // pass, none pass) and a threshold equal to an attained value (strict inequality)
        let exact = lab_a([200, 120, 170]);
        for (t, step) in [
            (11.3, 1),
            (-200.0, 7),
            (200.0, 7),
            (exact, 3),
            (0.0, 5),
            (f64::NAN, 9),
        ] {
            let lut = LabThreshold::new(t);
            for r in (0..256).step_by(step) {
                for g in (0..256).step_by(step) {
                    for b in 0..256 {
                        let p = [r as u8, g as u8, b as u8];
                        assert_eq!(lut.test(&p), lab_a(p) > t, "t={t} {p:?}");
                    }
                }
            }
        }
        assert!(!LabThreshold::new(exact).test(&[200, 120, 170]));
    }

    #[test]
    fn saturation_table_matches_the_direct_test() {
        let t = saturation_table(0.1);
        for (mx, mn) in [(200u8, 180u8), (200, 181), (10, 9), (255, 229), (255, 230)] {
            assert_eq!(
                t[mx as usize * 256 + mn as usize],
                hsv_saturation([mx, mn, mn]) > 0.1,
                "{mx} {mn}"
            );
        }
    }
}
