//! RandAugment of the consistency-training stage (original `models/randaugment.py`, spec §4.2).

use histo_tensor::Image;
use rand::{Rng, RngCore};
use serde::{Deserialize, Serialize};

use crate::ops::{self, Flip};
use crate::pipelines::{maybe_rotate, random_hed_shift};
use crate::transform::{Size, Transform, coin, int_inclusive, uniform};
use crate::{Error, Result};

/// How [`RandAugment`] maps magnitudes to op parameters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// Every op's strength grows with its magnitude `v` (drawn in 1..=m), `s = v / 10`.
    #[default]
    Sane,
    /// The original's mapping, as executed: `v` in 1..m-1, `val = v/30 (max - min) + min`, with
    /// its oddities (B15: the HSV op shifts by less than one level; B16: RandomScale gets a scalar
    /// limit, a factor U(1 - val, 1 + val) down to 0.08; B18: the magnitude reaches at most 30 %
    /// of the range, Color ignores it, Brightness/Contrast also apply the other at ±0.2).
    Faithful,
}

/// The 9 ops of the pool, in the original's order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RandOp {
    /// `HueSaturationValue`.
    Hsv,
    /// Additive Gaussian noise, one value per pixel for all channels.
    Noise,
    /// `RandomScale` → `Resize(H + 20, W + 20)` → `RandomCrop(H, W)`.
    ScaleResizeCrop,
    /// `ShiftScaleRotate` (bicubic, reflect-101).
    ShiftScaleRotate,
    /// HED stain shift (log10), always applied.
    Color,
    /// Box blur.
    Blur,
    /// `RandomBrightnessContrast`, brightness driven by the magnitude.
    Brightness,
    /// `RandomBrightnessContrast`, contrast driven by the magnitude.
    Contrast,
    /// `Flip` (random axis) → `Rotate` → `CenterCrop`.
    RotateCrop,
}

impl RandOp {
    /// The pool, in the original's order.
    pub const ALL: [RandOp; 9] = [
        RandOp::Hsv,
        RandOp::Noise,
        RandOp::ScaleResizeCrop,
        RandOp::ShiftScaleRotate,
        RandOp::Color,
        RandOp::Blur,
        RandOp::Brightness,
        RandOp::Contrast,
        RandOp::RotateCrop,
    ];

    /// The original's `(min, max)` for the op's magnitude.
    pub fn range(self) -> (f64, f64) {
        match self {
            RandOp::Hsv => (-1.0, 1.0),
            RandOp::Noise => (0.0, 0.15),
            RandOp::ScaleResizeCrop => (0.8, 1.2),
            RandOp::ShiftScaleRotate => (0.01, 0.1),
            RandOp::Color => (-0.035, 0.035),
            RandOp::Blur => (0.0, 2.0),
            RandOp::Brightness | RandOp::Contrast => (-0.2, 0.2),
            RandOp::RotateCrop => (-90.0, 90.0),
        }
    }
}

/// `RandAugment(n, m)` over the 9-op pool: `n` ops drawn with replacement, each with its own
/// magnitude; every op keeps the image size.
///
/// Parameters per op (p = 0.5 is the probability that the op does anything, as albumentations'
/// default; ± means a uniform draw in the symmetric range; `s = v / 10`):
///
/// | op | `Sane` (default) | `Faithful` (v = 1..m-1, val = v/30·(max-min)+min) |
/// |---|---|---|
/// | Hsv | p 0.5; hue ±10s (OpenCV units, 2°), sat ±30s, val ±20s | p 0.5; h, s, v shifts ±\|val\| ≤ 0.93: u8 LUT truncation makes it the lossy HSV round trip (B15) |
/// | Noise | p 0.5; σ ~ U(0, 25.5 s) | p 0.5; σ ~ U(0, 255 val) |
/// | ScaleResizeCrop | p 0.5: zoom U(1, 1 + 0.25 s), resize (ceil), random crop back | RandomScale p 0.5: factor U(1-val, 1+val) (B16); Resize(H+20, W+20); RandomCrop(H, W) |
/// | ShiftScaleRotate | p 0.5; shift ±0.0625 s, scale 1 ± 0.25 s, angle ±45 s | sign flip; p 0.5; shift ±\|val\|, scale 1 ± (val + 0.5), angle ±90 |
/// | Color | HED shift, σ_k ~ U(±0.035 s), δ_k ~ N(0, \|σ_k\|) | the same with σ_k ~ U(±0.035) (magnitude ignored, B18) |
/// | Blur | p 0.5; k = 3 (s < 0.5) or k ∈ {3, 5} | p 0.5; k ∈ {3, 5} |
/// | Brightness | p 0.5; β ±0.2 s | p 0.5; β ±\|val\|, α = 1 ± 0.2 (B18) |
/// | Contrast | p 0.5; α = 1 ± 0.2 s | p 0.5; α = 1 ± \|val\|, β ±0.2 (B18) |
/// | RotateCrop | p 0.5 flip (vertical, horizontal or both); p 0.5 rotate ±90 s | sign flip; the same flip; p 0.5 rotate ±\|val\| |
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct RandAugment {
    /// Number of ops applied (7 in the original).
    pub n: usize,
    /// Magnitude bound (10 in the original).
    pub m: u32,
    /// Magnitude mapping.
    pub mode: Mode,
    /// Extra pixels of the ScaleResizeCrop resize in `Faithful` mode (20 in the original).
    pub margin: usize,
}

impl Default for RandAugment {
    fn default() -> Self {
        Self {
            n: 7,
            m: 10,
            mode: Mode::Sane,
            margin: 20,
        }
    }
}

impl RandAugment {
    /// `RandAugment(n, m)` in the default (`Sane`) mode.
    pub fn new(n: usize, m: u32) -> Self {
        Self {
            n,
            m,
            ..Self::default()
        }
    }

    /// The same with another mode.
    pub fn with_mode(self, mode: Mode) -> Self {
        Self { mode, ..self }
    }

    fn check(&self) -> Result<()> {
        let min_m = if self.mode == Mode::Faithful { 2 } else { 1 };
        if self.m < min_m || self.m > 100 {
            return Err(Error::Param {
                op: "randaugment",
                name: "m",
                value: self.m.to_string(),
                expected: "a magnitude bound in 1..=100 (2..=100 in faithful mode, where v < m)",
            });
        }
        if self.n > 100 {
            return Err(Error::Param {
                op: "randaugment",
                name: "n",
                value: self.n.to_string(),
                expected: "at most 100 ops",
            });
        }
        Ok(())
    }

    /// Applies one op with integer magnitude `v` (1..=m; the faithful mapping uses v/30).
    pub fn apply_op(
        &self,
        op: RandOp,
        v: u32,
        img: &Image,
        rng: &mut dyn RngCore,
    ) -> Result<Image> {
        match self.mode {
            Mode::Faithful => faithful(op, v, self.margin, img, rng),
            Mode::Sane => sane(op, v as f64 / 10.0, img, rng),
        }
    }
}

impl Transform for RandAugment {
    fn apply(&self, img: &Image, rng: &mut dyn RngCore) -> Result<Image> {
        self.check()?;
        crate::error::check_nonempty("randaugment", img)?;
        let mut img = img.clone();
        for _ in 0..self.n {
            let op = RandOp::ALL[rng.random_range(0..RandOp::ALL.len())];
            let v = match self.mode {
                Mode::Faithful => rng.random_range(1..self.m),
                Mode::Sane => rng.random_range(1..=self.m),
            };
            img = self.apply_op(op, v, &img, rng)?;
        }
        Ok(img)
    }
}

/// `RandomScale` factor → `Resize(H + margin, W + margin)` → `RandomCrop(H, W)`.
pub(crate) fn scale_resize_crop(
    img: Image,
    factor: Option<f64>,
    margin: usize,
    rng: &mut dyn RngCore,
) -> Result<Image> {
    let size = Size::of(&img);
    let img = match factor {
        Some(f) => ops::scale(&img, f)?,
        None => img,
    };
    let img = ops::resize(&img, Size::new(size.width + margin, size.height + margin))?;
    ops::random_crop(&img, size, rng)
}

fn sign_flip(v: f64, rng: &mut dyn RngCore) -> f64 {
    if coin(rng, 0.5) { -v } else { v }
}

fn faithful(
    op: RandOp,
    v: u32,
    margin: usize,
    img: &Image,
    rng: &mut dyn RngCore,
) -> Result<Image> {
    let (lo, hi) = op.range();
    let val = v as f64 / 30.0 * (hi - lo) + lo;
    match op {
        RandOp::Hsv => {
            let l = sign_flip(val, rng).abs();
            if coin(rng, 0.5) {
                let (h, s, vv) = (
                    uniform(rng, -l, l),
                    uniform(rng, -l, l),
                    uniform(rng, -l, l),
                );
                return ops::hsv_shift(img, h, s, vv);
            }
            Ok(img.clone())
        }
        RandOp::Noise => {
            if coin(rng, 0.5) {
                let sigma = uniform(rng, 0.0, 255.0 * val);
                return ops::gaussian_noise(img, sigma, rng);
            }
            Ok(img.clone())
        }
        RandOp::ScaleResizeCrop => {
            let factor = coin(rng, 0.5).then(|| uniform(rng, 1.0 - val, 1.0 + val));
            scale_resize_crop(img.clone(), factor, margin, rng)
        }
        RandOp::ShiftScaleRotate => {
            let v = sign_flip(val, rng);
            if coin(rng, 0.5) {
                let s = (v + 0.5).abs();
                let angle = uniform(rng, -90.0, 90.0);
                let scale = uniform(rng, 1.0 - s, 1.0 + s);
                let dx = uniform(rng, -v.abs(), v.abs());
                let dy = uniform(rng, -v.abs(), v.abs());
                return ops::shift_scale_rotate(img, angle, scale, dx, dy);
            }
            Ok(img.clone())
        }
        RandOp::Color => random_hed_shift(img, 0.035, rng),
        RandOp::Blur => {
            if coin(rng, 0.5) {
                let k = 3 + 2 * int_inclusive(rng, 0, 1);
                return ops::box_blur(img, k);
            }
            Ok(img.clone())
        }
        RandOp::Brightness | RandOp::Contrast => {
            if coin(rng, 0.5) {
                let (cl, bl) = if op == RandOp::Brightness {
                    (0.2, val.abs())
                } else {
                    (val.abs(), 0.2)
                };
                let alpha = 1.0 + uniform(rng, -cl, cl);
                let beta = uniform(rng, -bl, bl);
                return ops::brightness_contrast(img, alpha, beta);
            }
            Ok(img.clone())
        }
        RandOp::RotateCrop => {
            let l = sign_flip(val, rng).abs();
            let img = if coin(rng, 0.5) {
                let code = rng.random_range(-1..=1);
                ops::flip(img, Flip::from_code(code))
            } else {
                img.clone()
            };
            maybe_rotate(img, l, 0.5, rng)
        }
    }
}

fn sane(op: RandOp, s: f64, img: &Image, rng: &mut dyn RngCore) -> Result<Image> {
    match op {
        RandOp::Hsv => {
            if coin(rng, 0.5) {
                let h = uniform(rng, -10.0 * s, 10.0 * s);
                let sat = uniform(rng, -30.0 * s, 30.0 * s);
                let val = uniform(rng, -20.0 * s, 20.0 * s);
                return ops::hsv_shift(img, h, sat, val);
            }
            Ok(img.clone())
        }
        RandOp::Noise => {
            if coin(rng, 0.5) {
                let sigma = uniform(rng, 0.0, 25.5 * s);
                return ops::gaussian_noise(img, sigma, rng);
            }
            Ok(img.clone())
        }
        RandOp::ScaleResizeCrop => {
            if coin(rng, 0.5) {
                let size = Size::of(img);
                let z = uniform(rng, 1.0, 1.0 + 0.25 * s);
                let big = Size::new(
                    (size.width as f64 * z).ceil() as usize,
                    (size.height as f64 * z).ceil() as usize,
                );
                let up = ops::resize(img, big)?;
                return ops::random_crop(&up, size, rng);
            }
            Ok(img.clone())
        }
        RandOp::ShiftScaleRotate => {
            if coin(rng, 0.5) {
                let angle = uniform(rng, -45.0 * s, 45.0 * s);
                let scale = uniform(rng, 1.0 - 0.25 * s, 1.0 + 0.25 * s);
                let dx = uniform(rng, -0.0625 * s, 0.0625 * s);
                let dy = uniform(rng, -0.0625 * s, 0.0625 * s);
                return ops::shift_scale_rotate(img, angle, scale, dx, dy);
            }
            Ok(img.clone())
        }
        RandOp::Color => random_hed_shift(img, 0.035 * s, rng),
        RandOp::Blur => {
            if coin(rng, 0.5) {
                let k = if s < 0.5 {
                    3
                } else {
                    3 + 2 * int_inclusive(rng, 0, 1)
                };
                return ops::box_blur(img, k);
            }
            Ok(img.clone())
        }
        RandOp::Brightness => {
            if coin(rng, 0.5) {
                return ops::brightness_contrast(img, 1.0, uniform(rng, -0.2 * s, 0.2 * s));
            }
            Ok(img.clone())
        }
        RandOp::Contrast => {
            if coin(rng, 0.5) {
                return ops::brightness_contrast(img, 1.0 + uniform(rng, -0.2 * s, 0.2 * s), 0.0);
            }
            Ok(img.clone())
        }
        RandOp::RotateCrop => {
            let img = if coin(rng, 0.5) {
                ops::flip(img, Flip::from_code(rng.random_range(-1..=1)))
            } else {
                img.clone()
            };
            maybe_rotate(img, 90.0 * s, 0.5, rng)
        }
    }
}
