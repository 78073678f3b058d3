//! The error type of `histo-datasets`.

use std::path::{Path, PathBuf};

/// Result alias of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong when opening or reading a dataset. Variants that concern a file
/// name it.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file or folder could not be read or written.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file or folder.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A file or folder the layout needs is not there.
    #[error("{}: {what} not found", path.display())]
    Missing {
        /// Where it was looked for.
        path: PathBuf,
        /// What was looked for, in words (e.g. `"labels CSV"`).
        what: String,
    },
    /// A file's content is malformed (a bad CSV row, a list line, an h5 dataset of the wrong
    /// shape, ...).
    #[error("{}: {msg}", path.display())]
    Format {
        /// The file.
        path: PathBuf,
        /// What is wrong, in words (with a line number where there is one).
        msg: String,
    },
    /// An image could not be decoded (the path is in the message).
    #[error(transparent)]
    Image(#[from] histo_tensor::Error),
    /// An error from histo-wsi (tile store, annotations); it names the file.
    #[error(transparent)]
    Wsi(#[from] histo_wsi::Error),
    /// A sample index past the end of the dataset.
    #[error("sample index {index} is out of range for a dataset of {len} samples")]
    Index {
        /// The index asked for.
        index: usize,
        /// The dataset's length.
        len: usize,
    },
    /// An invalid parameter (a fraction outside (0, 1], stratifying regression targets, ...).
    #[error("invalid parameter: {0}")]
    Invalid(String),
}

impl Error {
    /// An I/O error on `path`.
    pub fn io(path: impl AsRef<Path>, source: std::io::Error) -> Self {
        Self::Io {
            path: path.as_ref().to_path_buf(),
            source,
        }
    }

    /// A missing file or folder.
    pub fn missing(path: impl AsRef<Path>, what: impl Into<String>) -> Self {
        Self::Missing {
            path: path.as_ref().to_path_buf(),
            what: what.into(),
        }
    }

    /// A malformed file.
    pub fn format(path: impl AsRef<Path>, msg: impl Into<String>) -> Self {
        Self::Format {
            path: path.as_ref().to_path_buf(),
            msg: msg.into(),
        }
    }

    /// A bad index.
    pub fn index(index: usize, len: usize) -> Self {
        Self::Index { index, len }
    }
}
