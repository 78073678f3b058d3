//! [`pretrain`]: one RSP pretraining run into a run folder.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use candle_core::Device;
use histo_models::{Checkpoint, CheckpointMeta, PretextModel};
use histo_train::{
    Better, EpochRecord, Loader, LoaderConfig, Optimizer, ParamGroup, StepUnit, TrainConfig,
    Trainer,
};
use serde::{Deserialize, Serialize};

use crate::config::PretrainConfig;
use crate::data::{Batch, RspData, augment, collate};
use crate::report::{EmbeddingInfo, embedding, peak_rss_mib, val_features, write_atomic};
use crate::task::RspTask;
use crate::{BEST, CONFIG, CONFUSIONS, Error, LAST, Result, SUMMARY};

/// What [`pretrain`] needs besides the configuration.
#[derive(Clone, Debug)]
pub struct PretrainOptions {
    /// The tile store (`histo tile rsp` output).
    pub store: PathBuf,
    /// The run folder.
    pub out: PathBuf,
    /// Continue the run in `out` from its `last.safetensors`.
    pub resume: bool,
    /// Draw a progress bar (on a terminal).
    pub progress: bool,
}

/// `RUN/summary.json`: the outcome of a run, for people and for `cargo xtask reproduce`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct PretrainSummary {
    /// Always `rsp`.
    pub stage: String,
    /// Preset (or configuration file) used.
    pub preset: String,
    /// The tile store.
    pub store: String,
    /// Epochs completed in total.
    pub epochs: u64,
    /// Epochs trained by this invocation (fewer than `epochs` after a resume).
    pub epochs_this_run: u64,
    /// Validation accuracy over the six orders after the last epoch (chance: 1/6).
    pub val_accuracy: f64,
    /// Validation loss after the last epoch.
    pub val_loss: f64,
    /// Training loss of the last epoch.
    pub train_loss: f64,
    /// Training accuracy of the last epoch (on augmented samples).
    pub train_accuracy: f64,
    /// Epoch of `best.safetensors` (lowest validation loss), if one was written.
    pub best_epoch: Option<u64>,
    /// Validation loss of the best epoch.
    pub best_val_loss: Option<f64>,
    /// Validation accuracy of the best epoch.
    pub best_val_accuracy: Option<f64>,
    /// Wall time of this invocation, seconds (set-up, training, validation, plots).
    pub wall_s: f64,
    /// Training time summed over every epoch of the run (validation excluded), seconds.
    pub train_s: f64,
    /// Training throughput of this invocation: triplets (each three tiles) per second.
    pub triplets_per_s: f64,
    /// Peak resident memory of the process, MiB (Linux only).
    pub peak_rss_mib: Option<f64>,
    /// Training triplets (per epoch: all six orders of each, or one, per `data.orderings`).
    pub train_triplets: usize,
    /// Training samples per epoch.
    pub train_samples: usize,
    /// Validation triplets evaluated.
    pub val_triplets: usize,
    /// Validation samples evaluated (six orders per triplet).
    pub val_samples: usize,
    /// Slides held out for validation (by-slide split).
    pub val_slides: Vec<String>,
    /// Compute device.
    pub device: String,
    /// CPU threads of the compute pool.
    pub threads: usize,
    /// Differences between the store and the preset's expectations.
    pub warnings: Vec<String>,
    /// The embedding plot.
    pub embedding: Option<EmbeddingInfo>,
}

fn device_name(d: &Device) -> String {
    match d {
        Device::Cpu => "cpu".into(),
        Device::Cuda(_) => "cuda".into(),
        Device::Metal(_) => "metal".into(),
    }
}

/// Validation confusion matrices by 1-based epoch.
type Confusions = BTreeMap<u64, Vec<Vec<u64>>>;

/// The `(history, confusions)` a run folder's `last.safetensors` was saved with, after checking
/// it holds the network `config` builds.
fn resume_state(
    last: &Path,
    config: &PretrainConfig,
    device: &Device,
) -> Result<(Vec<EpochRecord>, Confusions)> {
    let ck = Checkpoint::load(last, device)?;
    let bad = |reason: String| Error::Checkpoint {
        path: last.to_path_buf(),
        reason,
    };
    if ck.meta.model_kind != "pretext" {
        return Err(bad(format!(
            "holds a `{}` model, not an RSP pretext model; --resume continues an RSP run only",
            ck.meta.model_kind
        )));
    }
    let want = config.model.triplet();
    match ck.meta.triplet {
        Some(t) if t == want => {}
        Some(t) => {
            return Err(bad(format!(
                "holds a ResNet-{} of width {} with a {}→{} pair head, but the configuration \
                 builds a ResNet-{} of width {} with a {}→{} pair head; resume with the run's \
                 own configuration (leave out --preset) or start a new run folder",
                t.trunk.depth,
                t.trunk.width,
                t.head_hidden,
                t.head_out,
                want.trunk.depth,
                want.trunk.width,
                want.head_hidden,
                want.head_out
            )));
        }
        None => return Err(bad("has no network description in its metadata".into())),
    }
    let history: Vec<EpochRecord> = ck
        .meta
        .train_state
        .get("history")
        .cloned()
        .map(serde_json::from_value)
        .transpose()
        .map_err(|e| bad(format!("its training history is unreadable: {e}")))?
        .unwrap_or_default();
    let confusions = std::fs::read_to_string(last.with_file_name(CONFUSIONS))
        .ok()
        .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
        .and_then(|v| serde_json::from_value(v["by_epoch"].clone()).ok())
        .unwrap_or_default();
    Ok((history, confusions))
}

/// Trains RSP on the store as `config` says, writing the run folder described in the crate
/// documentation, and returns (and writes) the summary.
pub fn pretrain(
    config: &PretrainConfig,
    opts: &PretrainOptions,
    device: &Device,
) -> Result<PretrainSummary> {
    let started = Instant::now();
    config.validate()?;
    let out = &opts.out;
    let last = out.join(LAST);
    let run_err = |reason: String| Error::Run {
        path: out.clone(),
        reason,
    };
    if last.exists() && !opts.resume {
        return Err(run_err(
            "already holds a run (last.safetensors); pass --resume to continue it, or choose \
             another folder"
                .into(),
        ));
    }
    let saved_config = out.join(CONFIG);
    if opts.resume && saved_config.exists() {
        let saved = PretrainConfig::load(&saved_config)?;
        if !saved.same_network(config) {
            return Err(run_err(format!(
                "was trained with another network or tile size than this configuration \
                 ({CONFIG}: ResNet-{} width {}, {}-px tiles); resume with the run's own \
                 configuration (leave out --preset)",
                saved.model.depth, saved.model.width, saved.store.tile
            )));
        }
        if saved.seed != config.seed {
            return Err(run_err(format!(
                "was started with seed {} but this run has seed {}; pass --seed {} to resume \
                 it exactly",
                saved.seed, config.seed, saved.seed
            )));
        }
    }
    let data = RspData::open(&opts.store, config)?;
    for w in &data.warnings {
        tracing::warn!("{}: {w}", opts.store.display());
    }
    std::fs::create_dir_all(out).map_err(|e| run_err(format!("cannot create: {e}")))?;
    write_atomic(&out.join(CONFIG), config.to_toml()?.as_bytes())?;

    let t = &config.train;
    let triplet = config.model.triplet();
    let model = PretextModel::new(triplet, device, config.seed)?;
    let mut params = model.net.store().trainable();
    params.extend(model.classifier.store().trainable());
    let mut opt = Optimizer::new(config.optimizer(), t.lr, vec![ParamGroup::new(params)])?;

    let scale = config.model.input_scale;
    let pool = config.data.pool();
    let loader_config = |batch_size: usize, shuffle: bool| LoaderConfig {
        batch_size,
        shuffle,
        drop_last: false,
        workers: t.workers,
        prefetch: t.prefetch,
        seed: config.seed,
    };
    let train_transform: Arc<histo_train::loader::Transform<_, _>> =
        Arc::new(move |s, rng: &mut histo_tensor::SampleRng, _| augment(pool.as_ref(), s, rng));
    let val_pool = if config.data.val_augment {
        config.data.pool()
    } else {
        None
    };
    let batch_collate: Arc<histo_train::loader::Collate<_, Batch>> =
        Arc::new(move |items| collate(items, scale));
    let val_loader = Loader::new(
        Arc::new(data.val_samples()),
        Arc::new(move |s, rng: &mut histo_tensor::SampleRng, _| augment(val_pool.as_ref(), s, rng)),
        batch_collate.clone(),
        loader_config(t.val_batch_size, false),
    )?;
    let train_samples = data.split.train.len();
    let batches_per_epoch = train_samples.div_ceil(t.batch_size);

    let mut task = RspTask::new(
        model,
        device.clone(),
        val_loader,
        batches_per_epoch,
        t.epochs,
        t.best_from_epoch,
        opts.progress,
        out.clone(),
    );
    if opts.resume && last.exists() {
        let (history, confusions) = resume_state(&last, config, device)?;
        if history.len() as u64 >= t.epochs {
            tracing::info!(
                "{} already has {} epoch(s); nothing to train (raise --epochs to continue)",
                out.display(),
                history.len()
            );
        }
        task.resume_from(history, confusions);
    }
    let resumed_at = task.history.len() as u64;

    let trainer = Trainer::new(
        TrainConfig {
            epochs: t.epochs,
            lr: t.lr,
            schedule: t.schedule.clone(),
            schedule_unit: StepUnit::Epoch,
            lookahead: t.lookahead,
            checkpoint_every: t.checkpoint_every,
            best_metric: Some(RspTask::best_metric(t.best_from_epoch).to_string()),
            better: Better::Lower,
            resume: opts.resume,
            progress: false,
            curves: false,
        },
        out.clone(),
        CheckpointMeta {
            model_kind: "pretext".into(),
            triplet: Some(triplet),
            classes: Some(6),
            stage: Some("rsp".into()),
            config: serde_json::to_value(config)
                .map_err(|e| Error::Config(format!("cannot encode the configuration: {e}")))?,
            ..Default::default()
        },
    )?;
    let split = data.split.clone();
    let summary = trainer.fit(&mut task, &mut opt, |epoch| {
        let set = crate::data::TrainSamples::new(split.clone(), epoch);
        let loader = Loader::new(
            Arc::new(set),
            train_transform.clone(),
            batch_collate.clone(),
            loader_config(t.batch_size, true),
        );
        let it: Box<dyn Iterator<Item = histo_train::Result<Batch>>> = match loader {
            Ok(l) => Box::new(l.epoch(epoch)),
            Err(e) => Box::new(std::iter::once(Err(e))),
        };
        it
    })?;

    // the embedding of the best (else the last) checkpoint
    let emb = if config.outputs.embedding_points >= 2 {
        let (path, name) = if out.join(BEST).exists() {
            (out.join(BEST), BEST)
        } else {
            (last.clone(), LAST)
        };
        let ck = Checkpoint::load(&path, device)?;
        let m = PretextModel::new(triplet, device, 0)?;
        for (part, store) in m.parts() {
            ck.load_part(part, store, &path)?;
        }
        let (feats, width, labels) = val_features(
            &m,
            &data,
            scale,
            device,
            config.outputs.embedding_points,
            config.seed,
        )?;
        Some(embedding(out, &feats, width, &labels, name)?)
    } else {
        None
    };

    let h = &summary.history;
    let last_rec = h.last();
    let metric = |r: Option<&EpochRecord>, k: &str| {
        r.and_then(|r| r.metrics.get(k).copied())
            .unwrap_or(f64::NAN)
    };
    let best_key = RspTask::best_metric(t.best_from_epoch);
    let best_rec = summary
        .best
        .and_then(|b| h.iter().rfind(|r| r.metrics.get(best_key) == Some(&b)));
    let this_run: Vec<&EpochRecord> = h.iter().filter(|r| r.epoch > resumed_at).collect();
    let (samples, secs) = this_run.iter().fold((0.0, 0.0), |(s, t), r| {
        (s + r.samples_per_s * r.train_seconds, t + r.train_seconds)
    });
    let result = PretrainSummary {
        stage: "rsp".into(),
        preset: config.preset.clone(),
        store: opts.store.display().to_string(),
        epochs: h.len() as u64,
        epochs_this_run: this_run.len() as u64,
        val_accuracy: metric(last_rec, "val_acc"),
        val_loss: metric(last_rec, "val_loss"),
        train_loss: last_rec.map(|r| r.train_loss).unwrap_or(f64::NAN),
        train_accuracy: metric(last_rec, "train_acc"),
        best_epoch: best_rec.map(|r| r.epoch),
        best_val_loss: best_rec.and_then(|r| r.metrics.get("val_loss").copied()),
        best_val_accuracy: best_rec.and_then(|r| r.metrics.get("val_acc").copied()),
        wall_s: started.elapsed().as_secs_f64(),
        train_s: h.iter().map(|r| r.train_seconds).sum(),
        triplets_per_s: if secs > 0.0 { samples / secs } else { 0.0 },
        peak_rss_mib: peak_rss_mib(),
        train_triplets: data.train_triplets(),
        train_samples,
        val_triplets: data.val_triplets(),
        val_samples: data.val.len(),
        val_slides: data.val_slide_names(),
        device: device_name(device),
        threads: rayon::current_num_threads(),
        warnings: data.warnings.clone(),
        embedding: emb,
    };
    let json =
        serde_json::to_string_pretty(&result).map_err(|e| Error::output(out.join(SUMMARY), e))?;
    write_atomic(&out.join(SUMMARY), json.as_bytes())?;
    Ok(result)
}
