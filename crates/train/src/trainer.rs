//! The epoch loop: train / validate callbacks, progress bar, CSV and JSON-lines logs, atomic
//! checkpoints (`last`, every N epochs, `best`), exact resume, NaN/inf detection and training
//! curves.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

use candle_core::Tensor;
use histo_models::{Checkpoint, CheckpointMeta, Precision, VarStore};
use indicatif::{ProgressBar, ProgressStyle};
use serde::{Deserialize, Serialize};

use crate::lookahead::{Lookahead, LookaheadConfig, LookaheadMeta, LookaheadMode};
use crate::optim::{Grads, Optimizer, OptimizerMeta};
use crate::schedule::{Schedule, StepUnit};
use crate::{Error, Result};

/// What a training task provides to the loop.
pub trait Task {
    /// One training batch, as the loader yields it.
    type Batch;

    /// The network parts saved in checkpoints and restored on resume, e.g.
    /// `[("model", …), ("classifier", …)]`.
    fn parts(&self) -> Vec<(&str, &VarStore)>;

    /// Forward pass and loss of one training batch, the network in training mode.
    fn train_step(&mut self, batch: Self::Batch) -> Result<StepLoss>;

    /// Validation after each epoch's training: metrics by name (`val_loss`, `val_acc`, …).
    fn validate(&mut self, epoch: u64) -> Result<BTreeMap<String, f64>>;

    /// Called at the very end of each epoch, before the checkpoint (e.g. "the student becomes
    /// the teacher").
    fn end_epoch(&mut self, _epoch: u64) -> Result<()> {
        Ok(())
    }
}

/// The loss of one training batch.
#[derive(Clone, Debug)]
pub struct StepLoss {
    /// The scalar loss to minimise.
    pub loss: Tensor,
    /// Images (or samples) in the batch, for throughput and averaging.
    pub samples: usize,
    /// Extra scalars averaged over the epoch and logged (e.g. `loss_x`, `loss_u`).
    pub extra: BTreeMap<String, f64>,
}

/// Which direction of the selection metric is better.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Better {
    /// Lower is better (losses).
    #[default]
    Lower,
    /// Higher is better (accuracy, AUC).
    Higher,
}

/// Settings of the epoch loop.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TrainConfig {
    /// Epochs to train in total (a resumed run continues up to this).
    pub epochs: u64,
    /// Base learning rate.
    pub lr: f64,
    /// The learning-rate schedule.
    pub schedule: Schedule,
    /// Whether the schedule advances per epoch or per iteration.
    pub schedule_unit: StepUnit,
    /// Lookahead around the optimiser, if any.
    pub lookahead: Option<LookaheadConfig>,
    /// Also keep `epoch_NNNN.safetensors` every this many epochs (0: only `last` and `best`).
    pub checkpoint_every: u64,
    /// Metric choosing `best.safetensors` (e.g. `val_loss`); `None`: no best checkpoint.
    pub best_metric: Option<String>,
    /// Direction of `best_metric`.
    pub better: Better,
    /// Continue from `last.safetensors` in the output folder when it exists.
    pub resume: bool,
    /// Show a progress bar (only drawn on a terminal).
    pub progress: bool,
    /// Write training-curve PNGs after each epoch.
    pub curves: bool,
}

impl Default for TrainConfig {
    fn default() -> Self {
        Self {
            epochs: 1,
            lr: 0.01,
            schedule: Schedule::Constant,
            schedule_unit: StepUnit::Epoch,
            lookahead: None,
            checkpoint_every: 10,
            best_metric: Some("val_loss".into()),
            better: Better::Lower,
            resume: true,
            progress: true,
            curves: true,
        }
    }
}

/// One line of the logs.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EpochRecord {
    /// 1-based epoch.
    pub epoch: u64,
    /// Learning rate at the start of the epoch.
    pub lr: f64,
    /// Mean training loss (weighted by batch size).
    pub train_loss: f64,
    /// Validation metrics and averaged extra training scalars.
    pub metrics: BTreeMap<String, f64>,
    /// Wall time of the epoch's training, in seconds.
    pub train_seconds: f64,
    /// Training throughput (samples per second).
    pub samples_per_s: f64,
}

/// Loop state stored in checkpoints (`CheckpointMeta::train_state`).
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
struct LoopState {
    optimizer: OptimizerMeta,
    lookahead: Option<LookaheadMeta>,
    iteration: u64,
    best: Option<f64>,
    history: Vec<EpochRecord>,
}

/// What [`Trainer::fit`] did.
#[derive(Clone, Debug)]
pub struct Summary {
    /// Every epoch's record (including those of a run resumed from).
    pub history: Vec<EpochRecord>,
    /// The epoch training started at (0, or the resumed epoch).
    pub started_at: u64,
    /// Best value of the selection metric.
    pub best: Option<f64>,
}

/// The epoch loop; see the crate documentation for the files it writes.
pub struct Trainer {
    config: TrainConfig,
    out_dir: PathBuf,
    meta: CheckpointMeta,
    precision: Option<Precision>,
}

/// File name of the checkpoint written after every epoch.
pub const LAST: &str = "last.safetensors";
/// File name of the best checkpoint.
pub const BEST: &str = "best.safetensors";

impl Trainer {
    /// A trainer writing into `out_dir` (created if needed). `meta` (model kind, configuration,
    /// stage) is copied into every checkpoint.
    pub fn new(
        config: TrainConfig,
        out_dir: impl Into<PathBuf>,
        meta: CheckpointMeta,
    ) -> Result<Self> {
        config.schedule.validate()?;
        if !(config.lr.is_finite() && config.lr >= 0.0) {
            return Err(Error::Config(format!(
                "learning rate must be ≥ 0, got {}",
                config.lr
            )));
        }
        let out_dir = out_dir.into();
        std::fs::create_dir_all(&out_dir).map_err(|e| Error::Output {
            path: out_dir.clone(),
            reason: format!("cannot create the output folder: {e}"),
        })?;
        Ok(Self {
            config,
            out_dir,
            meta,
            precision: None,
        })
    }

    /// Trains (and validates) with the trunks' convolutions in `precision`: [`Trainer::fit`]
    /// sets it on every part of the task ([`VarStore::set_precision`]). With
    /// [`Precision::Bf16`] this is mixed precision: the weights, optimiser state and
    /// checkpoints stay f32 (the master weights), and gradients arrive in f32 through the
    /// differentiable casts. bf16 keeps f32's exponent range, so no loss scaling is needed (f16
    /// would need it). Without this call the parts keep the precision they were built with.
    pub fn with_precision(mut self, precision: Precision) -> Self {
        self.precision = Some(precision);
        self
    }

    /// The output folder.
    pub fn out_dir(&self) -> &Path {
        &self.out_dir
    }

    /// Trains `task` with `opt` from epoch 0 (or from `last.safetensors` when resuming) up to
    /// `config.epochs`. `batches(e)` yields the training batches of epoch `e` (0-based), e.g.
    /// `|e| loader.epoch(e)`.
    pub fn fit<T, I, F>(&self, task: &mut T, opt: &mut Optimizer, mut batches: F) -> Result<Summary>
    where
        T: Task,
        I: Iterator<Item = Result<T::Batch>>,
        F: FnMut(u64) -> I,
    {
        let cfg = &self.config;
        if let Some(p) = self.precision {
            for (_, store) in task.parts() {
                store.set_precision(p);
            }
        }
        let mut lookahead = match cfg.lookahead {
            Some(c) => Some(Lookahead::new(c, opt)?),
            None => None,
        };
        let mut state = LoopState::default();
        let mut start = 0;
        let last = self.out_dir.join(LAST);
        if cfg.resume && last.exists() {
            start = self.resume(&last, task, opt, lookahead.as_mut(), &mut state)?;
            tracing::info!("resumed from {} at epoch {start}", last.display());
        }
        for epoch in start..cfg.epochs {
            let record = self.run_epoch(
                epoch,
                task,
                opt,
                lookahead.as_mut(),
                &mut state,
                &mut batches,
            )?;
            let improved = match (&cfg.best_metric, state.best) {
                (Some(m), best) => match record.metrics.get(m).copied().filter(|v| v.is_finite()) {
                    Some(v) => {
                        let better = match (best, cfg.better) {
                            (None, _) => true,
                            (Some(b), Better::Lower) => v < b,
                            (Some(b), Better::Higher) => v > b,
                        };
                        if better {
                            state.best = Some(v);
                        }
                        better
                    }
                    None => false,
                },
                _ => false,
            };
            state.history.push(record.clone());
            self.write_logs(&state.history)?;
            let ck = self.checkpoint(&record, task, opt, lookahead.as_ref(), &state)?;
            ck.save(&last)?;
            if cfg.checkpoint_every > 0 && record.epoch % cfg.checkpoint_every == 0 {
                ck.save(
                    self.out_dir
                        .join(format!("epoch_{:04}.safetensors", record.epoch)),
                )?;
            }
            if improved {
                ck.save(self.out_dir.join(BEST))?;
            }
            if cfg.curves {
                self.write_curves(&state.history)?;
            }
            tracing::info!(
                "epoch {}/{}: train loss {:.5} {}",
                record.epoch,
                cfg.epochs,
                record.train_loss,
                record
                    .metrics
                    .iter()
                    .map(|(k, v)| format!("{k} {v:.5}"))
                    .collect::<Vec<_>>()
                    .join(" ")
            );
        }
        Ok(Summary {
            history: state.history,
            started_at: start,
            best: state.best,
        })
    }

    fn run_epoch<T, I, F>(
        &self,
        epoch: u64,
        task: &mut T,
        opt: &mut Optimizer,
        mut lookahead: Option<&mut Lookahead>,
        state: &mut LoopState,
        batches: &mut F,
    ) -> Result<EpochRecord>
    where
        T: Task,
        I: Iterator<Item = Result<T::Batch>>,
        F: FnMut(u64) -> I,
    {
        let cfg = &self.config;
        if cfg.schedule_unit == StepUnit::Epoch {
            opt.set_lr(cfg.schedule.lr(cfg.lr, epoch));
        }
        let lr_at_start = if cfg.schedule_unit == StepUnit::Iteration {
            cfg.schedule.lr(cfg.lr, state.iteration)
        } else {
            opt.lr()
        };
        let params = opt.params();
        let iter = batches(epoch);
        let bar = self.progress_bar(epoch, iter.size_hint().1);
        let started = Instant::now();
        let (mut loss_sum, mut samples) = (0.0f64, 0usize);
        let mut extra_sum: BTreeMap<String, f64> = BTreeMap::new();
        let mut last_grads: Option<Grads> = None;
        for (b, batch) in iter.enumerate() {
            let batch = batch?;
            if cfg.schedule_unit == StepUnit::Iteration {
                opt.set_lr(cfg.schedule.lr(cfg.lr, state.iteration));
            }
            let step = task.train_step(batch)?;
            // Backward and update are queued before the loss is read: reading it waits for the
            // device, and on a GPU the backward's graph walk then overlaps the forward's
            // kernels. A non-finite loss still stops the run before anything is saved.
            let grads = Grads::backward(&step.loss, &params)?;
            match lookahead.as_deref_mut() {
                Some(la) if la.config().mode == LookaheadMode::PerStep => la.step(opt, &grads)?,
                _ => opt.step(&grads)?,
            }
            let loss = step
                .loss
                .to_dtype(candle_core::DType::F64)?
                .to_scalar::<f64>()?;
            if !loss.is_finite() {
                bar.abandon();
                let last_good = match state.history.last() {
                    Some(r) => format!(
                        "the last good checkpoint is {} (epoch {})",
                        self.out_dir.join(LAST).display(),
                        r.epoch
                    ),
                    None => "no checkpoint was written yet".to_string(),
                };
                return Err(Error::NonFinite {
                    epoch: epoch + 1,
                    batch: b,
                    loss,
                    last_good,
                });
            }
            last_grads = Some(grads);
            state.iteration += 1;
            loss_sum += loss * step.samples as f64;
            samples += step.samples;
            for (k, v) in step.extra {
                *extra_sum.entry(k).or_default() += v * step.samples as f64;
            }
            let secs = started.elapsed().as_secs_f64().max(1e-9);
            bar.set_message(format!(
                "loss {:.4}  {:.1} samples/s",
                loss_sum / samples.max(1) as f64,
                samples as f64 / secs
            ));
            bar.inc(1);
        }
        bar.finish_and_clear();
        if samples == 0 {
            return Err(Error::Data(format!(
                "epoch {} had no training batch (is the dataset smaller than one batch with drop_last?)",
                epoch + 1
            )));
        }
        let train_seconds = started.elapsed().as_secs_f64();
        let mut metrics = task.validate(epoch)?;
        for (k, v) in extra_sum {
            metrics.insert(k, v / samples.max(1) as f64);
        }
        // The original's per-epoch Lookahead.step(): an extra inner step with the last batch's
        // (stale) gradients, then the counter (spec §2.5).
        if let (Some(la), Some(g)) = (lookahead, &last_grads)
            && la.config().mode == LookaheadMode::Original
        {
            la.step(opt, g)?;
        }
        task.end_epoch(epoch)?;
        Ok(EpochRecord {
            epoch: epoch + 1,
            lr: lr_at_start,
            train_loss: loss_sum / samples.max(1) as f64,
            metrics,
            train_seconds,
            samples_per_s: samples as f64 / train_seconds.max(1e-9),
        })
    }

    fn progress_bar(&self, epoch: u64, len: Option<usize>) -> ProgressBar {
        if !self.config.progress {
            return ProgressBar::hidden();
        }
        let bar = ProgressBar::new(len.unwrap_or(0) as u64);
        if let Ok(style) = ProgressStyle::with_template(
            "epoch {prefix} [{bar:30}] {pos}/{len} {msg} ({elapsed}, eta {eta})",
        ) {
            bar.set_style(style.progress_chars("=> "));
        }
        bar.set_prefix(format!("{}/{}", epoch + 1, self.config.epochs));
        bar
    }

    fn checkpoint<T: Task>(
        &self,
        record: &EpochRecord,
        task: &T,
        opt: &Optimizer,
        lookahead: Option<&Lookahead>,
        state: &LoopState,
    ) -> Result<Checkpoint> {
        let mut meta = self.meta.clone();
        meta.epoch = Some(record.epoch);
        meta.metrics = record.metrics.clone();
        meta.metrics.insert("train_loss".into(), record.train_loss);
        let mut ck = Checkpoint::new(meta);
        for (part, store) in task.parts() {
            ck.add_part(part, store)?;
        }
        let (tensors, opt_meta) = opt.state("optim.");
        for (k, t) in tensors {
            ck.insert(k, t);
        }
        let la_meta = match lookahead {
            Some(la) => {
                let (tensors, m) = la.state("lookahead.");
                for (k, t) in tensors {
                    ck.insert(k, t);
                }
                Some(m)
            }
            None => None,
        };
        let st = LoopState {
            optimizer: opt_meta,
            lookahead: la_meta,
            iteration: state.iteration,
            best: state.best,
            history: state.history.clone(),
        };
        ck.meta.train_state = serde_json::to_value(&st).map_err(|e| Error::Task(e.to_string()))?;
        Ok(ck)
    }

    fn resume<T: Task>(
        &self,
        path: &Path,
        task: &mut T,
        opt: &mut Optimizer,
        lookahead: Option<&mut Lookahead>,
        state: &mut LoopState,
    ) -> Result<u64> {
        let device = task
            .parts()
            .first()
            .map(|(_, s)| s.device().clone())
            .unwrap_or(candle_core::Device::Cpu);
        let ck = Checkpoint::load(path, &device)?;
        let saved: LoopState =
            serde_json::from_value(ck.meta.train_state.clone()).map_err(|e| {
                Error::Resume(format!(
                    "{}: training state is missing or invalid: {e}",
                    path.display()
                ))
            })?;
        for (part, store) in task.parts() {
            ck.load_part(part, store, path)?;
        }
        opt.load_state("optim.", &ck.tensors, &saved.optimizer)?;
        match (lookahead, &saved.lookahead) {
            (Some(la), Some(m)) => la.load_state("lookahead.", &ck.tensors, m)?,
            (None, None) => {}
            (Some(_), None) => {
                return Err(Error::Resume(format!(
                    "{} was trained without Lookahead, this run uses it",
                    path.display()
                )));
            }
            (None, Some(_)) => {
                return Err(Error::Resume(format!(
                    "{} was trained with Lookahead, this run does not use it",
                    path.display()
                )));
            }
        }
        let epoch = ck.meta.epoch.unwrap_or(0);
        *state = saved;
        Ok(epoch)
    }

    fn write_logs(&self, history: &[EpochRecord]) -> Result<()> {
        let keys: Vec<String> = {
            let mut k: Vec<String> = history
                .iter()
                .flat_map(|r| r.metrics.keys().cloned())
                .collect();
            k.sort();
            k.dedup();
            k
        };
        let mut csv = String::from("epoch,lr,train_loss");
        for k in &keys {
            csv.push(',');
            csv.push_str(k);
        }
        csv.push_str(",train_seconds,samples_per_s\n");
        let mut jsonl = String::new();
        for r in history {
            csv.push_str(&format!("{},{},{}", r.epoch, r.lr, r.train_loss));
            for k in &keys {
                csv.push(',');
                if let Some(v) = r.metrics.get(k) {
                    csv.push_str(&v.to_string());
                }
            }
            csv.push_str(&format!(",{:.3},{:.3}\n", r.train_seconds, r.samples_per_s));
            jsonl.push_str(&serde_json::to_string(r).map_err(|e| Error::Task(e.to_string()))?);
            jsonl.push('\n');
        }
        write_atomic(&self.out_dir.join("train_log.csv"), csv.as_bytes())?;
        write_atomic(&self.out_dir.join("train_log.jsonl"), jsonl.as_bytes())
    }

    fn write_curves(&self, history: &[EpochRecord]) -> Result<()> {
        use histo_metrics::plot::{Series, line_chart};
        let series = |name: &str, f: &dyn Fn(&EpochRecord) -> Option<f64>| Series {
            name: name.to_string(),
            points: history
                .iter()
                .filter_map(|r| f(r).map(|v| (r.epoch as f64, v)))
                .collect(),
        };
        let mut losses = vec![series("train_loss", &|r| Some(r.train_loss))];
        let mut others = Vec::new();
        let mut keys: Vec<&String> = history.iter().flat_map(|r| r.metrics.keys()).collect();
        keys.sort();
        keys.dedup();
        for k in keys {
            let s = series(k, &|r| r.metrics.get(k).copied());
            if k.contains("loss") {
                losses.push(s);
            } else {
                others.push(s);
            }
        }
        let plot = |file: &str, title: &str, y: &str, s: &[Series]| -> Result<()> {
            let path = self.out_dir.join(file);
            line_chart(&path, title, "epoch", y, s).map_err(|e| Error::Output {
                path: path.clone(),
                reason: e.to_string(),
            })
        };
        plot(
            "curve_loss.png",
            "Training and validation loss",
            "loss",
            &losses,
        )?;
        if !others.is_empty() {
            plot("curve_metrics.png", "Validation metrics", "value", &others)?;
        }
        Ok(())
    }
}

/// Writes a small file through a temporary file and a rename.
fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let tmp = path.with_extension("tmp");
    let out = |e: std::io::Error| Error::Output {
        path: path.to_path_buf(),
        reason: e.to_string(),
    };
    let mut f = std::fs::File::create(&tmp).map_err(out)?;
    f.write_all(bytes).map_err(out)?;
    drop(f);
    std::fs::rename(&tmp, path).map_err(out)
}
