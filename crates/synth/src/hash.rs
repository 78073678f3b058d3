//! Integer hashing: the source of every random choice that must not depend on how a slide is cut
//! into tiles (nucleus positions, textures, sensor noise). A value at level-0 pixel `(x, y)` is a
//! pure function of `(seed, x, y)`, so any tile renders the same whichever tile grid, thread or
//! order produced it.

/// SplitMix64's finaliser: a fast bijective 64-bit mixer with full avalanche.
#[inline]
pub(crate) fn mix64(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Hash of a seed and two integer coordinates.
#[inline]
pub(crate) fn hash2(seed: u64, a: i64, b: i64) -> u64 {
    mix64(
        seed ^ mix64(
            (a as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15)
                ^ (b as u64)
                    .wrapping_mul(0xc2b2_ae3d_27d4_eb4f)
                    .rotate_left(29),
        ),
    )
}

/// A seed derived from a parent seed and a label (e.g. one per texture layer).
#[inline]
pub(crate) fn derive(seed: u64, label: u64) -> u64 {
    mix64(seed ^ mix64(label.wrapping_add(0x632b_e59b_d9b4_e019)))
}

/// Uniform in [0, 1) from the top 24 bits of a hash.
#[inline]
pub(crate) fn unit(h: u64) -> f32 {
    (h >> 40) as f32 * (1.0 / (1u64 << 24) as f32)
}

/// A tiny counter-based generator for the many small draws made per nucleus or gland: cheap to
/// create from a hash, deterministic, and good enough for procedural shapes (not for statistics,
/// which go through [`histo_tensor::SampleRng`]).
#[derive(Clone, Debug)]
pub(crate) struct HashRng(u64);

impl HashRng {
    pub(crate) fn new(h: u64) -> Self {
        Self(h)
    }

    #[inline]
    pub(crate) fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        mix64(self.0)
    }

    /// Uniform in [0, 1).
    #[inline]
    pub(crate) fn unit(&mut self) -> f32 {
        unit(self.next_u64())
    }

    /// Uniform in [lo, hi).
    #[inline]
    pub(crate) fn range(&mut self, lo: f32, hi: f32) -> f32 {
        lo + (hi - lo) * self.unit()
    }

    /// Standard normal (Box–Muller).
    #[inline]
    pub(crate) fn normal(&mut self) -> f32 {
        let u1 = (self.unit() + 1e-7).min(1.0);
        let u2 = self.unit();
        (-2.0 * u1.ln()).sqrt() * (std::f32::consts::TAU * u2).cos()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unit_is_in_range_and_roughly_uniform() {
        let n = 100_000;
        let mut sum = 0.0f64;
        for i in 0..n {
            let u = unit(hash2(7, i, -i));
            assert!((0.0..1.0).contains(&u));
            sum += u as f64;
        }
        let mean = sum / n as f64;
        // s.e. of the mean of U(0,1) = 0.289/sqrt(n) ≈ 0.0009
        assert!((mean - 0.5).abs() < 0.005, "{mean}");
    }

    #[test]
    fn neighbouring_cells_differ() {
        assert_ne!(hash2(1, 0, 0), hash2(1, 1, 0));
        assert_ne!(hash2(1, 0, 0), hash2(1, 0, 1));
        assert_ne!(hash2(1, 1, 0), hash2(1, 0, 1));
        assert_ne!(hash2(1, 0, 0), hash2(2, 0, 0));
    }

    #[test]
    fn normal_draws_have_unit_variance() {
        let mut r = HashRng::new(3);
        let n = 50_000;
        let xs: Vec<f64> = (0..n).map(|_| r.normal() as f64).collect();
        let mean = xs.iter().sum::<f64>() / n as f64;
        let var = xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / n as f64;
        assert!(mean.abs() < 0.02, "{mean}");
        assert!((var - 1.0).abs() < 0.03, "{var}");
    }
}
