//! The RSP pretraining augmentation (spec §2.4 and §2.6).

use histo_tensor::Image;
use rand::RngCore;
use serde::{Deserialize, Serialize};

use crate::Result;
use crate::ops;
use crate::pipelines::randaugment::scale_resize_crop;
use crate::pipelines::{RandAugmentV2, maybe_rotate, random_hed_shift};
use crate::transform::{Size, Transform, coin, int_inclusive, permutation, uniform};

/// Which pretraining code to follow.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RspVersion {
    /// `dataset.py` (the paper): all 8 ops, random order shared by the triplet.
    #[default]
    V1,
    /// Pretraining_v2: RandAugmentV2 on each tile independently.
    V2,
}

/// The RSP augmentation of a triplet of tiles (HR, LR1, LR2). Each tile keeps its size (any
/// size; the original's `Resize(size + 20)` / `RandomCrop(size)` follow the tile).
///
/// **v1** (default): a random order of the 8 ops below, shared by the three tiles, with every
/// op's random parameters drawn independently per tile (p = probability the op acts):
///
/// | # | op | parameters |
/// |---|---|---|
/// | 0 | HSV shift | p 0.5; hue U(±0.1), sat U(±1), val U(±20) (OpenCV u8 units): in effect a ±20 V shift |
/// | 1 | Gaussian noise | p 0.5; σ ~ U(0, 25.5), same value on the 3 channels |
/// | 2 | Scale_Resize_Crop | rotate p 0.5 U(±90°) → RandomScale p 0.5 factor U(1.8, 2.2) (B16) → Resize(H+20, W+20) → RandomCrop(H, W) |
/// | 3 | Shift_Scale_Rotate | hflip p 0.5 → p 0.5 shift U(±0.0625), scale U(0.5, 1.5), angle U(±45°) |
/// | 4 | HED Color | always: σ_k ~ U(±0.035), δ_k ~ N(0, \|σ_k\|), log10 HED shift |
/// | 5 | Blur | p 0.5; box k ∈ {3, 5, 7} |
/// | 6 | Brightness_Contrast | p 0.5; α = 1 + U(±0.2), β = U(±0.2) |
/// | 7 | Rotate_Crop | p 0.5 rotate U(±90°) (centre crop to the same size: no-op) |
///
/// All warps are bicubic with reflect-101 borders. **v2**: [`RandAugmentV2`] with `n`, `m`
/// (2, 3) on each tile separately.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct RspPool {
    /// Which code to follow.
    pub version: RspVersion,
    /// Extra pixels of the Scale_Resize_Crop resize (20).
    pub margin: usize,
    /// The v2 RandAugment.
    pub v2: RandAugmentV2,
}

impl Default for RspPool {
    fn default() -> Self {
        Self {
            version: RspVersion::V1,
            margin: 20,
            v2: RandAugmentV2::default(),
        }
    }
}

impl RspPool {
    /// The pool of `version` with the original's settings.
    pub fn new(version: RspVersion) -> Self {
        Self {
            version,
            ..Self::default()
        }
    }

    /// Augments the three tiles of a triplet.
    pub fn apply_triplet(&self, tiles: &[Image; 3], rng: &mut dyn RngCore) -> Result<[Image; 3]> {
        for t in tiles {
            crate::error::check_nonempty("rsp_pool", t)?;
        }
        let mut out = tiles.clone();
        match self.version {
            RspVersion::V1 => {
                for op in permutation(rng, 8) {
                    for t in out.iter_mut() {
                        *t = self.v1_op(op, std::mem::replace(t, Image::new(0, 0)), rng)?;
                    }
                }
            }
            RspVersion::V2 => {
                for t in out.iter_mut() {
                    *t = self.v2.apply(t, rng)?;
                }
            }
        }
        Ok(out)
    }

    /// Op `index` (0..8) of the v1 pool on one tile.
    fn v1_op(&self, index: usize, img: Image, rng: &mut dyn RngCore) -> Result<Image> {
        match index {
            0 => {
                if coin(rng, 0.5) {
                    let h = uniform(rng, -0.1, 0.1);
                    let s = uniform(rng, -1.0, 1.0);
                    let v = uniform(rng, -20.0, 20.0);
                    return ops::hsv_shift(&img, h, s, v);
                }
                Ok(img)
            }
            1 => {
                if coin(rng, 0.5) {
                    let sigma = uniform(rng, 0.0, 25.5);
                    return ops::gaussian_noise(&img, sigma, rng);
                }
                Ok(img)
            }
            2 => {
                let img = maybe_rotate(img, 90.0, 0.5, rng)?;
                let factor = coin(rng, 0.5).then(|| uniform(rng, 1.8, 2.2));
                scale_resize_crop(img, factor, self.margin, rng)
            }
            3 => {
                let img = if coin(rng, 0.5) {
                    ops::hflip(&img)
                } else {
                    img
                };
                if coin(rng, 0.5) {
                    let angle = uniform(rng, -45.0, 45.0);
                    let scale = uniform(rng, 0.5, 1.5);
                    let dx = uniform(rng, -0.0625, 0.0625);
                    let dy = uniform(rng, -0.0625, 0.0625);
                    return ops::shift_scale_rotate(&img, angle, scale, dx, dy);
                }
                Ok(img)
            }
            4 => random_hed_shift(&img, 0.035, rng),
            5 => {
                if coin(rng, 0.5) {
                    return ops::box_blur(&img, 3 + 2 * int_inclusive(rng, 0, 2));
                }
                Ok(img)
            }
            6 => {
                if coin(rng, 0.5) {
                    let alpha = 1.0 + uniform(rng, -0.2, 0.2);
                    let beta = uniform(rng, -0.2, 0.2);
                    return ops::brightness_contrast(&img, alpha, beta);
                }
                Ok(img)
            }
            _ => {
                let size = Size::of(&img);
                let img = maybe_rotate(img, 90.0, 0.5, rng)?;
                ops::center_crop(&img, size)
            }
        }
    }
}
