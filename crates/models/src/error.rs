//! The error type of `histo-models`.

use std::path::PathBuf;

/// Result alias of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong when building, running, saving or loading a network.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A configuration value is out of range (e.g. an unsupported depth or a zero width).
    #[error("invalid model configuration: {0}")]
    Config(String),
    /// A tensor the network needs is absent from a checkpoint or state dict.
    #[error("{source_name}: tensor `{name}` is missing (expected shape {expected:?})")]
    Missing {
        /// The file or part being loaded.
        source_name: String,
        /// The tensor name.
        name: String,
        /// The shape the network expects.
        expected: Vec<usize>,
    },
    /// A tensor of a checkpoint has the wrong shape for this network.
    #[error("{source_name}: tensor `{name}` has shape {got:?}, the network expects {expected:?}")]
    ShapeMismatch {
        /// The file or part being loaded.
        source_name: String,
        /// The tensor name.
        name: String,
        /// The shape the network expects.
        expected: Vec<usize>,
        /// The shape found.
        got: Vec<usize>,
    },
    /// A checkpoint holds tensors this network does not have (a different architecture).
    #[error(
        "{source_name}: {count} unexpected tensor(s), e.g. `{first}` (is this a checkpoint of another architecture or part?)"
    )]
    Unexpected {
        /// The file or part being loaded.
        source_name: String,
        /// How many unexpected tensors.
        count: usize,
        /// The first one, in sorted order.
        first: String,
    },
    /// Reading or writing a checkpoint file failed at the file-system level.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A checkpoint file is not a valid safetensors file (e.g. truncated) or its metadata is bad.
    #[error("{path}: not a valid histo checkpoint: {reason}")]
    BadCheckpoint {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// A PyTorch `.pt`/`.pth` file could not be read or does not hold what was asked for.
    #[error("{path}: {reason}")]
    PyTorch {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// A named layer group or freezing index is not known.
    #[error("{0}")]
    Freeze(String),
    /// An error from candle.
    #[error(transparent)]
    Candle(#[from] candle_core::Error),
}
