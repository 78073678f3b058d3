//! The training engine of histo, shared by every stage: optimisers with PyTorch semantics
//! ([`Optimizer`]: SGD with momentum/Nesterov and coupled L2, Adam with coupled L2 as the
//! original uses it, AdamW), [`Lookahead`] (per step, or as the original scripts execute it),
//! learning-rate [`Schedule`]s, a prefetching batch [`Loader`] over any [`Dataset`], and the
//! epoch loop [`Trainer`] with progress bar, logs, atomic checkpoints, exact resume and NaN
//! detection.
//!
//! candle 0.11 offers plain SGD and AdamW only, without serialisable state; the rest is written
//! here once for every stage. Everything random goes through [`histo_tensor::SampleRng`]: epoch
//! `e`'s sample order depends on `(seed, e)` and sample `i`'s augmentation stream on
//! `(seed, e, i)`, so a run is bit-identical whatever the number of loader workers, and resuming
//! at epoch `e` continues exactly.
//!
//! Files written by [`Trainer::fit`] into its output folder: `last.safetensors` (every epoch),
//! `epoch_NNNN.safetensors` (every `checkpoint_every` epochs), `best.safetensors` (best
//! `best_metric`), `train_log.csv`, `train_log.jsonl`, `curve_loss.png`, `curve_metrics.png`.
//! A checkpoint holds the network parts (`model.…`, `classifier.…`), the optimiser moments
//! (`optim.{param}.momentum_buffer` / `.exp_avg` / `.exp_avg_sq`), the Lookahead slow weights
//! (`lookahead.{param}`), and in its JSON metadata (`train_state`) the step counts, learning
//! rate, Lookahead counter, iteration, best value and the log history.
//!
//! ```
//! use std::collections::{BTreeMap, HashMap};
//! use histo_train::{Optimizer, OptimizerConfig, ParamGroup, Grads};
//! use histo_tensor::{Device, Tensor};
//! use candle_core::Var;
//!
//! // minimise (w - 3)² with SGD-Nesterov
//! let w = Var::new(&[0f32], &Device::Cpu)?;
//! let mut opt = Optimizer::new(
//!     OptimizerConfig::Sgd { momentum: 0.9, nesterov: true, weight_decay: 0.0 },
//!     0.05,
//!     vec![ParamGroup::new(vec![("w".into(), w.clone())])],
//! )?;
//! for _ in 0..100 {
//!     let loss = (w.as_tensor() - 3.0)?.sqr()?.sum_all()?;
//!     let grads = Grads::backward(&loss, &opt.params())?;
//!     opt.step(&grads)?;
//! }
//! let v = w.as_tensor().to_vec1::<f32>()?[0];
//! assert!((v - 3.0).abs() < 1e-3, "{v}");
//! # Ok::<(), histo_train::Error>(())
//! ```

mod error;
pub mod loader;
mod lookahead;
mod optim;
mod schedule;
mod trainer;

pub use error::{Error, Result};
pub use histo_models::Precision;
pub use loader::{Batches, Dataset, Loader, LoaderConfig, paired};
pub use lookahead::{Lookahead, LookaheadConfig, LookaheadMeta, LookaheadMode};
pub use optim::{Grads, Optimizer, OptimizerConfig, OptimizerMeta, ParamGroup};
pub use schedule::{Schedule, StepUnit};
pub use trainer::{BEST, Better, EpochRecord, LAST, StepLoss, Summary, Task, TrainConfig, Trainer};
