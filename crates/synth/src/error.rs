//! The error type of `histo-synth`.

use std::path::PathBuf;

/// Result alias of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What can go wrong while generating data.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// An invalid configuration or override.
    #[error("invalid synth configuration: {0}")]
    Config(String),
    /// A file could not be written or read.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// Encoding an image failed.
    #[error("cannot encode {path}: {msg}")]
    Encode {
        /// The file.
        path: PathBuf,
        /// Why.
        msg: String,
    },
    /// The output folder holds data generated with another configuration.
    #[error(
        "{path} was generated with a different configuration ({what}); use another --out folder or delete it"
    )]
    Mismatch {
        /// The configuration file found.
        path: PathBuf,
        /// What differs.
        what: String,
    },
    /// An error from histo-wsi (slide writing or reading).
    #[error(transparent)]
    Wsi(#[from] histo_wsi::Error),
    /// An error from histo-tensor.
    #[error(transparent)]
    Tensor(#[from] histo_tensor::Error),
}

impl Error {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Self::Io {
            path: path.into(),
            source,
        }
    }
}
