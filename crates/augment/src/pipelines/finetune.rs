//! The 3-view augmentation of supervised fine-tuning (spec §3.3).

use histo_tensor::Image;
use rand::RngCore;
use serde::{Deserialize, Serialize};

use crate::ops;
use crate::pipelines::maybe_rotate;
use crate::pipelines::randaugment::scale_resize_crop;
use crate::transform::{Size, coin, permutation, uniform};
use crate::{Error, Result};

/// Three views of a labelled image, randomly permuted:
///
/// 1. `img0` = the image resized to `size` (bicubic; BreastPathQ and Kather), or the image as
///    is when `resize` is off (Camelyon16 — it must then already have the output size);
/// 2. `img0` rotated by U(±90°) with p 0.5 (bicubic, reflect-101), centre-cropped to `size`;
/// 3. `img0` rotated (p 0.5), RandomScale factor U(1.8, 2.2) (p 0.5; B16: undone by the next
///    step, it only adds resampling blur), resized to `size + margin`, randomly cropped to `size`.
///
/// Each view is a separate training sample with the same label.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct FinetuneViews {
    /// Output size (256 in the original).
    pub size: Size,
    /// Resize the input to `size` first (true for BreastPathQ/Kather, false for Camelyon16).
    pub resize: bool,
    /// Extra pixels of the view-3 resize (20).
    pub margin: usize,
}

impl Default for FinetuneViews {
    fn default() -> Self {
        Self {
            size: Size::square(256),
            resize: true,
            margin: 20,
        }
    }
}

impl FinetuneViews {
    /// Views of `side` x `side` pixels, resizing the input first.
    pub fn new(side: usize) -> Self {
        Self {
            size: Size::square(side),
            ..Self::default()
        }
    }

    /// The three views, in random order.
    pub fn views(&self, img: &Image, rng: &mut dyn RngCore) -> Result<[Image; 3]> {
        crate::error::check_nonempty("finetune_views", img)?;
        let size = self.size.check("finetune_views")?;
        let img0 = if self.resize {
            ops::resize(img, size)?
        } else if Size::of(img) != size {
            return Err(Error::Shape {
                op: "finetune_views",
                what: format!(
                    "the image is {}, not {size}; turn `resize` on or resize it first",
                    Size::of(img)
                ),
            });
        } else {
            img.clone()
        };
        let view1 = ops::center_crop(&maybe_rotate(img0.clone(), 90.0, 0.5, rng)?, size)?;
        let rotated = maybe_rotate(img0.clone(), 90.0, 0.5, rng)?;
        let factor = coin(rng, 0.5).then(|| uniform(rng, 1.8, 2.2));
        let view2 = scale_resize_crop(rotated, factor, self.margin, rng)?;
        let mut views = [img0, view1, view2].map(Some);
        let order = permutation(rng, 3);
        Ok(std::array::from_fn(|k| {
            views[order[k]]
                .take()
                .expect("a permutation takes each view once")
        }))
    }
}
