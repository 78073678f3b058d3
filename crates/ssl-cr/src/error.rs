//! The error type of `histo-ssl-cr`.

use std::path::{Path, PathBuf};

/// Result alias of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong in fine-tuning, consistency training and prediction. Variants
/// about a file name it.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// An invalid setting or argument (a label fraction outside (0, 1], a batch size of 0, an
    /// unknown preset, a task that does not fit the data, ...).
    #[error("{0}")]
    Config(String),
    /// A file given by the user is unusable (wrong kind of checkpoint, a class count that
    /// does not match the task, a run folder that already holds another run, ...).
    #[error("{}: {reason}", path.display())]
    Input {
        /// The file or folder.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// A file could not be read or written.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A dataset could not be opened or read.
    #[error(transparent)]
    Data(#[from] histo_datasets::Error),
    /// A network or checkpoint error.
    #[error(transparent)]
    Model(#[from] histo_models::Error),
    /// A training-engine error (NaN loss, a failed resume, a loader error, ...).
    #[error(transparent)]
    Train(#[from] histo_train::Error),
    /// An augmentation error.
    #[error(transparent)]
    Augment(#[from] histo_augment::Error),
    /// An image or batch conversion error.
    #[error(transparent)]
    Tensor(#[from] histo_tensor::Error),
    /// A slide could not be read.
    #[error(transparent)]
    Slide(#[from] histo_wsi::Error),
    /// A plot could not be written.
    #[error(transparent)]
    Plot(#[from] histo_metrics::MetricsError),
    /// A tensor operation failed.
    #[error(transparent)]
    Candle(#[from] candle_core::Error),
}

impl Error {
    /// An I/O error on `path`.
    pub fn io(path: impl AsRef<Path>, source: std::io::Error) -> Self {
        Self::Io {
            path: path.as_ref().to_path_buf(),
            source,
        }
    }

    /// A problem with the file or folder `path`.
    pub fn input(path: impl AsRef<Path>, reason: impl Into<String>) -> Self {
        Self::Input {
            path: path.as_ref().to_path_buf(),
            reason: reason.into(),
        }
    }
}
