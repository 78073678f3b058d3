//! Augmentations for histopathology tiles (u8 RGB [`Image`]s), as the method of Srinidhi et al.
//! uses them — made fast, deterministic and safe.
//!
//! - [`ops`]: primitive ops with the exact arithmetic of the libraries the original called
//!   (OpenCV / albumentations 0.4, PIL, scikit-image 0.15), golden-tested against them;
//! - [`pipelines`]: the four augmentation pipelines of the method — the RSP pretraining pool
//!   ([`RspPool`]), the 3-view fine-tuning views ([`FinetuneViews`]), the weak/strong pair of
//!   consistency training ([`Weak`], [`Strong`], [`WeakStrong`]) and the v2 RandAugment with its
//!   HED/HSB colour augmenters ([`RandAugmentV2`]);
//! - [`par_augment`]: augment a batch on rayon threads, each sample with its own random stream
//!   `SampleRng::stream("augment", seed, epoch, index)`, so results do not depend on the
//!   thread count.
//!
//! Every op takes its randomness from a `&mut dyn RngCore` and returns an error (never panics)
//! on NaN or out-of-range parameters, empty images, images smaller than a crop or outputs larger
//! than [`Size::MAX_PIXELS`]. Where the original misbehaves, the default is corrected and the
//! original is one switch away (see [`pipelines`]). We implement the ops ourselves rather than
//! binding OpenCV or Pillow or using the `image` crate's resamplers: that keeps the build pure
//! Rust with no new dependency, lets the hot ones become lookup tables (the HED shift costs
//! 0.07 ms per 256² tile, ~500× less than the original's per-pixel loop), and lets us match the
//! original libraries' rounding bit for bit, which no Rust image crate does (see the golden
//! tests, `tests/golden.rs`, and `cargo bench -p histo-augment`).
//!
//! ```
//! use histo_augment::{Strong, Transform, WeakStrong, ops, sample_rng};
//! use histo_tensor::Image;
//!
//! let tile = Image::filled(256, 256, [200, 120, 180]);
//! // One fixed op: a faithful HED stain shift.
//! let shifted = ops::HedShift::new([0.02, -0.015, 0.01]).apply(&tile)?;
//! assert_eq!(shifted.width(), 256);
//! // The weak/strong pair of consistency training, for sample 7 of epoch 0 with seed 42.
//! let mut rng = sample_rng(42, 0, 7);
//! let (weak, strong) = WeakStrong::new(256).pair(&tile, &mut rng)?;
//! assert_eq!((weak.width(), strong.height()), (256, 256));
//! let again = Strong::new(256).apply(&tile, &mut sample_rng(42, 0, 8))?;
//! assert_eq!(again.width(), 256);
//! # Ok::<(), histo_augment::Error>(())
//! ```

mod batch;
mod error;
pub mod ops;
pub mod pipelines;
mod transform;

pub use batch::par_augment;
pub use error::{Error, Result};
pub use pipelines::{
    FinetuneViews, Mode, RandAugment, RandAugmentV2, RspPool, RspVersion, Strong, Weak, WeakStrong,
};
pub use transform::{RNG_DOMAIN, Size, Transform, sample_rng};

pub use histo_tensor::{Image, SampleRng};
