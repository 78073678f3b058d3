//! The error type of `histo-wsi`.

use std::path::{Path, PathBuf};

/// Result alias of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong when reading slides, detecting tissue, tiling, writing pyramids,
/// tile stores or annotations. Variants that concern a file name it.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file could not be opened, read or written.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not a slide this backend can read, or it is damaged.
    #[error("{}: {msg}", path.display())]
    Format {
        /// The file.
        path: PathBuf,
        /// What is wrong, in words.
        msg: String,
    },
    /// The file uses a feature this reader does not support (e.g. JPEG 2000 tiles).
    #[error("{}: unsupported: {msg}", path.display())]
    Unsupported {
        /// The file.
        path: PathBuf,
        /// What is not supported.
        msg: String,
    },
    /// A request that cannot be answered (a missing level, a zero-size region, ...).
    #[error("{}: {msg}", path.display())]
    Request {
        /// The slide.
        path: PathBuf,
        /// What is wrong with the request.
        msg: String,
    },
    /// An invalid parameter that concerns no file.
    #[error("invalid parameter: {0}")]
    Invalid(String),
    /// An error from the OpenSlide library.
    #[error("{}: OpenSlide: {msg}", path.display())]
    OpenSlide {
        /// The slide.
        path: PathBuf,
        /// OpenSlide's message.
        msg: String,
    },
    /// An error from histo-tensor (image buffers).
    #[error(transparent)]
    Tensor(#[from] histo_tensor::Error),
}

impl Error {
    /// An I/O error on `path`.
    pub fn io(path: impl AsRef<Path>, source: std::io::Error) -> Self {
        Self::Io {
            path: path.as_ref().to_path_buf(),
            source,
        }
    }

    /// A format error on `path`.
    pub fn format(path: impl AsRef<Path>, msg: impl Into<String>) -> Self {
        Self::Format {
            path: path.as_ref().to_path_buf(),
            msg: msg.into(),
        }
    }

    /// An unsupported-feature error on `path`.
    pub fn unsupported(path: impl AsRef<Path>, msg: impl Into<String>) -> Self {
        Self::Unsupported {
            path: path.as_ref().to_path_buf(),
            msg: msg.into(),
        }
    }

    /// A bad request on slide `path`.
    pub fn request(path: impl AsRef<Path>, msg: impl Into<String>) -> Self {
        Self::Request {
            path: path.as_ref().to_path_buf(),
            msg: msg.into(),
        }
    }
}
