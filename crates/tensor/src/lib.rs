//! Shared types that connect the stages of histo.
//!
//! Pixels stay `u8` from the slide reader through augmentation; the one conversion to floats
//! happens here, when a batch is assembled for the model. This crate holds:
//!
//! - [`Image`]: an owned RGB u8 image (HWC, backed by [`ndarray::Array3`]), read and written as
//!   PNG, JPEG or TIFF through the `image` crate;
//! - [`ImageBatch`]: N equally sized images (NHWC), turned into an NCHW float [`Tensor`] on any
//!   [`Device`] with an [`InputScale`] (the original method feeds raw 0–255 floats), and back;
//! - [`Target`] / [`TargetBatch`]: class ids or regression scores;
//! - [`select_device`] / [`DeviceSpec`]: `auto`, `cpu`, `cuda`, `cuda:N`;
//! - [`SampleRng`]: a deterministic random stream per (seed, epoch, sample index), so results do
//!   not depend on thread count or on the order in which samples are drawn.
//!
//! ```
//! use histo_tensor::{Image, ImageBatch, InputScale, SampleRng, select_device};
//! use rand::Rng;
//!
//! let mut rng = SampleRng::new(42, 0, 7);
//! let mut img = Image::new(4, 2);
//! img.put_pixel(3, 1, [rng.random(), 0, 255]);
//! let batch = ImageBatch::from_images(&[img.clone(), img])?;
//! let device = select_device("cpu")?;
//! let t = batch.to_tensor(&device, InputScale::Unit)?;
//! assert_eq!(t.dims(), &[2, 3, 2, 4]);
//! # Ok::<(), histo_tensor::Error>(())
//! ```

mod batch;
mod device;
mod error;
mod image;
mod rng;
mod target;

pub use batch::{ImageBatch, InputScale};
pub use device::{DeviceSpec, cuda_compiled, select_device};
pub use error::{Error, Result};
pub use image::Image;
pub use rng::SampleRng;
pub use target::{Target, TargetBatch};

pub use candle_core::{DType, Device, Tensor};
