//! The error type of `histo-train`.

use std::path::PathBuf;

/// Result alias of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can stop training.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A configuration value is out of range.
    #[error("invalid training configuration: {0}")]
    Config(String),
    /// A sample could not be loaded or transformed, or a batch not assembled.
    #[error("data: {0}")]
    Data(String),
    /// The loss became NaN or infinite; training stopped and the last good checkpoint stays.
    #[error(
        "the training loss is {loss} at epoch {epoch}, batch {batch}: training stopped; {last_good}"
    )]
    NonFinite {
        /// 1-based epoch.
        epoch: u64,
        /// 0-based batch index within the epoch.
        batch: usize,
        /// The loss value.
        loss: f64,
        /// Where the last good checkpoint is, in words.
        last_good: String,
    },
    /// A checkpoint does not fit this run (another optimiser, other parameters).
    #[error("cannot resume: {0}")]
    Resume(String),
    /// Writing logs or plots failed.
    #[error("{path}: {reason}")]
    Output {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// An error of the task (forward pass, loss, validation).
    #[error("{0}")]
    Task(String),
    /// A model or checkpoint error.
    #[error(transparent)]
    Model(#[from] histo_models::Error),
    /// An error from candle.
    #[error(transparent)]
    Candle(#[from] candle_core::Error),
}
