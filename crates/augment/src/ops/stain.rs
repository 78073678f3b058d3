//! Stain colour ops: the v1 HED shift (scikit-image 0.15 colour deconvolution), and the v2
//! `HedColorAugmenter` / `HsbColorAugmenter` of the original's Pretraining_v2.
//!
//! **HED shift.** With the Ruifrok & Johnston matrix `M` (rows H, E, D; not row-normalised),
//! scikit-image's "+2" transforms give `stains = -log(x/255 + 2) M⁻¹`; adding δ to the stains and
//! transforming back gives, per channel c, `(x_c/255 + 2) · b^(-Σ_k δ_k M[k][c]) - 2`, clipped to
//! [-1, 1] (`rescale_intensity`), times 255, truncated. The original ran scikit-image **0.15**,
//! whose transforms use log10 (base b = 10, the default here); 0.14 used the natural log (b = e,
//! [`HedBase::Exp`]): the same δ then acts ln 10 ≈ 2.30× more weakly. Being per channel and
//! affine in x, it is a 256-entry lookup table per channel — about 200× faster than the
//! original's per-pixel Python loop. The original casts negative results to u8 without clipping,
//! so near-black pixels wrap to bright values (bug B17); here they are clipped to 0.

use histo_tensor::Image;
use serde::{Deserialize, Serialize};

use crate::Result;
use crate::error::{check_finite, check_range};
use crate::ops::color::apply_luts;
use crate::transform::{floor, frac};

/// The stain matrix of scikit-image (`rgb_from_hed`): rows H, E, D; columns R, G, B.
pub const RGB_FROM_HED: [[f64; 3]; 3] =
    [[0.65, 0.70, 0.29], [0.07, 0.99, 0.11], [0.27, 0.57, 0.78]];

/// Logarithm base of the optical densities.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum HedBase {
    /// log10 / 10^x: scikit-image 0.15, the version the original ran (default).
    #[default]
    Log10,
    /// ln / e^x: scikit-image 0.14 (what the closed form in the paper's code comments shows).
    Exp,
}

/// A fixed HED shift: `delta` = (δ_H, δ_E, δ_D) added to the stain densities.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct HedShift {
    /// Offsets of the H, E and D densities.
    pub delta: [f64; 3],
    /// Logarithm base (default log10, as executed by the original).
    #[serde(default)]
    pub base: HedBase,
}

impl HedShift {
    /// A log10 (faithful) shift by `delta`.
    pub fn new(delta: [f64; 3]) -> Self {
        Self {
            delta,
            base: HedBase::Log10,
        }
    }

    /// Fails unless every δ is finite and in [-5, 5].
    pub fn check(&self) -> Result<()> {
        for d in self.delta {
            check_range(
                "hed_shift",
                "delta",
                d,
                -5.0,
                5.0,
                "a stain offset in [-5, 5]",
            )?;
        }
        Ok(())
    }

    /// The multiplicative factor of each RGB channel: `b^(-Σ_k δ_k M[k][c])`.
    pub fn factors(&self) -> [f64; 3] {
        std::array::from_fn(|c| {
            let e = -(self.delta[0] * RGB_FROM_HED[0][c]
                + self.delta[1] * RGB_FROM_HED[1][c]
                + self.delta[2] * RGB_FROM_HED[2][c]);
            match self.base {
                HedBase::Log10 => 10f64.powf(e),
                HedBase::Exp => e.exp(),
            }
        })
    }

    /// The per-channel lookup tables. A channel whose factor is exactly 1 (e.g. δ = 0) maps
    /// every value to itself (the original's float round-off lowers about a quarter of the
    /// values by 1 in that case).
    pub fn luts(&self) -> [[u8; 256]; 3] {
        self.factors().map(|f| {
            std::array::from_fn(|i| {
                if f == 1.0 {
                    return i as u8;
                }
                let v = ((i as f64 / 255.0 + 2.0) * f - 2.0).clamp(-1.0, 1.0);
                (v.max(0.0) * 255.0) as u8
            })
        })
    }

    /// Applies the shift.
    pub fn apply(&self, img: &Image) -> Result<Image> {
        self.check()?;
        Ok(apply_luts(img, &self.luts()))
    }
}

/// Parameters of the v2 `HedColorAugmenter` once randomised: per stain, the densities are
/// scaled by `1 + sigma` and shifted by `bias` — in natural-log ("+2") HED space.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct HedJitter {
    /// Scale adjustments (H, E, D), each in [-1, 1].
    pub sigma: [f64; 3],
    /// Bias adjustments (H, E, D), each in [-1, 1].
    pub bias: [f64; 3],
    /// Patches whose mean (over all pixels and channels, as a fraction of 255) is outside
    /// `[cutoff.0, cutoff.1]` are returned unchanged (the original uses (0.15, 0.85)).
    pub cutoff: (f64, f64),
}

/// 3x3 inverse (`scipy.linalg.inv`).
fn inverse(m: &[[f64; 3]; 3]) -> [[f64; 3]; 3] {
    let det = m[0][0] * (m[1][1] * m[2][2] - m[1][2] * m[2][1])
        - m[0][1] * (m[1][0] * m[2][2] - m[1][2] * m[2][0])
        + m[0][2] * (m[1][0] * m[2][1] - m[1][1] * m[2][0]);
    let c =
        |r0: usize, r1: usize, c0: usize, c1: usize| m[r0][c0] * m[r1][c1] - m[r0][c1] * m[r1][c0];
    [
        [
            c(1, 2, 1, 2) / det,
            -c(0, 2, 1, 2) / det,
            c(0, 1, 1, 2) / det,
        ],
        [
            -c(1, 2, 0, 2) / det,
            c(0, 2, 0, 2) / det,
            -c(0, 1, 0, 2) / det,
        ],
        [
            c(1, 2, 0, 1) / det,
            -c(0, 2, 0, 1) / det,
            c(0, 1, 0, 1) / det,
        ],
    ]
}

impl HedJitter {
    fn check(&self) -> Result<()> {
        for v in self.sigma.iter().chain(&self.bias) {
            check_range(
                "hed_augment",
                "sigma/bias",
                *v,
                -1.0,
                1.0,
                "a value in [-1, 1]",
            )?;
        }
        let (lo, hi) = self.cutoff;
        check_range(
            "hed_augment",
            "cutoff",
            lo,
            0.0,
            1.0,
            "0 <= low <= high <= 1",
        )?;
        check_range(
            "hed_augment",
            "cutoff",
            hi,
            lo,
            1.0,
            "0 <= low <= high <= 1",
        )?;
        Ok(())
    }

    /// Applies the jitter. In the original, `out_c = exp(-Σ_k s'_k M[k][c]) - 2` with
    /// `s' = s·diag(1+σ) + b` and `s = -ln(x/255 + 2) M⁻¹`, clipped to [0, 1], ×255, truncated.
    /// Since `exp(Σ_j L_j A[j][c]) = Π_j (x_j/255+2)^A[j][c]` with `A = M⁻¹ diag(1+σ) M`, each
    /// output channel is a product of three 256-entry tables (computed in f64; the original
    /// computes in float32, so a few pixels differ by one grey level).
    pub fn apply(&self, img: &Image) -> Result<Image> {
        self.check()?;
        let src = img.as_slice();
        if src.is_empty() {
            return Ok(img.clone());
        }
        let mean = src.iter().map(|&v| v as u64).sum::<u64>() as f64 / src.len() as f64 / 255.0;
        let identity = self.sigma == [0.0; 3] && self.bias == [0.0; 3];
        if identity || !(self.cutoff.0 <= mean && mean <= self.cutoff.1) {
            // Zero parameters return the input (the original still round-trips through float32
            // HED, which can lower values by one level).
            return Ok(img.clone());
        }
        let m = RGB_FROM_HED;
        let minv = inverse(&m);
        // A = M⁻¹ diag(1 + σ) M, β_c = Σ_k b_k M[k][c].
        let a: [[f64; 3]; 3] = std::array::from_fn(|j| {
            std::array::from_fn(|c| {
                (0..3)
                    .map(|k| minv[j][k] * (1.0 + self.sigma[k]) * m[k][c])
                    .sum()
            })
        });
        let beta: [f64; 3] = std::array::from_fn(|c| (0..3).map(|k| self.bias[k] * m[k][c]).sum());
        // tables[c][j][x] = exp(ln(x/255 + 2) A[j][c]) (with exp(-β_c) folded into j = 0)
        let tables: Vec<[[f64; 256]; 3]> = (0..3)
            .map(|c| {
                std::array::from_fn(|j| {
                    std::array::from_fn(|x| {
                        let l = (x as f64 / 255.0 + 2.0).ln();
                        let e = l * a[j][c] - if j == 0 { beta[c] } else { 0.0 };
                        e.exp()
                    })
                })
            })
            .collect();
        let mut out = img.clone();
        for px in out.as_mut_slice().chunks_exact_mut(3) {
            let (r, g, b) = (px[0] as usize, px[1] as usize, px[2] as usize);
            for (c, t) in tables.iter().enumerate() {
                let v = t[0][r] * t[1][g] * t[2][b] - 2.0;
                px[c] = (v.clamp(0.0, 1.0) * 255.0) as u8;
            }
        }
        Ok(out)
    }
}

/// Parameters of the v2 `HsbColorAugmenter` once randomised (brightness is 0 in the original's
/// pool and is not offered here): in scikit-image HSV (all in [0, 1]), `h = (h + (hue mod 1))
/// mod 1`; saturation `s *= 1 + sat` when `sat < 0`, `s *= 1 + (1 - s) sat` when `sat > 0`;
/// back to RGB, ×255, truncated. A zero parameter leaves its channel alone.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct HsbJitter {
    /// Hue shift, in [-1, 1] turns.
    pub hue: f64,
    /// Saturation adjustment, in [-1, 1].
    pub saturation: f64,
}

/// scikit-image `rgb2hsv` on one pixel (float64; later maxima win ties, as in its code).
fn rgb2hsv(r: f64, g: f64, b: f64) -> (f64, f64, f64) {
    let v = r.max(g).max(b);
    let delta = v - r.min(g).min(b);
    let s = if delta == 0.0 { 0.0 } else { delta / v };
    if delta == 0.0 {
        return (0.0, s, v);
    }
    let h = if b == v {
        4.0 + (r - g) / delta
    } else if g == v {
        2.0 + (b - r) / delta
    } else {
        (g - b) / delta
    };
    let h = frac(h / 6.0);
    (h, s, v)
}

/// scikit-image `hsv2rgb` on one pixel.
fn hsv2rgb(h: f64, s: f64, v: f64) -> [f64; 3] {
    let hi = floor(h * 6.0);
    let f = h * 6.0 - hi;
    let p = v * (1.0 - s);
    let q = v * (1.0 - f * s);
    let t = v * (1.0 - (1.0 - f) * s);
    match (hi as i64).rem_euclid(6) {
        0 => [v, t, p],
        1 => [q, v, p],
        2 => [p, v, t],
        3 => [p, q, v],
        4 => [t, p, v],
        _ => [v, p, q],
    }
}

impl HsbJitter {
    /// Applies the jitter.
    pub fn apply(&self, img: &Image) -> Result<Image> {
        check_range(
            "hsb_augment",
            "hue",
            self.hue,
            -1.0,
            1.0,
            "a hue shift in [-1, 1]",
        )?;
        check_range(
            "hsb_augment",
            "saturation",
            self.saturation,
            -1.0,
            1.0,
            "a saturation adjustment in [-1, 1]",
        )?;
        if self.hue == 0.0 && self.saturation == 0.0 {
            // The original still round-trips through float HSV (a no-op up to round-off).
            return Ok(img.clone());
        }
        check_finite("hsb_augment", "hue", self.hue)?;
        let hue_add = self.hue.rem_euclid(1.0);
        let mut out = img.clone();
        for px in out.as_mut_slice().chunks_exact_mut(3) {
            // scikit-image's img_as_float multiplies by 1/255.
            let k = 1.0 / 255.0;
            let (mut h, mut s, v) = rgb2hsv(px[0] as f64 * k, px[1] as f64 * k, px[2] as f64 * k);
            if self.hue != 0.0 {
                h = frac(h + hue_add);
            }
            if self.saturation < 0.0 {
                s *= 1.0 + self.saturation;
            } else if self.saturation > 0.0 {
                s *= 1.0 + (1.0 - s) * self.saturation;
            }
            let rgb = hsv2rgb(h, s, v);
            for c in 0..3 {
                px[c] = (rgb[c] * 255.0) as u8;
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hed_lut_matches_hand_worked_pixels() {
        // δ = (0.02, -0.015, 0.01): exponent for R = -(0.02*0.65 - 0.015*0.07 + 0.01*0.27)
        // = -0.01465; factor 10^-0.01465 = 0.96682974; x = 128: (128/255 + 2) * f - 2
        // = 0.418970 -> x255 = 106.837 -> 106.
        let s = HedShift::new([0.02, -0.015, 0.01]);
        let f = s.factors();
        assert!((f[0] - 0.966_829_737_814_247).abs() < 1e-12, "{}", f[0]);
        assert_eq!(s.luts()[0][128], 106);
        // Black goes negative and is clipped to 0 (the original wraps, B17).
        assert_eq!(s.luts()[0][0], 0);
        // The exp variant acts more weakly.
        let e = HedShift {
            base: HedBase::Exp,
            ..s
        };
        assert!(e.factors()[0] > f[0]);
    }

    #[test]
    fn zero_shift_is_identity_and_bad_deltas_are_errors() {
        let img = Image::from_raw(2, 1, vec![0, 1, 2, 250, 254, 255]).unwrap();
        assert_eq!(HedShift::new([0.0; 3]).apply(&img).unwrap(), img);
        assert!(HedShift::new([f64::NAN, 0.0, 0.0]).apply(&img).is_err());
        assert!(HedShift::new([0.0, 9.0, 0.0]).apply(&img).is_err());
    }

    #[test]
    fn stain_matrix_inverse_is_an_inverse() {
        let inv = inverse(&RGB_FROM_HED);
        for (i, row) in RGB_FROM_HED.iter().enumerate() {
            for (j, want) in [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]][i]
                .iter()
                .enumerate()
            {
                let v: f64 = (0..3).map(|k| row[k] * inv[k][j]).sum();
                assert!((v - want).abs() < 1e-12);
            }
        }
    }

    #[test]
    fn hsv_round_trip_of_primaries() {
        assert_eq!(rgb2hsv(1.0, 0.0, 0.0), (0.0, 1.0, 1.0));
        assert_eq!(hsv2rgb(0.0, 1.0, 1.0), [1.0, 0.0, 0.0]);
        let (h, s, v) = rgb2hsv(0.0, 0.0, 1.0);
        assert!((h - 4.0 / 6.0).abs() < 1e-15 && s == 1.0 && v == 1.0);
    }
}
