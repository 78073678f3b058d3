//! The augmentation pipelines of the method, configurable and named as in the original.
//!
//! | pipeline | stage | original |
//! |---|---|---|
//! | [`RspPool`] (v1) | RSP pretraining | all 8 ops of spec §2.4 in a random order shared by the triplet, parameters drawn per tile |
//! | [`RspPool`] (v2) | RSP pretraining, Pretraining_v2 | [`RandAugmentV2`]`(2, 3)` on each tile independently |
//! | [`FinetuneViews`] | supervised fine-tuning | resized original, rotated, rotated+rescaled+cropped; randomly permuted (spec §3.3) |
//! | [`Weak`] | consistency training | horizontal flip (p = 0.5) + random crop |
//! | [`Strong`] | consistency training | flip + crop + [`RandAugment`]`(n = 7, m = 10)` (spec §4.2) |
//!
//! Every pipeline works at any square or rectangular size (224, 256, 512, ...): the sizes the
//! original hard-codes (`Resize(size + 20)`, `RandomCrop(size)`) follow the configured or input
//! size. Ops with albumentations' default `p = 0.5` keep it. Only [`RandAugment`] has a
//! [`Mode`]: its `Faithful` mode reproduces the original's magnitudes, oddities included (B15,
//! B16, B18); the default `Sane` mode gives every op a magnitude that scales with `m` (see
//! [`RandAugment`]). The other pipelines reproduce the executed behaviour, with two documented
//! corrections that apply everywhere: HED results are clipped at 0 instead of wrapping (B17), and
//! all random draws come from per-sample streams (B37).

mod finetune;
mod randaugment;
mod randaugment_v2;
mod rsp;
mod weak_strong;

pub use finetune::FinetuneViews;
pub use randaugment::{Mode, RandAugment, RandOp};
pub use randaugment_v2::{RandAugmentV2, V2Op};
pub use rsp::{RspPool, RspVersion};
pub use weak_strong::{Strong, Weak, WeakStrong};

use histo_tensor::Image;
use rand::RngCore;
use rand_distr::{Distribution, Normal};

use crate::Result;
use crate::ops::{self, HedShift};
use crate::transform::{coin, uniform};

/// albumentations' `Rotate(limit=(-limit, limit), INTER_CUBIC, BORDER_REFLECT_101)` with
/// probability `p`.
pub(crate) fn maybe_rotate(img: Image, limit: f64, p: f64, rng: &mut dyn RngCore) -> Result<Image> {
    if coin(rng, p) {
        ops::rotate(&img, uniform(rng, -limit, limit))
    } else {
        Ok(img)
    }
}

/// The original's HED "Color" op: σ_k ~ U(-max, max), δ_k ~ N(0, |σ_k|) per stain, then a log10
/// HED shift by δ (always applied).
pub fn random_hed_shift(img: &Image, sigma_max: f64, rng: &mut dyn RngCore) -> Result<Image> {
    let sigmas = [(); 3].map(|_| uniform(rng, -sigma_max, sigma_max).abs());
    let mut delta = [0.0; 3];
    for (d, s) in delta.iter_mut().zip(sigmas) {
        *d = if s > 0.0 {
            Normal::new(0.0, s).map(|n| n.sample(rng)).unwrap_or(0.0)
        } else {
            0.0
        };
    }
    HedShift::new(delta).apply(img)
}
