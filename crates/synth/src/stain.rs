//! The stain model: Beer–Lambert absorption through the HED matrix the method itself uses
//! (spec §2.4), with per-slide variation of the stain vectors, stain amounts and glass colour.

use rand::Rng;
use serde::{Deserialize, Serialize};

/// The HED stain matrix of spec §2.4 (scikit-image's `hed_from_rgb` inverse): rows are the
/// optical-density vectors of haematoxylin, eosin and DAB over (R, G, B).
pub const HED: [[f32; 3]; 3] = [[0.65, 0.70, 0.29], [0.07, 0.99, 0.11], [0.27, 0.57, 0.78]];

/// One slide's staining: the three stain vectors, how much of each stain took, and the optical
/// density of the bare glass. A pixel with stain concentrations `c = (c_H, c_E, c_D)` gets
/// `255 · exp(−(glass + Σ_k amount_k · c_k · m_k))` per channel.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Stain {
    /// Optical density per unit concentration of H, E and D (rows) over R, G, B.
    pub m: [[f32; 3]; 3],
    /// Multiplier of each stain's concentration (staining intensity, section thickness).
    pub amount: [f32; 3],
    /// Optical density of the glass and mounting medium (background tint).
    pub glass: [f32; 3],
}

impl Default for Stain {
    fn default() -> Self {
        Self::reference()
    }
}

impl Stain {
    /// The reference staining: the HED matrix as given, unit amounts, nearly white glass.
    pub fn reference() -> Self {
        Self {
            m: HED,
            amount: [1.0, 1.0, 1.0],
            glass: [0.03, 0.035, 0.03],
        }
    }

    /// A slide's staining drawn around the reference. `variation` scales every spread (0 gives the
    /// reference exactly); `shift` moves the centre of the distribution (a lab with a different
    /// protocol: positive values mean more haematoxylin, less eosin and a warmer glass).
    ///
    /// At `variation = 1`: each matrix entry varies by a log-normal factor with σ = 0.08, the
    /// H and E amounts by σ = 0.15, the glass OD by ±0.02.
    pub fn draw(rng: &mut impl Rng, variation: f32, shift: f32) -> Self {
        let mut s = Self::reference();
        let mut gauss = |sd: f32| -> f32 {
            // Box–Muller from the caller's stream
            let u1: f32 = rng.random_range(1e-7f32..1.0);
            let u2: f32 = rng.random();
            sd * (-2.0 * u1.ln()).sqrt() * (std::f32::consts::TAU * u2).cos()
        };
        for row in s.m.iter_mut() {
            for v in row.iter_mut() {
                *v *= (gauss(0.08 * variation)).exp();
            }
        }
        s.amount[0] *= (gauss(0.15 * variation) + 0.25 * shift).exp();
        s.amount[1] *= (gauss(0.15 * variation) - 0.25 * shift).exp();
        s.amount[2] *= (gauss(0.3 * variation)).exp();
        for (c, g) in s.glass.iter_mut().enumerate() {
            let warm = if c == 2 { 0.02 * shift } else { 0.0 };
            *g = (*g + gauss(0.01 * variation) + warm).clamp(0.0, 0.15);
        }
        s
    }

    /// Linear RGB in [0, 255] (not yet rounded) of stain concentrations `c = (H, E, D)`.
    #[inline]
    pub fn rgb(&self, c: [f32; 3]) -> [f32; 3] {
        let mut out = [0.0; 3];
        for (ch, o) in out.iter_mut().enumerate() {
            let od = self.glass[ch]
                + self.amount[0] * c[0] * self.m[0][ch]
                + self.amount[1] * c[1] * self.m[1][ch]
                + self.amount[2] * c[2] * self.m[2][ch];
            *o = 255.0 * (-od).exp();
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use histo_tensor::SampleRng;

    #[test]
    fn beer_lambert_closed_form() {
        let s = Stain {
            m: HED,
            amount: [1.0; 3],
            glass: [0.0; 3],
        };
        // Pure haematoxylin, c = 1: 255·exp(−(0.65, 0.70, 0.29)) = (133.12, 126.63, 190.81)
        let rgb = s.rgb([1.0, 0.0, 0.0]);
        let want = [133.121_67, 126.629_25, 190.807_2]; // python: 255*math.exp(-v)
        for c in 0..3 {
            assert!((rgb[c] - want[c]).abs() < 1e-3, "{rgb:?}");
        }
        // Eosin c = 0.5 and H c = 0.5 add optical densities.
        let rgb = s.rgb([0.5, 0.5, 0.0]);
        for (c, v) in rgb.iter().enumerate() {
            let od = 0.5 * HED[0][c] + 0.5 * HED[1][c];
            assert!((v - 255.0 * (-od).exp()).abs() < 1e-3);
        }
        // No stain: white.
        assert_eq!(s.rgb([0.0; 3]), [255.0; 3]);
    }

    #[test]
    fn haematoxylin_is_blue_purple_and_eosin_pink() {
        let s = Stain::reference();
        let h = s.rgb([2.0, 0.0, 0.0]);
        assert!(h[2] > h[0] && h[2] > h[1], "H must let blue through: {h:?}");
        let e = s.rgb([0.0, 0.8, 0.0]);
        assert!(e[0] > e[1] && e[2] > e[1], "E must absorb green: {e:?}");
    }

    #[test]
    fn zero_variation_is_the_reference_and_draws_vary() {
        let mut rng = SampleRng::new(1, 0, 0);
        assert_eq!(Stain::draw(&mut rng, 0.0, 0.0), Stain::reference());
        let a = Stain::draw(&mut rng, 1.0, 0.0);
        let b = Stain::draw(&mut rng, 1.0, 0.0);
        assert_ne!(a, b);
        let shifted = Stain::draw(&mut SampleRng::new(1, 0, 5), 0.0, 1.0);
        assert!(shifted.amount[0] > 1.0 && shifted.amount[1] < 1.0);
    }
}
