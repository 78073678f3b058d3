//! The error type of histo-metrics.

use std::path::PathBuf;

/// What can go wrong when computing a metric or writing a plot.
#[derive(Debug, thiserror::Error)]
pub enum MetricsError {
    /// The inputs cannot give a defined value (wrong lengths, too few samples, NaN, …).
    #[error("{0}")]
    InvalidInput(String),
    /// Drawing a plot failed.
    #[error("cannot draw plot {path}: {message}")]
    Plot {
        /// The PNG being drawn.
        path: PathBuf,
        /// What the drawing library reported.
        message: String,
    },
    /// Writing a PNG failed.
    #[error("cannot write {path}: {source}")]
    Write {
        /// The file being written.
        path: PathBuf,
        /// The encoder's or file system's error.
        source: image::ImageError,
    },
}

/// Shorthand for results of this crate.
pub type Result<T, E = MetricsError> = std::result::Result<T, E>;

/// Builds an [`MetricsError::InvalidInput`] from a format string.
macro_rules! invalid {
    ($($arg:tt)*) => {
        $crate::error::MetricsError::InvalidInput(format!($($arg)*))
    };
}
pub(crate) use invalid;
