//! The tissue recipe: one parameter vector describes every class, so that classes can be drawn
//! from overlapping distributions (a region's parameters are its class's, jittered, and pulled
//! part of the way towards a confusable class's).

use rand::Rng;
use serde::{Deserialize, Serialize};

use crate::class::TissueClass;

/// How a parameter varies around its class centre.
#[derive(Clone, Copy)]
enum Kind {
    /// Positive: log-normal factor `exp(N(0, spread))`.
    Pos,
    /// A fraction: log-normal factor on the distance to the nearer of 0 and 1.
    Frac,
}

macro_rules! params {
    ($( $(#[doc = $doc:literal])* $name:ident : $kind:ident = $default:expr ),* $(,)?) => {
        /// The parameters of one tissue region. Lengths are in microns (rendered at the slide's
        /// microns per pixel), concentrations in stain units of the [`crate::Stain`] model,
        /// densities per 1000 µm².
        #[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
        pub struct TissueParams {
            $( $(#[doc = $doc])* pub $name: f32, )*
        }

        impl Default for TissueParams {
            fn default() -> Self {
                Self { $( $name: $default, )* }
            }
        }

        impl TissueParams {
            const KINDS: &'static [Kind] = &[$( Kind::$kind, )*];

            fn to_vec(self) -> Vec<f32> {
                vec![$( self.$name, )*]
            }

            fn from_slice(v: &[f32]) -> Self {
                let mut it = v.iter().copied();
                Self { $( $name: it.next().unwrap_or($default), )* }
            }
        }
    };
}

params! {
    /// Eosin of the extracellular matrix / cytoplasm.
    matrix_e: Pos = 0.0,
    /// Haematoxylin of the matrix (mucin, amphophilic cytoplasm).
    matrix_h: Pos = 0.0,
    /// Fraction of the area covered by matrix (the rest is empty space).
    matrix_fill: Frac = 1.0,
    /// Size of the empty spaces.
    gap_um: Pos = 20.0,
    /// Contrast of the fibre texture (0 = smooth).
    fibre: Frac = 0.0,
    /// Fibre width.
    fibre_um: Pos = 3.0,
    /// Fibre length / width.
    fibre_aniso: Pos = 6.0,
    /// Waviness of fibres.
    wave: Pos = 0.3,
    /// Fine granular texture (necrosis, mucus).
    grain: Frac = 0.0,
    /// Adipocyte diameter.
    cell_um: Pos = 70.0,
    /// Weight of the adipocyte membrane pattern (1 = pure fat).
    membrane: Frac = 0.0,
    /// Eosin of membranes.
    membrane_e: Pos = 0.5,
    /// Probability that a gland lattice cell holds a gland (0 = no glands).
    gland: Frac = 0.0,
    /// Gland outer radius.
    gland_um: Pos = 30.0,
    /// Lumen radius as a fraction of the gland radius.
    lumen: Frac = 0.4,
    /// Irregularity of gland outlines.
    gland_irregular: Frac = 0.0,
    /// Eosin of gland epithelium.
    epi_e: Pos = 0.4,
    /// Haematoxylin of gland epithelium.
    epi_h: Pos = 0.15,
    /// Rows of nuclei around a gland (1 = orderly single row).
    gland_rows: Pos = 1.0,
    /// Aspect ratio of gland nuclei.
    gland_elong: Pos = 2.0,
    /// Nuclei per 1000 µm² outside glands.
    nuc_density: Pos = 0.0,
    /// Mean nucleus radius.
    nuc_r_um: Pos = 3.0,
    /// Pleomorphism: log-sd of the nucleus radius.
    nuc_pleo: Pos = 0.1,
    /// Aspect ratio of nuclei.
    nuc_elong: Pos = 1.2,
    /// Fraction of nuclei aligned with the fibre direction.
    nuc_align: Frac = 0.0,
    /// Haematoxylin of nuclei.
    nuc_h: Pos = 1.6,
    /// Irregularity of nuclear outlines.
    nuc_irregular: Frac = 0.05,
    /// Fraction of nuclei broken into fragments (karyorrhexis).
    nuc_fragment: Frac = 0.0,
    /// Fraction of pale (ghost or vesicular) nuclei.
    nuc_pale: Frac = 0.0,
    /// Fraction of nuclei with a visible nucleolus.
    nucleoli: Frac = 0.0,
    /// Red blood cells per 1000 µm².
    rbc: Pos = 0.0,
    /// Brownish residue (DAB-channel density) in the matrix.
    debris_d: Pos = 0.0,
}

impl TissueParams {
    /// The centre of a class's distribution.
    pub fn centre(class: TissueClass) -> Self {
        let d = Self::default();
        match class {
            TissueClass::Adi => Self {
                matrix_e: 0.25,
                matrix_fill: 0.0,
                membrane: 1.0,
                cell_um: 75.0,
                membrane_e: 0.6,
                nuc_density: 0.12,
                nuc_r_um: 2.6,
                nuc_elong: 3.0,
                nuc_h: 1.4,
                ..d
            },
            TissueClass::Back => Self {
                matrix_e: 0.03,
                matrix_h: 0.015,
                matrix_fill: 0.3,
                gap_um: 45.0,
                grain: 0.5,
                debris_d: 0.02,
                nuc_density: 0.02,
                nuc_r_um: 4.0,
                nuc_pale: 0.8,
                nuc_h: 0.6,
                ..d
            },
            TissueClass::Deb => Self {
                matrix_e: 0.55,
                matrix_h: 0.2,
                matrix_fill: 0.85,
                gap_um: 10.0,
                grain: 0.8,
                fibre: 0.1,
                nuc_density: 4.0,
                nuc_r_um: 2.6,
                nuc_pleo: 0.4,
                nuc_fragment: 0.6,
                nuc_pale: 0.3,
                nuc_h: 1.5,
                nuc_irregular: 0.2,
                rbc: 0.8,
                debris_d: 0.15,
                ..d
            },
            TissueClass::Lym => Self {
                matrix_e: 0.2,
                matrix_h: 0.12,
                matrix_fill: 0.99,
                gap_um: 8.0,
                nuc_density: 14.0,
                nuc_r_um: 3.3,
                nuc_pleo: 0.08,
                nuc_elong: 1.1,
                nuc_h: 2.2,
                nuc_irregular: 0.04,
                ..d
            },
            TissueClass::Muc => Self {
                matrix_e: 0.1,
                matrix_h: 0.2,
                matrix_fill: 0.75,
                gap_um: 25.0,
                fibre: 0.5,
                fibre_um: 6.0,
                fibre_aniso: 8.0,
                wave: 1.0,
                grain: 0.3,
                nuc_density: 0.3,
                nuc_r_um: 3.5,
                nuc_h: 1.2,
                ..d
            },
            TissueClass::Mus => Self {
                matrix_e: 0.95,
                matrix_h: 0.05,
                matrix_fill: 0.99,
                gap_um: 12.0,
                fibre: 0.55,
                fibre_um: 2.5,
                fibre_aniso: 12.0,
                wave: 0.3,
                nuc_density: 1.6,
                nuc_r_um: 2.6,
                nuc_elong: 5.0,
                nuc_align: 0.95,
                nuc_h: 1.5,
                ..d
            },
            TissueClass::Norm => Self {
                matrix_e: 0.45,
                matrix_h: 0.12,
                matrix_fill: 0.93,
                gap_um: 8.0,
                fibre: 0.2,
                nuc_density: 3.0,
                nuc_r_um: 3.0,
                nuc_h: 1.8,
                gland: 0.95,
                gland_um: 32.0,
                lumen: 0.38,
                gland_irregular: 0.08,
                epi_e: 0.42,
                epi_h: 0.2,
                gland_rows: 1.0,
                gland_elong: 2.2,
                ..d
            },
            TissueClass::Str => Self {
                matrix_e: 0.6,
                matrix_h: 0.04,
                matrix_fill: 0.8,
                gap_um: 9.0,
                fibre: 0.6,
                fibre_um: 3.0,
                fibre_aniso: 7.0,
                wave: 0.9,
                nuc_density: 0.8,
                nuc_r_um: 2.5,
                nuc_elong: 3.5,
                nuc_align: 0.8,
                nuc_h: 1.5,
                rbc: 0.1,
                ..d
            },
            TissueClass::Tum => Self {
                matrix_e: 0.42,
                matrix_h: 0.28,
                matrix_fill: 0.97,
                gap_um: 10.0,
                grain: 0.15,
                nuc_density: 7.0,
                nuc_r_um: 4.8,
                nuc_pleo: 0.3,
                nuc_elong: 1.5,
                nuc_h: 1.7,
                nuc_irregular: 0.2,
                nucleoli: 0.4,
                nuc_pale: 0.1,
                gland: 0.5,
                gland_um: 38.0,
                lumen: 0.22,
                gland_irregular: 0.45,
                epi_e: 0.42,
                epi_h: 0.28,
                gland_rows: 2.5,
                gland_elong: 1.6,
                debris_d: 0.02,
                ..d
            },
        }
    }

    /// Parameters drawn around the class centre with relative `spread`.
    pub fn jittered(class: TissueClass, spread: f32, rng: &mut impl Rng) -> Self {
        let c = Self::centre(class).to_vec();
        let v: Vec<f32> = c
            .iter()
            .zip(Self::KINDS)
            .map(|(&x, kind)| {
                let g = gauss(rng);
                match kind {
                    Kind::Pos => x * (spread * g).exp(),
                    // Multiplicative towards the nearer end, so 0 and 1 stay exact (a class
                    // without glands never grows any from jitter alone).
                    Kind::Frac if x <= 0.5 => (x * (spread * g).exp()).clamp(0.0, 1.0),
                    Kind::Frac => (1.0 - (1.0 - x) * (spread * g).exp()).clamp(0.0, 1.0),
                }
            })
            .collect();
        Self::from_slice(&v)
    }

    /// `(1 − t)·self + t·other`, field by field.
    pub fn lerp(&self, other: &Self, t: f32) -> Self {
        let a = self.to_vec();
        let b = other.to_vec();
        let v: Vec<f32> = a
            .iter()
            .zip(&b)
            .map(|(x, y)| x * (1.0 - t) + y * t)
            .collect();
        Self::from_slice(&v)
    }

    /// A region's parameters: jittered around `class`'s centre, then pulled towards a jittered
    /// draw of a confusable class (see [`confusable`]) by a weight `t ~ U(0, overlap)`. With
    /// `overlap = 0` the classes only differ by their own spreads; at `overlap = 0.5` a region
    /// can be half-way to its neighbour class.
    pub fn draw(class: TissueClass, spread: f32, overlap: f32, rng: &mut impl Rng) -> Self {
        let own = Self::jittered(class, spread, rng);
        if overlap <= 0.0 {
            return own;
        }
        let other = pick_confusable(class, rng);
        let t = overlap * rng.random::<f32>();
        own.lerp(&Self::jittered(other, spread, rng), t)
    }
}

/// Classes that a pathologist (or a network) could confuse with `class`, with weights: the
/// direction in which [`TissueParams::draw`] pulls a region's parameters.
pub fn confusable(class: TissueClass) -> &'static [(TissueClass, f32)] {
    use TissueClass::*;
    match class {
        Adi => &[(Back, 2.0), (Str, 1.0), (Muc, 1.0)],
        Back => &[(Adi, 2.0), (Muc, 1.0), (Deb, 1.0)],
        Deb => &[(Tum, 2.0), (Muc, 1.0), (Lym, 1.0), (Str, 1.0)],
        Lym => &[(Tum, 1.5), (Deb, 1.5), (Norm, 1.0)],
        Muc => &[(Back, 1.0), (Str, 1.5), (Deb, 1.0), (Adi, 1.0)],
        Mus => &[(Str, 3.0), (Norm, 0.5)],
        Norm => &[(Tum, 2.0), (Str, 1.0), (Lym, 1.0)],
        Str => &[(Mus, 2.5), (Muc, 1.0), (Adi, 1.0), (Deb, 0.5)],
        Tum => &[(Norm, 2.0), (Deb, 1.5), (Lym, 1.0), (Str, 0.5)],
    }
}

fn pick_confusable(class: TissueClass, rng: &mut impl Rng) -> TissueClass {
    let table = confusable(class);
    let total: f32 = table.iter().map(|(_, w)| w).sum();
    let mut u = rng.random::<f32>() * total;
    for &(c, w) in table {
        if u < w {
            return c;
        }
        u -= w;
    }
    table[table.len() - 1].0
}

/// A standard normal draw (Box–Muller) from any generator.
pub(crate) fn gauss(rng: &mut impl Rng) -> f32 {
    let u1: f32 = rng.random_range(1e-7f32..1.0);
    let u2: f32 = rng.random();
    (-2.0 * u1.ln()).sqrt() * (std::f32::consts::TAU * u2).cos()
}

#[cfg(test)]
mod tests {
    use super::*;
    use histo_tensor::SampleRng;

    #[test]
    fn vector_round_trip_and_lerp() {
        let a = TissueParams::centre(TissueClass::Lym);
        assert_eq!(TissueParams::from_slice(&a.to_vec()), a);
        let b = TissueParams::centre(TissueClass::Tum);
        assert_eq!(a.lerp(&b, 0.0), a);
        assert_eq!(a.lerp(&b, 1.0), b);
        let m = a.lerp(&b, 0.5);
        assert!((m.nuc_r_um - (3.3 + 4.8) / 2.0).abs() < 1e-6);
        assert_eq!(TissueParams::KINDS.len(), a.to_vec().len());
    }

    #[test]
    fn zero_spread_and_overlap_give_the_centre() {
        let mut rng = SampleRng::new(0, 0, 0);
        for c in TissueClass::ALL {
            assert_eq!(
                TissueParams::draw(c, 0.0, 0.0, &mut rng),
                TissueParams::centre(c)
            );
        }
    }

    #[test]
    fn fractions_stay_in_range_and_overlap_moves_towards_neighbours() {
        let mut rng = SampleRng::new(1, 0, 0);
        let mut mean_density = 0.0;
        let n = 400;
        for _ in 0..n {
            let p = TissueParams::draw(TissueClass::Mus, 0.3, 0.8, &mut rng);
            for f in [
                p.matrix_fill,
                p.fibre,
                p.grain,
                p.membrane,
                p.gland,
                p.lumen,
            ] {
                assert!((0.0..=1.0).contains(&f));
            }
            mean_density += p.nuc_density / n as f32;
        }
        // MUS is pulled towards STR (0.8) and NORM (3.0), both from 1.6: the mean moves little,
        // but the nucleus elongation (5 → 3.5 / 2.2) must drop on average.
        assert!(mean_density > 0.5 && mean_density < 3.0, "{mean_density}");
        let mut elong = 0.0;
        for _ in 0..n {
            elong += TissueParams::draw(TissueClass::Mus, 0.0, 1.0, &mut rng).nuc_elong / n as f32;
        }
        assert!(elong < 4.6 && elong > 3.0, "{elong}");
    }

    #[test]
    fn confusable_classes_are_other_classes() {
        for c in TissueClass::ALL {
            for (o, w) in confusable(c) {
                assert_ne!(*o, c);
                assert!(*w > 0.0);
            }
        }
    }
}
