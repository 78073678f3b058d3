//! The RSP training task for histo-train's epoch loop: forward, loss and accuracy of a batch;
//! validation with the 6×6 confusion matrix; the progress bar; per-epoch curves.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Instant;

use candle_core::{DType, Device, Tensor};
use histo_metrics::ConfusionMatrix;
use histo_models::{Mode, PretextModel, VarStore};
use histo_train::{EpochRecord, Loader, StepLoss, Task};
use indicatif::{ProgressBar, ProgressStyle};

use crate::data::{Batch, ValSamples};
use crate::{Error, Result};

/// Names of the six orders (spec §2.1), for plots and logs.
pub const ORDER_NAMES: [&str; 6] = [
    "0 HR-LR1-LR2",
    "1 HR-LR2-LR1",
    "2 LR1-LR2-HR",
    "3 LR1-HR-LR2",
    "4 LR2-HR-LR1",
    "5 LR2-LR1-HR",
];

/// The validation loader type.
pub type ValLoader = Loader<ValSamples, ([histo_tensor::Image; 3], u32), Batch>;

/// Cross-entropy (mean) of logits `[N, C]` against labels `[N]` (u32).
pub fn cross_entropy(logits: &Tensor, y: &Tensor) -> candle_core::Result<Tensor> {
    candle_nn::loss::cross_entropy(logits, y)
}

/// The number of correct predictions and the predictions of logits `[N, C]`.
pub fn predictions(logits: &Tensor) -> candle_core::Result<Vec<u32>> {
    logits.argmax(1)?.to_dtype(DType::U32)?.to_vec1::<u32>()
}

/// Validation of one epoch.
#[derive(Clone, Debug)]
pub struct Validation {
    /// Mean cross-entropy.
    pub loss: f64,
    /// The 6×6 confusion matrix (rows: true order).
    pub confusion: ConfusionMatrix,
}

/// RSP as a [`Task`].
pub struct RspTask {
    /// The network (TripletNet + 6-way classifier).
    pub model: PretextModel,
    device: Device,
    val: ValLoader,
    batches_per_epoch: usize,
    epochs: u64,
    /// Index (0-based) of the epoch being trained.
    epoch: u64,
    best_from_epoch: u64,
    show_progress: bool,
    bar: Option<ProgressBar>,
    started: Option<Instant>,
    seen: usize,
    loss_sum: f64,
    correct: usize,
    /// Every finished epoch (restored from the checkpoint on resume).
    pub history: Vec<EpochRecord>,
    /// The confusion matrix of every validated epoch, by 1-based epoch.
    pub confusions: BTreeMap<u64, Vec<Vec<u64>>>,
    last_validation: Option<Validation>,
    out_dir: PathBuf,
}

impl RspTask {
    /// A task training `model` on `device`, validating with `val`, writing per-epoch files into
    /// `out_dir`.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        model: PretextModel,
        device: Device,
        val: ValLoader,
        batches_per_epoch: usize,
        epochs: u64,
        best_from_epoch: u64,
        show_progress: bool,
        out_dir: PathBuf,
    ) -> Self {
        Self {
            model,
            device,
            val,
            batches_per_epoch,
            epochs,
            epoch: 0,
            best_from_epoch,
            show_progress,
            bar: None,
            started: None,
            seen: 0,
            loss_sum: 0.0,
            correct: 0,
            history: Vec::new(),
            confusions: BTreeMap::new(),
            last_validation: None,
            out_dir,
        }
    }

    /// Continue from `history` (the epochs of a checkpoint being resumed).
    pub fn resume_from(
        &mut self,
        history: Vec<EpochRecord>,
        confusions: BTreeMap<u64, Vec<Vec<u64>>>,
    ) {
        self.epoch = history.len() as u64;
        self.confusions = confusions
            .into_iter()
            .filter(|(e, _)| *e <= self.epoch)
            .collect();
        self.history = history;
    }

    /// The metric choosing `best.safetensors`.
    pub fn best_metric(best_from_epoch: u64) -> &'static str {
        if best_from_epoch <= 1 {
            "val_loss"
        } else {
            "val_loss_gated"
        }
    }

    /// The last validation.
    pub fn last_validation(&self) -> Option<&Validation> {
        self.last_validation.as_ref()
    }

    fn bar(&mut self) -> &ProgressBar {
        if self.bar.is_none() {
            let bar = if self.show_progress {
                let b = ProgressBar::new(self.batches_per_epoch as u64);
                if let Ok(style) = ProgressStyle::with_template(
                    "epoch {prefix} [{bar:28}] {pos}/{len} {msg} ({elapsed}, eta {eta})",
                ) {
                    b.set_style(style.progress_chars("=> "));
                }
                b.set_prefix(format!("{}/{}", self.epoch + 1, self.epochs));
                b
            } else {
                ProgressBar::hidden()
            };
            self.bar = Some(bar);
            self.started = Some(Instant::now());
        }
        self.bar.get_or_insert_with(ProgressBar::hidden)
    }

    /// Evaluates the network on the validation samples (eval mode).
    pub fn evaluate(&self) -> Result<Validation> {
        let (mut loss_sum, mut n) = (0.0f64, 0usize);
        let (mut truth, mut pred) = (Vec::new(), Vec::new());
        for batch in self.val.epoch(0) {
            let b = batch?.to_device(&self.device)?;
            let logits = self.model.forward(&b.x[0], &b.x[1], &b.x[2], Mode::EVAL)?;
            let loss = cross_entropy(&logits, &b.y)?
                .to_dtype(DType::F64)?
                .to_scalar::<f64>()?;
            let k = b.len();
            loss_sum += loss * k as f64;
            n += k;
            pred.extend(predictions(&logits)?.into_iter().map(|p| p as usize));
            truth.extend(b.y.to_vec1::<u32>()?.into_iter().map(|t| t as usize));
        }
        if n == 0 {
            return Err(Error::Config("no validation sample".into()));
        }
        Ok(Validation {
            loss: loss_sum / n as f64,
            confusion: ConfusionMatrix::new(&truth, &pred, 6)?,
        })
    }

    /// Writes `curves.png` (loss and accuracy per epoch) and `val_confusion.json`.
    pub fn write_epoch_files(&self) -> Result<()> {
        crate::report::curves(&self.out_dir.join(crate::CURVES), &self.history)?;
        let path = self.out_dir.join(crate::CONFUSIONS);
        let text = serde_json::to_string(&serde_json::json!({
            "orders": ORDER_NAMES,
            "rows": "true order",
            "columns": "predicted order",
            "by_epoch": self.confusions,
        }))
        .map_err(|e| Error::output(&path, e))?;
        crate::report::write_atomic(&path, text.as_bytes())
    }
}

fn task_err(e: impl std::fmt::Display) -> histo_train::Error {
    histo_train::Error::Task(e.to_string())
}

impl Task for RspTask {
    type Batch = Batch;

    fn parts(&self) -> Vec<(&str, &VarStore)> {
        self.model.parts()
    }

    fn train_step(&mut self, batch: Batch) -> histo_train::Result<StepLoss> {
        let b = batch.to_device(&self.device).map_err(task_err)?;
        let logits = self.model.forward(&b.x[0], &b.x[1], &b.x[2], Mode::TRAIN)?;
        let loss = cross_entropy(&logits, &b.y)?;
        let pred = predictions(&logits)?;
        let truth = b.y.to_vec1::<u32>()?;
        let correct = pred.iter().zip(&truth).filter(|(p, t)| p == t).count();
        let n = b.len();
        let value = loss.to_dtype(DType::F64)?.to_scalar::<f64>()?;
        self.seen += n;
        self.loss_sum += value * n as f64;
        self.correct += correct;
        let (seen, loss_sum, right) = (self.seen, self.loss_sum, self.correct);
        let secs = self
            .started
            .map(|s| s.elapsed().as_secs_f64())
            .unwrap_or(0.0);
        let bar = self.bar();
        bar.inc(1);
        bar.set_message(format!(
            "loss {:.4} acc {:.3} {:.0} triplets/s",
            loss_sum / seen.max(1) as f64,
            right as f64 / seen.max(1) as f64,
            if secs > 0.0 { seen as f64 / secs } else { 0.0 }
        ));
        Ok(StepLoss {
            loss,
            samples: n,
            extra: BTreeMap::from([("train_acc".to_string(), correct as f64 / n.max(1) as f64)]),
        })
    }

    fn validate(&mut self, epoch: u64) -> histo_train::Result<BTreeMap<String, f64>> {
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
        let v = self.evaluate().map_err(task_err)?;
        let mut m = BTreeMap::from([
            ("val_loss".to_string(), v.loss),
            ("val_acc".to_string(), v.confusion.accuracy()),
        ]);
        if self.best_from_epoch > 1 && epoch + 1 >= self.best_from_epoch {
            m.insert("val_loss_gated".into(), v.loss);
        }
        self.confusions.insert(epoch + 1, v.confusion.rows());
        self.last_validation = Some(v);
        Ok(m)
    }

    fn end_epoch(&mut self, epoch: u64) -> histo_train::Result<()> {
        // The trainer appends its record after this call; rebuild ours from what we know so
        // the curves include this epoch.
        let secs = self
            .started
            .take()
            .map(|s| s.elapsed().as_secs_f64())
            .unwrap_or(0.0);
        let mut metrics = BTreeMap::new();
        if let Some(v) = &self.last_validation {
            metrics.insert("val_loss".to_string(), v.loss);
            metrics.insert("val_acc".to_string(), v.confusion.accuracy());
        }
        metrics.insert(
            "train_acc".to_string(),
            self.correct as f64 / self.seen.max(1) as f64,
        );
        self.history.push(EpochRecord {
            epoch: epoch + 1,
            lr: 0.0,
            train_loss: self.loss_sum / self.seen.max(1) as f64,
            metrics,
            train_seconds: secs,
            samples_per_s: if secs > 0.0 {
                self.seen as f64 / secs
            } else {
                0.0
            },
        });
        self.write_epoch_files().map_err(task_err)?;
        self.seen = 0;
        self.loss_sum = 0.0;
        self.correct = 0;
        self.epoch = epoch + 1;
        Ok(())
    }
}
