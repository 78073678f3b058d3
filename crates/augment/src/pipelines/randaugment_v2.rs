//! RandAugment of Pretraining_v2 (original `Pretraining_v2/models/randaugment.py`, spec §2.6):
//! PIL ops plus the HED and HSB colour augmenters.

use histo_tensor::Image;
use rand::{Rng, RngCore};
use serde::{Deserialize, Serialize};

use crate::ops::{self, Enhance, HedJitter, HsbJitter};
use crate::transform::{Transform, coin, uniform};
use crate::{Error, Result};

/// The 14 ops of the v2 pool, in the original's order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum V2Op {
    /// Unchanged.
    Identity,
    /// `ImageEnhance.Contrast(f)`, f = val/10 · 1.8 + 0.1.
    Contrast,
    /// `ImageEnhance.Brightness(f)`.
    Brightness,
    /// `ImageEnhance.Sharpness(f)`.
    Sharpness,
    /// `Image.rotate(±val/10 · 30°)` (nearest, black corners).
    Rotate,
    /// Translation by ±val/10 · 10 px (nearest, black fill).
    TranslateX,
    /// Vertical translation by ±val/10 · 10 px.
    TranslateY,
    /// Shear ±val/10 · 0.3 (bicubic).
    ShearX,
    /// Vertical shear ±val/10 · 0.3 (bicubic).
    ShearY,
    /// `HedColorAugmenter`: σ and bias per stain ~ U(±0.03 val), cutoff (0.15, 0.85).
    Hed,
    /// `HsbColorAugmenter`: hue and saturation ~ U(±0.03 val).
    Hsv,
    /// `ImageOps.autocontrast`.
    Autocontrast,
    /// `ImageEnhance.Color(f)`.
    Color,
    /// `ImageOps.equalize`.
    Equalize,
}

impl V2Op {
    /// The pool, in the original's order.
    pub const ALL: [V2Op; 14] = [
        V2Op::Identity,
        V2Op::Contrast,
        V2Op::Brightness,
        V2Op::Sharpness,
        V2Op::Rotate,
        V2Op::TranslateX,
        V2Op::TranslateY,
        V2Op::ShearX,
        V2Op::ShearY,
        V2Op::Hed,
        V2Op::Hsv,
        V2Op::Autocontrast,
        V2Op::Color,
        V2Op::Equalize,
    ];

    /// Applies the op at magnitude `val` (the original draws val ~ U(1, m)).
    pub fn apply(self, img: &Image, val: f64, rng: &mut dyn RngCore) -> Result<Image> {
        let f = val / 10.0 * 1.8 + 0.1;
        let negate = |v: f64, rng: &mut dyn RngCore| if coin(rng, 0.5) { v } else { -v };
        match self {
            V2Op::Identity => Ok(img.clone()),
            V2Op::Contrast => ops::enhance(img, Enhance::Contrast, f),
            V2Op::Brightness => ops::enhance(img, Enhance::Brightness, f),
            V2Op::Sharpness => ops::enhance(img, Enhance::Sharpness, f),
            V2Op::Color => ops::enhance(img, Enhance::Color, f),
            V2Op::Rotate => ops::pil_rotate(img, negate(val / 10.0 * 30.0, rng)),
            V2Op::TranslateX => ops::translate_x(img, negate(val / 10.0 * 10.0, rng)),
            V2Op::TranslateY => ops::translate_y(img, negate(val / 10.0 * 10.0, rng)),
            V2Op::ShearX => ops::shear_x(img, negate(val / 10.0 * 0.3, rng)),
            V2Op::ShearY => ops::shear_y(img, negate(val / 10.0 * 0.3, rng)),
            V2Op::Hed => {
                let r = 0.03 * val;
                let sigma = [(); 3].map(|_| uniform(rng, -r, r));
                let bias = [(); 3].map(|_| uniform(rng, -r, r));
                HedJitter {
                    sigma,
                    bias,
                    cutoff: (0.15, 0.85),
                }
                .apply(img)
            }
            V2Op::Hsv => {
                let r = 0.03 * val;
                let hue = uniform(rng, -r, r);
                let saturation = uniform(rng, -r, r);
                HsbJitter { hue, saturation }.apply(img)
            }
            V2Op::Autocontrast => Ok(ops::autocontrast(img)),
            V2Op::Equalize => Ok(ops::equalize(img)),
        }
    }
}

/// `RandAugment(n, m)` of Pretraining_v2: `n` *distinct* ops (`random.sample`), each at a
/// magnitude val ~ U(1, m) (continuous). The executed behaviour, including B38: with m < 5 the
/// four enhance factors are below 1, so they only ever weaken contrast, brightness, sharpness
/// and colour. Pretraining_v2 uses `n = 2, m = 3`. `n` ≤ 14, `m` in [1, 33] (the colour
/// augmenters need 0.03 m ≤ 1).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct RandAugmentV2 {
    /// Number of distinct ops.
    pub n: usize,
    /// Magnitude bound.
    pub m: f64,
}

impl Default for RandAugmentV2 {
    fn default() -> Self {
        Self { n: 2, m: 3.0 }
    }
}

impl RandAugmentV2 {
    /// `RandAugment(n, m)`.
    pub fn new(n: usize, m: f64) -> Self {
        Self { n, m }
    }
}

impl Transform for RandAugmentV2 {
    fn apply(&self, img: &Image, rng: &mut dyn RngCore) -> Result<Image> {
        crate::error::check_range(
            "randaugment_v2",
            "m",
            self.m,
            1.0,
            33.0,
            "a magnitude in [1, 33]",
        )?;
        if self.n > V2Op::ALL.len() {
            return Err(Error::Param {
                op: "randaugment_v2",
                name: "n",
                value: self.n.to_string(),
                expected: "at most 14 (distinct ops)",
            });
        }
        crate::error::check_nonempty("randaugment_v2", img)?;
        // random.sample: a partial Fisher-Yates shuffle.
        let mut pool = V2Op::ALL;
        let mut img = img.clone();
        for i in 0..self.n {
            let j = rng.random_range(i..pool.len());
            pool.swap(i, j);
            let val = uniform(rng, 1.0, self.m);
            img = pool[i].apply(&img, val, rng)?;
        }
        Ok(img)
    }
}
