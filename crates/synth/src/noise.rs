//! Value noise and fractal sums of it, evaluated at absolute coordinates (so textures are
//! continuous across tile borders).

use crate::hash::derive;

/// Quintic fade (C2-continuous interpolation weight).
#[inline]
fn fade(t: f32) -> f32 {
    t * t * t * (t * (t * 6.0 - 15.0) + 10.0)
}

/// `x.floor() as i64` without a libm call (the default x86-64 target lacks SSE4.1's `roundss`).
#[inline]
pub(crate) fn floor_i64(x: f32) -> i64 {
    let i = x as i64;
    if (i as f32) > x { i - 1 } else { i }
}

/// Smooth step from 0 at `e0` to 1 at `e1` (either order).
#[inline]
pub(crate) fn smoothstep(e0: f32, e1: f32, x: f32) -> f32 {
    let t = ((x - e0) / (e1 - e0)).clamp(0.0, 1.0);
    t * t * (3.0 - 2.0 * t)
}

/// A fast 32-bit lattice hash (Wellons' "lowbias32" finaliser over a linear mix of the
/// coordinates): value noise needs four per sample, so this is the hottest code of the renderer.
#[inline]
fn lattice(seed: u32, ix: i64, iy: i64) -> f32 {
    let mut x = seed
        ^ (ix as u32).wrapping_mul(0x9e37_79b1)
        ^ (iy as u32).wrapping_mul(0x85eb_ca77)
        ^ ((ix >> 32) as u32).wrapping_mul(0xc2b2_ae3d)
        ^ ((iy >> 32) as u32).wrapping_mul(0x27d4_eb2f);
    x ^= x >> 16;
    x = x.wrapping_mul(0x7feb_352d);
    x ^= x >> 15;
    x = x.wrapping_mul(0x846c_a68b);
    x ^= x >> 16;
    (x >> 8) as f32 * (1.0 / (1u32 << 24) as f32)
}

/// 2-D value noise in [0, 1] with unit lattice spacing.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Noise {
    seed: u64,
    /// Lattice seeds of up to four octaves.
    octaves: [u32; 4],
}

impl Noise {
    pub(crate) fn new(seed: u64) -> Self {
        let mut octaves = [0u32; 4];
        for (o, s) in octaves.iter_mut().enumerate() {
            *s = (derive(seed, o as u64) >> 32) as u32;
        }
        Self { seed, octaves }
    }

    /// A differently seeded noise for another layer.
    pub(crate) fn layer(&self, label: u64) -> Self {
        Self::new(derive(self.seed, label.wrapping_add(1000)))
    }

    #[inline]
    fn value_with(seed: u32, x: f32, y: f32) -> f32 {
        let (ix, iy) = (floor_i64(x), floor_i64(y));
        let (xf, yf) = (ix as f32, iy as f32);
        let sx = fade(x - xf);
        let sy = fade(y - yf);
        let v00 = lattice(seed, ix, iy);
        let v10 = lattice(seed, ix + 1, iy);
        let v01 = lattice(seed, ix, iy + 1);
        let v11 = lattice(seed, ix + 1, iy + 1);
        let a = v00 + (v10 - v00) * sx;
        let b = v01 + (v11 - v01) * sx;
        a + (b - a) * sy
    }

    /// Value noise at `(x, y)` (lattice units), in [0, 1].
    #[inline]
    pub(crate) fn value(&self, x: f32, y: f32) -> f32 {
        Self::value_with(self.octaves[0], x, y)
    }

    /// Fractal sum of `octaves` (≤ 4) value noises (frequency ×2, amplitude ×½ per octave),
    /// normalised to [0, 1].
    #[inline]
    pub(crate) fn fbm(&self, x: f32, y: f32, octaves: u32) -> f32 {
        let (mut sum, mut amp, mut norm, mut f) = (0.0, 1.0, 0.0, 1.0);
        for o in 0..octaves.min(4) as usize {
            // Offsetting each octave avoids the shared lattice origin artefact.
            let off = o as f32 * 17.31;
            sum += amp * Self::value_with(self.octaves[o], x * f + off, y * f - off);
            norm += amp;
            amp *= 0.5;
            f *= 2.0;
        }
        sum / norm
    }
}

/// Quantiles 0.05, 0.10, …, 0.95 of a 2-octave [`Noise::fbm`] over the plane (measured on a
/// 400×400 sample; the test below checks the resulting coverage).
const FBM2_QUANTILES: [f32; 19] = [
    0.2237, 0.2772, 0.3163, 0.3485, 0.3774, 0.4039, 0.4290, 0.4534, 0.4771, 0.5008, 0.5241, 0.5478,
    0.5718, 0.5969, 0.6235, 0.6524, 0.6848, 0.7239, 0.7769,
];

/// Threshold `t` such that a 2-octave [`Noise::fbm`] value exceeds `t` on a fraction `fill` of
/// the plane (linear interpolation of measured quantiles).
pub(crate) fn fill_threshold(fill: f32) -> f32 {
    let q = (1.0 - fill).clamp(0.0, 1.0) * 20.0; // quantile index in units of 0.05
    let table = |k: i32| -> f32 {
        match k {
            k if k <= 0 => 0.08,
            k if k >= 20 => 0.92,
            k => FBM2_QUANTILES[k as usize - 1],
        }
    };
    let k = q.floor() as i32;
    let t = q - k as f32;
    table(k) * (1.0 - t) + table(k + 1) * t
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn value_noise_interpolates_lattice_values_and_stays_in_range() {
        let n = Noise::new(5);
        for i in -3..3 {
            for j in -3..3 {
                let v = n.value(i as f32, j as f32);
                assert_eq!(v, lattice(n.octaves[0], i, j));
            }
        }
        let mut mean = 0.0;
        for k in 0..10_000 {
            let x = (k as f32) * 0.173 - 800.0;
            let y = (k as f32) * 0.071 + 3.0;
            let v = n.fbm(x, y, 3);
            assert!((0.0..=1.0).contains(&v), "{v}");
            mean += lattice(7, k, -k) / 10_000.0;
        }
        assert!((mean - 0.5).abs() < 0.01, "{mean}");
    }

    #[test]
    fn fast_floor_matches_floor() {
        for x in [-2.5f32, -2.0, -0.1, 0.0, 0.3, 1.0, 7.99, -1e6, 1e6 + 0.5] {
            assert_eq!(floor_i64(x), x.floor() as i64, "{x}");
        }
    }

    #[test]
    fn noise_is_continuous() {
        let n = Noise::new(9);
        let mut max_step = 0.0f32;
        for k in 0..10_000 {
            let x = k as f32 * 0.001;
            max_step = max_step.max((n.value(x + 0.001, 0.3) - n.value(x, 0.3)).abs());
        }
        // quintic fade: slope ≤ 1.875 × (lattice value difference ≤ 1) per unit
        assert!(max_step < 0.002, "{max_step}");
    }

    #[test]
    fn fill_threshold_gives_the_requested_coverage() {
        let n = Noise::new(11);
        for fill in [0.1f32, 0.2, 0.5, 0.72, 0.8, 0.95] {
            let t = fill_threshold(fill);
            let mut above = 0;
            let total = 200 * 200;
            for i in 0..200 {
                for j in 0..200 {
                    if n.fbm(i as f32 * 0.37, j as f32 * 0.37, 2) > t {
                        above += 1;
                    }
                }
            }
            let got = above as f32 / total as f32;
            assert!((got - fill).abs() < 0.03, "fill {fill}: got {got}");
        }
    }
}
