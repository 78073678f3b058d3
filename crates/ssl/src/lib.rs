//! Stage 1 of histo: **resolution sequence prediction (RSP)** self-supervised pretraining
//! (Srinidhi et al. 2022, spec §2). Three tiles of one tissue location at three resolutions
//! (HR, LR1, LR2; a tile store cut by `histo tile rsp`) are shown to a shared ResNet trunk in
//! one of the 3! = 6 orders; a pair head and a 6-way classifier learn to tell the order. The
//! trunk and pair head then initialise fine-tuning (histo-ssl-cr). [`pretrain`] runs it on top
//! of histo-datasets (triplets, split by slide), histo-augment (the RSP pool), histo-models
//! (`PretextModel`) and histo-train (SGD-Nesterov + Lookahead, the epoch loop, checkpoints and
//! exact resume); [`probe()`] measures the learned trunk with a linear probe.
//!
//! **Configuration**: [`PretrainConfig`] (TOML), presets in `data/presets/pretrain-*.toml`
//! compiled in ([`PRESETS`]): `paper-breastpathq`, `paper-camelyon16`, `paper-v2` (the paper's
//! settings, with the corrected defaults: validation held out by slide instead of over the
//! orders of shared triplets (B6), Lookahead per batch instead of per epoch (B4; `mode =
//! "original"` reproduces it), the 6-way classifier saved too (B9), per-sample random streams
//! (B37)), and `synthetic`, sized for 2 CPU cores (see below). Each preset's `[store]` section
//! says how to cut its tile store; a store with another tile size is an error, other
//! differences are warnings.
//!
//! **Run folder** (`histo pretrain --out RUN`):
//!
//! | file | content |
//! |---|---|
//! | `config.toml` | the resolved [`PretrainConfig`] (preset + overrides + seed) |
//! | `train_log.csv`, `train_log.jsonl` | per epoch: lr, train loss, `train_acc`, `val_loss`, `val_acc` (`val_loss_gated` when `best_from_epoch > 1`), seconds, triplets/s |
//! | `curves.png` | loss and accuracy per epoch (rewritten after every epoch) |
//! | `val_confusion.json` | the 6×6 validation confusion matrix of every epoch (rows: true order) |
//! | `last.safetensors` | after every epoch: the network, optimiser and Lookahead state (what `--resume` continues) |
//! | `best.safetensors` | the epoch with the lowest validation loss (from `best_from_epoch` on) |
//! | `epoch_NNNN.safetensors` | every `checkpoint_every` epochs |
//! | `embedding.png`, `embedding.csv` | validation features (the 3·`head_out` TripletNet output the classifier sees) of the best checkpoint, first two principal components, coloured by order |
//! | `summary.json` | [`PretrainSummary`]: final `val_accuracy`, `val_loss`, best epoch, `epochs`, `wall_s`, `triplets_per_s`, peak memory, split sizes |
//!
//! A checkpoint holds part `model` (the TripletNet: trunk `model.*` and pair head `fc.0`,
//! `fc.2`, torchvision / original names), part `classifier` (the 6-way `classifier.0`,
//! `classifier.2`), the optimiser and Lookahead state (`optim.*`, `lookahead.*`), and JSON
//! metadata: `model_kind = "pretext"`, `stage = "rsp"`, `triplet` (the network shape), `epoch`,
//! `metrics`, and `config` = this configuration (its `model.input_scale` is the input scaling the
//! trunk expects, its `store.tile` the tile size it was trained at). The fine-tuning stage loads
//! the trunk and pair head with `TripletNet::from_checkpoint(&ck, path, "model", device)`.
//!
//! **Embedding plot**: PCA (see [`pca`]): no well-kept pure-Rust t-SNE or UMAP exists.
//!
//! **The `synthetic` preset** (histo-synth `small` pretraining slides: 4 slides of 8192² at
//! 20×; store cut at 64-px tiles, 20×/10×/5×, stride 32, HSV tissue test): ResNet-18 of width
//! 16, one order per triplet per epoch, validation on the one held-out slide (4 slides allow a
//! by-slide split with a single validation slide; see the crate README section for the
//! measurements behind the choice).
//!
//! ```no_run
//! use histo_ssl::{PretrainConfig, PretrainOptions, pretrain};
//! use histo_tensor::Device;
//!
//! let mut config = PretrainConfig::preset("synthetic")?;
//! config.train.epochs = 2;
//! let opts = PretrainOptions {
//!     store: "cache/store".into(),
//!     out: "runs/rsp".into(),
//!     resume: false,
//!     progress: true,
//! };
//! let summary = pretrain(&config, &opts, &Device::Cpu)?;
//! println!("validation accuracy {:.3} ({:.0} triplets/s)", summary.val_accuracy, summary.triplets_per_s);
//! # Ok::<(), histo_ssl::Error>(())
//! ```

pub mod config;
pub mod data;
mod error;
pub mod pca;
pub mod probe;
pub mod report;
mod run;
pub mod task;

pub use config::{
    Augment, DataConfig, ModelConfig, OutputConfig, PRESETS, PretrainConfig, StoreSpec,
    TrainSettings,
};
pub use error::{Error, Result};
pub use probe::{ProbeConfig, ProbeReport, probe};
pub use run::{PretrainOptions, PretrainSummary, pretrain};

/// The resolved configuration in a run folder.
pub const CONFIG: &str = "config.toml";
/// The summary in a run folder.
pub const SUMMARY: &str = "summary.json";
/// The loss and accuracy curves in a run folder.
pub const CURVES: &str = "curves.png";
/// The per-epoch validation confusion matrices in a run folder.
pub const CONFUSIONS: &str = "val_confusion.json";
/// The embedding plot in a run folder.
pub const EMBEDDING: &str = "embedding.png";
/// The checkpoint written after every epoch.
pub const LAST: &str = histo_train::LAST;
/// The checkpoint of the best validation loss.
pub const BEST: &str = histo_train::BEST;
