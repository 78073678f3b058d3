//! Stages 2 and 3 of the method of Srinidhi et al.: supervised fine-tuning with a fraction of
//! the labels ("SSL", [`finetune`]) and teacher–student consistency training ("SSL_CR",
//! [`consistency`]) for tumour-cellularity regression, tumour-vs-normal and multi-class patch
//! classification, then prediction ([`Predictor`], [`predict_dataset`]: the CSVs `histo
//! evaluate` reads) and slide heat-maps ([`predict_slide`]).
//!
//! - **Stage 2**: trunk + pair head from an RSP checkpoint (histo-ssl's `best.safetensors`,
//!   part `model`), from random, or from an original `.pt`; a new `Linear(3·out, C)` head; the
//!   3-view labelled augmentation (spec §3.3); freezing by layer group; optimiser and schedule
//!   from a TOML preset ([`FinetuneConfig`]); the labelled subset from histo-datasets'
//!   [`SplitPlan`](histo_datasets::SplitPlan) (without replacement by default, B11), written to
//!   `RUN/split.json`. `best.safetensors` is chosen by validation accuracy, or by validation MSE
//!   against float targets for regression (B12).
//! - **Stage 3**: teacher and student from the stage-2 checkpoint; the teacher in eval mode
//!   labels weakly augmented unlabelled patches, the student (trunk frozen by default, the
//!   original's `modules_student 60`) learns from B labelled samples (3 views each) and μ·B
//!   strongly augmented unlabelled ones: `loss = L_sup + λ_u·L_cons`, with `L_cons` the MSE
//!   between teacher and student outputs (regression) or the cross-entropy of the student's
//!   strong logits against the teacher's hard pseudo-labels (classification; confidence
//!   threshold 0 as the original, B29, configurable). After each epoch the student is copied
//!   into the teacher (or an EMA teacher follows it every step). The original's three crash
//!   cases work here: Camelyon16's labelled data (B21), device placement (B25), the teacher
//!   update after epoch 1 (B26). Camelyon16's per-class unlabelled sampling (B23) is an option.
//! - Both stages run [`histo_train::Trainer`]: logs, curves, `last`/`best` checkpoints, exact
//!   resume (`--resume`), NaN detection; plus `config.toml` (the resolved configuration,
//!   loadable as a preset), `run.json` and `summary.json` ([`RunSummary`]).
//! - Datasets are named `KIND:PATH` ([`DataSpec`]): Kather or any class folders, BreastPathQ
//!   (release layout, explicit images + CSV, or the original `.h5` files), Camelyon16 patch
//!   folders.
//!
//! Everything else is reused: networks and checkpoints from histo-models, the epoch loop,
//! optimisers and loader from histo-train, augmentations from histo-augment, datasets from
//! histo-datasets, grid tiling from histo-wsi, the heat-map from histo-metrics. The losses
//! (MSE, log-softmax cross-entropy) are a few lines over candle ops, tested against closed
//! forms, rather than a candle-nn dependency.
//!
//! Presets (`data/presets/{finetune,consistency}-{paper-breastpathq,paper-camelyon16,
//! paper-kather,synthetic}.toml`, compiled in): the `paper-*` ones follow spec §3.4/§7.3/§7.4;
//! `synthetic` is sized for 2 CPU cores on histo-synth's `small` data: the RSP synthetic preset's
//! network (ResNet-18 of width 8), 64-px inputs, and epochs capped at a number of steps
//! (`steps_per_epoch`) so that a run costs the same at 10 % and at 100 % of the labels. Measured
//! on the shared 2-core machine (load 7–9) with `cargo run --release -p histo-ssl-cr --example
//! step_timing -- 16 64 16`: one step of 16 samples (48 views) takes 275–477 ms (forward,
//! backward, Adam) and eval-mode inference runs at 660–910 images/s; the same step in PyTorch
//! 2.15 on the CPU (`benches/step_timing_torch.py`, alternated with ours) took 1.2–2.8 s under
//! that load. Fine-tuning (6 epochs × 12 steps) then takes 10–36 s per run on `small` data and
//! consistency training (3 epochs × 10 steps of 8 labelled + 56 unlabelled samples, student
//! trunk frozen and detached) 8–24 s.
//!
//! ```
//! use histo_ssl_cr::{DataSpec, Finetune, FinetuneConfig, Init, Predictor, RunOptions, TaskKind};
//! use histo_tensor::{Device, Image};
//!
//! // two classes of 8 tiny images in class folders
//! let root = tempfile::tempdir()?;
//! for (class, rgb) in [("normal", [230, 180, 210]), ("tumor", [90, 40, 120])] {
//!     std::fs::create_dir_all(root.path().join(class))?;
//!     for k in 0..8u8 {
//!         let img = Image::filled(24, 24, [rgb[0], rgb[1] + k, rgb[2]]);
//!         img.save(root.path().join(format!("{class}/{k}.png")))?;
//!     }
//! }
//! let mut config = FinetuneConfig::preset("synthetic")?;
//! config.model.width = 8;
//! config.input.size = 32;
//! config.train.epochs = 1;
//! config.split.label_fraction = 0.5;
//! let job = Finetune {
//!     config,
//!     task: TaskKind::Binary,
//!     data: format!("folders:{}", root.path().display()).parse::<DataSpec>()?,
//!     init: Init::Random,
//!     classes: None,
//! };
//! let runs = tempfile::tempdir()?;
//! let run = runs.path().join("run");
//! let opts = RunOptions { out: run.clone(), device: Device::Cpu, seed: 1, resume: false, progress: false };
//! let summary = histo_ssl_cr::finetune(&job, &opts)?;
//! assert_eq!((summary.epochs, summary.labelled), (1, 6));
//!
//! let pred = Predictor::load(&run.join("last.safetensors"), &Device::Cpu, None)?;
//! let p = pred.predict(&[Image::filled(40, 40, [90, 40, 120])])?;
//! assert!((p[0][0] + p[0][1] - 1.0).abs() < 1e-9); // class probabilities
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

pub mod config;
mod consistency;
pub mod data;
mod error;
pub mod eval;
mod finetune;
pub mod model;
pub mod pipeline;
mod predict;
mod run;
pub mod slide;
pub mod task;

pub use config::{
    ConsistencyConfig, CrSection, FinetuneConfig, InputConfig, ModelConfig, TeacherUpdate,
    TrainSection, check_label_fraction, preset_names,
};
pub use consistency::{Consistency, consistency};
pub use data::{DataKind, DataSpec, EvalData, Split, TrainData};
pub use error::{Error, Result};
pub use finetune::{Finetune, finetune};
pub use model::{Init, RunInfo};
pub use predict::{PredictSummary, Predictor, predict_dataset};
pub use run::{RunOptions, RunSummary, SUMMARY_FILE};
pub use slide::{SlideConfig, SlideResult, predict_slide, write_npy};
pub use task::TaskKind;
