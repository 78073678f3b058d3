//! Errors of RSP pretraining and the linear probe.

use std::path::PathBuf;

/// What can go wrong; every variant names the file or setting at fault.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A preset or configuration is invalid (unknown key, bad value, unknown preset name).
    #[error("configuration: {0}")]
    Config(String),
    /// A configuration file could not be read or parsed.
    #[error("{}: {reason}", path.display())]
    ConfigFile {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// The tile store cannot be used (missing, corrupt, empty, wrong tile size).
    #[error("tile store {}: {reason}", path.display())]
    Store {
        /// The store folder.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// The run folder is in a state the request does not fit (e.g. a finished run without
    /// `--resume`, or `--resume` on a run of another architecture).
    #[error("run folder {}: {reason}", path.display())]
    Run {
        /// The run folder.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// A checkpoint cannot be used.
    #[error("checkpoint {}: {reason}", path.display())]
    Checkpoint {
        /// The checkpoint file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// A labelled dataset for the probe cannot be used.
    #[error("dataset {}: {reason}", path.display())]
    Dataset {
        /// The dataset folder.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// An output file could not be written.
    #[error("cannot write {}: {reason}", path.display())]
    Output {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// From the training engine (NaN loss, resume mismatch, loader errors, ...).
    #[error(transparent)]
    Train(#[from] histo_train::Error),
    /// From the networks (bad checkpoint, shape mismatch, ...).
    #[error(transparent)]
    Models(#[from] histo_models::Error),
    /// From the triplet and patch datasets.
    #[error(transparent)]
    Datasets(#[from] histo_datasets::Error),
    /// From the augmentation pipelines.
    #[error(transparent)]
    Augment(#[from] histo_augment::Error),
    /// From the image and tensor types.
    #[error(transparent)]
    Tensor(#[from] histo_tensor::Error),
    /// From candle.
    #[error(transparent)]
    Candle(#[from] candle_core::Error),
    /// From the metrics and plots.
    #[error(transparent)]
    Metrics(#[from] histo_metrics::MetricsError),
}

/// `Result` with [`Error`].
pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    pub(crate) fn output(path: impl Into<PathBuf>, reason: impl ToString) -> Self {
        Error::Output {
            path: path.into(),
            reason: reason.to_string(),
        }
    }
}
