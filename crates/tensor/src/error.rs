//! The error type of `histo-tensor`.

use std::path::PathBuf;

/// Result alias of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong when building images, batches, tensors or devices.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A buffer or array does not have the shape the operation needs.
    #[error("bad shape: expected {expected}, got {got}")]
    Shape {
        /// What was expected, in words (e.g. `"[H, W, 3]"`).
        expected: String,
        /// What was found.
        got: String,
    },
    /// A batch was built from images of different sizes.
    #[error("image {index} of the batch is {got_w}x{got_h}, but image 0 is {want_w}x{want_h}")]
    SizeMismatch {
        /// Index of the offending image.
        index: usize,
        /// Width and height of image 0.
        want_w: usize,
        /// Height of image 0.
        want_h: usize,
        /// Width of the offending image.
        got_w: usize,
        /// Height of the offending image.
        got_h: usize,
    },
    /// An operation needed at least one item.
    #[error("empty batch: {0}")]
    Empty(&'static str),
    /// Targets of different kinds (class ids and scores) were mixed in one batch.
    #[error("mixed targets in one batch: item 0 is a {first}, item {index} is a {other}")]
    MixedTargets {
        /// Kind of item 0.
        first: &'static str,
        /// Index of the first item of another kind.
        index: usize,
        /// Kind of that item.
        other: &'static str,
    },
    /// Reading or decoding an image file failed.
    #[error("cannot read image {path}: {cause}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why (part of the message, not a separate error in the chain, so it prints once).
        cause: ::image::ImageError,
    },
    /// Encoding or writing an image file failed.
    #[error("cannot write image {path}: {cause}")]
    Write {
        /// The file.
        path: PathBuf,
        /// Why (part of the message, printed once).
        cause: ::image::ImageError,
    },
    /// Decoding an in-memory image failed.
    #[error("cannot decode image: {0}")]
    Decode(::image::ImageError),
    /// A device string could not be parsed or the device is not available.
    #[error("{0}")]
    Device(String),
    /// An invalid parameter (e.g. a zero standard deviation).
    #[error("invalid parameter: {0}")]
    Invalid(String),
    /// An error from candle.
    #[error(transparent)]
    Candle(#[from] candle_core::Error),
}
