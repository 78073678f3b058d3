//! The weak/strong pair of consistency training (`TransformFix`, spec §4.2).

use histo_tensor::Image;
use rand::RngCore;
use serde::{Deserialize, Serialize};

use crate::Result;
use crate::ops;
use crate::pipelines::RandAugment;
use crate::transform::{Size, Transform, coin};

/// Weak augmentation: horizontal flip with p 0.5, then a random `size` crop (torchvision
/// `RandomHorizontalFlip` + `RandomCrop`, no padding). Inputs smaller than `size` are an error.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Weak {
    /// Crop size.
    pub size: Size,
}

impl Weak {
    /// Square crops of `side` pixels.
    pub fn new(side: usize) -> Self {
        Self {
            size: Size::square(side),
        }
    }
}

impl Transform for Weak {
    fn apply(&self, img: &Image, rng: &mut dyn RngCore) -> Result<Image> {
        let img = if coin(rng, 0.5) {
            ops::hflip(img)
        } else {
            img.clone()
        };
        ops::random_crop(&img, self.size, rng)
    }
}

/// Strong augmentation: flip (p 0.5) + random `size` crop + [`RandAugment`] (n 7, m 10; the
/// default `Sane` mode, or `Faithful`).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Strong {
    /// Crop size.
    pub size: Size,
    /// The RandAugment after the crop.
    #[serde(default)]
    pub randaugment: RandAugment,
}

impl Strong {
    /// Square crops of `side` pixels with RandAugment(7, 10) in the default mode.
    pub fn new(side: usize) -> Self {
        Self {
            size: Size::square(side),
            randaugment: RandAugment::default(),
        }
    }
}

impl Transform for Strong {
    fn apply(&self, img: &Image, rng: &mut dyn RngCore) -> Result<Image> {
        let cropped = Weak { size: self.size }.apply(img, rng)?;
        self.randaugment.apply(&cropped, rng)
    }
}

/// The (weak, strong) pair of one unlabelled image, drawn independently (weak first).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct WeakStrong {
    /// The weak view.
    pub weak: Weak,
    /// The strong view.
    pub strong: Strong,
}

impl WeakStrong {
    /// Both views at `side` x `side`, strong = RandAugment(7, 10), default mode.
    pub fn new(side: usize) -> Self {
        Self {
            weak: Weak::new(side),
            strong: Strong::new(side),
        }
    }

    /// The pair.
    pub fn pair(&self, img: &Image, rng: &mut dyn RngCore) -> Result<(Image, Image)> {
        let weak = self.weak.apply(img, rng)?;
        let strong = self.strong.apply(img, rng)?;
        Ok((weak, strong))
    }
}
