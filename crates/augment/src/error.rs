//! The error type of `histo-augment`.

/// Result alias of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong when augmenting: bad parameters and images that do not fit.
///
/// Augmentations never panic on user input; an op given a NaN angle, a crop larger than the
/// image or an empty image returns one of these, naming the op and the offending value.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A parameter is NaN, infinite or outside the range the op accepts.
    #[error("{op}: invalid {name} = {value}: {expected}")]
    Param {
        /// The op (e.g. `"rotate"`).
        op: &'static str,
        /// The parameter (e.g. `"angle"`).
        name: &'static str,
        /// The value given, formatted.
        value: String,
        /// What is accepted, in words.
        expected: &'static str,
    },
    /// The image has no pixels.
    #[error("{op}: the image is empty ({width}x{height})")]
    Empty {
        /// The op.
        op: &'static str,
        /// Width of the image.
        width: usize,
        /// Height of the image.
        height: usize,
    },
    /// The image is smaller than the crop (or output) the op needs.
    #[error("{op}: the image is {width}x{height}, smaller than the {need_w}x{need_h} crop")]
    TooSmall {
        /// The op.
        op: &'static str,
        /// Width of the image.
        width: usize,
        /// Height of the image.
        height: usize,
        /// Width needed.
        need_w: usize,
        /// Height needed.
        need_h: usize,
    },
    /// The images of a triplet or batch do not have the sizes the op needs.
    #[error("{op}: {what}")]
    Shape {
        /// The op.
        op: &'static str,
        /// What is wrong, in words.
        what: String,
    },
    /// An error from `histo-tensor` (e.g. building an image).
    #[error(transparent)]
    Tensor(#[from] histo_tensor::Error),
}

/// Checks that a float parameter is finite and inside `[lo, hi]`.
pub(crate) fn check_range(
    op: &'static str,
    name: &'static str,
    value: f64,
    lo: f64,
    hi: f64,
    expected: &'static str,
) -> Result<()> {
    if value.is_finite() && value >= lo && value <= hi {
        Ok(())
    } else {
        Err(Error::Param {
            op,
            name,
            value: value.to_string(),
            expected,
        })
    }
}

/// Checks that a float parameter is finite.
pub(crate) fn check_finite(op: &'static str, name: &'static str, value: f64) -> Result<()> {
    check_range(op, name, value, f64::MIN, f64::MAX, "a finite number")
}

/// Checks that an image has pixels.
pub(crate) fn check_nonempty(op: &'static str, img: &histo_tensor::Image) -> Result<()> {
    if img.width() == 0 || img.height() == 0 {
        Err(Error::Empty {
            op,
            width: img.width(),
            height: img.height(),
        })
    } else {
        Ok(())
    }
}
